"""What machine a benchmark ran on, and how fast it was at that moment.

The development machine's speed varies during the day (BENCHMARKS.md), so every
benchmark prints, next to the hardware, four quick probes taken when it starts: a
Python loop, a 2048-bit modular multiplication (gmpy2), an X25519 scalar
multiplication (`cryptography`) and numpy's memory bandwidth. Runs are comparable
when these agree; otherwise compare only the ratios measured within one run.
"""

from __future__ import annotations

import os
import platform
import secrets
import time

import numpy as np


def _best(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def probes() -> dict[str, float]:
    """Python loop (ms per 10^6 additions), modmul (µs), X25519 (µs), numpy read (GB/s)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )
    from gmpy2 import mpz

    def loop() -> None:
        s = 0
        for i in range(1_000_000):
            s += i

    n = mpz(secrets.randbits(2048) | (1 << 2047) | 1)
    a, b = mpz(secrets.randbits(2040)), mpz(secrets.randbits(2040))

    def modmul() -> None:
        x = a
        for _ in range(10_000):
            x = x * b % n

    key = X25519PrivateKey.generate()
    peer = X25519PublicKey.from_public_bytes(
        X25519PrivateKey.generate().public_key().public_bytes_raw()
    )

    def x25519() -> None:
        for _ in range(500):
            key.exchange(peer)

    big = np.ones(25_000_000)  # 200 MB

    return {
        "python_loop_ms": _best(loop) * 1e3,
        "modmul_2048_us": _best(modmul) / 10_000 * 1e6,
        "x25519_us": _best(x25519) / 500 * 1e6,
        "numpy_read_gbs": big.nbytes / _best(big.sum) / 1e9,
    }


def describe() -> str:
    """One line: hardware, software and the probes' values now."""
    p = probes()
    return (
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}; speed now: Python loop {p['python_loop_ms']:.0f} ms/10^6, "
        f"2048-bit modmul {p['modmul_2048_us']:.2f} us, X25519 {p['x25519_us']:.1f} us, "
        f"numpy read {p['numpy_read_gbs']:.1f} GB/s"
    )


if __name__ == "__main__":
    print(describe())
