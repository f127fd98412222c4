"""Fixed-point encoders, property-tested: round trips within half a unit in the last place,
exact round-half-up, overflow always raised, and the vectorised paths equal the scalar ones."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from unseen.crypto.fixedpoint import RingFixedPoint, ZnFixedPoint

N_BIG = 2**2048 - 1557  # any odd modulus works for encoding
N_SMALL = 2**70 + 25

finite = st.floats(allow_nan=False, allow_infinity=False)
frac_bits = st.integers(0, 60)


def exact_round(x: float, f: int) -> int:
    """round-half-up of x * 2^f, with exact rationals."""
    return math.floor(Fraction(x) * 2**f + Fraction(1, 2))


# ----------------------------------------------------------------------------- Z_n


@settings(max_examples=400, deadline=None)
@given(finite, frac_bits, st.sampled_from([N_BIG, N_SMALL]))
def test_zn_encode_is_exact_round_half_up_or_raises(x: float, f: int, n: int) -> None:
    enc = ZnFixedPoint(n, f)
    v = exact_round(x, f)
    if abs(v) > enc.max_int:
        with pytest.raises(OverflowError):
            enc.encode(x)
        with pytest.raises(OverflowError):
            enc.encode_array(np.array([x]))
        return
    assert enc.encode(x) == v % n
    assert enc.encode_array(np.array([x]))[0] == v % n
    assert enc.encode_signed_array(np.array([x]))[0] == v
    back = enc.decode(v % n)
    assert back == float(Fraction(v, 2**f))  # correctly rounded
    assert enc.decode_array([v % n])[0] == back
    # the round trip is within half a unit of 2^-f (and of float rounding)
    assert abs(Fraction(v, 2**f) - Fraction(x)) <= Fraction(1, 2 ** (f + 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, max_size=30), frac_bits)
def test_zn_array_paths_equal_scalar_paths(xs: list[float], f: int) -> None:
    enc = ZnFixedPoint(N_BIG, f)
    scalar = []
    for x in xs:
        try:
            scalar.append(enc.encode(x))
        except OverflowError:
            with pytest.raises(OverflowError):
                enc.encode_array(np.array(xs))
            return
    arr = enc.encode_array(np.array(xs, dtype=np.float64))
    assert arr.tolist() == scalar == enc.encode_many(xs)
    for scale in (0, 1, 2):
        try:
            expected = enc.decode_many(scalar, scale).tolist()
        except OverflowError:  # beyond float range, e.g. 2^1024 with scale 0
            with pytest.raises(OverflowError):
                enc.decode_array(arr, scale)
            continue
        assert enc.decode_array(arr, scale).tolist() == expected


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), max_size=20), st.integers(0, 40))
def test_zn_integers_encode_exactly(xs: list[int], f: int) -> None:
    enc = ZnFixedPoint(N_BIG, f)
    arr = enc.encode_signed_array(np.array(xs, dtype=np.int64))
    assert arr.tolist() == [x << f for x in xs]
    assert enc.encode_array(np.array(xs, dtype=object)).tolist() == [enc.encode(x) for x in xs]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, N_SMALL - 1))
def test_zn_decode_raises_exactly_in_the_overflow_band(v: int) -> None:
    enc = ZnFixedPoint(N_SMALL, 8)
    in_band = enc.max_int < v < N_SMALL - enc.max_int
    if in_band:
        with pytest.raises(OverflowError):
            enc.decode(v)
        with pytest.raises(OverflowError):
            enc.decode_array([v])
    else:
        assert enc.decode_array([v])[0] == enc.decode(v)


def test_zn_edges() -> None:
    enc = ZnFixedPoint(N_SMALL, 0)
    m = enc.max_int
    assert enc.decode(enc.encode(m)) == float(m) and enc.decode(enc.encode(-m)) == float(-m)
    with pytest.raises(OverflowError):
        enc.encode(m + 1)
    with pytest.raises(OverflowError):
        enc.encode_signed_array(np.array([-(m + 1)], dtype=object))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            enc.encode(bad)
        with pytest.raises(ValueError):
            enc.encode_array(np.array([1.0, bad]))
    big = ZnFixedPoint(N_BIG, 32)  # scaled values beyond float range still encode exactly
    assert big.encode_signed_array(np.array([1e300]))[0] == exact_round(1e300, 32)
    assert big.encode_array(np.array([0.5, -0.5, 2.5, -2.5]) / 2**32).tolist() == [
        1,
        0,
        3,
        N_BIG - 2,
    ]
    assert enc.encode_array(np.zeros((2, 3))).shape == (2, 3)


# ----------------------------------------------------------------------------- Z_2^64


@settings(max_examples=400, deadline=None)
@given(finite, st.integers(0, 40), st.integers(0, 20))
# just past max_int = 2^(63-h) - 1, which float64 rounds up to 2^(63-h) (found by hypothesis)
@example(2.0**53, 1, 9)
@example(2.0**63, 0, 0)
@example(-(2.0**63), 0, 0)
def test_ring_round_trip_or_overflow(x: float, f: int, headroom: int) -> None:
    assume(headroom < 63 - f)
    enc = RingFixedPoint(f, headroom)
    # math.ldexp is exact, and a value past float range counts as overflow too
    v = round(math.ldexp(x, f)) if abs(x) < 1e250 else None
    if v is None or abs(v) > enc.max_int:
        with pytest.raises(OverflowError):
            enc.encode(x)
        return
    u = enc.encode(x)
    assert u.dtype == np.uint64
    assert abs(float(enc.decode(u)) - x) <= 2.0 ** -(f + 1) * (1 + 1e-9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.floats(-1e5, 1e5), min_size=1, max_size=20),
    st.lists(st.floats(-1e5, 1e5), min_size=1, max_size=20),
)
def test_ring_addition_and_products_decode(xs: list[float], ys: list[float]) -> None:
    k = min(len(xs), len(ys))
    enc = RingFixedPoint(16, 8)
    a, b = enc.encode(np.array(xs[:k])), enc.encode(np.array(ys[:k]))
    np.testing.assert_allclose(enc.decode(a + b), np.array(xs[:k]) + ys[:k], atol=2**-15)
    small = RingFixedPoint(12, 2)
    p = small.encode(np.array(xs[:k]) / 1e3) * small.encode(np.array(ys[:k]) / 1e3)
    np.testing.assert_allclose(
        small.decode(p, scale=2), np.array(xs[:k]) * ys[:k] / 1e6, atol=2**-10 * 200
    )


def test_ring_edges() -> None:
    enc = RingFixedPoint(16, 8)
    with pytest.raises(ValueError):
        enc.encode([float("nan")])
    with pytest.raises(OverflowError):
        enc.encode([2.0**40])
    assert enc.decode(enc.encode(0.0)) == 0.0
    assert enc.encode_int(np.array([-1])).tolist() == [2**64 - 1]
    with pytest.raises(ValueError):
        RingFixedPoint(62)


def test_python_int_lists_stay_exact() -> None:
    # numpy reads [0, 2**63 + 1] as float64; the encoders must not lose the +1
    enc = ZnFixedPoint(N_BIG, 0)
    assert enc.encode_signed_array([0, 2**63 + 1]).tolist() == [0, 2**63 + 1]
    assert enc.encode_signed_array([1.5, 2**63 + 1]).tolist() == [2, 2**63 + 1]
