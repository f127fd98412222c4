"""Paillier encryption with Damgård–Jurik–Nielsen randomness, on gmpy2.

Scheme (``s = 1`` of Damgård–Jurik–Nielsen, generator ``g = n + 1``):

- **Keys.** ``n = p q`` with ``p, q`` distinct random primes of ``k/2`` bits
  each (top two bits set, so ``n`` has exactly ``k`` bits), ``p = q = 3 mod 4``,
  ``gcd(p - 1, q - 1) = 2``, ``gcd(n, (p-1)(q-1)) = 1`` and
  ``|p - q| > 2^(k/2 - 100)`` (FIPS 186-4 B.3.1). ``h = -y^2 mod n`` for a
  random unit ``y``; ``h_s = h^n mod n^2``. Public key ``(n, h_s)``; secret
  key ``(p, q)``.
- **Encryption.** ``c = (1 + m n) * h_s^r mod n^2`` with ``r`` uniform of
  ``r_bits`` bits (rounded up to whole table windows). ``h_s^r`` comes from a
  fixed-base window table of ``h_s`` (see :class:`~unseen.crypto.he.FixedBaseTable`);
  ``(1 + m n) x mod n^2`` is computed as ``x + n * (m x mod n)``. The key
  owner may encrypt through CRT (tables mod ``p^2`` and ``q^2``): the same
  ciphertext distribution, fewer word operations.
- **Decryption.** CRT: ``m_p = L_p(c^(p-1) mod p^2) * h_p mod p`` with
  ``L_p(x) = (x - 1) / p`` and ``h_p = L_p((1+n)^(p-1) mod p^2)^-1 mod p``, the
  same mod ``q``, then Garner's recombination (as python-paillier does).
- Ciphertexts are ordinary Paillier ciphertexts for ``g = n + 1``: they decrypt
  with any Paillier implementation that has ``(p, q)``, and ciphertexts from
  any such implementation (python-paillier ``phe`` included) decrypt here.

Value ranges:

- key size ``k``: 2048 bits (default, 112-bit security by NIST SP 800-57) or
  3072 bits (128-bit); below 2048 only with ``insecure_test_key=True`` (tests).
- raw plaintexts: ``Z_n``; :meth:`PaillierPublicKey.encrypt_raw` accepts any
  integer in ``[-(n-1)/2, n)`` and reduces it mod ``n``;
  :meth:`PaillierPrivateKey.decrypt_raw` returns ``[0, n)``, ``decrypt_signed``
  the centred ``(-(n-1)/2, (n-1)/2]``.
- encoded reals: :class:`~unseen.crypto.fixedpoint.ZnFixedPoint` with
  ``|x| * 2^f <= n/3``.
- ciphertexts: residues in ``(0, n^2)``, serialised as ``2k/8``-byte big-endian.
- ``r_bits``: default 256 (``max(256, 2 * security bits)``); DJN and HEU's
  ``zpaillier`` take ``k/2`` (1024 for ``k = 2048``), which is also accepted.

Security. Semantic security (IND-CPA) rests on the decisional composite
residuosity assumption (DCR, Paillier 1999) and on the *small-exponent
assumption* for ``h_s``: ``h_s^r`` with ``r`` uniform below ``2^r_bits`` is
indistinguishable from a uniform element of the group ``<h_s>`` of ``n``-th
residues. The best known attack on the latter is Pollard's lambda method on
the short exponent, about ``2^(r_bits/2)`` operations, so ``r_bits >= 2 *
security bits`` is enforced; DJN's ``k/2``-bit choice is more conservative.
Paillier is malleable by design (that is the homomorphism): it is not
CCA-secure, and ciphertexts must be re-randomised before results derived from
them leave the party that computed them (see :mod:`unseen.crypto.he`).

References:

- P. Paillier, "Public-key cryptosystems based on composite degree residuosity
  classes", EUROCRYPT 1999.
- I. Damgård, M. Jurik, J. B. Nielsen, "A generalization of Paillier's
  public-key system with applications to electronic voting", International
  Journal of Information Security 9(6), 2010 (the ``h_s^r`` randomness).
- E. F. Brickell, D. M. Gordon, K. S. McCurley, D. B. Wilson, "Fast
  exponentiation with precomputation", EUROCRYPT 1992 (fixed-base tables).
- NIST SP 800-57 Part 1 Rev. 5 (key sizes); FIPS 186-4 Appendix B.3 (prime checks).
"""

from __future__ import annotations

from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz, powmod
from numpy.typing import ArrayLike

from unseen.crypto.fixedpoint import ZnFixedPoint
from unseen.crypto.he import (
    TABLE_BUDGET_BYTES,
    CiphertextArray,
    FixedBaseTable,
    HEPrivateKey,
    HEPublicKey,
    check_modulus_bits,
    ciphertext_list,
    int_list,
    mulmod_seconds,
    object_array,
    random_digits,
    random_exponent_bits,
    random_prime,
    random_unit,
    security_bits,
)

DEFAULT_BITS = 2048
MIN_BITS = 2048


class PaillierPublicKey(HEPublicKey):
    """Paillier public key ``(n, h_s)``: encryption and homomorphic operations."""

    scheme = "paillier"

    def __init__(
        self,
        n: int,
        h_s: int,
        *,
        r_bits: int | None = None,
        insecure_test_key: bool = False,
        table_budget: int = TABLE_BUDGET_BYTES,
    ) -> None:
        n = mpz(n)
        bits = n.bit_length()
        check_modulus_bits(bits, insecure_test_key, MIN_BITS)
        if n % 2 == 0:
            raise ValueError("n must be odd")
        n2 = n * n
        h_s = mpz(h_s)
        if not 1 < h_s < n2 or gmpy2.gcd(h_s, n) != 1:
            raise ValueError("h_s must be a unit of Z_{n^2}")
        if r_bits is None:
            r_bits = random_exponent_bits(bits)
        if r_bits < 2 * security_bits(bits) and not insecure_test_key:
            raise ValueError(f"r_bits must be at least {2 * security_bits(bits)} for this key")
        if r_bits < 1:
            raise ValueError("r_bits must be positive")
        self.n = n
        self.n_square = n2
        self.h_s = h_s
        self.r_bits = int(r_bits)
        self.insecure_test_key = insecure_test_key
        self.table_budget = table_budget
        self._table: FixedBaseTable | None = None

    # -- parameters ----------------------------------------------------------

    @property
    def modulus_bits(self) -> int:
        return self.n.bit_length()

    @property
    def ciphertext_modulus(self) -> mpz:
        return self.n_square

    @property
    def max_int(self) -> int:
        return int(self.n - 1) // 2

    @property
    def plaintext_modulus(self) -> int:
        return int(self.n)

    @property
    def packing_bits(self) -> int:
        return self.modulus_bits - 2

    def _mulmod_seconds(self) -> float:
        return mulmod_seconds(2 * self.modulus_bits)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaillierPublicKey) and self.n == other.n and self.h_s == other.h_s

    def __hash__(self) -> int:
        return hash((self.scheme, self.n, self.h_s))

    def __repr__(self) -> str:
        return f"PaillierPublicKey({self.modulus_bits} bits, n=0x{int(self.n):x}"[:64] + "...)"

    # -- encryption ----------------------------------------------------------

    def randomness_table(self) -> FixedBaseTable:
        """The fixed-base table of ``h_s`` mod ``n^2`` (built on first use, cached)."""
        if self._table is None:
            w = FixedBaseTable.best_window(2 * self.modulus_bits, self.r_bits, self.table_budget)
            self._table = FixedBaseTable(self.h_s, self.n_square, self.r_bits, w)
        return self._table

    def _residues(self, flat: list[int]) -> list[mpz]:
        n, lo = self.n, -self.max_int
        out = []
        for v in flat:
            if not lo <= v < n:
                raise OverflowError(f"plaintext {v} outside [-(n-1)/2, n)")
            out.append(mpz(v) % n)
        return out

    def _finish(self, residues: list[mpz], factors: list[mpz]) -> list[mpz]:
        """``(1 + m n) * x mod n^2`` for plaintexts ``m`` and randomness ``x = h_s^r``."""
        n, n2 = self.n, self.n_square
        return [
            (x + n * (m * x % n)) % n2 if m else x for m, x in zip(residues, factors, strict=True)
        ]

    def _encrypt_seconds(self) -> float:
        table_windows = -(-self.r_bits // 10)
        return (table_windows + 1) * self._mulmod_seconds()

    def encrypt_raw(self, m: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Encrypt integers (``Z_n`` residues or signed values) with the public key.

        The first values take precomputed randomness while it lasts
        (:meth:`precompute_randomness`), the rest fresh randomness.
        """
        flat, shape = int_list(m)
        return object_array(self._encrypt_values(self._residues(flat), n_jobs), shape)

    def _with_randomness(
        self, values: list[Any], zeros: list[mpz], n_jobs: int | None
    ) -> list[mpz]:
        return self._finish(values, zeros)  # one product a value: in-process

    # -- homomorphic operations --------------------------------------------

    def add_plain(self, c: ArrayLike, m: ArrayLike) -> CiphertextArray:
        flat, shape = int_list(m)
        residues = object_array(self._residues(flat), shape)
        n, n2 = self.n, self.n_square
        return self._binary(c, residues, lambda u, v: (u + n * (v * u % n)) % n2 if v else u)

    def exponents(self, k: ArrayLike) -> tuple[list[int], tuple[int, ...]]:
        """Multipliers as centred representatives of ``Z_n`` (so ``n - 1`` is ``-1``)."""
        flat, shape = int_list(k)
        n = int(self.n)
        half = n // 2
        out = []
        for v in flat:
            if not -half <= v <= half:
                v %= n
                if v > half:
                    v -= n
            out.append(v)
        return out, shape

    def encoder(self, frac_bits: int = 32) -> ZnFixedPoint:
        return ZnFixedPoint(int(self.n), frac_bits)

    # -- serialisation -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "bits": self.modulus_bits,
            "n": f"{int(self.n):x}",
            "h_s": f"{int(self.h_s):x}",
            "r_bits": self.r_bits,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, insecure_test_key: bool = False) -> PaillierPublicKey:
        if d.get("scheme") != cls.scheme:
            raise ValueError(f"not a {cls.scheme} public key")
        key = cls(
            int(d["n"], 16),
            int(d["h_s"], 16),
            r_bits=int(d["r_bits"]) if "r_bits" in d else None,
            insecure_test_key=insecure_test_key,
        )
        if "bits" in d and int(d["bits"]) != key.modulus_bits:
            raise ValueError("bits does not match n")
        return key

    def _state(self) -> tuple[Any, ...]:
        return (self.n, self.h_s, self.r_bits, self.insecure_test_key, self.table_budget)

    @classmethod
    def _from_state(cls, state: tuple[Any, ...]) -> PaillierPublicKey:
        n, h_s, r_bits, insecure, budget = state
        return cls(n, h_s, r_bits=r_bits, insecure_test_key=insecure, table_budget=budget)


class PaillierPrivateKey(HEPrivateKey):
    """Paillier secret key ``(p, q)``: CRT decryption and CRT encryption."""

    def __init__(self, public_key: PaillierPublicKey, p: int, q: int) -> None:
        p, q = mpz(p), mpz(q)
        if p == q or p * q != public_key.n:
            raise ValueError("p and q must be distinct factors of n")
        self.public_key: PaillierPublicKey = public_key
        self.p, self.q = p, q
        self.p_square, self.q_square = p * p, q * q
        n1 = public_key.n + 1
        self._hp = gmpy2.invert((powmod(n1, p - 1, self.p_square) - 1) // p, p)
        self._hq = gmpy2.invert((powmod(n1, q - 1, self.q_square) - 1) // q, q)
        self._q_inv_p = gmpy2.invert(q, p)
        self._q2_inv_p2 = gmpy2.invert(self.q_square, self.p_square)
        self._crt_tables: tuple[FixedBaseTable, FixedBaseTable] | None = None

    @classmethod
    def generate(
        cls,
        bits: int | None = None,
        *,
        insecure_test_key: bool = False,
        r_bits: int | None = None,
    ) -> PaillierPrivateKey:
        return generate_keypair(
            bits or DEFAULT_BITS, r_bits=r_bits, insecure_test_key=insecure_test_key
        )

    @property
    def plaintext_modulus(self) -> int:
        return int(self.public_key.n)

    def __repr__(self) -> str:
        return f"PaillierPrivateKey({self.public_key.modulus_bits} bits)"

    # -- decryption ----------------------------------------------------------

    def _decrypt_seconds(self) -> float:
        # two exponentiations with (k/2)-bit exponents modulo k-bit p^2, q^2
        bits = self.public_key.modulus_bits
        return bits * mulmod_seconds(bits)

    def decrypt_raw(self, c: ArrayLike, *, n_jobs: int | None = None) -> np.ndarray:
        """Decrypt to ``Z_n`` residues (Python ints in ``[0, n)``), shape of ``c``."""
        flat, shape = ciphertext_list(c)
        n2 = self.public_key.n_square
        for v in flat:
            if not 0 < v < n2:
                raise ValueError("ciphertext outside (0, n^2)")
        out = self._map("decrypt_raw", [flat], self._decrypt_seconds(), n_jobs)
        if out is None:
            out = self._decrypt_list(flat)
        return object_array(out, shape)

    def _decrypt_list(self, flat: list[Any]) -> list[int]:
        p, q, p2, q2 = self.p, self.q, self.p_square, self.q_square
        pm1, qm1, hp, hq, q_inv_p = p - 1, q - 1, self._hp, self._hq, self._q_inv_p
        out = []
        for c in flat:
            mp = (powmod(c, pm1, p2) - 1) // p * hp % p
            mq = (powmod(c, qm1, q2) - 1) // q * hq % q
            out.append(int(mq + q * ((mp - mq) * q_inv_p % p)))
        return out

    # -- CRT encryption (key owner) -----------------------------------------

    def crt_tables(self) -> tuple[FixedBaseTable, FixedBaseTable]:
        """Fixed-base tables of ``h_s`` mod ``p^2`` and mod ``q^2`` (same window)."""
        if self._crt_tables is None:
            pk = self.public_key
            w = FixedBaseTable.best_window(
                self.p_square.bit_length(), pk.r_bits, pk.table_budget // 2
            )
            self._crt_tables = (
                FixedBaseTable(pk.h_s, self.p_square, pk.r_bits, w),
                FixedBaseTable(pk.h_s, self.q_square, pk.r_bits, w),
            )
        return self._crt_tables

    def _finish_crt(self, residues: list[mpz], xps: list[mpz], xqs: list[mpz]) -> list[mpz]:
        """CRT form of :meth:`PaillierPublicKey._finish`, from ``h_s^r`` mod ``p^2`` and ``q^2``."""
        p, q, p2, q2, k = self.p, self.q, self.p_square, self.q_square, self._q2_inv_p2
        out = []
        for m, a, b in zip(residues, xps, xqs, strict=True):
            if m:
                a = (a + p * (m * q % p * a % p)) % p2  # (1 + m n) a mod p^2
                b = (b + q * (m * p % q * b % q)) % q2
            out.append(b + q2 * ((a - b) * k % p2))
        return out

    def encrypt_raw(self, m: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Encrypt like the public key does (same distribution), faster through CRT."""
        pk = self.public_key
        flat, shape = int_list(m)
        residues = pk._residues(flat)
        out = self._map("encrypt_raw", [residues], 0.8 * pk._encrypt_seconds(), n_jobs)
        if out is None:
            tp, tq = self.crt_tables()
            digits = random_digits(len(residues), tp.window, tp.windows)
            out = self._finish_crt(residues, tp.pow_digits(digits), tq.pow_digits(digits))
        return object_array(out, shape)

    def encrypt(
        self, x: ArrayLike, frac_bits: int = 32, *, n_jobs: int | None = None
    ) -> CiphertextArray:
        """Encrypt reals in fixed point, through CRT."""
        return self.encrypt_raw(self.public_key.encode(x, frac_bits), n_jobs=n_jobs)

    # -- serialisation -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.public_key.scheme,
            "public_key": self.public_key.to_dict(),
            "p": f"{int(self.p):x}",
            "q": f"{int(self.q):x}",
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, insecure_test_key: bool = False) -> PaillierPrivateKey:
        pk = PaillierPublicKey.from_dict(d["public_key"], insecure_test_key=insecure_test_key)
        return cls(pk, int(d["p"], 16), int(d["q"], 16))

    def _state(self) -> tuple[Any, ...]:
        return (*self.public_key._state(), self.p, self.q)

    @classmethod
    def _from_state(cls, state: tuple[Any, ...]) -> PaillierPrivateKey:
        *pub, p, q = state
        return cls(PaillierPublicKey._from_state(tuple(pub)), p, q)


def generate_keypair(
    bits: int = DEFAULT_BITS, *, r_bits: int | None = None, insecure_test_key: bool = False
) -> PaillierPrivateKey:
    """A fresh Paillier key pair (the private key holds the public one: ``.public_key``)."""
    check_modulus_bits(bits, insecure_test_key, MIN_BITS)
    if bits % 2:
        raise ValueError("the modulus size must be even")
    half = bits // 2
    min_gap = mpz(1) << max(half - 100, half // 2)
    while True:
        p = random_prime(half)
        q = random_prime(half)
        if p == q or abs(p - q) <= min_gap:
            continue
        n = p * q
        if n.bit_length() != bits:
            continue
        if gmpy2.gcd(p - 1, q - 1) != 2 or gmpy2.gcd(n, (p - 1) * (q - 1)) != 1:
            continue
        break
    y = random_unit(n)
    h = (-(y * y)) % n
    h_s = powmod(h, n, n * n)
    pk = PaillierPublicKey(n, h_s, r_bits=r_bits, insecure_test_key=insecure_test_key)
    return PaillierPrivateKey(pk, p, q)
