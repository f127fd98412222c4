"""PSI benchmark: Unseen's ECDH-PSI (two processes over mutual TLS) vs openmined-psi, one run.

    .venv/bin/python benchmarks/psi.py                 # 1,000,000 x 1,000,000, 50 % overlap
    .venv/bin/python benchmarks/psi.py --n 100000      # quicker

Unseen: both parties are separate `unseen psi` processes on this machine, over TLS
on loopback, both learning the intersection and writing their aligned rows. We
report the wall time from start to both processes done (start-up, reading the
CSVs and writing the outputs included), each party's peak memory (its whole
process tree: the party and its worker processes, sampled from /proc) and the
bytes each sent.

openmined-psi (Google's C++ ECDH-PSI over P-256, from PyPI) runs the same sets
in this process, step by step, exact (RAW) mode. Its client and server would
run on two machines, so we report both its total work and its critical path:
max(server setup, client request) + server response + client intersection.

Requires the bench extra: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from machine import describe

from unseen.runtime.launch import make_parties, start_party, wait_all_measured


def make_sets(n: int, overlap: float, seed: int = 5) -> tuple[list[str], list[str]]:
    """Two sets of n 18-digit ID numbers sharing overlap*n (public test data)."""
    rng = np.random.default_rng(seed)
    pool = np.unique(rng.integers(10**17, 10**18, size=int(2.2 * n), dtype=np.int64))
    rng.shuffle(pool)
    shared = int(n * overlap)
    a = pool[:n]
    b = np.concatenate([pool[:shared], pool[n : 2 * n - shared]])
    rng.shuffle(b)
    return [str(x) for x in a], [str(x) for x in b]


def run_unseen(a: list[str], b: list[str], work: Path, workers: int | None) -> dict:
    parties = make_parties(work / "keys", ["bank", "telecom"])
    for name, ids in (("bank", a), ("telecom", b)):
        pacsv.write_csv(pa.table({"id": ids}), work / f"{name}.csv")
    extra = ["--workers", str(workers)] if workers else []
    t0 = time.perf_counter()
    procs = [
        start_party(
            name,
            [
                "psi",
                "--as",
                name,
                "--parties",
                str(parties),
                "--input",
                str(work / f"{name}.csv"),
                "--id",
                "id",
                "--output",
                str(work / f"{name}.out.csv"),
                "--quiet",
                *extra,
            ],
            work / "logs",
        )
        for name in ("bank", "telecom")
    ]
    peak_kib = wait_all_measured(procs, 3600)
    wall = time.perf_counter() - t0
    out = {"wall": wall, "parties": {}}
    for p in procs:
        if p.returncode != 0:
            raise SystemExit(f"{p.name} failed:\n{p.stderr()}")
        line = p.stdout()
        m = re.search(r"intersection (\d+); ([\d.]+) s; sent ([\d.]+) (MB|kB)", line)
        assert m, line
        sent = float(m.group(3)) * (1e6 if m.group(4) == "MB" else 1e3)
        out["parties"][p.name] = {
            "intersection": int(m.group(1)),
            "protocol_s": float(m.group(2)),
            "sent_mb": sent / 1e6,
            "peak_mib": peak_kib[p.name] / 1024,
        }
    return out


def run_openmined(a: list[str], b: list[str]) -> dict:
    import private_set_intersection.python as opsi

    server = opsi.server.CreateWithNewKey(True)
    client = opsi.client.CreateWithNewKey(True)
    t = time.perf_counter()
    setup = server.CreateSetupMessage(1e-9, len(b), a, opsi.DataStructure.RAW)
    t_setup = time.perf_counter() - t
    t = time.perf_counter()
    request = client.CreateRequest(b)
    t_request = time.perf_counter() - t
    t = time.perf_counter()
    response = server.ProcessRequest(request)
    t_response = time.perf_counter() - t
    t = time.perf_counter()
    inter = client.GetIntersection(setup, response)
    t_inter = time.perf_counter() - t
    return {
        "intersection": len(inter),
        "work": t_setup + t_request + t_response + t_inter,
        "critical": max(t_setup, t_request) + t_response + t_inter,
        "steps": (t_setup, t_request, t_response, t_inter),
        "bytes": setup.ByteSize() + request.ByteSize() + response.ByteSize(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=1_000_000, help="IDs per party")
    ap.add_argument("--overlap", type=float, default=0.5)
    ap.add_argument("--workers", type=int, default=None, help="worker processes per party")
    ap.add_argument("--skip-openmined", action="store_true")
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()

    print(describe())
    a, b = make_sets(args.n, args.overlap)
    expected = len(set(a) & set(b))
    print(f"sets: {len(a):,} x {len(b):,} IDs, {expected:,} in common\n")

    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        ours = run_unseen(a, b, Path(d), args.workers)
    for name, r in ours["parties"].items():
        assert r["intersection"] == expected, (name, r["intersection"], expected)
    print(f"Unseen ECDH-PSI (X25519), 2 processes over TLS: {ours['wall']:.1f} s wall")
    for name, r in ours["parties"].items():
        print(
            f"  {name:8s} protocol {r['protocol_s']:.1f} s, peak memory {r['peak_mib']:.0f} MiB, "
            f"sent {r['sent_mb']:.1f} MB"
        )

    if not args.skip_openmined:
        om = run_openmined(a, b)
        assert om["intersection"] == expected, om["intersection"]
        s = om["steps"]
        print(
            f"\nopenmined-psi 2.0 (P-256, RAW): work {om['work']:.1f} s, critical path "
            f"{om['critical']:.1f} s (setup {s[0]:.1f}, request {s[1]:.1f}, response {s[2]:.1f}, "
            f"intersection {s[3]:.1f}); {om['bytes'] / 1e6:.1f} MB"
        )
        print(
            f"\nratio: openmined-psi critical path / Unseen wall = {om['critical'] / ours['wall']:.2f}x"
        )
        print(
            f"ratio: openmined-psi total work / Unseen wall    = {om['work'] / ours['wall']:.2f}x"
        )


if __name__ == "__main__":
    main()
