"""Additively homomorphic encryption throughput: Unseen vs python-paillier (phe) vs HEU.

    python benchmarks/paillier.py            # full run (about 5 minutes on 2 cores)
    python benchmarks/paillier.py --quick    # smaller batches (about 2 minutes)
    python benchmarks/paillier.py --cores 1 --only unseen,heu --json out.json

Method. For each core count, one process pinned to that many CPUs
(``sched_setaffinity``) builds every library's keys and data, then measures
operation by operation, *interleaved*: each round times every library once,
and each figure is the best of the rounds. Libraries therefore share the same
machine conditions even when other work is running. Unseen's process pool and
HEU's threads see the pinned CPUs; phe is single-threaded and runs on one core
only. Figures are operations per second after a warm-up (tables built, pools
started). ``--timer cpu`` times 1-core runs by process CPU time instead of
wall time (steadier when other users share the machine; multi-core runs always
use wall time).

Workload: 2048-bit moduli throughout, plus Unseen's OU at its 3072-bit
default. Plaintexts are uniform signed 53-bit integers; ``ct*int53``
multiplies by such integers; the matrix products use a 10,000 x 30 matrix of
them (rows per second; a row is 30 exponentiations and their product). Where
a library is too slow for the whole matrix, its rate comes from fewer rows
and is marked ``*``.

Operations, per library:

- phe: ``raw_encrypt`` / ``raw_decrypt`` (CRT) and ``EncryptedNumber`` ``+``/``*``.
- HEU (``heu.numpy``): ``Encryptor.encrypt``, ``Decryptor.decrypt``,
  ``Evaluator.add/mul/matmul`` on arrays; schemes ``zpaillier`` (DJN, 1024-bit
  random exponent), ``fpaillier`` and ``OU`` (110-bit random exponent).
- Unseen: ``encrypt_raw`` (public key, 256-bit random exponent by default;
  also ``r_bits=1024`` as DJN/HEU), the key owner's CRT ``encrypt_raw``,
  ``decrypt_raw``, packed decryption (27 slots of 74 bits per 2048-bit
  ciphertext, counted per value) and the packer's cost, ``add``,
  ``mul_plain``, ``matvec``, ``vecmat``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from machine import describe

BITS = 2048
MATRIX_ROWS, MATRIX_COLS = 10_000, 30
CLOCK: Callable[[], float] = time.perf_counter

# op -> (run it, items it processes, extrapolated?)
Ops = dict[str, tuple[Callable[[], Any], int, bool]]
Result = dict[str, tuple[float, bool]]  # op -> (items per second, extrapolated?)

OPS = [
    "encrypt",
    "encrypt (key owner, CRT)",
    "encrypt r_bits=1024 (DJN/HEU length)",
    "decrypt",
    "decrypt/value packed",
    "pack ciphertexts/value",
    "ct+ct",
    "ct*int53",
    "matvec 10k x 30 (rows/s)",
    "vecmat 10k x 30 (rows/s)",
]
SLOW = {"matvec 10k x 30 (rows/s)", "vecmat 10k x 30 (rows/s)"}


def data(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-(2**52), 2**52, size=n, dtype=np.int64)


def sizes(quick: bool) -> dict[str, int]:
    if quick:
        return {"enc": 300, "dec": 60, "add": 5000, "mul": 150, "rows": 2000, "packed": 4}
    return {"enc": 1000, "dec": 200, "add": 20000, "mul": 500, "rows": MATRIX_ROWS, "packed": 12}


def matrix(rows: int) -> np.ndarray:
    return data(rows * MATRIX_COLS, 2).reshape(rows, MATRIX_COLS)


# ----------------------------------------------------------------------------- suites


def unseen_suite(sk: Any, s: dict[str, int], paillier_extras: bool) -> Ops:
    from unseen.crypto.packing import SlotLayout, decrypt_packed, pack_ciphertexts
    from unseen.crypto.paillier import PaillierPublicKey

    pk = sk.public_key
    m = data(s["enc"])
    c = pk.encrypt_raw(m)
    cd = c[: s["dec"]]
    lay = SlotLayout.for_key(pk, value_bits=53, max_additions=2**20)
    vals = np.concatenate([c] * 4)[: s["packed"] * lay.n_slots]
    packed = pack_ciphertexts(pk, vals, lay)
    ca = np.concatenate([c] * (s["add"] // len(c) + 1))[: s["add"]]
    k, cm = data(s["mul"], 3), c[: s["mul"]]
    x = matrix(s["rows"])
    v = c[:MATRIX_COLS]
    cv = np.concatenate([c] * (len(x) // len(c) + 1))[: len(x)]
    # warm-up: tables, worker processes and their caches
    pk.matvec(x[:64], v)
    pk.vecmat(cv[:64], x[:64])
    pk.mul_plain(cm, k)
    sk.decrypt_raw(cd)
    ops: Ops = {
        "encrypt": (lambda: pk.encrypt_raw(m), len(m), False),
        "decrypt": (lambda: sk.decrypt_raw(cd), len(cd), False),
        "decrypt/value packed": (
            lambda: decrypt_packed(sk, packed, lay),
            len(packed) * lay.n_slots,
            False,
        ),
        "pack ciphertexts/value": (lambda: pack_ciphertexts(pk, vals, lay), len(vals), False),
        "ct+ct": (lambda: pk.add(ca, ca), len(ca), False),
        "ct*int53": (lambda: pk.mul_plain(cm, k), len(cm), False),
        "matvec 10k x 30 (rows/s)": (lambda: pk.matvec(x, v), len(x), False),
        "vecmat 10k x 30 (rows/s)": (lambda: pk.vecmat(cv, x), len(x), False),
    }
    if paillier_extras:
        sk.encrypt_raw(m)
        pk1024 = PaillierPublicKey(pk.n, pk.h_s, r_bits=1024)
        pk1024.encrypt_raw(m)
        ops["encrypt (key owner, CRT)"] = (lambda: sk.encrypt_raw(m), len(m), False)
        ops["encrypt r_bits=1024 (DJN/HEU length)"] = (
            lambda: pk1024.encrypt_raw(m),
            len(m),
            False,
        )
    return ops


def phe_suite(s: dict[str, int], quick: bool) -> Ops:
    import phe

    pub, priv = phe.generate_paillier_keypair(n_length=BITS)
    n = pub.n
    m = [int(v) % n for v in data(max(20, s["enc"] // 5))]
    cts = [pub.raw_encrypt(v) for v in m]
    cd = cts[: max(20, s["dec"] // 2)]
    enc = [phe.EncryptedNumber(pub, c) for c in cts]
    ea = (enc * (s["add"] // len(enc) + 1))[: s["add"] // 2]
    ks = [int(v) for v in data(len(enc), 3)]
    rows = 10 if quick else 20
    x = matrix(rows).tolist()
    v = enc[:MATRIX_COLS]

    def matvec() -> None:
        for row in x:
            acc = v[0] * row[0]
            for c, k in zip(v[1:], row[1:], strict=True):
                acc = acc + c * k

    return {
        "encrypt": (lambda: [pub.raw_encrypt(val) for val in m], len(m), False),
        "decrypt": (lambda: [priv.raw_decrypt(c) for c in cd], len(cd), False),
        "ct+ct": (lambda: [a + a for a in ea], len(ea), False),
        "ct*int53": (lambda: [a * k for a, k in zip(enc, ks, strict=True)], len(enc), False),
        "matvec 10k x 30 (rows/s)": (matvec, rows, True),
    }


def heu_suite(schema_name: str, scale: float, s: dict[str, int], quick: bool) -> Ops:
    """One HEU scheme; ``scale`` shrinks the batches of slow schemes."""
    from heu import numpy as hnp
    from heu import phe as hphe

    kit = hnp.setup(getattr(hphe.SchemaType, schema_name), BITS)
    enc, dec, ev = kit.encryptor(), kit.decryptor(), kit.evaluator()
    ep = hphe.BigintEncoderParams()

    def arr(x: np.ndarray) -> Any:
        return kit.array(x, ep)

    def sz(key: str, least: int) -> int:
        return max(least, int(s[key] * scale))

    pt = arr(data(sz("enc", 20)))
    cd = enc.encrypt(arr(data(sz("dec", 20))))
    ca = enc.encrypt(arr(data(sz("add", 200))))
    cm, km = enc.encrypt(arr(data(sz("mul", 20)))), arr(data(sz("mul", 20), 3))
    rows = max(10, int((50 if quick else 200) * scale))
    x = arr(matrix(rows))
    v = enc.encrypt(arr(data(MATRIX_COLS).reshape(MATRIX_COLS, 1)))
    ev.matmul(arr(matrix(2)), v)  # warm-up
    return {
        "encrypt": (lambda: enc.encrypt(pt), sz("enc", 20), False),
        "decrypt": (lambda: dec.decrypt(cd), sz("dec", 20), False),
        "ct+ct": (lambda: ev.add(ca, ca), sz("add", 200), False),
        "ct*int53": (lambda: ev.mul(cm, km), sz("mul", 20), False),
        "matvec 10k x 30 (rows/s)": (lambda: ev.matmul(x, v), rows, True),
    }


def build_suites(libs: list[str], cores: int, quick: bool) -> dict[str, Ops]:
    s = sizes(quick)
    suites: dict[str, Ops] = {}
    if "unseen" in libs:
        from unseen.crypto import ou, paillier

        suites["unseen-paillier"] = unseen_suite(paillier.generate_keypair(BITS), s, True)
        suites["unseen-ou2048"] = unseen_suite(ou.generate_keypair(2048), s, False)
        suites["unseen-ou3072"] = unseen_suite(ou.generate_keypair(3072), s, False)
    if "phe" in libs and cores == 1:
        suites["phe"] = phe_suite(s, quick)
    if "heu" in libs:
        suites["heu-zpaillier"] = heu_suite("ZPaillier", 1.0, s, quick)
        suites["heu-fpaillier"] = heu_suite("FPaillier", 0.1, s, quick)
        suites["heu-ou"] = heu_suite("OU", 1.0, s, quick)
    return suites


def measure(suites: dict[str, Ops], rounds: int) -> dict[str, Result]:
    """Interleave: every round times each library once per operation; keep the best."""
    best: dict[str, Result] = {name: {} for name in suites}
    for op in OPS:
        for _ in range(1 if op in SLOW else rounds):
            for name, ops in suites.items():
                if op not in ops:
                    continue
                fn, count, extrapolated = ops[op]
                t0 = CLOCK()
                fn()
                r = count / (CLOCK() - t0)
                if r > best[name].get(op, (0.0, False))[0]:
                    best[name][op] = (r, extrapolated)
        print(f"  {op}: done", file=sys.stderr, flush=True)
    return best


# ----------------------------------------------------------------------------- driver


def worker(libs: list[str], cores: int, quick: bool, timer: str) -> None:
    global CLOCK
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    if timer == "cpu" and cores == 1:
        CLOCK = time.process_time
    suites = build_suites(libs, cores, quick)
    print(json.dumps(measure(suites, rounds=3)))


def run_worker(libs: list[str], cores: int, quick: bool, timer: str) -> dict[str, Result]:
    cmd = [sys.executable, __file__, "--worker", "--only", ",".join(libs)]
    cmd += ["--cores", str(cores), "--timer", timer] + (["--quick"] if quick else [])
    print(f"running on {cores} core(s)...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"benchmark on {cores} core(s) failed")
    line = proc.stdout.strip().splitlines()[-1]
    return {k: {op: (v[0], v[1]) for op, v in r.items()} for k, r in json.loads(line).items()}


# what an Unseen-only variant is compared with in the other libraries
BASE = {
    "encrypt (key owner, CRT)": "encrypt",
    "encrypt r_bits=1024 (DJN/HEU length)": "encrypt",
    "decrypt/value packed": "decrypt",
}


def fmt(v: float | None, extrapolated: bool = False) -> str:
    if v is None:
        return "—"
    text = f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"
    return text + ("*" if extrapolated else "")


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.1f}x"


def table(results: dict[int, dict[str, Result]]) -> str:
    def get(cores: int, lib: str, op: str) -> tuple[float | None, bool]:
        return results.get(cores, {}).get(lib, {}).get(op, (None, False))

    head = (
        "| op | cores | phe | HEU zpaillier | HEU fpaillier | Unseen Paillier | Unseen/phe "
        "| Unseen/HEU-z | HEU OU | Unseen OU-2048 | Unseen OU/HEU OU | Unseen OU-3072 |"
    )
    lines = [head, "|" + "---|" * 12]
    for op in OPS:
        base = BASE.get(op, op)
        for cores in sorted(results):
            up, uo = get(cores, "unseen-paillier", op), get(cores, "unseen-ou2048", op)
            phe_, z, f, o = (
                get(cores, lib, base) for lib in ("phe", "heu-zpaillier", "heu-fpaillier", "heu-ou")
            )
            cells = [
                op,
                str(cores),
                fmt(*phe_),
                fmt(*z),
                fmt(*f),
                fmt(*up),
                ratio(up[0], phe_[0]),
                ratio(up[0], z[0]),
                fmt(*o),
                fmt(*uo),
                ratio(uo[0], o[0]),
                fmt(*get(cores, "unseen-ou3072", op)),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches")
    ap.add_argument("--cores", default="1,2", help="core counts, e.g. 1,2")
    ap.add_argument("--only", default="unseen,phe,heu", help="libraries to run")
    ap.add_argument(
        "--timer",
        choices=["wall", "cpu"],
        default="wall",
        help="cpu: time 1-core runs by process CPU time (multi-core runs: always wall time)",
    )
    ap.add_argument("--json", help="also write the raw figures to this file")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    libs = args.only.split(",")
    cores_list = [int(c) for c in args.cores.split(",")]
    if args.worker:
        worker(libs, cores_list[0], args.quick, args.timer)
        return
    print(describe(), flush=True)
    available = len(os.sched_getaffinity(0))
    results: dict[int, dict[str, Result]] = {}
    t0 = time.perf_counter()
    for cores in cores_list:
        if cores > available:
            print(f"skipping {cores} cores: only {available} available", file=sys.stderr)
            continue
        results[cores] = run_worker(libs, cores, args.quick, args.timer)
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    print(f"\n{BITS}-bit keys (Unseen OU also at 3072); ops/second; {cpu}; {available} CPUs")
    print(
        f"mode: {'quick' if args.quick else 'full'}; 1-core timer: {args.timer}; "
        f"load average at the end {os.getloadavg()[0]:.1f}; "
        f"wall time {time.perf_counter() - t0:.0f} s\n"
    )
    print(table(results))
    print("\n* extrapolated from fewer rows; — not applicable / not run; phe runs on 1 core")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({str(k): v for k, v in results.items()}, fh, indent=1)


if __name__ == "__main__":
    main()
