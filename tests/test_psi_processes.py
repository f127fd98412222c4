"""PSI with each party a separate OS process, over mutual TLS on loopback (the real thing)."""

import csv
import random
import shutil
import time
from pathlib import Path

from party_zygote import start_party
from unseen.runtime.launch import wait_all
from unseen.transport.identity import keygen, load_parties

ALPHABET = "abcxyz0189éß中文😀"


def write_ids(path: Path, ids, column="id"):
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([column, "payload"])
        for i, x in enumerate(ids):
            w.writerow([x, f"{path.stem}-{i}"])


def read_rows(path: Path):
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def psi_args(party, parties, inp, out, *extra):
    return [
        "psi",
        "--as",
        party,
        "--parties",
        str(parties),
        "--input",
        str(inp),
        "--id",
        "id",
        "--output",
        str(out),
        "--quiet",
        *extra,
    ]


def test_two_processes_compute_the_intersection(tmp_path, parties_file):
    rnd = random.Random(11)

    def rid():
        return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 6)))

    common = list({rid() for _ in range(800)})
    a = common[:600] + [rid() for _ in range(900)]
    b = [rid() for _ in range(700)] + common[200:]
    a += a[:15]  # duplicates
    b += b[-5:]
    rnd.shuffle(a)
    rnd.shuffle(b)
    write_ids(tmp_path / "bank.csv", a)
    write_ids(tmp_path / "telecom.csv", b)
    procs = [
        start_party(
            p,
            psi_args(p, parties_file, tmp_path / f"{p}.csv", tmp_path / f"{p}.out.csv"),
            tmp_path / "logs",
        )
        for p in ("bank", "telecom")
    ]
    wait_all(procs, 120)
    for p in procs:
        assert p.returncode == 0, p.stderr()
        assert "PSI done" in p.stdout() and "duplicate rows dropped" in p.stdout()
    ra = read_rows(tmp_path / "bank.out.csv")
    rb = read_rows(tmp_path / "telecom.out.csv")
    assert [r["id"] for r in ra] == [r["id"] for r in rb]
    assert {r["id"] for r in ra} == set(a) & set(b)
    assert len(ra) == len(set(a) & set(b))


def test_killing_one_party_fails_the_other_within_the_timeout(tmp_path, parties_file):
    n = 150_000  # long enough to be killed mid-way (workers=1: about 10 s of blinding)
    write_ids(tmp_path / "bank.csv", [f"id{i}" for i in range(n)])
    write_ids(tmp_path / "telecom.csv", [f"id{i}" for i in range(0, 2 * n, 2)])
    extra = ("--workers", "1", "--timeout", "5", "--batch-size", "4096")
    bank = start_party(
        "bank",
        psi_args("bank", parties_file, tmp_path / "bank.csv", tmp_path / "b.out.csv", *extra),
        tmp_path / "logs",
    )
    telecom = start_party(
        "telecom",
        psi_args("telecom", parties_file, tmp_path / "telecom.csv", tmp_path / "t.out.csv", *extra),
        tmp_path / "logs",
    )
    time.sleep(4)
    assert telecom.popen.poll() is None, telecom.stderr()
    telecom.kill()
    killed_at = time.monotonic()
    wait_all([bank, telecom], 60)
    assert bank.returncode != 0
    assert time.monotonic() - killed_at < 5 + 15
    err = bank.stderr()
    assert "telecom" in err and "error" in err, err
    assert not (tmp_path / "b.out.csv").exists()  # nothing half-written


def test_wrong_certificate_is_refused(tmp_path, parties_file):
    """An impostor 'telecom' with its own key at the pinned telecom's address: both
    parties stop with their own side of the refusal, well before the connect timeout."""
    fake = tmp_path / "impostor"
    fake.mkdir()
    shutil.copy(parties_file, fake / "parties.toml")
    shutil.copy(parties_file.parent / "bank.crt", fake / "bank.crt")
    keygen("telecom", load_parties(parties_file)["telecom"].address, fake, force=True)
    write_ids(tmp_path / "ids.csv", ["a", "b"])
    extra = ("--connect-timeout", "20")
    bank = start_party(
        "bank",
        psi_args("bank", parties_file, tmp_path / "ids.csv", tmp_path / "b.csv", *extra),
        tmp_path / "logs",
    )
    impostor = start_party(
        "telecom",
        psi_args(
            "telecom", fake / "parties.toml", tmp_path / "ids.csv", tmp_path / "t.csv", *extra
        ),
        tmp_path / "logs",
    )
    began = time.monotonic()
    wait_all([bank, impostor], 60)
    assert bank.returncode != 0 and impostor.returncode != 0
    # each finds the refusal itself, well before the connect timeout: the first to find
    # it stays up a moment so that the other's dial meets the refusal, not a closed port
    assert time.monotonic() - began < 12
    assert "not the one pinned for 'telecom'" in bank.stderr(), bank.stderr()
    assert (
        "does not pin this party's certificate" in impostor.stderr()
        or "not the one pinned" in impostor.stderr()
    ), impostor.stderr()
    assert not (tmp_path / "b.csv").exists() and not (tmp_path / "t.csv").exists()


def test_bad_input_at_one_party_fails_both_with_the_root_cause(tmp_path, parties_file):
    write_ids(tmp_path / "bank.csv", ["1", "2"])
    write_ids(tmp_path / "telecom.csv", ["1", "2"], column="msisdn")
    procs = [
        start_party(
            p,
            psi_args(p, parties_file, tmp_path / f"{p}.csv", tmp_path / f"{p}.out"),
            tmp_path / "logs",
        )
        for p in ("bank", "telecom")
    ]
    wait_all(procs, 60)
    for p in procs:
        assert p.returncode != 0
        assert "no column 'id'" in p.stderr(), p.stderr()
    assert "party 'telecom' failed" in procs[0].stderr()
