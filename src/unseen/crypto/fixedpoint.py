"""Fixed-point encoding of real numbers into Z_n (for Paillier/OU) and Z_2^64 (for sharing).

A real ``x`` is represented by the integer ``round(x * 2^f)``, ``f`` the number
of fractional bits the caller chooses. Negative integers ``v`` are stored as
``M + v`` in ``Z_M`` (two's complement for ``M = 2^64``). Adding encodings
adds the reals; multiplying two encodings gives a value with ``2f``
fractional bits (decode it with ``scale=2``, or truncate it).

Overflow is never silent: :meth:`encode` raises when ``|x| * 2^f`` leaves the
representable range, and :meth:`ZnFixedPoint.decode` raises when a value lies
in the band between the positive and negative ranges, which only a wrapped
(overflowed) computation can produce.

The ``*_array`` methods of :class:`ZnFixedPoint` are vectorised fast paths
with the same results and errors as the scalar methods.

Value ranges:

- :class:`RingFixedPoint`: ``|x| * 2^f < 2^(63 - headroom)``, default
  ``f = 16``, ``headroom = 8`` (so products of two encodings before truncation
  still fit when ``|x| < 2^19``; choose ``f`` and ``headroom`` for your data).
- :class:`ZnFixedPoint`: ``|x| * 2^(f*scale) < n / 3`` (the python-paillier convention,
  which leaves room to tell positives, negatives and overflow apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np
from numpy.typing import ArrayLike

_U64 = np.uint64


class RingFixedPoint:
    """Reals <-> ``uint64`` arrays, arithmetic modulo 2^64."""

    ring_bits = 64

    def __init__(self, frac_bits: int = 16, headroom: int = 8) -> None:
        if not 0 <= frac_bits < 62:
            raise ValueError("frac_bits must lie in [0, 62)")
        if not 0 <= headroom < 63 - frac_bits:
            raise ValueError("headroom leaves no room for the integer part")
        self.frac_bits = frac_bits
        self.headroom = headroom
        self.scale = float(2**frac_bits)
        # largest |round(x * 2^f)| accepted on encode
        self.max_int = 2 ** (63 - headroom) - 1

    def encode(self, x: np.ndarray | float | Sequence[float]) -> np.ndarray:
        """Encode reals; raises ``OverflowError`` (or ``ValueError`` for NaN/inf)."""
        a = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(a)):
            raise ValueError("cannot encode NaN or infinite values")
        with np.errstate(over="ignore"):  # inf is caught by the range check below
            v = np.rint(a * self.scale)
        # v holds integers, so |v| > max_int = 2^(63-headroom) - 1 is |v| >= 2^(63-headroom),
        # a bound float64 holds exactly (max_int itself would round up to it)
        if v.size and np.max(np.abs(v)) >= float(self.max_int + 1):
            worst = float(a.flat[int(np.argmax(np.abs(v)))])
            raise OverflowError(
                f"{worst!r} does not fit: |x| must stay below {self.max_int / self.scale:.6g} "
                f"with {self.frac_bits} fractional bits and {self.headroom} bits of headroom"
            )
        return v.astype(np.int64).view(_U64)

    def decode(self, u: np.ndarray, scale: int = 1) -> np.ndarray:
        """Decode ``uint64`` values carrying ``scale * frac_bits`` fractional bits."""
        signed = np.asarray(u, dtype=_U64).view(np.int64)
        return signed.astype(np.float64) / (self.scale**scale)

    def encode_int(self, x: np.ndarray | int) -> np.ndarray:
        """Integers as ring elements, without scaling (e.g. public multipliers)."""
        return np.asarray(x, dtype=np.int64).view(_U64)


class ZnFixedPoint:
    """Reals <-> integers in ``Z_n`` for an additively homomorphic scheme with modulus ``n``."""

    def __init__(self, n: int, frac_bits: int = 32) -> None:
        if frac_bits < 0:
            raise ValueError("frac_bits must be non-negative")
        self.n = int(n)
        self.frac_bits = frac_bits
        self.max_int = self.n // 3

    def encode(self, x: float | int) -> int:
        """One real to ``Z_n``; raises ``OverflowError`` beyond ``n/3``."""
        if isinstance(x, int | np.integer):
            v = int(x) << self.frac_bits
        else:
            xf = float(x)
            if xf != xf or xf in (float("inf"), float("-inf")):
                raise ValueError("cannot encode NaN or infinite values")
            v = _round_scaled(xf, self.frac_bits)
        if abs(v) > self.max_int:
            raise OverflowError(f"{x!r} does not fit in Z_n with {self.frac_bits} fractional bits")
        return v % self.n

    def encode_many(self, xs: Iterable[float]) -> list[int]:
        return [self.encode(x) for x in xs]

    def decode(self, v: int, scale: int = 1) -> float:
        """An element of ``Z_n`` carrying ``scale * frac_bits`` fractional bits, to a real."""
        v = int(v) % self.n
        if v <= self.max_int:
            signed = v
        elif v >= self.n - self.max_int:
            signed = v - self.n
        else:
            raise OverflowError("value overflowed Z_n: the computation wrapped around")
        # int / int true division is correctly rounded and never overflows early
        return signed / (1 << (self.frac_bits * scale)) if scale else float(signed)

    def decode_many(self, vs: Iterable[int], scale: int = 1) -> np.ndarray:
        return np.array([self.decode(v, scale) for v in vs], dtype=np.float64)

    # -- vectorised fast paths (same results as the scalar methods) --

    def encode_signed_array(self, x: ArrayLike) -> np.ndarray:
        """Encode an array of reals to *signed* integers ``round(x * 2^f)`` (object array).

        Same rounding and the same errors as :meth:`encode`, without the final
        reduction mod ``n``; the result keeps the shape of ``x``.
        """
        a = np.asarray(x)
        if not isinstance(x, np.ndarray) and a.dtype.kind == "f":
            # numpy reads [0, 2**63] as floats: keep Python ints exact
            obj = np.asarray(x, dtype=object)
            if any(isinstance(v, int) for v in obj.ravel()):
                a = obj
        if a.dtype == object:
            flat = [_signed_scalar(self, v) for v in a.ravel()]
        elif a.dtype.kind in "iub":
            flat = [int(v) << self.frac_bits for v in a.ravel().tolist()]
            _check_range(self, a, flat)
        elif a.dtype.kind == "f":
            flat = _round_scaled_array(a.astype(np.float64, copy=False), self.frac_bits)
            _check_range(self, a, flat)
        else:
            raise TypeError(f"cannot encode an array of dtype {a.dtype}")
        return _object_array(flat, a.shape)

    def encode_array(self, x: ArrayLike) -> np.ndarray:
        """Encode an array of reals to elements of ``Z_n`` (object array), like :meth:`encode`."""
        signed = self.encode_signed_array(x)
        n = self.n
        return _object_array([v % n for v in signed.ravel()], signed.shape)

    def decode_array(self, v: ArrayLike, scale: int = 1) -> np.ndarray:
        """Decode an array of ``Z_n`` elements to ``float64``, like :meth:`decode`."""
        a = np.asarray(v, dtype=object)
        n, max_int = self.n, self.max_int
        out = np.empty(a.shape, dtype=np.float64)
        flat = out.reshape(-1)
        div = 1 << (self.frac_bits * scale)
        for i, e in enumerate(a.ravel()):
            u = int(e) % n
            if u <= max_int:
                signed = u
            elif u >= n - max_int:
                signed = u - n
            else:
                raise OverflowError("value overflowed Z_n: the computation wrapped around")
            flat[i] = signed / div
        return out


def _signed_scalar(enc: ZnFixedPoint, x: object) -> int:
    """:meth:`ZnFixedPoint.encode` without the reduction mod ``n``."""
    v = enc.encode(x)  # type: ignore[arg-type]  # raises on overflow / NaN
    return v - enc.n if v > enc.max_int else v


def _check_range(enc: ZnFixedPoint, a: np.ndarray, flat: list[int]) -> None:
    max_int = enc.max_int
    for i, v in enumerate(flat):
        if v > max_int or -v > max_int:
            x = a.ravel()[i]
            raise OverflowError(f"{x!r} does not fit in Z_n with {enc.frac_bits} fractional bits")


def _round_scaled_array(a: np.ndarray, frac_bits: int) -> list[int]:
    """``round(x * 2^frac_bits)`` (half up), exactly, for a float64 array, as Python ints."""
    if not np.all(np.isfinite(a)):
        raise ValueError("cannot encode NaN or infinite values")
    flat = a.ravel()
    with np.errstate(over="ignore"):
        y = flat * float(2**frac_bits) if frac_bits < 1024 else np.full_like(flat, np.inf)
    # y is exact (scaling by a power of two) wherever it is finite; floor(y) and
    # y - floor(y) are exact too, so this is exact round-half-up.
    fl = np.floor(y)
    with np.errstate(invalid="ignore"):
        r = fl + (y - fl >= 0.5)
    small = np.abs(r) < 2.0**62
    if small.all():
        return cast(list[int], r.astype(np.int64).tolist())  # Python ints
    out: list[int] = []
    for x, ri, ok in zip(flat.tolist(), r.tolist(), small.tolist(), strict=True):
        if ok:
            out.append(int(ri))
        else:  # huge or beyond float range once scaled: the exact scalar path
            out.append(_round_scaled(x, frac_bits))
    return out


def _object_array(flat: list[int], shape: tuple[int, ...]) -> np.ndarray:
    return np.fromiter(flat, dtype=object, count=len(flat)).reshape(shape)


def _round_scaled(x: float, frac_bits: int) -> int:
    """``round(x * 2^frac_bits)`` exactly, for any float (no float overflow)."""
    num, den = x.as_integer_ratio()  # x = num / den, den a power of two
    scaled_num = num << frac_bits
    q, r = divmod(scaled_num, den)
    # round half up (floor division above, so this is exact rounding)
    if 2 * r >= den:
        q += 1
    return q
