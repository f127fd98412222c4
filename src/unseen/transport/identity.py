"""Party identities: keys, pinned self-signed certificates, and the parties file.

Trust model: **pinned self-signed certificates**. Each party makes its own
ECDSA P-256 key and a self-signed X.509 certificate whose subject and DNS name
are the party's name (``unseen keygen``). Parties exchange certificates out of
band and list them in the parties file. There is no CA to compromise: a
connection is accepted only if the peer proves possession of the private key of
exactly the certificate pinned for it, on both sides of the TLS handshake.

The parties file (TOML), one table per party; paths are relative to the file::

    [parties.bank]
    address = "10.0.0.5:7001"        # where peers connect
    cert = "bank.crt"                # its pinned certificate
    # listen = "0.0.0.0:7001"        # optional: where this party binds, if not `address`

    [parties.telecom]
    address = "10.0.0.9:7001"
    cert = "telecom.crt"

A party's private key lies beside the file as ``<party>.key`` (mode 0600) unless
given explicitly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from unseen.runtime.errors import ConfigError

PARTY_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
CERT_VALID_DAYS = 5 * 365


def check_party_name(name: str) -> str:
    if not PARTY_NAME.match(name):
        raise ConfigError(
            f"bad party name {name!r}: use lower-case letters, digits and '-', "
            "starting with a letter (it is also the certificate's DNS name)"
        )
    return name


def check_address(address: str, where: str = "address") -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"bad {where} {address!r}: expected host:port")
    return address


def cert_fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER encoding, hex."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


@dataclass(frozen=True)
class Party:
    name: str
    address: str
    cert_pem: bytes
    listen: str

    @property
    def fingerprint(self) -> str:
        return cert_fingerprint(self.cert_pem)


@dataclass(frozen=True)
class Parties:
    """The parties file, loaded and checked."""

    path: Path
    parties: dict[str, Party]

    def __getitem__(self, name: str) -> Party:
        try:
            return self.parties[name]
        except KeyError:
            known = ", ".join(sorted(self.parties)) or "none"
            raise ConfigError(f"{self.path}: no party {name!r} (known: {known})") from None

    def __contains__(self, name: object) -> bool:
        return name in self.parties

    @property
    def names(self) -> list[str]:
        return list(self.parties)

    def key_path(self, name: str) -> Path:
        return self.path.parent / f"{name}.key"


def load_parties(path: str | os.PathLike[str]) -> Parties:
    """Read and validate a parties file; errors name the file and the entry."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"parties file {p} not found (make one with `unseen keygen`)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    table = doc.get("parties")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{p}: expected a [parties.<name>] table per party")
    parties: dict[str, Party] = {}
    for name, entry in table.items():
        where = f"{p}: [parties.{name}]"
        try:
            check_party_name(name)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table")
        for field in ("address", "cert"):
            if not isinstance(entry.get(field), str):
                raise ConfigError(f"{where}: missing {field!r}")
        try:
            check_address(entry["address"])
            listen = check_address(str(entry.get("listen", entry["address"])), "listen address")
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        cert_path = (p.parent / entry["cert"]).resolve()
        try:
            cert_pem = cert_path.read_bytes()
            cert = x509.load_pem_x509_certificate(cert_pem)
        except FileNotFoundError:
            raise ConfigError(f"{where}: certificate {cert_path} not found") from None
        except ValueError as e:
            raise ConfigError(f"{where}: {cert_path} is not a PEM certificate: {e}") from None
        cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if not cn or cn[0].value != name:
            raise ConfigError(
                f"{where}: certificate {cert_path} is for {cn[0].value if cn else '?'!r}, "
                f"not {name!r}"
            )
        parties[name] = Party(name, entry["address"], cert_pem, listen)
    return Parties(p, parties)


def load_private_key(path: str | os.PathLike[str]) -> bytes:
    p = Path(path)
    try:
        pem = p.read_bytes()
        serialization.load_pem_private_key(pem, password=None)
    except FileNotFoundError:
        raise ConfigError(f"private key {p} not found (give it with --key)") from None
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{p} is not an unencrypted PEM private key: {e}") from None
    return pem


def check_key_matches(key_pem: bytes, party: Party) -> None:
    key = serialization.load_pem_private_key(key_pem, password=None)
    cert = x509.load_pem_x509_certificate(party.cert_pem)
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    enc = serialization.Encoding.DER
    if key.public_key().public_bytes(enc, pub) != cert.public_key().public_bytes(enc, pub):
        raise ConfigError(f"the private key does not match the certificate of {party.name!r}")


def make_identity(name: str) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 key and a self-signed certificate for party ``name`` (PEM)."""
    check_party_name(name)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        # CA:TRUE lets the certificate serve as its own pinned trust anchor in TLS
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def keygen(
    name: str,
    address: str,
    directory: str | os.PathLike[str],
    *,
    listen: str | None = None,
    force: bool = False,
) -> tuple[Path, Path, Path]:
    """Write ``<dir>/<name>.key`` and ``.crt`` and add the party to ``<dir>/parties.toml``.

    Returns the paths of the key, the certificate and the parties file.
    """
    check_party_name(name)
    check_address(address)
    if listen is not None:
        check_address(listen, "listen address")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    key_path, cert_path, parties_path = d / f"{name}.key", d / f"{name}.crt", d / "parties.toml"
    if key_path.exists() and not force:
        raise ConfigError(f"{key_path} exists already (use --force to replace it)")
    doc: dict[str, Any] = {}
    if parties_path.exists():
        try:
            doc = tomllib.loads(parties_path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{parties_path}: not valid TOML: {e}") from None
    key_pem, cert_pem = make_identity(name)
    # The key is written with owner-only permissions from the start.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem)
    cert_path.write_bytes(cert_pem)
    entry = {"address": address, "cert": cert_path.name}
    if listen:
        entry["listen"] = listen
    doc.setdefault("parties", {})[name] = entry
    tmp = parties_path.with_suffix(".toml.tmp")
    tmp.write_text(_PARTIES_HEADER + tomli_w.dumps(doc), encoding="utf-8")
    tmp.replace(parties_path)
    return key_path, cert_path, parties_path


_PARTIES_HEADER = """\
# Unseen parties file: one [parties.<name>] table per party.
#   address = "host:port"   where the others reach this party
#   cert    = "<name>.crt"  its pinned self-signed certificate (path relative to this file)
#   listen  = "host:port"   optional: where the party binds, if not `address`
# Exchange .crt files and entries out of band; keep each <name>.key private.

"""
