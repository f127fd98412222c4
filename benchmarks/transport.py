"""The transport's cost per message: gRPC against the bulk socket, two processes on loopback.

Two parties (``sender``, ``receiver``), each its own process with its own
``GrpcTransport`` over mutual TLS, as in every job. The sender sends
``--count`` arrays of each size; each is in the receiver's hands when
``send`` returns. Printed per size: the time per message and the CPU time
at each end (user + system, from ``getrusage``), once with the
receiver's bulk socket on (every message but the first takes it) and once
with it off (everything over gRPC), and the ratios.

    flock /tmp/unseen-bench.lock .venv/bin/python benchmarks/transport.py
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from machine import describe

SIZES = (10, 250_000, 3_000_000, 48_000_000)  # bytes: a command, node ids, labels, corrections


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _party(role: str, parties_file: str, bulk: bool, count: int, out: str) -> None:
    from unseen.runtime.context import Context
    from unseen.transport.grpc import GrpcTransport
    from unseen.transport.identity import load_parties, load_private_key

    parties = load_parties(parties_file)
    transport = GrpcTransport(parties, role, load_private_key(parties.key_path(role)), bulk=bulk)
    ctx = Context("transport-bench", role, ["sender", "receiver"], transport)
    result: dict[str, dict[str, float]] = {}
    try:
        if role == "sender":
            ctx.send("receiver", "hello", b"x")  # connected: what follows is steady state
            for size in SIZES:
                payload = np.zeros(size, dtype=np.uint8)
                ctx.recv("receiver", f"ready/{size}")
                cpu, t0 = _cpu(), time.perf_counter()
                for i in range(count):
                    ctx.send("receiver", f"m/{size}/{i}", payload)
                result[str(size)] = {"s": time.perf_counter() - t0, "cpu": _cpu() - cpu}
        else:
            ctx.recv("sender", "hello")
            for size in SIZES:
                ctx.send("sender", f"ready/{size}", b"x")
                cpu = _cpu()
                for i in range(count):
                    ctx.recv("sender", f"m/{size}/{i}")
                result[str(size)] = {"cpu": _cpu() - cpu}
        ctx.finish()
        time.sleep(0.3)  # the peer's last probe finds this party done
    finally:
        transport.close()
    Path(out).write_text(json.dumps(result), encoding="utf-8")


def run(bulk: bool, count: int, workdir: Path) -> dict[str, dict[str, dict[str, float]]]:
    from unseen.runtime.launch import make_parties

    keys = workdir / f"keys-{bulk}"
    parties_file = make_parties(keys, ["sender", "receiver"])
    procs = {
        role: subprocess.Popen(
            [sys.executable, __file__, "--party", role, str(parties_file), str(int(bulk))]
            + [str(count), str(workdir / f"{role}-{bulk}.json")]
        )
        for role in ("receiver", "sender")
    }
    for role, proc in procs.items():
        if proc.wait(timeout=600) != 0:
            raise SystemExit(f"{role} failed")
    return {role: json.loads((workdir / f"{role}-{bulk}.json").read_text()) for role in procs}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        role, parties_file, bulk, count, out = sys.argv[2:]
        _party(role, parties_file, bulk == "1", int(count), out)
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--count", type=int, default=10, help="messages of each size")
    args = ap.parse_args()
    print(describe())
    with tempfile.TemporaryDirectory() as d:
        on = run(True, args.count, Path(d))
        off = run(False, args.count, Path(d))
    print(
        f"\n{'bytes':>12} {'path':>6} {'ms/msg':>8} {'CPU ms/msg: sender':>19} {'receiver':>9}"
        f" {'CPU ms/MB, both ends':>21}"
    )
    for size in SIZES:
        for label, res in (("bulk", on), ("gRPC", off)):
            s, r = res["sender"][str(size)], res["receiver"][str(size)]
            per_mb = (s["cpu"] + r["cpu"]) * 1e3 / (size * args.count / 1e6)
            print(
                f"{size:>12,} {label:>6} {s['s'] / args.count * 1e3:>8.2f}"
                f" {s['cpu'] / args.count * 1e3:>19.2f} {r['cpu'] / args.count * 1e3:>9.2f}"
                f" {per_mb:>21.2f}"
            )
        t_on, t_off = on["sender"][str(size)]["s"], off["sender"][str(size)]["s"]
        cpu_on = on["sender"][str(size)]["cpu"] + on["receiver"][str(size)]["cpu"]
        cpu_off = off["sender"][str(size)]["cpu"] + off["receiver"][str(size)]["cpu"]
        print(
            f"{'':>12} {'':>6} gRPC / bulk: {t_off / t_on:.2f}x the time, "
            f"{cpu_off / cpu_on:.2f}x the CPU"
        )
    print("\n" + describe())


if __name__ == "__main__":
    main()
