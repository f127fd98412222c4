import os
import stat

import pytest

from unseen.runtime.errors import ConfigError
from unseen.transport.identity import keygen, load_parties


def test_keygen_writes_key_cert_and_parties_file(tmp_path):
    key, cert, parties = keygen("bank", "127.0.0.1:7001", tmp_path)
    keygen("telecom", "10.0.0.2:7001", tmp_path, listen="0.0.0.0:7001")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    p = load_parties(parties)
    assert p.names == ["bank", "telecom"]
    assert p["telecom"].listen == "0.0.0.0:7001"
    assert p["bank"].address == "127.0.0.1:7001"
    assert "[parties.bank]" in parties.read_text()


def test_keygen_refuses_to_overwrite_a_key(tmp_path):
    keygen("bank", "127.0.0.1:7001", tmp_path)
    with pytest.raises(ConfigError, match="exists"):
        keygen("bank", "127.0.0.1:7001", tmp_path)


@pytest.mark.parametrize("name", ["Bank", "1bank", "bank_1", "", "b" * 70])
def test_bad_party_names(tmp_path, name):
    with pytest.raises(ConfigError, match="party name"):
        keygen(name, "127.0.0.1:7001", tmp_path)


def test_bad_parties_files_name_the_problem(tmp_path):
    f = tmp_path / "parties.toml"
    f.write_text("[parties.bank]\naddress = 'nowhere'\ncert = 'bank.crt'\n")
    with pytest.raises(ConfigError, match=r"\[parties.bank\].*host:port"):
        load_parties(f)
    f.write_text("[parties.bank]\naddress = '127.0.0.1:1'\ncert = 'missing.crt'\n")
    with pytest.raises(ConfigError, match="missing.crt not found"):
        load_parties(f)
    with pytest.raises(ConfigError, match="not found"):
        load_parties(tmp_path / "nope.toml")


def test_certificate_must_name_the_party(tmp_path):
    keygen("bank", "127.0.0.1:7001", tmp_path)
    f = tmp_path / "parties.toml"
    f.write_text(f.read_text().replace("[parties.bank]", "[parties.telecom]"))
    with pytest.raises(ConfigError, match="is for 'bank'"):
        load_parties(f)
