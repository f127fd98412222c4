"""Additive secret sharing over Z_2^64: correctness against plaintext, truncation bounds,
and what the wire carries (openings uniform, no plaintext secret)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from unseen.crypto.fixedpoint import RingFixedPoint
from unseen.crypto.sharing import Mpc, ring
from unseen.crypto.triples import DealerProvider, InsecureLocalProvider, serve_dealer
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError
from unseen.runtime.local import Transcript, run_local

I64 = np.int64
EDGES = [0, 1, -1, 2**63 - 1, -(2**63), 2**62, -(2**62), 12345, -12345]

Body = Callable[[Mpc, Context], Any]


def run_mpc(
    body: Body,
    parties: Sequence[str] = ("a", "b"),
    *,
    dealer: bool = False,
    fxp: RingFixedPoint | None = None,
    transcript: Transcript | None = None,
) -> dict[str, Any]:
    """Run ``body(mpc, ctx)`` at every computing party; with a dealer party if asked."""

    def role(ctx: Context) -> Any:
        if dealer:
            triples = DealerProvider(ctx, "dealer", parties)
        else:
            triples = InsecureLocalProvider(ctx, parties)
        with Mpc(ctx, triples, fxp=fxp) as mpc:
            return body(mpc, ctx)

    roles: dict[str, Callable[..., Any]] = {p: role for p in parties}
    if dealer:
        roles["dealer"] = lambda ctx: serve_dealer(ctx, parties)
    return run_local(roles, transcript=transcript, timeout=60)


def signed(u: np.ndarray | None) -> np.ndarray:
    assert u is not None
    return np.asarray(u, dtype=np.uint64).view(I64)


def wrap(x: Any) -> np.ndarray:
    """Plaintext reference arithmetic modulo 2^64, as signed int64."""
    with np.errstate(over="ignore"):
        return np.asarray(x).astype(np.uint64).view(I64)


def owned(ctx: Context, owner: str, value: Any) -> Any:
    return value if ctx.party == owner else None


int64s = st.one_of(st.sampled_from(EDGES), st.integers(-(2**63), 2**63 - 1))
shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=5)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def array_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(shapes)
    x = draw(hnp.arrays(I64, shape, elements=int64s))
    y = draw(hnp.arrays(I64, shape, elements=int64s))
    return x, y


# -- share / reveal ------------------------------------------------------------------
@SETTINGS
@given(x=hnp.arrays(I64, shapes, elements=int64s), n=st.sampled_from([2, 3]), data=st.data())
def test_share_reveal_round_trip(x: np.ndarray, n: int, data: st.DataObject) -> None:
    parties = ["p0", "p1", "p2"][:n]
    owner = data.draw(st.sampled_from(parties))

    def body(mpc: Mpc, ctx: Context) -> Any:
        s = mpc.share(owned(ctx, owner, x), owner)
        return mpc.reveal(s), s.share

    out = run_mpc(body, parties)
    for p in parties:
        assert np.array_equal(signed(out[p][0]), x)
        assert out[p][1].shape == x.shape
    total = sum((out[p][1] for p in parties), np.zeros(x.shape, np.uint64))
    assert np.array_equal(signed(total), x)


def test_shares_look_random_even_for_zeros() -> None:
    x = np.zeros(4096, dtype=I64)
    out = run_mpc(lambda mpc, ctx: mpc.share(owned(ctx, "a", x), "a").share)
    for p in ("a", "b"):
        bits = np.unpackbits(out[p].view(np.uint8))
        assert abs(bits.mean() - 0.5) < 0.01  # 262144 bits: sigma ~ 0.001


def test_reveal_to_one_party_only() -> None:
    x = np.array([5, -7, 2**40], dtype=I64)

    def body(mpc: Mpc, ctx: Context) -> Any:
        return mpc.reveal(mpc.share(owned(ctx, "a", x), "a"), to="c")

    out = run_mpc(body, ["a", "b", "c"])
    assert out["a"] is None and out["b"] is None
    assert np.array_equal(signed(out["c"]), x)


def test_share_costs_a_seed_not_the_array() -> None:
    x = np.arange(100_000, dtype=I64)
    transcript = Transcript()
    run_mpc(
        lambda mpc, ctx: mpc.share(owned(ctx, "a", x), "a"), ["a", "b", "c"], transcript=transcript
    )
    shares = [m for m in transcript.messages if "/share" in m[2]]
    assert len(shares) == 2  # one to each other party
    assert sum(len(m[4]) for m in shares) < 200


def test_owner_must_pass_value_and_others_must_not() -> None:
    with pytest.raises(ValueError, match="owner must pass"):
        run_mpc(lambda mpc, ctx: mpc.share(None, "a"))
    with pytest.raises(ValueError, match="only the owner"):
        run_mpc(lambda mpc, ctx: mpc.share(np.array([1]), "a"))
    with pytest.raises(ConfigError, match="not a computing party"):
        run_mpc(lambda mpc, ctx: mpc.share(np.array([1]), "zed"))


# -- local arithmetic -------------------------------------------------------------------
@SETTINGS
@given(xy=array_pairs(), c=int64s, n=st.sampled_from([2, 3]))
def test_linear_operations(xy: tuple[np.ndarray, np.ndarray], c: int, n: int) -> None:
    x, y = xy
    parties = ["p0", "p1", "p2"][:n]

    def body(mpc: Mpc, ctx: Context) -> Any:
        sx = mpc.share(owned(ctx, "p0", x), "p0")
        sy = mpc.share(owned(ctx, parties[-1], y), parties[-1])
        results = [sx + sy, sx - sy, -sx, sx + c, c - sy, sx * c, c * sy, 3 * sx - 2 * sy + 7]
        return [mpc.reveal(r) for r in results]

    out = run_mpc(body, parties)["p0"]
    with np.errstate(over="ignore"):
        u, v, cu = x.astype(np.uint64), y.astype(np.uint64), np.uint64(c % 2**64)
        expect = [
            u + v,
            u - v,
            -u,
            u + cu,
            cu - v,
            u * cu,
            cu * v,
            np.uint64(3) * u - np.uint64(2) * v + np.uint64(7),
        ]
    for got, want in zip(out, expect, strict=True):
        assert np.array_equal(got, np.asarray(want, dtype=np.uint64))


def test_public_arrays_broadcast_and_public_matrices_are_local() -> None:
    x = np.array([[1, -2, 3], [4, 5, -6]], dtype=I64)
    row = np.array([10, 20, 30], dtype=I64)
    m = np.array([[1, 0], [2, -1], [0, 3]], dtype=I64)

    def body(mpc: Mpc, ctx: Context) -> Any:
        s = mpc.share(owned(ctx, "b", x), "b")
        sent_before = ctx.stats.messages_sent
        local = [s + row, s * row, s @ m, m.T @ s.T, s.T, s[1], s.sum(axis=0), s.reshape(3, 2)]
        assert ctx.stats.messages_sent == sent_before  # no communication
        return [mpc.reveal(r) for r in local]

    out = run_mpc(body)["a"]
    expect = [x + row, x * row, x @ m, m.T @ x.T, x.T, x[1], x.sum(axis=0), x.reshape(3, 2)]
    for got, want in zip(out, expect, strict=True):
        assert np.array_equal(signed(got), want)


def test_reals_are_refused_as_public_operands() -> None:
    with pytest.raises(TypeError, match="RingFixedPoint"):
        ring(np.array([0.5]))

    def body(mpc: Mpc, ctx: Context) -> Any:
        s = mpc.share(owned(ctx, "a", np.array([1])), "a")
        return s * 0.5

    with pytest.raises(TypeError):
        run_mpc(body)


# -- Beaver products -----------------------------------------------------------------------
@SETTINGS
@given(xy=array_pairs(), n=st.sampled_from([2, 3]))
def test_beaver_multiplication(xy: tuple[np.ndarray, np.ndarray], n: int) -> None:
    x, y = xy
    parties = ["p0", "p1", "p2"][:n]

    def body(mpc: Mpc, ctx: Context) -> Any:
        sx = mpc.share(owned(ctx, "p1", x), "p1")
        sy = mpc.share(owned(ctx, "p0", y), "p0")
        return mpc.reveal(sx * sy), mpc.reveal(sx * sx)

    prod, square = run_mpc(body, parties)["p0"]
    with np.errstate(over="ignore"):
        assert np.array_equal(prod, x.astype(np.uint64) * y.astype(np.uint64))
        assert np.array_equal(square, x.astype(np.uint64) * x.astype(np.uint64))


@pytest.mark.parametrize("dealer", [False, True])
@pytest.mark.parametrize("parties", [("a", "b"), ("a", "b", "c")])
@pytest.mark.parametrize(
    "sa, sb", [((4, 3), (3, 2)), ((3,), (3, 2)), ((4, 3), (3,)), ((5,), (5,)), ((1, 7), (7, 1))]
)
def test_matrix_beaver_products(
    dealer: bool, parties: tuple[str, ...], sa: tuple[int, ...], sb: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(7)
    x = rng.integers(-(2**63), 2**63 - 1, size=sa, dtype=I64, endpoint=True)
    y = rng.integers(-(2**20), 2**20, size=sb, dtype=I64)

    def body(mpc: Mpc, ctx: Context) -> Any:
        sx = mpc.share(owned(ctx, parties[0], x), parties[0])
        sy = mpc.share(owned(ctx, parties[-1], y), parties[-1])
        return mpc.reveal(sx @ sy)

    got = run_mpc(body, parties, dealer=dealer)[parties[1]]
    want = (x.astype(object) @ y.astype(object)) % 2**64
    assert np.array_equal(got, np.asarray(want, dtype=np.uint64))


def test_mul_many_is_one_round() -> None:
    x, y = np.array([3, -4], dtype=I64), np.array([-5, 6], dtype=I64)

    def body(mpc: Mpc, ctx: Context) -> Any:
        sx = mpc.share(owned(ctx, "a", x), "a")
        sy = mpc.share(owned(ctx, "b", y), "b")
        before = ctx.stats.messages_sent
        z1, z2 = mpc.mul_many([(sx, sy), (sy, sy)])
        assert ctx.stats.messages_sent - before == 1
        return mpc.reveal(z1), mpc.reveal(z2)

    z1, z2 = run_mpc(body)["a"]
    assert np.array_equal(signed(z1), x * y) and np.array_equal(signed(z2), y * y)


def test_products_need_a_provider_and_matching_shapes() -> None:
    def no_provider(ctx: Context) -> Any:
        mpc = Mpc(ctx)
        s = mpc.share(owned(ctx, "a", np.array([1, 2])), "a")
        return s * s

    with pytest.raises(ConfigError, match="triple provider"):
        run_local({"a": no_provider, "b": no_provider})

    def mismatch(mpc: Mpc, ctx: Context) -> Any:
        s = mpc.share(owned(ctx, "a", np.array([1, 2])), "a")
        return s * s[:1]

    with pytest.raises(ValueError, match="shapes differ"):
        run_mpc(mismatch)


# -- plaintext matrix at one party times shared values ----------------------------------------
@pytest.mark.parametrize("dealer", [False, True])
@pytest.mark.parametrize("parties", [("guest", "host"), ("guest", "host", "third")])
def test_plain_matrix_products(dealer: bool, parties: tuple[str, ...]) -> None:
    rng = np.random.default_rng(3)
    rows, bins = 50, 6
    # a bin-indicator matrix, as SecureBoost's host holds: bins x rows, one 1 per column
    m = np.zeros((bins, rows), dtype=I64)
    m[rng.integers(0, bins, size=rows), np.arange(rows)] = 1
    g = rng.integers(-(2**40), 2**40, size=rows, dtype=I64)  # gradients (fixed point)
    gh = rng.integers(-(2**40), 2**40, size=(rows, 2), dtype=I64)  # gradients and hessians
    w = rng.integers(-(2**20), 2**20, size=bins, dtype=I64)
    wm = rng.integers(-(2**20), 2**20, size=(3, bins), dtype=I64)

    def body(mpc: Mpc, ctx: Context) -> Any:
        matrix = mpc.plain_matrix(owned(ctx, "host", m), "host", shape=m.shape)
        sg = mpc.share(owned(ctx, "guest", g), "guest")
        sgh = mpc.share(owned(ctx, "guest", gh), "guest")
        sw = mpc.share(owned(ctx, "guest", w), "guest")
        swm = mpc.share(owned(ctx, "guest", wm), "guest")

        def to_parties() -> int:  # bytes sent to computing parties (not to the dealer)
            return sum(ctx.stats.per_peer_sent.get(p, 0) for p in mpc.others)

        before = to_parties()
        hist = matrix @ sg
        sent = to_parties() - before
        results = [hist, matrix @ sgh, matrix.T @ sw, sw @ matrix, swm @ matrix, sg @ matrix.T]
        return [mpc.reveal(r) for r in results], sent

    out = run_mpc(body, parties, dealer=dealer)
    got, _ = out["guest"]
    expect = [m @ g, m @ gh, m.T @ w, w @ m, wm @ m, g @ m.T]
    for r, want in zip(got, expect, strict=True):
        assert np.array_equal(signed(r), want)
    # after the one-time masked matrix, a product costs |g| ring elements per non-owner
    assert out["host"][1] == 0
    assert out["guest"][1] < 8 * rows + 200


def test_plain_matrix_shape_must_be_given_and_match() -> None:
    m = np.eye(3, dtype=I64)
    with pytest.raises(ValueError, match="shape"):
        run_mpc(lambda mpc, ctx: mpc.plain_matrix(owned(ctx, "a", m), "a"))
    with pytest.raises(ValueError, match="shape says"):
        run_mpc(lambda mpc, ctx: mpc.plain_matrix(owned(ctx, "a", m), "a", shape=(3, 4)))


# -- fixed point ---------------------------------------------------------------------------------
@pytest.mark.parametrize("parties", [("a", "b"), ("a", "b", "c")])
def test_fixed_point_products(parties: tuple[str, ...]) -> None:
    rng = np.random.default_rng(11)
    fxp = RingFixedPoint(frac_bits=16)
    x = rng.uniform(-100, 100, size=(20, 4))
    w = rng.uniform(-2, 2, size=4)
    y = rng.uniform(-100, 100, size=(20, 4))
    tol = 4 * 2.0**-16 * 200  # a few ulps, scaled by the magnitudes that get summed

    def body(mpc: Mpc, ctx: Context) -> Any:
        sx = mpc.share_fixed(owned(ctx, "a", x), "a")
        sy = mpc.share_fixed(owned(ctx, parties[-1], y), parties[-1])
        sw = mpc.share_fixed(owned(ctx, parties[-1], w), parties[-1])
        xw = mpc.matmul_fixed(sx, sw)
        xy = mpc.mul_fixed(sx, sy)
        scaled = mpc.mul_public_fixed(sx, -0.375)
        raw = mpc.reveal_fixed(sx @ sw, scale=2)  # untruncated: 2f fractional bits
        return [mpc.reveal_fixed(r) for r in (xw, xy, scaled)] + [raw]

    xw, xy, scaled, raw = run_mpc(body, parties, fxp=fxp)["a"]
    xq, wq, yq = (fxp.decode(fxp.encode(v)) for v in (x, w, y))
    assert np.allclose(xw, xq @ wq, atol=tol)
    assert np.allclose(xy, xq * yq, atol=tol)
    assert np.allclose(scaled, xq * -0.375, atol=tol)
    assert np.allclose(raw, xq @ wq, atol=1e-9)


@pytest.mark.parametrize(
    "parties, method",
    [(("a", "b"), "local"), (("a", "b"), "pair"), (("a", "b", "c"), "pair")],
)
def test_truncation_error_bound(parties: tuple[str, ...], method: str) -> None:
    """Off by at most one ulp for |x| < 2^l_x; rare wild errors within the stated rate."""
    rng = np.random.default_rng(5)
    f, n = 16, 40_000
    small = rng.integers(-(2**40), 2**40, size=n, dtype=I64)  # l_x = 40: ~2^-23 failure rate
    big = rng.integers(-(2**58), 2**58, size=n, dtype=I64)  # l_x = 58: up to 2^-5 (local)
    edges = np.array([0, 1, -1, 2**16, -(2**16), 2**16 - 1, -(2**16) + 1, 2**39, -(2**39)], I64)

    def body(mpc: Mpc, ctx: Context) -> Any:
        out = []
        for v in (small, big, edges):
            s = mpc.share(owned(ctx, "a", v), "a")
            out.append(mpc.reveal(mpc.truncate(s, f, method=method)))  # type: ignore[arg-type]
        return out

    got_small, got_big, got_edges = (signed(v) for v in run_mpc(body, parties)["a"])
    allowed = [0, 1] if method == "local" else [-1, 0]
    for v, got in ((small, got_small), (edges, got_edges)):
        assert np.isin(got - (v >> f), allowed).all()
    wild = ~np.isin(got_big - (big >> f), allowed)
    bound = 2.0 ** (58 + 1 - 64) if method == "local" else 2.0 ** (58 - 64)
    # the wild rate is at most the bound (with 5 sigma of binomial slack), and not zero:
    # the test would catch both a broken bound and a broken truncation
    assert wild.mean() <= bound + 5 * np.sqrt(bound / n)
    assert 0 < wild.sum()
    off_by_one = got_small - (small >> f) != 0
    assert 0.4 < off_by_one.mean() < 0.6  # the one-ulp error is unbiased-looking, not systematic


def test_local_truncation_is_two_party_only() -> None:
    def body(mpc: Mpc, ctx: Context) -> Any:
        return mpc.truncate(mpc.share(owned(ctx, "a", np.array([1 << 20])), "a"), method="local")

    with pytest.raises(ConfigError, match="two parties"):
        run_mpc(body, ["a", "b", "c"])


# -- what crosses the wire ------------------------------------------------------------------------
def _words(payloads: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(payloads), dtype=np.uint64)


def _assert_uniform(words: np.ndarray) -> None:
    """Bit balance per position and a chi-square over byte values."""
    assert words.size >= 4096
    bits = np.unpackbits(words.view(np.uint8)).reshape(-1, 64).mean(axis=0)
    sigma = 0.5 / np.sqrt(words.size)
    assert np.all(np.abs(bits - 0.5) < 6 * sigma), bits
    counts = np.bincount(words.view(np.uint8), minlength=256)
    expected = counts.sum() / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 255 + 6 * np.sqrt(2 * 255)  # mean 255, sd ~22.6


@pytest.mark.parametrize("dealer", [False, True])
def test_openings_are_uniform_and_no_secret_is_sent(dealer: bool) -> None:
    rng = np.random.default_rng(13)
    n = 8192
    # worst cases for structure: all zeros, small integers, a 0/1 matrix; and random
    # 64-bit secrets whose bytes we look for verbatim in everything sent
    zeros = np.zeros(n, dtype=I64)
    small = rng.integers(-3, 4, size=n, dtype=I64)
    tagged_x = rng.integers(-(2**63), 2**63 - 1, size=n, dtype=I64)
    tagged_y = rng.integers(-(2**63), 2**63 - 1, size=n, dtype=I64)
    indicator = (rng.random((8, n)) < 0.2).astype(I64)
    vec = rng.integers(-3, 4, size=n, dtype=I64)
    transcript = Transcript()

    def body(mpc: Mpc, ctx: Context) -> Any:
        sz = mpc.share(owned(ctx, "a", zeros), "a")
        ss = mpc.share(owned(ctx, "b", small), "b")
        sx = mpc.share(owned(ctx, "a", tagged_x), "a")
        sy = mpc.share(owned(ctx, "b", tagged_y), "b")
        sv = mpc.share(owned(ctx, "a", vec), "a")
        pm = mpc.plain_matrix(owned(ctx, "b", indicator), "b", shape=indicator.shape)
        products = [sz * ss, ss * ss, sx * sy, pm @ sv]
        return [mpc.reveal(p, to="a") for p in products]

    out = run_mpc(body, ("a", "b"), dealer=dealer, transcript=transcript)
    assert np.array_equal(signed(out["a"][0]), zeros * small)
    assert np.array_equal(signed(out["a"][3]), indicator @ vec)

    def sent(marker: str) -> list[bytes]:
        return [m[4] for m in transcript.messages if marker in m[2]]

    # e = x - a and f = y - b: opened by both parties; and E = M - A, F = y - B
    _assert_uniform(_words(sent("/open")))
    _assert_uniform(_words(sent("/masked-matrix")))
    _assert_uniform(_words(sent("/plain-matmul")))
    everything = transcript.all_bytes()
    assert len(everything) > 8 * 6 * n
    for secret in (
        tagged_x,
        tagged_y,
        wrap(tagged_x.astype(np.uint64) * tagged_y.astype(np.uint64)),
    ):
        assert secret.tobytes()[:64] not in everything
        hits = sum(1 for w in secret[:200] if w.tobytes() in everything)
        assert hits == 0
    # the secrets of the tests above all had shares on the wire; they are random words
    assert zeros.tobytes()[:4096] not in everything
