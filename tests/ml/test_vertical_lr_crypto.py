"""The two small crypto additions vertical LR relies on.

- ``triples.ring_matmul``: the einsum kernel gives exactly numpy's wrap-around
  ``matmul`` (checked against Python integers mod 2^64), views and transposes included;
- ``DealerProvider.prefetch(..., wait=False)``: the dealer works ahead, results are the
  same, and unused prefetched randomness is reported at close.
"""

from __future__ import annotations

import numpy as np
import pytest

from unseen.crypto.sharing import Mpc
from unseen.crypto.triples import DealerProvider, Request, ring_matmul, serve_dealer
from unseen.runtime.errors import ProtocolError
from unseen.runtime.local import run_local

U64 = np.uint64
MOD = 1 << 64


def _exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` mod 2^64 with Python integers (the oracle)."""
    ao = a.astype(object)
    bo = b.astype(object)
    return (np.asarray(ao @ bo, dtype=object) % MOD).astype(U64)


@pytest.mark.parametrize(
    "sa,sb,ta",
    [
        ((37, 5), (5,), False),
        ((37, 5), (37,), True),
        ((6,), (6, 9), False),
        ((11, 4), (4, 3), False),
        ((3, 40), (40, 12), False),
        ((20, 14), (20, 13), True),
    ],
)
def test_ring_matmul_is_exact_mod_2_64(sa, sb, ta):
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**64, size=sa, dtype=U64, endpoint=False)
    b = rng.integers(0, 2**64, size=sb, dtype=U64, endpoint=False)
    left = a.T if ta else a
    got = ring_matmul(left, b)
    assert got.dtype == U64
    np.testing.assert_array_equal(got, _exact(left, b))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(got, np.matmul(left, b))


def _plain_products(ctx, wait: bool, leave_unused: bool):
    parties = ["a", "b"]
    rng = np.random.default_rng(3)
    m = rng.integers(-1000, 1000, size=(50, 4)).astype(np.int64)
    ys = [rng.integers(-(2**20), 2**20, size=50).astype(np.int64) for _ in range(3)]
    provider = DealerProvider(ctx, "dealer", parties)
    with Mpc(ctx, provider, parties=parties) as mpc:
        pm = mpc.plain_matrix(m if ctx.party == "a" else None, "a", shape=m.shape)
        req = Request("plain_matmul", (m.shape, (50,)), owner="a", mask=pm.mask.id, transpose=True)
        mpc.triples.prefetch([req, req], wait=wait)  # type: ignore[union-attr]
        if not wait:
            mpc.triples.prefetch([req], wait=False)  # type: ignore[union-attr]
        out = []
        for y in ys[: 2 if leave_unused else 3]:
            sy = mpc.share(y if ctx.party == "b" else None, "b")
            out.append(mpc.reveal(pm.T @ sy, to="a"))
        if leave_unused and wait:
            mpc.triples.prefetch([req], wait=False)  # type: ignore[union-attr]
    return m, ys, out


@pytest.mark.parametrize("wait", [True, False])
def test_prefetch_without_waiting_gives_the_same_products(wait):
    res = run_local(
        {
            "a": lambda ctx: _plain_products(ctx, wait, False),
            "b": lambda ctx: _plain_products(ctx, wait, False),
            "dealer": lambda ctx: serve_dealer(ctx, ["a", "b"]),
        }
    )
    m, ys, out = res["a"]
    for y, got in zip(ys, out, strict=True):
        np.testing.assert_array_equal(got.view(np.int64), m.T @ y)


def test_unused_prefetched_randomness_fails_the_job():
    with pytest.raises(ProtocolError, match="never used"):
        run_local(
            {
                "a": lambda ctx: _plain_products(ctx, True, True),
                "b": lambda ctx: _plain_products(ctx, True, True),
                "dealer": lambda ctx: serve_dealer(ctx, ["a", "b"]),
            }
        )


@pytest.mark.parametrize("shape", [(0,), (1,), (3, 5), (1 << 20,), (700_001, 3)])
def test_prg_uint64_in_chunks_is_the_same_stream(shape):
    from unseen.crypto.prg import AesCtrPrg

    seed = bytes(range(16))
    chunked, whole = AesCtrPrg(seed), AesCtrPrg(seed)
    x = chunked.uint64(shape)
    count = int(np.prod(shape))
    y = np.frombuffer(whole.bytes(8 * count), dtype=U64).reshape(shape)
    assert x.shape == shape
    np.testing.assert_array_equal(x, y)
    assert chunked.bytes(24) == whole.bytes(24)  # and the stream goes on in step
