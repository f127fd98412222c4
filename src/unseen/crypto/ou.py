"""Okamoto–Uchiyama encryption, with the Coron–Naccache–Paillier speed-up, on gmpy2.

Scheme:

- **Keys.** ``n = p^2 q`` with ``p, q`` random primes of about ``k/3`` bits
  (``n`` of exactly ``k`` bits) and ``p - 1 = t u`` for a random prime ``t`` of
  ``2 * security bits`` bits (Coron–Naccache–Paillier, CNP). ``g`` is a random
  unit with ``g^(p-1) != 1 mod p^2``; ``G = g^u mod n``; ``H = g'^(n u) mod n``
  for another random unit ``g'``. Public key ``(n, G, H)`` and the bit length
  of ``p``; secret key ``(p, q, t)``.
- **Encryption.** ``c = G^m H^r mod n`` with ``r`` uniform of ``r_bits`` bits
  (rounded up to whole table windows); both powers come from fixed-base window
  tables (``G^-1`` for negative ``m``).
- **Decryption.** ``m = L(c^t mod p^2) * L(G^t mod p^2)^-1 mod p`` with
  ``L(x) = (x - 1) / p``: ``H^t = 1 mod p^2`` removes the randomness, and the
  exponent is ``t`` (``2 * security`` bits) instead of OU's ``p - 1``.
- Additively homomorphic mod ``p``: ``c1 c2`` encrypts ``m1 + m2``, ``c^k``
  encrypts ``k m``.

Value ranges:

- key size ``k``: 3072 bits by default (``p, q`` of 1024 bits, 128-bit security
  by NIST SP 800-57 for the factoring of ``n``; ECM on a 1024-bit ``p`` is far
  costlier); 2048 bits allowed (``p, q`` of 682 bits, 112-bit security); below
  2048 only with ``insecure_test_key=True`` (tests).
- plaintexts: the ring is ``Z_p`` and ``p`` is secret, so the public range is
  explicit: :attr:`OUPublicKey.max_int` ``= 2^(|p| - 2) - 1`` (``2^1022 - 1``
  for ``k = 3072``); :meth:`OUPublicKey.encrypt_raw` takes signed integers with
  ``|m| <= max_int``; decryption returns ``[0, p)`` (``decrypt_signed``: the
  centred value). Sums beyond ``p/2`` wrap silently; keep room (fixed-point
  decoding flags the ``(p/3, 2p/3)`` band as overflow).
- encoded reals: ``|x| * 2^f <= 2^(|p|-1) / 3``.
- ``r_bits``: 256 by default (``max(256, 2 * security bits)``); HEU uses 110
  to 128 bits, which gives only 55 to 64 bits against Pollard's lambda.
- ciphertexts: residues in ``(0, n)``, ``k/8`` bytes big-endian.

Security. One-wayness is equivalent to factoring ``n = p^2 q``; semantic
security (IND-CPA) rests on the *p-subgroup assumption* of Okamoto and
Uchiyama (deciding whether a residue lies in the subgroup of order ``p`` of
``Z_{p^2}^*``, lifted to ``Z_n^*``) in the CNP form with a secret ``2λ``-bit
order ``t``, and on the short-exponent assumption for ``H^r`` (best known
attack: Pollard's lambda, ``2^(r_bits/2)``). OU is *not* chosen-ciphertext
secure: decryptions of crafted ciphertexts (``m >= p``) reveal ``m mod p`` and
so factor ``n``. Never hand out decryptions of ciphertexts others produced
without a range check (:meth:`OUPrivateKey.decrypt_signed` with ``max_abs``,
or fixed-point decoding).

References:

- T. Okamoto, S. Uchiyama, "A new public-key cryptosystem as secure as
  factoring", EUROCRYPT 1998.
- J.-S. Coron, D. Naccache, P. Paillier, "Accelerating Okamoto-Uchiyama's
  public-key cryptosystem", Electronics Letters 35(4), 1999.
- NIST SP 800-57 Part 1 Rev. 5 (key sizes).
"""

from __future__ import annotations

import secrets
from typing import Any

import gmpy2
import numpy as np
from gmpy2 import mpz, powmod
from numpy.typing import ArrayLike

from unseen.crypto.fixedpoint import ZnFixedPoint
from unseen.crypto.he import (
    PRIME_ROUNDS,
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
    random_exponent_bits,
    random_prime,
    random_unit,
    security_bits,
)

DEFAULT_BITS = 3072
MIN_BITS = 2048


class OUPublicKey(HEPublicKey):
    """Okamoto–Uchiyama public key ``(n, G, H)``: encryption and homomorphic operations."""

    scheme = "ou"

    def __init__(
        self,
        n: int,
        g: int,
        h: int,
        plaintext_bits: int,
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
        g, h = mpz(g), mpz(h)
        for name, v in (("G", g), ("H", h)):
            if not 1 < v < n or gmpy2.gcd(v, n) != 1:
                raise ValueError(f"{name} must be a unit of Z_n")
        if not 3 * plaintext_bits - 3 <= bits <= 3 * plaintext_bits + 3:
            raise ValueError("plaintext_bits must be about a third of the modulus size")
        if r_bits is None:
            r_bits = random_exponent_bits(bits)
        if r_bits < 2 * security_bits(bits) and not insecure_test_key:
            raise ValueError(f"r_bits must be at least {2 * security_bits(bits)} for this key")
        if r_bits < 1:
            raise ValueError("r_bits must be positive")
        self.n = n
        self.g = g
        self.h = h
        self.plaintext_bits = int(plaintext_bits)
        self.r_bits = int(r_bits)
        self.insecure_test_key = insecure_test_key
        self.table_budget = table_budget
        self._h_table: FixedBaseTable | None = None
        self._g_tables: tuple[FixedBaseTable, FixedBaseTable] | None = None

    # -- parameters ----------------------------------------------------------

    @property
    def modulus_bits(self) -> int:
        return self.n.bit_length()

    @property
    def ciphertext_modulus(self) -> mpz:
        return self.n

    @property
    def max_int(self) -> int:
        return (1 << (self.plaintext_bits - 2)) - 1

    @property
    def plaintext_modulus(self) -> None:
        return None  # p is secret

    @property
    def packing_bits(self) -> int:
        return self.plaintext_bits - 2

    def _mulmod_seconds(self) -> float:
        return mulmod_seconds(self.modulus_bits)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, OUPublicKey)
            and self.n == other.n
            and self.g == other.g
            and self.h == other.h
        )

    def __hash__(self) -> int:
        return hash((self.scheme, self.n, self.g, self.h))

    def __repr__(self) -> str:
        return f"OUPublicKey({self.modulus_bits} bits, n=0x{int(self.n):x}"[:58] + "...)"

    # -- encryption ----------------------------------------------------------

    def randomness_table(self) -> FixedBaseTable:
        """Fixed-base table of ``H`` mod ``n`` (built on first use)."""
        if self._h_table is None:
            w = FixedBaseTable.best_window(self.modulus_bits, self.r_bits, self.table_budget // 2)
            self._h_table = FixedBaseTable(self.h, self.n, self.r_bits, w)
        return self._h_table

    def message_tables(self) -> tuple[FixedBaseTable, FixedBaseTable]:
        """Tables of ``G`` and ``G^-1`` over the plaintext range, rows built when first used."""
        if self._g_tables is None:
            bits = self.plaintext_bits - 2
            w = FixedBaseTable.best_window(self.modulus_bits, bits, self.table_budget // 4)
            g_inv = gmpy2.invert(self.g, self.n)
            self._g_tables = (
                FixedBaseTable(self.g, self.n, bits, w, lazy=True),
                FixedBaseTable(g_inv, self.n, bits, w, lazy=True),
            )
        return self._g_tables

    def _check_plaintexts(self, flat: list[int]) -> None:
        bound = self.max_int
        for v in flat:
            if v > bound or -v > bound:
                raise OverflowError(
                    f"plaintext {v} outside [-max_int, max_int] = ±(2^{self.plaintext_bits - 2} - 1)"
                )

    def g_pow(self, values: list[int]) -> list[mpz]:
        """``G^m mod n`` for signed ``m`` with ``|m| <= max_int``."""
        pos_table, neg_table = self.message_tables()
        out: list[mpz] = [mpz(1)] * len(values)
        for table, sign in ((pos_table, 1), (neg_table, -1)):
            idx = [i for i, v in enumerate(values) if v * sign > 0]
            if idx:
                for i, x in zip(idx, table.pow([sign * values[i] for i in idx]), strict=True):
                    out[i] = x
        return out

    def _encrypt_seconds(self) -> float:
        return (-(-self.r_bits // 10) + 8) * self._mulmod_seconds()

    def encrypt_raw(self, m: ArrayLike, *, n_jobs: int | None = None) -> CiphertextArray:
        """Encrypt signed integers with ``|m| <= max_int``.

        The first values take precomputed randomness while it lasts
        (:meth:`precompute_randomness`), the rest fresh randomness.
        """
        flat, shape = int_list(m)
        self._check_plaintexts(flat)
        return object_array(self._encrypt_values(flat, n_jobs), shape)

    def _with_randomness(
        self, values: list[Any], zeros: list[mpz], n_jobs: int | None
    ) -> list[mpz]:
        """``G^m z mod n`` for each value ``m`` and encryption of zero ``z``, over the worker
        pool when worth it (``G^m`` of a few dozen bits costs a few multiplications)."""
        out = self._map("_with_randomness", [values, zeros], 8 * self._mulmod_seconds(), n_jobs)
        if out is not None:
            return out
        n, gm = self.n, self.g_pow([int(v) for v in values])
        return [a * mpz(b) % n for a, b in zip(gm, zeros, strict=True)]

    # -- homomorphic operations --------------------------------------------

    def add_plain(self, c: ArrayLike, m: ArrayLike) -> CiphertextArray:
        flat, shape = int_list(m)
        self._check_plaintexts(flat)
        n = self.n
        return self._binary(c, object_array(self.g_pow(flat), shape), lambda u, v: u * v % n)

    def exponents(self, k: ArrayLike) -> tuple[list[int], tuple[int, ...]]:
        """Multipliers are used as given (signed integers; the ring ``Z_p`` is secret)."""
        return int_list(k)

    def encoder(self, frac_bits: int = 32) -> ZnFixedPoint:
        """Fixed point over the public lower bound ``2^(|p|-1)`` of ``p``."""
        return ZnFixedPoint(1 << (self.plaintext_bits - 1), frac_bits)

    # -- serialisation -------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "bits": self.modulus_bits,
            "n": f"{int(self.n):x}",
            "g": f"{int(self.g):x}",
            "h": f"{int(self.h):x}",
            "plaintext_bits": self.plaintext_bits,
            "r_bits": self.r_bits,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, insecure_test_key: bool = False) -> OUPublicKey:
        if d.get("scheme") != cls.scheme:
            raise ValueError(f"not an {cls.scheme} public key")
        key = cls(
            int(d["n"], 16),
            int(d["g"], 16),
            int(d["h"], 16),
            int(d["plaintext_bits"]),
            r_bits=int(d["r_bits"]) if "r_bits" in d else None,
            insecure_test_key=insecure_test_key,
        )
        if "bits" in d and int(d["bits"]) != key.modulus_bits:
            raise ValueError("bits does not match n")
        return key

    def _state(self) -> tuple[Any, ...]:
        return (
            self.n,
            self.g,
            self.h,
            self.plaintext_bits,
            self.r_bits,
            self.insecure_test_key,
            self.table_budget,
        )

    @classmethod
    def _from_state(cls, state: tuple[Any, ...]) -> OUPublicKey:
        n, g, h, pbits, r_bits, insecure, budget = state
        return cls(n, g, h, pbits, r_bits=r_bits, insecure_test_key=insecure, table_budget=budget)


class OUPrivateKey(HEPrivateKey):
    """Okamoto–Uchiyama secret key ``(p, q, t)``: decryption with a ``t``-bit exponent."""

    def __init__(self, public_key: OUPublicKey, p: int, q: int, t: int) -> None:
        p, q, t = mpz(p), mpz(q), mpz(t)
        if p * p * q != public_key.n or p == q:
            raise ValueError("p^2 q must equal n")
        if (p - 1) % t:
            raise ValueError("t must divide p - 1")
        p2 = p * p
        if powmod(public_key.h, t, p2) != 1:
            raise ValueError("H does not match the key (H^t != 1 mod p^2)")
        gp = powmod(public_key.g, t, p2)
        if gp == 1:
            raise ValueError("G does not match the key (G^t = 1 mod p^2)")
        self.public_key: OUPublicKey = public_key
        self.p, self.q, self.t, self.p_square = p, q, t, p2
        self._gp_inv = gmpy2.invert((gp - 1) // p, p)

    @classmethod
    def generate(
        cls,
        bits: int | None = None,
        *,
        insecure_test_key: bool = False,
        r_bits: int | None = None,
    ) -> OUPrivateKey:
        return generate_keypair(
            bits or DEFAULT_BITS, r_bits=r_bits, insecure_test_key=insecure_test_key
        )

    @property
    def plaintext_modulus(self) -> int:
        return int(self.p)

    def __repr__(self) -> str:
        return f"OUPrivateKey({self.public_key.modulus_bits} bits)"

    def _decrypt_seconds(self) -> float:
        return self.t.bit_length() * 1.2 * mulmod_seconds(self.p_square.bit_length())

    def decrypt_raw(self, c: ArrayLike, *, n_jobs: int | None = None) -> np.ndarray:
        """Decrypt to residues mod ``p`` (Python ints in ``[0, p)``), shape of ``c``."""
        flat, shape = ciphertext_list(c)
        n = self.public_key.n
        for v in flat:
            if not 0 < v < n:
                raise ValueError("ciphertext outside (0, n)")
        out = self._map("decrypt_raw", [flat], self._decrypt_seconds(), n_jobs)
        if out is None:
            p, p2, t, k = self.p, self.p_square, self.t, self._gp_inv
            out = [int((powmod(v, t, p2) - 1) // p * k % p) for v in flat]
        return object_array(out, shape)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.public_key.scheme,
            "public_key": self.public_key.to_dict(),
            "p": f"{int(self.p):x}",
            "q": f"{int(self.q):x}",
            "t": f"{int(self.t):x}",
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, insecure_test_key: bool = False) -> OUPrivateKey:
        pk = OUPublicKey.from_dict(d["public_key"], insecure_test_key=insecure_test_key)
        return cls(pk, int(d["p"], 16), int(d["q"], 16), int(d["t"], 16))

    def _state(self) -> tuple[Any, ...]:
        return (*self.public_key._state(), self.p, self.q, self.t)

    @classmethod
    def _from_state(cls, state: tuple[Any, ...]) -> OUPrivateKey:
        *pub, p, q, t = state
        return cls(OUPublicKey._from_state(tuple(pub)), p, q, t)


def _prime_in(lo: mpz, hi: mpz) -> mpz:
    """A random prime in ``[lo, hi]`` (random start, then the next primes upward)."""
    while True:
        x = lo + mpz(secrets.randbelow(int(hi - lo)))
        x |= 1
        while x <= hi:
            if gmpy2.is_prime(x, PRIME_ROUNDS):
                return x
            x += 2


def generate_keypair(
    bits: int = DEFAULT_BITS, *, r_bits: int | None = None, insecure_test_key: bool = False
) -> OUPrivateKey:
    """A fresh OU key pair (``n = p^2 q`` of exactly ``bits`` bits, CNP structure)."""
    check_modulus_bits(bits, insecure_test_key, MIN_BITS)
    pbits = bits // 3
    tbits = max(2 * security_bits(bits), 64)
    if tbits > pbits - 16:
        raise ValueError("modulus too small for the order t")
    while True:
        t = random_prime(tbits, top_bits=1, mod4=1 + 2 * secrets.randbelow(2))
        # p = t u + 1, u even, p of exactly pbits bits with its top two bits set
        lo_u = -(-(mpz(3) << (pbits - 2)) // t)
        hi_u = ((mpz(1) << pbits) - 2) // t
        for _ in range(100 * pbits):
            u = lo_u + mpz(secrets.randbelow(int(hi_u - lo_u)))
            u += u % 2
            p = t * u + 1
            if p.bit_length() == pbits and gmpy2.is_prime(p, PRIME_ROUNDS):
                break
        else:
            continue
        p2 = p * p
        q = _prime_in(-(-(mpz(1) << (bits - 1)) // p2), ((mpz(1) << bits) - 1) // p2)
        n = p2 * q
        if q == p or n.bit_length() != bits or gmpy2.gcd(p, q - 1) != 1 or gmpy2.gcd(q, p - 1) != 1:
            continue
        break
    while True:
        g = random_unit(n)
        if powmod(g, p - 1, p2) != 1:
            break
    big_g = powmod(g, u, n)
    big_h = powmod(random_unit(n), n * u, n)
    pk = OUPublicKey(n, big_g, big_h, pbits, r_bits=r_bits, insecure_test_key=insecure_test_key)
    return OUPrivateKey(pk, p, q, t)
