"""Common interface of Unseen's additively homomorphic schemes, and their shared kernels.

Two schemes implement it: Paillier in its Damgård–Jurik–Nielsen form
(:mod:`unseen.crypto.paillier`) and Okamoto–Uchiyama
(:mod:`unseen.crypto.ou`). Both are additively homomorphic over a plaintext
ring ``Z_M`` (``M = n`` for Paillier, ``M = p`` -- secret -- for OU) with
ciphertexts in ``Z_N^*`` (``N = n^2``, resp. ``N = n``):

====================  ========================================================
operation             ciphertext arithmetic (mod ``N``)
====================  ========================================================
``add(a, b)``         ``a * b``
``neg(a)``            ``a^-1``
``mul_plain(a, k)``   ``a^k`` (negative ``k`` as ``(a^-1)^|k|``)
``sum(a)``            product of all elements
``dot(a, k)``         ``prod_i a_i^k_i`` (multi-exponentiation)
``matvec(X, a)``      ``out_i = prod_j a_j^X_ij`` (plaintext matrix x ciphertext vector)
``vecmat(a, X)``      ``out_j = prod_i a_i^X_ij`` (ciphertext vector^T x plaintext matrix)
====================  ========================================================

Representation. A batch of ciphertexts is a numpy ``object`` array of
``gmpy2.mpz`` in ``(0, N)``, of any shape (:data:`CiphertextArray`). Raw
plaintexts are integers (numpy integer arrays, Python ints, ``mpz``);
multipliers are read as *signed* integers, so ``k = -3`` costs a 2-bit
exponent and an inverse, never an ``n``-bit exponent. Encoded plaintexts are
reals in fixed point (:class:`~unseen.crypto.fixedpoint.ZnFixedPoint`).

Kernels. Exponentiations with a fixed base use precomputed window tables
(Brickell, Gordon, McCurley, Wilson, "Fast exponentiation with
precomputation", EUROCRYPT 1992): ``base^(d * 2^(w*t))`` for every window
``t`` and digit ``d < 2^w``, so an ``e``-bit exponent costs ``ceil(e/w) - 1``
modular multiplications and no squarings. ``matvec`` reuses the same idea
column by column (the ciphertext vector is the fixed set of bases and all
rows share its tables); ``vecmat`` and ``dot`` use Pippenger's bucket method
(N. Pippenger, "On the evaluation of powers and monomials", SIAM J. Comput.
1980), about ``ceil(e/w) * (R + 2^(w+1))`` multiplications for ``R`` bases.
Signed exponents are shifted by a public offset ``B = 2^b`` and the result
corrected once by ``(prod a)^-B``. Batches run over a process pool
(:mod:`unseen.crypto.parallel`).

Security notes common to both schemes: ciphertexts derived from public
plaintext-dependent operations (``mul_plain`` by 0 or 1, ``sum`` of nothing,
``matvec`` rows of zeros) carry no fresh randomness and can reveal the
multiplier; call :meth:`HEPublicKey.rerandomize` (or add a random mask)
before such a ciphertext leaves the party that computed it. Received
ciphertexts are range-checked by :meth:`HEPublicKey.from_bytes`; these are
semantically secure (IND-CPA) schemes, not CCA-secure ones.
"""

from __future__ import annotations

import math
import operator
import secrets
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeAlias

import gmpy2
import numpy as np
from gmpy2 import mpz, powmod
from numpy.typing import ArrayLike

from unseen.crypto import parallel
from unseen.crypto.fixedpoint import ZnFixedPoint

#: a numpy ``object`` array of ``gmpy2.mpz`` ciphertexts (any shape)
CiphertextArray: TypeAlias = np.ndarray

_ONE = mpz(1)

#: default memory budget for one key's fixed-base tables, per process
TABLE_BUDGET_BYTES = 32 << 20

# NIST SP 800-57 Part 1 Rev. 5, table 2: integer-factorisation modulus -> security bits
_NIST_IFC = ((15360, 256), (7680, 192), (3072, 128), (2048, 112), (1024, 80))


def security_bits(modulus_bits: int) -> int:
    """Symmetric-equivalent security of a factoring-based modulus (NIST SP 800-57)."""
    for bits, level in _NIST_IFC:
        if modulus_bits >= bits:
            return level
    return 0


def random_exponent_bits(modulus_bits: int) -> int:
    """Default length of the short random exponent: ``max(256, 2 * security bits)``."""
    return max(256, 2 * security_bits(modulus_bits))


#: rounds for GMP's probabilistic primality test (BPSW, then rounds - 24 Miller-Rabin)
PRIME_ROUNDS = 40
#: smallest modulus even ``insecure_test_key=True`` accepts
MIN_TEST_BITS = 256


def check_modulus_bits(bits: int, insecure_test_key: bool, minimum: int) -> None:
    """Refuse moduli below ``minimum`` bits unless ``insecure_test_key`` (tests only)."""
    if bits < MIN_TEST_BITS or (bits < minimum and not insecure_test_key):
        raise ValueError(
            f"{bits}-bit modulus is too small: at least {minimum} bits "
            "(insecure_test_key=True allows small keys, for tests only)"
        )


def random_prime(bits: int, *, top_bits: int = 2, mod4: int = 3) -> mpz:
    """A random prime of exactly ``bits`` bits, its ``top_bits`` highest bits set, ``= mod4 mod 4``.

    Candidates come from :mod:`secrets`; the search steps by 4 from a random
    start. Each candidate goes through GMP's ``mpz_probab_prime_p`` with
    :data:`PRIME_ROUNDS` rounds (trial division, Baillie-PSW, then Miller-Rabin).
    """
    if bits < 8:
        raise ValueError("prime too small")
    limit = mpz(1) << bits
    high = ((mpz(1) << top_bits) - 1) << (bits - top_bits)
    while True:
        x = mpz(secrets.randbits(bits)) | high
        x += (mod4 - x) % 4
        while x < limit:
            if gmpy2.is_prime(x, PRIME_ROUNDS):
                return x
            x += 4


def random_unit(n: mpz) -> mpz:
    """A uniform unit of ``Z_n`` other than 1 (from :mod:`secrets`)."""
    while True:
        y = mpz(secrets.randbelow(int(n)))
        if y > 1 and gmpy2.gcd(y, n) == 1:
            return y


def mulmod_seconds(modulus_bits: int) -> float:
    """Rough cost of one multiplication and reduction (5 us at 4096 bits, 2.5 GHz Xeon)."""
    return float(5e-6 * (modulus_bits / 4096) ** 1.6)


# --------------------------------------------------------------------------- arrays


def object_array(values: Sequence[Any], shape: tuple[int, ...] | None = None) -> np.ndarray:
    """A numpy object array holding ``values`` (no element is unpacked), reshaped."""
    # fromiter: numpy's list/slice assignment probes every element (~2.6 us per mpz)
    out = np.fromiter(values, dtype=object, count=len(values))
    return out if shape is None else out.reshape(shape)


def as_int_array(x: ArrayLike) -> np.ndarray:
    """``x`` as an array without losing integers: numpy would turn ``[0, 2**63]`` into floats."""
    if isinstance(x, np.ndarray):
        return x
    a = np.asarray(x)
    if a.dtype.kind in "iub" or a.size == 0:
        return a
    return np.asarray(x, dtype=object)


def int_list(x: ArrayLike) -> tuple[list[int], tuple[int, ...]]:
    """Integers (numpy ints, Python ints, mpz) to a flat list of Python ints, with the shape.

    Floats are refused: the raw API takes integers; encode reals first.
    """
    if isinstance(x, list | tuple) and not any(isinstance(v, list | tuple | np.ndarray) for v in x):
        return [operator.index(v) for v in x], (len(x),)
    a = as_int_array(x)
    if a.size == 0:
        return [], a.shape
    if a.dtype.kind in "iub":
        return a.ravel().tolist(), a.shape
    if a.dtype == object:
        return [operator.index(v) for v in a.ravel()], a.shape
    raise TypeError(
        f"raw plaintexts must be integers, not {a.dtype}; encode reals with encrypt()/encode()"
    )


def ciphertext_list(c: ArrayLike) -> tuple[list[Any], tuple[int, ...]]:
    """A ciphertext array (or one ciphertext) to a flat list and its shape."""
    if isinstance(c, np.ndarray):
        return c.ravel().tolist(), c.shape
    if isinstance(c, list | tuple):
        flat = list(c)
        if all(not isinstance(v, list | tuple | np.ndarray) for v in flat):
            return flat, (len(flat),)
        a = np.asarray(c, dtype=object)
        return a.ravel().tolist(), a.shape
    return [c], ()


# --------------------------------------------------------------------------- digits


def window_count(exp_bits: int, window: int) -> int:
    return max(1, -(-exp_bits // window))


def random_digits(count: int, window: int, windows: int) -> np.ndarray:
    """``count x windows`` uniform ``window``-bit digits from :mod:`secrets` (an int array).

    Row ``i`` is the base-``2^window`` expansion of a uniform random exponent
    in ``[0, 2^(window * windows))``.
    """
    if not 1 <= window <= 16:
        raise ValueError("window must lie in [1, 16]")
    size = count * windows
    if window <= 8:
        raw = np.frombuffer(secrets.token_bytes(size), dtype=np.uint8)
    else:
        raw = np.frombuffer(secrets.token_bytes(2 * size), dtype="<u2")
    return (raw & ((1 << window) - 1)).astype(np.intp).reshape(count, windows)


def exponent_digits(values: np.ndarray | Sequence[int], window: int, windows: int) -> np.ndarray:
    """Base-``2^window`` digits of non-negative exponents: shape ``values.shape + (windows,)``.

    ``values`` is a ``uint64`` array (fast path) or integers of any size.
    """
    mask = (1 << window) - 1
    if isinstance(values, np.ndarray) and values.dtype == np.uint64:
        shifts = (np.arange(windows, dtype=np.uint64) * np.uint64(window)).astype(np.uint64)
        d = (values[..., None] >> shifts) & np.uint64(mask)
        return d.astype(np.intp)
    arr = np.asarray(values, dtype=object)
    flat = arr.ravel()
    nbits = window * windows
    nbytes = -(-nbits // 8)
    buf = b"".join(int(v).to_bytes(nbytes, "little") for v in flat)
    bits = np.unpackbits(
        np.frombuffer(buf, dtype=np.uint8).reshape(len(flat), nbytes), axis=1, bitorder="little"
    )[:, :nbits].reshape(len(flat), windows, window)
    weights = (1 << np.arange(window, dtype=np.intp)).astype(np.intp)
    return (bits.astype(np.intp) @ weights).reshape(arr.shape + (windows,))


def offset_exponents(x: ArrayLike) -> tuple[np.ndarray, int, int]:
    """Signed exponents ``x`` to non-negative ``E = x + B`` with ``B = 0`` or a power of two.

    Returns ``(E, B, bits)`` with ``0 <= E < 2^bits``; ``E`` is ``uint64`` when
    it fits (fast digit extraction), else an object array of Python ints.
    """
    a = as_int_array(x)
    if a.dtype.kind in "iu" and a.size:
        lo, hi = int(a.min()), int(a.max())
        mag = max(abs(lo), abs(hi)).bit_length()
        offset = (1 << mag) if lo < 0 else 0
        bits = mag + 1 if offset else mag
        if bits <= 63:
            e = (a.astype(np.int64) + np.int64(offset)).astype(np.uint64)
            return e, offset, bits
        a = a.astype(object)
    if a.dtype != object:
        if a.size == 0:
            return a.astype(np.uint64), 0, 0
        raise TypeError(f"exponents must be integers, not {a.dtype}")
    flat = [operator.index(v) for v in a.ravel()]
    if not flat:
        return np.zeros(a.shape, dtype=np.uint64), 0, 0
    lo, hi = min(flat), max(flat)
    mag = max(abs(lo), abs(hi)).bit_length()
    offset = (1 << mag) if lo < 0 else 0
    bits = mag + 1 if offset else mag
    return object_array([v + offset for v in flat], a.shape), offset, bits


# --------------------------------------------------------------------------- kernels


def _powers(base: mpz, top: int, modulus: mpz) -> list[mpz]:
    """``[base^0, base^1, ..., base^top] mod modulus``."""
    row = [_ONE, base]
    b = base
    for _ in range(top - 1):
        b = b * base % modulus
        row.append(b)
    return row[: top + 1]


def product_mod(values: Sequence[Any], modulus: mpz) -> mpz:
    """``prod(values) mod modulus`` (``1`` for no values)."""
    acc = _ONE
    for v in values:
        acc = acc * v % modulus
    return acc


class FixedBaseTable:
    """Powers ``base^(d * 2^(w*t)) mod N`` for windows ``t`` and digits ``d < 2^w``.

    An exponent below ``2^(w * windows)`` given by its digits costs one modular
    multiplication per non-zero digit. Rows are built on first use (``lazy``)
    or all at once; a full table holds ``windows * 2^w`` residues.
    """

    def __init__(
        self, base: int, modulus: int, exp_bits: int, window: int, *, lazy: bool = False
    ) -> None:
        if not 1 <= window <= 16:
            raise ValueError("window must lie in [1, 16]")
        self.modulus = mpz(modulus)
        self.window = window
        self.windows = window_count(exp_bits, window)
        self.base = mpz(base) % self.modulus
        self._rows: list[list[mpz] | None] = [None] * self.windows
        if not lazy:
            b = self.base
            top = (1 << window) - 1
            for t in range(self.windows):
                row = _powers(b, top, self.modulus)
                self._rows[t] = row
                b = row[-1] * b % self.modulus

    @staticmethod
    def nbytes(modulus_bits: int, exp_bits: int, window: int) -> int:
        """Approximate memory of a full table (residues plus object overhead)."""
        return window_count(exp_bits, window) * (1 << window) * (modulus_bits // 8 + 40)

    @classmethod
    def best_window(
        cls,
        modulus_bits: int,
        exp_bits: int,
        budget: int = TABLE_BUDGET_BYTES,
        max_window: int = 12,
    ) -> int:
        """The widest window (fewest multiplications) whose full table fits ``budget`` bytes."""
        best = 1
        for w in range(1, max_window + 1):
            if cls.nbytes(modulus_bits, exp_bits, w) <= budget:
                best = w
        return best

    def row(self, t: int) -> list[mpz]:
        row = self._rows[t]
        if row is None:
            b = powmod(self.base, 1 << (self.window * t), self.modulus)
            row = _powers(b, (1 << self.window) - 1, self.modulus)
            self._rows[t] = row
        return row

    def pow_digits(self, digits: np.ndarray) -> list[mpz]:
        """``base^e`` for each row of ``digits`` (shape ``(count, k)``, ``k <= windows``)."""
        count, k = digits.shape
        if k > self.windows:
            raise ValueError("more digits than the table has windows")
        rows = [self.row(t) for t in range(k)]
        n = self.modulus
        out = []
        for ds in digits.tolist():
            acc = _ONE
            for row, d in zip(rows, ds, strict=True):
                if d:
                    acc = acc * row[d] % n
            out.append(acc)
        return out

    def pow(self, exponents: Sequence[int]) -> list[mpz]:
        """``base^e`` for non-negative exponents below ``2^(window * windows)``."""
        if not exponents:
            return []
        top = max(exponents)
        if min(exponents) < 0 or top.bit_length() > self.window * self.windows:
            raise ValueError("exponent outside the table's range")
        k = window_count(max(1, top.bit_length()), self.window)
        return self.pow_digits(exponent_digits(list(exponents), self.window, k))

    def pow_random(self, count: int) -> tuple[list[mpz], np.ndarray]:
        """``count`` powers ``base^r``, ``r`` uniform below ``2^(window*windows)``; and digits."""
        digits = random_digits(count, self.window, self.windows)
        return self.pow_digits(digits), digits


def pow_signed(bases: Sequence[Any], exps: Sequence[int], modulus: mpz) -> list[mpz]:
    """Elementwise ``b^e mod N`` with signed ``e`` (negative: an inverse, then ``|e|``)."""
    out = []
    for b, e in zip(bases, exps, strict=True):
        out.append(powmod(b, e, modulus))
    return out


def _fixed_bases_window(rows: int, exp_bits: int) -> tuple[int, float]:
    """Window minimising ``ceil(bits/w) * (2^w + rows)``, and that cost (in multiplications)."""
    best_w, best = 1, math.inf
    for w in range(1, 17):
        cost = window_count(exp_bits, w) * ((1 << w) + rows)
        if cost < best:
            best_w, best = w, cost
    return best_w, best


def _pippenger_window(count: int, exp_bits: int) -> tuple[int, float]:
    """Window minimising ``ceil(bits/w) * (count + 2^(w+1)) + bits``, and that cost."""
    best_w, best = 1, math.inf
    for w in range(1, 17):
        cost = window_count(exp_bits, w) * (count + (2 << w)) + exp_bits
        if cost < best:
            best_w, best = w, cost
    return best_w, best


def multiexp_fixed_bases(bases: Sequence[Any], exps: ArrayLike, modulus: mpz) -> list[mpz]:
    """``out_i = prod_j bases_j^exps[i, j] mod N`` for a signed ``(R, C)`` exponent matrix.

    All rows share the bases, so each ``(base, window)`` gets a table of ``2^w``
    powers, used by every row: about ``C * ceil(b/w) * (2^w + R)``
    multiplications for ``b``-bit exponents, against ``R * C * b`` for one
    exponentiation per entry.
    """
    x = np.asarray(exps) if not isinstance(exps, np.ndarray) else exps
    n_rows, n_cols = x.shape
    if n_cols != len(bases):
        raise ValueError(f"matrix has {n_cols} columns for {len(bases)} ciphertexts")
    if n_rows == 0:
        return []
    e, offset, bits = offset_exponents(x)
    if bits == 0:
        return [_ONE] * n_rows
    bases = [mpz(b) % modulus for b in bases]
    w, cost = _fixed_bases_window(n_rows, bits)
    if n_rows * n_cols * (bits + 2) <= cost:  # tiny: plain exponentiations win
        flat = np.asarray(e, dtype=object).tolist()
        acc = []
        for row in flat:
            a = _ONE
            for b, ex in zip(bases, row, strict=True):
                if ex:
                    a = a * powmod(b, ex, modulus) % modulus
            acc.append(a)
    else:
        windows = window_count(bits, w)
        digits = exponent_digits(e, w, windows)  # (R, C, windows)
        acc = [_ONE] * n_rows
        for j in range(n_cols):
            b = bases[j]
            for t in range(windows):
                col = digits[:, j, t]
                top = int(col.max())
                if top:
                    row = _powers(b, top, modulus)
                    acc = [a * row[d] % modulus for a, d in zip(acc, col.tolist(), strict=True)]
                if t + 1 < windows:
                    b = powmod(b, 1 << w, modulus)
    if offset:
        k = powmod(product_mod(bases, modulus), -offset, modulus)
        acc = [a * k % modulus for a in acc]
    return acc


def _signed_window(magnitudes: np.ndarray) -> int:
    """Pippenger window for one column of magnitudes, from their bit lengths.

    Costs ``sum_t #{|x| >= 2^(w t)}`` bucket multiplications (a row only enters
    the windows its magnitude reaches) plus ``4 * 2^w`` per window to combine
    positive and negative buckets: features in fixed point are mostly small,
    so a wide low window often covers nearly every row in one pass.
    """
    top = int(magnitudes.max()).bit_length()
    # rows whose magnitude reaches bit k, for k = 0..top
    lengths = np.zeros(top + 2, dtype=np.int64)
    nz = magnitudes[magnitudes > 0]
    if nz.size:
        bl = np.floor(np.log2(nz.astype(np.float64))).astype(np.int64) + 1
        np.minimum(bl, top, out=bl)  # float rounding near powers of two
        lengths[: top + 1] = np.bincount(bl, minlength=top + 1)[: top + 1]
    reach = lengths[::-1].cumsum()[::-1]  # reach[k]: rows with bit length >= k
    best_w, best = 1, math.inf
    for w in range(1, 17):
        windows = window_count(top, w)
        cost = sum(int(reach[w * t + 1]) for t in range(windows)) + windows * (4 << w) + top
        if cost < best:
            best_w, best = w, cost
    return best_w


def _multiexp_signed_column(bases: Sequence[Any], col: np.ndarray, modulus: mpz) -> mpz:
    """``prod_i bases_i^col_i mod N`` for small signed exponents (``|col_i| < 2^62``).

    Pippenger's bucket method on signed digits: each window keeps buckets for
    positive and for negative exponents, so a row costs one multiplication per
    window its magnitude reaches (no offset pushes small exponents to full
    width), and one inversion joins the two signs at the end. Bases must be
    units mod ``N`` (ciphertexts are).
    """
    mag = np.abs(col)
    if not mag.any():
        return _ONE
    neg = col < 0
    w = _signed_window(mag)
    size = 1 << w
    windows = window_count(int(mag.max()).bit_length(), w)
    pos_res: mpz | None = None
    neg_res: mpz | None = None
    for t in range(windows - 1, -1, -1):
        if pos_res is not None:
            pos_res = powmod(pos_res, size, modulus)
        if neg_res is not None:
            neg_res = powmod(neg_res, size, modulus)
        digit = (mag >> (w * t)) & (size - 1)
        rows = np.flatnonzero(digit)
        # bucket index: digit, or digit + size for a negative exponent
        slots = (digit[rows] + neg[rows] * size).tolist()
        buckets: list[Any] = [None] * (2 * size)
        for i, k in zip(rows.tolist(), slots, strict=True):
            cur = buckets[k]
            buckets[k] = bases[i] if cur is None else cur * bases[i] % modulus
        for sign in (0, 1):
            running: mpz | None = None
            acc: mpz | None = None
            for d in range(size - 1, 0, -1):
                bd = buckets[d + sign * size]
                if bd is not None:
                    running = bd if running is None else running * bd % modulus
                if running is not None:
                    acc = running if acc is None else acc * running % modulus
            if acc is None:
                continue
            if sign == 0:
                pos_res = acc if pos_res is None else pos_res * acc % modulus
            else:
                neg_res = acc if neg_res is None else neg_res * acc % modulus
    out = _ONE if pos_res is None else pos_res
    if neg_res is not None:
        out = out * gmpy2.invert(neg_res, modulus) % modulus
    return mpz(out)


def multiexp_pippenger(bases: Sequence[Any], exps: ArrayLike, modulus: mpz) -> list[mpz]:
    """``out_j = prod_i bases_i^exps[i, j] mod N`` for a signed ``(R, C)`` exponent matrix.

    Pippenger's bucket method per output column: for each window, bases are
    multiplied into the bucket of their digit, and ``prod_d bucket_d^d`` is
    formed by running products; windows are joined by ``w`` squarings.
    """
    x = np.asarray(exps) if not isinstance(exps, np.ndarray) else exps
    n_rows, n_cols = x.shape
    if n_rows != len(bases):
        raise ValueError(f"matrix has {n_rows} rows for {len(bases)} ciphertexts")
    if n_cols == 0:
        return []
    if n_rows == 0:
        return [_ONE] * n_cols
    # exact bounds as Python ints (a uint64 entry above 2^63 must not wrap)
    if x.dtype.kind in "iu" and x.size and max(-int(x.min()), int(x.max())) < (1 << 62):
        units = [mpz(b) % modulus for b in bases]
        return [
            _multiexp_signed_column(units, x[:, j].astype(np.int64), modulus) for j in range(n_cols)
        ]
    e, offset, bits = offset_exponents(x)
    if bits == 0:
        return [_ONE] * n_cols
    bases = [mpz(b) % modulus for b in bases]
    w, cost = _pippenger_window(n_rows, bits)
    out: list[mpz] = []
    if n_rows * (bits + 2) <= cost:  # few bases: plain exponentiations win
        cols = np.asarray(e, dtype=object).T.tolist()
        for col in cols:
            a = _ONE
            for b, ex in zip(bases, col, strict=True):
                if ex:
                    a = a * powmod(b, ex, modulus) % modulus
            out.append(a)
    else:
        windows = window_count(bits, w)
        digits = exponent_digits(e, w, windows)  # (R, C, windows)
        size = 1 << w
        for j in range(n_cols):
            result: mpz | None = None
            for t in range(windows - 1, -1, -1):
                if result is not None:
                    result = powmod(result, size, modulus)
                buckets: list[mpz | None] = [None] * size
                for b, d in zip(bases, digits[:, j, t].tolist(), strict=True):
                    if d:
                        cur = buckets[d]
                        buckets[d] = b if cur is None else cur * b % modulus
                running: mpz | None = None
                acc: mpz | None = None
                for d in range(size - 1, 0, -1):
                    bd = buckets[d]
                    if bd is not None:
                        running = bd if running is None else running * bd % modulus
                    if running is not None:
                        acc = running if acc is None else acc * running % modulus
                if acc is not None:
                    result = acc if result is None else result * acc % modulus
            out.append(_ONE if result is None else result)
    if offset:
        k = powmod(product_mod(bases, modulus), -offset, modulus)
        out = [a * k % modulus for a in out]
    return out


# --------------------------------------------------------------------------- keys

_worker_keys: dict[tuple[type, tuple[Any, ...]], Any] = {}


def _worker_call(cls: type, state: tuple[Any, ...], method: str, args: tuple[Any, ...]) -> Any:
    """Run ``key.method(*args, n_jobs=1)`` in a pool worker (keys and tables cached per worker)."""
    key = _worker_keys.get((cls, state))
    if key is None:
        if len(_worker_keys) >= 4:
            _worker_keys.pop(next(iter(_worker_keys)))
        key = cls._from_state(state)  # type: ignore[attr-defined]
        _worker_keys[(cls, state)] = key
    return getattr(key, method)(*args, n_jobs=1)


class _KeyBase(ABC):
    """Parallel dispatch shared by public and private keys."""

    @abstractmethod
    def _state(self) -> tuple[Any, ...]:
        """Plain picklable parameters that rebuild this key in a worker."""

    @classmethod
    @abstractmethod
    def _from_state(cls, state: tuple[Any, ...]) -> _KeyBase: ...

    def __reduce__(self) -> tuple[Any, ...]:
        # pickle the parameters only, never the (large) tables or precomputed randomness
        return (type(self)._from_state, (self._state(),))

    def _map(
        self,
        method: str,
        columns: Sequence[list[Any]],
        seconds_each: float,
        n_jobs: int | None,
        *,
        background: bool = False,
    ) -> list[Any] | None:
        """Run ``method`` on chunks of equal-length ``columns`` in the pool.

        Returns the concatenated results, or ``None`` when the work is too small
        to be worth a pool (the caller then runs it in-process). With
        ``background``, the lowest-priority pool runs it, however small.
        """
        count = len(columns[0])
        jobs = parallel.worth_parallel(count, seconds_each, n_jobs)
        if jobs <= 1 and not background:
            return None
        state = self._state()
        calls = [
            (type(self), state, method, tuple(object_array(col[s]) for col in columns))
            for s in parallel.split(count, jobs)
        ]
        out: list[Any] = []
        for part in parallel.run(_worker_call, calls, jobs, background=background):
            out.extend(part.ravel().tolist() if isinstance(part, np.ndarray) else part)
        return out


class HEPublicKey(_KeyBase):
    """The public side of an additively homomorphic scheme (encrypt and compute)."""

    scheme: ClassVar[str]

    # -- scheme parameters -------------------------------------------------

    @property
    @abstractmethod
    def modulus_bits(self) -> int:
        """Bit length of the public modulus ``n``."""

    @property
    @abstractmethod
    def ciphertext_modulus(self) -> mpz:
        """``N``: ciphertexts are residues mod ``N``."""

    @property
    @abstractmethod
    def max_int(self) -> int:
        """Largest ``|m|`` that :meth:`encrypt_raw` takes as a signed plaintext."""

    @property
    @abstractmethod
    def plaintext_modulus(self) -> int | None:
        """``M`` of the plaintext ring ``Z_M`` when public (Paillier: ``n``), else ``None``."""

    @property
    @abstractmethod
    def packing_bits(self) -> int:
        """Bits usable by a packed signed plaintext (|P| < 2^packing_bits is safe)."""

    @property
    def security_bits(self) -> int:
        return security_bits(self.modulus_bits)

    @property
    def ciphertext_bytes(self) -> int:
        """Width of one serialised ciphertext (big-endian)."""
        return (int(self.ciphertext_modulus).bit_length() + 7) // 8

    @abstractmethod
    def _mulmod_seconds(self) -> float:
        """Rough cost of one multiplication mod ``N`` (for parallel decisions)."""

    @abstractmethod
    def _encrypt_seconds(self) -> float:
        """Rough cost of one encryption."""

    @abstractmethod
    def randomness_table(self) -> FixedBaseTable:
        """The fixed-base table whose random powers are the encryptions of zero."""

    # -- scheme-specific operations ----------------------------------------

    @abstractmethod
    def encrypt_raw(self, m: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Encrypt integer plaintexts (same shape as ``m``)."""

    @abstractmethod
    def add_plain(self, c: ArrayLike, m: ArrayLike) -> CiphertextArray:
        """``Enc(a) (+) m``: add integer plaintexts (broadcasting)."""

    @abstractmethod
    def exponents(self, k: ArrayLike) -> tuple[list[int], tuple[int, ...]]:
        """Integer multipliers as the signed exponents used on ciphertexts, and their shape."""

    @abstractmethod
    def encoder(self, frac_bits: int = 32) -> ZnFixedPoint:
        """The fixed-point encoder whose signed range :meth:`encrypt_raw` accepts."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-able public parameters (integers as hex strings)."""

    # -- generic operations --------------------------------------------------

    def encode(self, x: ArrayLike, frac_bits: int = 32) -> np.ndarray:
        """Reals to signed fixed-point integers (an object array) for this key."""
        return self.encoder(frac_bits).encode_signed_array(x)

    def encrypt(
        self, x: ArrayLike, frac_bits: int = 32, *, n_jobs: int | None = None
    ) -> CiphertextArray:
        """Encrypt reals in fixed point with ``frac_bits`` fractional bits."""
        return self.encrypt_raw(self.encode(x, frac_bits), n_jobs=n_jobs)

    def _binary(self, a: ArrayLike, b: ArrayLike, fn: Callable[[Any, Any], Any]) -> np.ndarray:
        x, y = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
        out = [fn(u, v) for u, v in zip(x.ravel().tolist(), y.ravel().tolist(), strict=True)]
        return object_array(out, x.shape)

    def add(self, a: ArrayLike, b: ArrayLike) -> CiphertextArray:
        """``Enc(x) (+) Enc(y) = Enc(x + y)`` elementwise (broadcasting)."""
        n = self.ciphertext_modulus
        return self._binary(a, b, lambda u, v: u * v % n)

    def neg(self, a: ArrayLike) -> CiphertextArray:
        """``Enc(-x)`` elementwise."""
        n = self.ciphertext_modulus
        flat, shape = ciphertext_list(a)
        return object_array([gmpy2.invert(u, n) for u in flat], shape)

    def sub(self, a: ArrayLike, b: ArrayLike) -> CiphertextArray:
        """``Enc(x - y)`` elementwise (broadcasting)."""
        n = self.ciphertext_modulus
        return self._binary(a, b, lambda u, v: u * gmpy2.invert(v, n) % n)

    def sub_plain(self, c: ArrayLike, m: ArrayLike) -> CiphertextArray:
        """``Enc(x - m)`` for integer plaintexts ``m``."""
        flat, shape = int_list(m)
        return self.add_plain(c, object_array([-v for v in flat], shape))

    def mul_plain(
        self, c: ArrayLike, k: ArrayLike, *, n_jobs: int | None = None
    ) -> CiphertextArray:
        """``Enc(x * k)`` elementwise for integer (signed) multipliers ``k`` (broadcasting)."""
        exps, eshape = self.exponents(k)
        ca = np.asarray(c, dtype=object)
        ea = object_array(exps, eshape)
        ca, ea = np.broadcast_arrays(ca, ea)
        cflat, eflat = ca.ravel().tolist(), ea.ravel().tolist()
        bits = max((abs(e).bit_length() for e in eflat), default=0)
        secs = self._mulmod_seconds() * (bits + 2)
        out = self._map("_mul_plain_flat", [cflat, eflat], secs, n_jobs)
        if out is None:
            out = pow_signed(cflat, eflat, self.ciphertext_modulus)
        return object_array(out, ca.shape)

    def _mul_plain_flat(self, c: np.ndarray, e: np.ndarray, *, n_jobs: int | None = 1) -> list[mpz]:
        return pow_signed(c.tolist(), e.tolist(), self.ciphertext_modulus)

    def sum(self, c: ArrayLike, *, n_jobs: int | None = None) -> mpz:
        """``Enc(sum of all x)``: one ciphertext (``1``, a trivial ``Enc(0)``, for none)."""
        flat, _ = ciphertext_list(c)
        n = self.ciphertext_modulus
        jobs = parallel.worth_parallel(len(flat), self._mulmod_seconds(), n_jobs)
        if jobs <= 1:
            return product_mod(flat, n)
        calls = [
            (type(self), self._state(), "sum", (object_array(flat[s]),))
            for s in parallel.split(len(flat), jobs)
        ]
        return product_mod(parallel.run(_worker_call, calls, jobs), n)

    def group_sum(self, c: ArrayLike, groups: ArrayLike, n_groups: int) -> CiphertextArray:
        """``out[g] = Enc(sum of x_i with groups[i] == g)`` (histogram bins, SecureBoost)."""
        flat, _ = ciphertext_list(c)
        labels = np.asarray(groups).ravel()
        if labels.shape[0] != len(flat):
            raise ValueError("one group label per ciphertext is needed")
        if labels.size and (labels.min() < 0 or labels.max() >= n_groups):
            raise ValueError("group labels must lie in [0, n_groups)")
        n = self.ciphertext_modulus
        acc: list[Any] = [_ONE] * n_groups
        for u, g in zip(flat, labels.tolist(), strict=True):
            acc[g] = acc[g] * u % n
        return object_array(acc)

    def dot(self, c: ArrayLike, k: ArrayLike, *, n_jobs: int | None = None) -> mpz:
        """``Enc(sum_i x_i * k_i)`` for a ciphertext vector and integer vector."""
        return self.vecmat(c, np.asarray(k).reshape(-1, 1), n_jobs=n_jobs)[0]

    def matvec(self, x: ArrayLike, c: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Plaintext matrix ``x`` (R x C integers) times ciphertexts ``c`` (C): R ciphertexts.

        In parallel, workers take column blocks (each builds only its own
        bases' tables) and the parent multiplies their partial products; with
        fewer columns than workers they take row blocks.
        """
        xe = self._exponent_matrix(x)
        cflat, _ = ciphertext_list(c)
        n = self.ciphertext_modulus
        n_rows, n_cols = xe.shape
        if n_cols != len(cflat):
            raise ValueError(f"matrix has {n_cols} columns for {len(cflat)} ciphertexts")
        secs = n_cols * self._mulmod_seconds() * 12  # per row: ~ C * bits/w, rough
        jobs = parallel.worth_parallel(n_rows, secs, n_jobs)
        if jobs <= 1:
            return object_array(multiexp_fixed_bases(cflat, xe, n))
        cvec, state = object_array(cflat), self._state()
        if n_cols >= jobs:
            blocks = parallel.split(n_cols, jobs)
            calls = [(type(self), state, "matvec", (xe[:, b], cvec[b])) for b in blocks]
            parts = [p.tolist() for p in parallel.run(_worker_call, calls, jobs)]
            return object_array([product_mod(row, n) for row in zip(*parts, strict=True)])
        blocks = parallel.split(n_rows, jobs)
        calls = [(type(self), state, "matvec", (xe[b], cvec)) for b in blocks]
        return np.concatenate(parallel.run(_worker_call, calls, jobs))

    def vecmat(self, c: ArrayLike, x: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Ciphertexts ``c`` (R) transposed times plaintext matrix ``x`` (R x C): C ciphertexts.

        In parallel, workers take column blocks (whole Pippenger runs); with
        fewer columns than workers they take row blocks and the parent
        multiplies their partial sums.
        """
        xe = self._exponent_matrix(x)
        cflat, _ = ciphertext_list(c)
        n = self.ciphertext_modulus
        n_rows, n_cols = xe.shape
        if n_rows != len(cflat):
            raise ValueError(f"matrix has {n_rows} rows for {len(cflat)} ciphertexts")
        secs = n_cols * self._mulmod_seconds() * 12
        jobs = parallel.worth_parallel(n_rows, secs, n_jobs)
        if jobs <= 1:
            return object_array(multiexp_pippenger(cflat, xe, n))
        cvec, state = object_array(cflat), self._state()
        if n_cols >= jobs:
            blocks = parallel.split(n_cols, jobs)
            calls = [(type(self), state, "vecmat", (cvec, xe[:, b])) for b in blocks]
            return np.concatenate(parallel.run(_worker_call, calls, jobs))
        blocks = parallel.split(n_rows, jobs)
        calls = [(type(self), state, "vecmat", (cvec[b], xe[b])) for b in blocks]
        parts = [p.tolist() for p in parallel.run(_worker_call, calls, jobs)]
        return object_array([product_mod(col, n) for col in zip(*parts, strict=True)])

    def _exponent_matrix(self, x: ArrayLike) -> np.ndarray:
        """A 2-D matrix of signed exponents (numpy ints pass through unchanged)."""
        a = as_int_array(x)
        if a.ndim != 2:
            raise ValueError("a 2-D plaintext matrix is needed")
        if a.dtype.kind in "iu":
            return a
        exps, shape = self.exponents(a)
        return object_array(exps, shape)

    # -- precomputed randomness (offline / online split) ----------------------

    _pool: list[mpz] | None = None
    _pool_lock: threading.Lock | None = None

    def precompute_randomness(
        self,
        count: int,
        *,
        n_jobs: int | None = None,
        background: bool = False,
        using: _KeyBase | None = None,
    ) -> None:
        """Compute ``count`` encryptions of zero now, for later encryptions to consume.

        While precomputed values last, :meth:`encrypt_raw` only combines a
        plaintext with one of them (the rest of an encryption: one modular
        multiplication for Paillier, ``G^m`` for OU), so the costly part of
        encryption -- the randomness, which does not depend on the plaintext --
        can run while a party waits for the network. Each value is used once and
        then dropped. ``background``: in the lowest-priority worker pool
        (:mod:`unseen.crypto.parallel`). ``using``: another key of the same
        public key whose ``encrypt_raw`` makes them (a private key, through CRT);
        its encryptions of zero must have the public key's distribution.
        """
        source = self if using is None else using
        zeros = [0] * count
        fresh = source._map(
            "encrypt_raw", [zeros], self._encrypt_seconds(), n_jobs, background=background
        )
        if fresh is None:  # in-process, not through this key's encrypt_raw: it takes from the pool
            if using is None:
                fresh = self.randomness_table().pow_random(count)[0]
            else:
                fresh = ciphertext_list(using.encrypt_raw(zeros, n_jobs=1))[0]  # type: ignore[attr-defined]
        if self._pool_lock is None:
            self._pool_lock = threading.Lock()
        with self._pool_lock:
            if self._pool is None:
                self._pool = []
            self._pool.extend(fresh)

    @property
    def precomputed(self) -> int:
        """How many precomputed encryptions of zero remain."""
        return len(self._pool) if self._pool else 0

    def _take_precomputed(self, count: int) -> list[mpz]:
        """Up to ``count`` precomputed encryptions of zero, removed from the pool."""
        if not count or self._pool_lock is None:
            return []
        with self._pool_lock:
            if not self._pool:
                return []
            out = self._pool[-count:]
            del self._pool[-count:]
            return out

    @abstractmethod
    def _with_randomness(
        self, values: list[Any], zeros: list[mpz], n_jobs: int | None
    ) -> list[mpz]:
        """Encryptions of ``values`` (the scheme's plaintext form) with the given
        encryptions of zero as their randomness, one each."""

    def _encrypt_values(self, values: list[Any], n_jobs: int | None) -> list[mpz]:
        """Encrypt ``values``: the first with precomputed randomness while the pool lasts,
        the rest with fresh randomness (over the worker pool when worth it)."""
        zeros = self._take_precomputed(len(values))
        out = self._with_randomness(values[: len(zeros)], zeros, n_jobs) if zeros else []
        rest = values[len(zeros) :]
        if rest:
            fresh = self._map("encrypt_raw", [rest], self._encrypt_seconds(), n_jobs)
            if fresh is None:  # in-process
                fresh = self._with_randomness(
                    rest, self.randomness_table().pow_random(len(rest))[0], 1
                )
            out.extend(fresh)
        return out

    def rerandomize(self, c: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Multiply in fresh randomness: same plaintexts, unlinkable ciphertexts."""
        ca = np.asarray(c, dtype=object)
        zeros = np.zeros(ca.shape, dtype=np.int64)
        return self.add(ca, self.encrypt_raw(zeros, n_jobs=n_jobs))

    # -- serialisation -------------------------------------------------------

    def to_bytes(self, c: ArrayLike) -> np.ndarray:
        """Ciphertexts to fixed-width big-endian bytes (``uint8``, shape ``c.shape + (width,)``)."""
        flat, shape = ciphertext_list(c)
        width = self.ciphertext_bytes
        buf = bytearray(b"".join(int(v).to_bytes(width, "big") for v in flat))
        return np.frombuffer(buf, dtype=np.uint8).reshape(shape + (width,))

    def from_bytes(self, data: np.ndarray) -> CiphertextArray:
        """Inverse of :meth:`to_bytes`; raises ``ValueError`` on a value outside ``(0, N)``."""
        a = np.asarray(data)
        width = self.ciphertext_bytes
        if a.dtype != np.uint8 or a.ndim < 1 or a.shape[-1] != width:
            raise ValueError(f"expected a uint8 array of shape (..., {width})")
        raw = np.ascontiguousarray(a).tobytes()
        n = self.ciphertext_modulus
        out = []
        for i in range(0, len(raw), width):
            v = mpz.from_bytes(raw[i : i + width], "big")
            if not 0 < v < n:
                raise ValueError("ciphertext outside (0, N)")
            out.append(v)
        return object_array(out, a.shape[:-1])


class HEPrivateKey(_KeyBase):
    """The secret side: decryption (and whatever the trapdoor speeds up)."""

    public_key: HEPublicKey

    @property
    @abstractmethod
    def plaintext_modulus(self) -> int:
        """``M``: decryptions are residues in ``[0, M)``."""

    @abstractmethod
    def decrypt_raw(self, c: ArrayLike, *, n_jobs: int | None = None) -> np.ndarray:
        """Decrypt to integers in ``[0, M)`` (an object array of Python ints, shape of ``c``)."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-able secret parameters (keep them secret)."""

    @classmethod
    @abstractmethod
    def generate(cls, bits: int | None = None, *, insecure_test_key: bool = False) -> HEPrivateKey:
        """A fresh key pair; ``insecure_test_key`` allows small moduli for tests only."""

    def decrypt_signed(
        self, c: ArrayLike, *, max_abs: int | None = None, n_jobs: int | None = None
    ) -> np.ndarray:
        """Decrypt to signed integers in ``(-M/2, M/2]`` (centred lift).

        With ``max_abs``, raise ``OverflowError`` if any ``|value| > max_abs``: a
        result out of the expected range means overflow, or a crafted ciphertext.
        """
        m = self.plaintext_modulus
        half = m // 2
        raw = self.decrypt_raw(c, n_jobs=n_jobs)
        flat = [v - m if v > half else v for v in raw.ravel().tolist()]
        if max_abs is not None and any(v > max_abs or -v > max_abs for v in flat):
            raise OverflowError(f"a decrypted value exceeds the expected bound {max_abs}")
        return object_array(flat, raw.shape)

    def decrypt(
        self, c: ArrayLike, frac_bits: int = 32, scale: int = 1, *, n_jobs: int | None = None
    ) -> np.ndarray:
        """Decrypt fixed-point reals (``scale * frac_bits`` fractional bits) to ``float64``.

        Raises ``OverflowError`` when a value lies in the band that only a
        wrapped computation produces (see :class:`ZnFixedPoint`).
        """
        enc = ZnFixedPoint(self.plaintext_modulus, frac_bits)
        return enc.decode_array(self.decrypt_raw(c, n_jobs=n_jobs), scale)
