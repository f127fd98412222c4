"""Additively homomorphic encryption throughput: Unseen vs python-paillier (phe) vs HEU.

    python benchmarks/paillier.py            # full run (a few minutes on 2 cores)
    python benchmarks/paillier.py --quick    # smaller batches (about a minute)
    python benchmarks/paillier.py --cores 1 --only unseen,heu

Every (library, core count) runs in its own process pinned to that many CPUs
(``sched_setaffinity``), so Unseen's process pool and HEU's threads see the
same machine; phe is single-threaded and runs on one core only. Figures are
operations per second (best of a few repetitions, after a warm-up that builds
tables and starts pools), 2048-bit moduli throughout, plus Unseen's OU at its
3072-bit default. Plaintexts are uniform signed 53-bit integers (as float64
mantissas); ``ct x int53`` multiplies by such integers; the matrix products
use a 10,000 x 30 matrix of them (rows per second: a row is 30
exponentiations and their product). Where a library is too slow for the full
matrix the rate comes from fewer rows and is marked ``*`` (extrapolated).

Operations, per library:

- phe: ``raw_encrypt`` / ``raw_decrypt`` (CRT) and ``EncryptedNumber`` ``+``/``*``.
- HEU (``heu.numpy``): ``Encryptor.encrypt``, ``Decryptor.decrypt``,
  ``Evaluator.add/mul/matmul`` on arrays; schemes ``zpaillier`` (DJN, 1024-bit
  random exponent), ``fpaillier`` and ``OU`` (110-bit random exponent).
- Unseen: ``encrypt_raw`` (public key; 256-bit random exponent by default, and
  ``r_bits=1024`` as DJN/HEU), the key owner's CRT ``encrypt_raw``,
  ``decrypt_raw``, packed decryption (27 slots of 74 bits per ciphertext,
  counted per value), ``add``, ``mul_plain``, ``matvec``, ``vecmat``.
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

BITS = 2048
MATRIX_ROWS, MATRIX_COLS = 10_000, 30

Result = dict[str, tuple[float, bool]]  # op -> (ops per second, extrapolated?)


def rate(fn: Callable[[], Any], count: int, repeat: int = 3, budget: float = 20.0) -> float:
    """Best ``count / seconds`` over up to ``repeat`` runs (fewer when one run is long)."""
    best = float("inf")
    start = time.perf_counter()
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return count / best


def data(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-(2**52), 2**52, size=n, dtype=np.int64)


def sizes(quick: bool) -> dict[str, int]:
    s = {"enc": 1000, "dec": 200, "add": 20000, "mul": 500, "rows": MATRIX_ROWS, "packed": 20}
    if quick:
        s = {"enc": 300, "dec": 60, "add": 5000, "mul": 150, "rows": 2000, "packed": 6}
    return s


# ----------------------------------------------------------------------------- libraries


def bench_unseen(quick: bool) -> dict[str, Result]:
    from unseen.crypto import ou, paillier
    from unseen.crypto.packing import SlotLayout, decrypt_packed, pack_ciphertexts

    s = sizes(quick)
    out: dict[str, Result] = {}
    m = data(s["enc"])
    x = data(MATRIX_ROWS * MATRIX_COLS, 2).reshape(MATRIX_ROWS, MATRIX_COLS)[: s["rows"]]

    def common(sk: Any, label: str) -> Result:
        pk = sk.public_key
        r: Result = {}
        pk.encrypt_raw(m[:4])
        r["encrypt"] = (rate(lambda: pk.encrypt_raw(m), len(m)), False)
        c = pk.encrypt_raw(m)
        cd = c[: s["dec"]]
        sk.decrypt_raw(cd[:2])
        r["decrypt"] = (rate(lambda: sk.decrypt_raw(cd), len(cd)), False)
        lay = SlotLayout.for_key(pk, value_bits=53, max_additions=2**20)
        vals = c[: s["packed"] * lay.n_slots]
        packed = pack_ciphertexts(pk, vals, lay)
        r["decrypt/value packed"] = (
            rate(lambda: decrypt_packed(sk, packed, lay), len(packed) * lay.n_slots),
            False,
        )
        r["pack ciphertexts/value"] = (
            rate(lambda: pack_ciphertexts(pk, vals, lay), len(vals)),
            False,
        )
        ca = np.concatenate([c] * (s["add"] // len(c) + 1))[: s["add"]]
        r["ct+ct"] = (rate(lambda: pk.add(ca, ca), len(ca)), False)
        k = data(s["mul"], 3)
        cm = c[: s["mul"]]
        pk.mul_plain(cm[:2], k[:2])
        r["ct*int53"] = (rate(lambda: pk.mul_plain(cm, k), len(cm)), False)
        v = c[:MATRIX_COLS]
        pk.matvec(x[:4], v)
        r["matvec 10k x 30 (rows/s)"] = (rate(lambda: pk.matvec(x, v), len(x), repeat=1), False)
        cv = np.concatenate([c] * (len(x) // len(c) + 1))[: len(x)]
        r["vecmat 10k x 30 (rows/s)"] = (rate(lambda: pk.vecmat(cv, x), len(x), repeat=1), False)
        print(f"  done {label}", file=sys.stderr, flush=True)
        return r

    sk = paillier.generate_keypair(BITS)
    res = common(sk, "paillier")
    sk.encrypt_raw(m[:4])
    res["encrypt (key owner, CRT)"] = (rate(lambda: sk.encrypt_raw(m), len(m)), False)
    pk1024 = paillier.PaillierPublicKey(sk.public_key.n, sk.public_key.h_s, r_bits=1024)
    pk1024.encrypt_raw(m[:4])
    res["encrypt r_bits=1024 (DJN/HEU length)"] = (
        rate(lambda: pk1024.encrypt_raw(m), len(m)),
        False,
    )
    out["unseen-paillier"] = res
    out["unseen-ou2048"] = common(ou.generate_keypair(2048), "ou2048")
    out["unseen-ou3072"] = common(ou.generate_keypair(3072), "ou3072")
    return out


def bench_phe(quick: bool) -> dict[str, Result]:
    import phe

    s = sizes(quick)
    pub, priv = phe.generate_paillier_keypair(n_length=BITS)
    n = pub.n
    m = [int(v) % n for v in data(max(20, s["enc"] // 5))]
    r: Result = {}
    r["encrypt"] = (rate(lambda: [pub.raw_encrypt(v) for v in m], len(m), repeat=1), False)
    cts = [pub.raw_encrypt(v) for v in m]
    cd = cts[: max(20, s["dec"] // 2)]
    r["decrypt"] = (rate(lambda: [priv.raw_decrypt(c) for c in cd], len(cd), repeat=2), False)
    enc = [phe.EncryptedNumber(pub, c) for c in cts]
    ea = (enc * (s["add"] // len(enc) + 1))[: s["add"] // 2]
    r["ct+ct"] = (rate(lambda: [a + a for a in ea], len(ea)), False)
    ks = [int(v) for v in data(len(enc), 3)]
    r["ct*int53"] = (rate(lambda: [a * k for a, k in zip(enc, ks, strict=True)], len(enc)), False)
    rows = 10 if quick else 20
    x = data(rows * MATRIX_COLS, 2).reshape(rows, MATRIX_COLS).tolist()
    v = enc[:MATRIX_COLS]

    def matvec() -> None:
        for row in x:
            acc = v[0] * row[0]
            for c, k in zip(v[1:], row[1:], strict=True):
                acc = acc + c * k

    r["matvec 10k x 30 (rows/s)"] = (rate(matvec, rows, repeat=1), True)
    return {"phe": r}


def heu_scheme(schema: Any, scale: float, quick: bool) -> Result:
    """One HEU scheme; ``scale`` shrinks the batches for slow schemes."""
    from heu import numpy as hnp
    from heu import phe as hphe

    s = sizes(quick)
    kit = hnp.setup(schema, BITS)
    enc, dec, ev = kit.encryptor(), kit.decryptor(), kit.evaluator()
    ep = hphe.BigintEncoderParams()

    def arr(x: np.ndarray) -> Any:
        return kit.array(x, ep)

    m = data(max(20, int(s["enc"] * scale)))
    pt = arr(m)
    enc.encrypt(arr(m[:4]))
    r: Result = {"encrypt": (rate(lambda: enc.encrypt(pt), len(m)), False)}
    nd = max(20, int(s["dec"] * scale))
    cd = enc.encrypt(arr(data(nd)))
    r["decrypt"] = (rate(lambda: dec.decrypt(cd), nd), False)
    na = max(200, int(s["add"] * scale))
    ca = enc.encrypt(arr(data(na)))
    r["ct+ct"] = (rate(lambda: ev.add(ca, ca), na), False)
    nm = max(20, int(s["mul"] * scale))
    cm, km = enc.encrypt(arr(data(nm))), arr(data(nm, 3))
    r["ct*int53"] = (rate(lambda: ev.mul(cm, km), nm), False)
    rows = max(10, int((50 if quick else 200) * scale))
    x = arr(data(rows * MATRIX_COLS, 2).reshape(rows, MATRIX_COLS))
    v = enc.encrypt(arr(data(MATRIX_COLS).reshape(MATRIX_COLS, 1)))
    r["matvec 10k x 30 (rows/s)"] = (rate(lambda: ev.matmul(x, v), rows, repeat=1), True)
    return r


def bench_heu(quick: bool) -> dict[str, Result]:
    from heu import phe as hphe

    out: dict[str, Result] = {}
    schemes = {
        "heu-zpaillier": (hphe.SchemaType.ZPaillier, 1.0),
        "heu-fpaillier": (hphe.SchemaType.FPaillier, 0.1),
        "heu-ou": (hphe.SchemaType.OU, 1.0),
    }
    for label, (schema, scale) in schemes.items():
        out[label] = heu_scheme(schema, scale, quick)
        print(f"  done {label}", file=sys.stderr, flush=True)
    return out


BENCHES = {"unseen": bench_unseen, "phe": bench_phe, "heu": bench_heu}


# ----------------------------------------------------------------------------- driver


def worker(lib: str, cores: int, quick: bool) -> None:
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:cores]))
    print(json.dumps(BENCHES[lib](quick)))


def run_worker(lib: str, cores: int, quick: bool) -> dict[str, Result]:
    cmd = [sys.executable, __file__, "--worker", lib, "--cores", str(cores)]
    if quick:
        cmd.append("--quick")
    print(f"running {lib} on {cores} core(s)...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        print(proc.stderr, file=sys.stderr)
        raise SystemExit(f"{lib} benchmark failed")
    line = proc.stdout.strip().splitlines()[-1]
    return {k: {op: (v[0], v[1]) for op, v in r.items()} for k, r in json.loads(line).items()}


def fmt(v: float | None, extrapolated: bool = False) -> str:
    if v is None:
        return "—"
    text = f"{v:,.0f}" if v >= 100 else f"{v:,.1f}"
    return text + ("*" if extrapolated else "")


def ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or b is None else f"{a / b:.1f}x"


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
# what an Unseen-only variant is compared with in the other libraries
BASE = {
    "encrypt (key owner, CRT)": "encrypt",
    "encrypt r_bits=1024 (DJN/HEU length)": "encrypt",
    "decrypt/value packed": "decrypt",
}
COLUMNS = [
    "phe",
    "heu-zpaillier",
    "heu-fpaillier",
    "unseen-paillier",
    "heu-ou",
    "unseen-ou2048",
    "unseen-ou3072",
]


def table(results: dict[int, dict[str, Result]]) -> str:
    def get(cores: int, lib: str, op: str) -> tuple[float | None, bool]:
        r = results.get(cores, {}).get(lib, {})
        return r.get(op, (None, False))

    head = (
        "| op | cores | phe | HEU zpaillier | HEU fpaillier | Unseen Paillier | Unseen/phe "
        "| Unseen/HEU-z | HEU OU | Unseen OU-2048 | Unseen OU/HEU OU | Unseen OU-3072 |"
    )
    lines = [head, "|" + "---|" * 12]
    for op in OPS:
        base = BASE.get(op, op)
        for cores in sorted(results):
            v = {lib: get(cores, lib, op) for lib in COLUMNS}
            for lib in ("phe", "heu-zpaillier", "heu-fpaillier", "heu-ou"):
                v[lib] = get(cores, lib, base)  # others show the operation compared with
            up, uo = v["unseen-paillier"][0], v["unseen-ou2048"][0]
            cells = [
                op,
                str(cores),
                fmt(*v["phe"]),
                fmt(*v["heu-zpaillier"]),
                fmt(*v["heu-fpaillier"]),
                fmt(*v["unseen-paillier"]),
                ratio(up, v["phe"][0]),
                ratio(up, v["heu-zpaillier"][0]),
                fmt(*v["heu-ou"]),
                fmt(*v["unseen-ou2048"]),
                ratio(uo, v["heu-ou"][0]),
                fmt(*v["unseen-ou3072"]),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches")
    ap.add_argument("--cores", default="1,2", help="core counts, e.g. 1,2")
    ap.add_argument("--only", default="unseen,phe,heu", help="libraries to run")
    ap.add_argument("--json", help="also write the raw figures to this file")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    cores_list = [int(c) for c in args.cores.split(",")]
    if args.worker:
        worker(args.worker, cores_list[0], args.quick)
        return
    available = len(os.sched_getaffinity(0))
    results: dict[int, dict[str, Result]] = {}
    t0 = time.perf_counter()
    for cores in cores_list:
        if cores > available:
            print(f"skipping {cores} cores: only {available} available", file=sys.stderr)
            continue
        for lib in args.only.split(","):
            if lib == "phe" and cores > 1:
                continue  # single-threaded
            results.setdefault(cores, {}).update(run_worker(lib, cores, args.quick))
    cpu = ""
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if "model name" in line)
    except (OSError, StopIteration):
        pass
    print(f"\n{BITS}-bit keys (Unseen OU also at 3072); ops/second; {cpu}; {available} CPUs")
    print(
        f"mode: {'quick' if args.quick else 'full'}; wall time {time.perf_counter() - t0:.0f} s\n"
    )
    print(table(results))
    print("\n* extrapolated from fewer rows; — not applicable / not run")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({str(k): v for k, v in results.items()}, fh, indent=1)


if __name__ == "__main__":
    main()
