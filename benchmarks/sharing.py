"""Secret-shared matrix-vector products with dealer triples, against plaintext numpy, one run.

    .venv/bin/python benchmarks/sharing.py                 # 1,000,000 x 40
    .venv/bin/python benchmarks/sharing.py --rows 100000   # quicker

Three processes over mutual TLS on loopback -- two computing parties (guest,
host) and a dealer (:class:`~unseen.crypto.triples.DealerProvider`) -- as in
production. The data are reals in fixed point (16 fractional bits) in Z_2^64.
Two products are timed, each from a barrier to the result's shares being in
place at both computing parties, dealer round trip and every message included:

- ``M @ [y]``: the host holds ``M`` (rows x cols) in plaintext, ``y`` is
  secret-shared -- the product of vertical LR's forward pass. Set-up sends the
  masked matrix ``E = M - A`` once (timed separately); every product then sends
  ``cols`` ring elements to the owner and the dealer's correction of ``rows``.
  The figure is the mean over ``--repeat`` products.
- ``[X] @ [y]``: both secret-shared, a fresh matrix triple (Beaver / SecureML):
  ``E = X - A`` (rows x cols) is opened in both directions every time.

Plaintext: numpy's float64 ``X @ y`` (BLAS), best of five, in this process.
Every result is revealed to the guest once and checked against the plaintext.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe

GUEST, HOST, DEALER = "guest", "host", "dealer"
FRAC = 16


def make_data(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """The benchmark's public test data (every process regenerates it from the seed)."""
    rng = np.random.default_rng(7)
    return rng.standard_normal((rows, cols)), rng.standard_normal(cols)


# --------------------------------------------------------------------------- a party


def _role(ctx: Any, rows: int, cols: int, repeat: int, out: Path) -> None:
    from unseen.crypto.fixedpoint import RingFixedPoint
    from unseen.crypto.sharing import Mpc
    from unseen.crypto.triples import DealerProvider, Request, serve_dealer

    if ctx.party == DEALER:
        serve_dealer(ctx, [GUEST, HOST])
        return
    enc = RingFixedPoint(FRAC, 8)
    x, y = make_data(rows, cols)
    mine = ctx.party == HOST
    result: dict[str, Any] = {}
    with Mpc(ctx, DealerProvider(ctx, DEALER, [GUEST, HOST])) as mpc:
        sy = mpc.share(enc.encode(y) if ctx.party == GUEST else None, GUEST)
        sx = mpc.share(enc.encode(x) if mine else None, HOST)

        def barrier() -> None:
            mpc.reveal(mpc.share(np.zeros(1, dtype=np.uint64) if mine else None, HOST))

        def timed(name: str, product: Callable[[], Any], times: int = 1) -> Any:
            """Mean seconds of ``product`` from a barrier to both parties holding the result."""
            barrier()
            t0 = time.perf_counter()
            for _ in range(times):
                out = product()
            barrier()
            result[name] = (time.perf_counter() - t0) / times
            return out

        # M @ [y]: set-up once, then `repeat` products
        m = timed(
            "plain_setup_s",
            lambda: mpc.plain_matrix(enc.encode(x) if mine else None, HOST, shape=(rows, cols)),
        )
        # total: the dealer is asked during each product
        check_plain = mpc.reveal(timed("plain_product_s", lambda: m @ sy, repeat), to=GUEST)
        # online: the dealer's corrections fetched ahead (the offline phase), as vertical LR
        # does for the epochs to come
        req = Request("plain_matmul", (m.mask.shape, (cols,)), owner=HOST, mask=m.mask.id)
        mpc.triples.prefetch([req] * repeat)  # type: ignore[union-attr]
        timed("plain_online_s", lambda: m @ sy, repeat)
        # [X] @ [y]: a fresh matrix triple
        full = timed("shared_product_s", lambda: sx @ sy)
        check_full = mpc.reveal(full, to=GUEST)
    result["bytes_sent"] = ctx.stats.bytes_sent
    if ctx.party == GUEST:
        want = x @ y
        for name, got in (("plain", check_plain), ("shared", check_full)):
            assert got is not None
            # products carry 2 * FRAC fractional bits (no truncation here)
            err = np.abs(got.view(np.int64) / 2.0 ** (2 * FRAC) - want).max()
            result[f"{name}_max_error"] = float(err)
    (out / f"{ctx.party}.json").write_text(json.dumps(result), encoding="utf-8")


def _party_main(argv: list[str]) -> None:
    from unseen.cli.common import run_party

    party, parties_file, rows, cols, repeat, out = argv
    run_party(
        _role,
        party=party,
        parties_file=Path(parties_file),
        key=None,
        job_id="sharing-bench",
        default_job="sharing-bench",
        connect_timeout=60.0,
        peer_timeout=60.0,
        quiet=True,
        verbose=False,
        job_parties=[GUEST, HOST, DEALER],
        rows=int(rows),
        cols=int(cols),
        repeat=int(repeat),
        out=Path(out),
    )


# --------------------------------------------------------------------------- the driver


def plaintext(rows: int, cols: int) -> float:
    x, y = make_data(rows, cols)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        x @ y
        best = min(best, time.perf_counter() - t0)
    return best


def run_parties(rows: int, cols: int, repeat: int, workdir: Path) -> dict[str, Any]:
    import subprocess

    from unseen.runtime.launch import PeakSampler, make_parties

    parties_file = make_parties(workdir / "keys", [GUEST, HOST, DEALER])
    out = workdir / "out"
    out.mkdir()
    procs = {
        p: subprocess.Popen(
            [sys.executable, __file__, "--party", p, str(parties_file), str(rows), str(cols)]
            + [str(repeat), str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in (GUEST, HOST, DEALER)
    }
    sampler = PeakSampler({p: proc.pid for p, proc in procs.items()})
    sampler.start()
    try:
        for p, proc in procs.items():
            _, err = proc.communicate(timeout=1800)
            if proc.returncode != 0:
                raise SystemExit(f"{p} failed:\n{err}")
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
        sampler.stop.set()
    res = {p: json.loads((out / f"{p}.json").read_text()) for p in (GUEST, HOST)}
    res["peak_mib"] = {p: kib / 1024 for p, kib in sampler.peak.items()}
    return res


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--party":
        _party_main(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--cols", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=5, help="M @ [y] products to average")
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    print(describe())
    print(f"workload: {args.rows:,} x {args.cols} (fixed point, {FRAC} fraction bits)\n")
    numpy_s = plaintext(args.rows, args.cols)
    if args.workdir:
        Path(args.workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.workdir) as d:
        res = run_parties(args.rows, args.cols, args.repeat, Path(d))
    g, h = res[GUEST], res[HOST]

    def worst(key: str) -> float:
        return max(g[key], h[key])

    plain_s, shared_s = worst("plain_product_s"), worst("shared_product_s")
    online_s = worst("plain_online_s")
    print(f"{'product':36s} {'seconds':>9s} {'x numpy':>8s}")
    print(f"{'numpy float64 X @ y (BLAS)':36s} {numpy_s:9.4f} {1.0:8.1f}")
    print(f"{'M @ [y], host holds M (per product)':36s} {plain_s:9.4f} {plain_s / numpy_s:8.1f}")
    print(f"{'  online (dealer asked ahead)':36s} {online_s:9.4f} {online_s / numpy_s:8.1f}")
    print(f"{'  its one-off set-up (send M - A)':36s} {worst('plain_setup_s'):9.4f}")
    print(f"{'[X] @ [y], fresh matrix triple':36s} {shared_s:9.4f} {shared_s / numpy_s:8.1f}")
    print(
        f"\nmax error vs float64: M @ [y] {g['plain_max_error']:.2e}, "
        f"[X] @ [y] {g['shared_max_error']:.2e} (fixed point, 2^-{FRAC} per entry)"
    )
    print(
        f"bytes sent: guest {g['bytes_sent'] / 1e6:.1f} MB, host {h['bytes_sent'] / 1e6:.1f} MB; "
        "peak MiB: " + ", ".join(f"{p} {v:.0f}" for p, v in res["peak_mib"].items())
    )
    print("target (issue 3): M @ [y] within 5x of numpy, communication included")


if __name__ == "__main__":
    main()
