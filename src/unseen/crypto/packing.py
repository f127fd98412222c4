"""Packing many small signed integers into one plaintext: fewer decryptions, fewer bytes.

Slot layout. A packed plaintext holds ``s = n_slots`` signed integers in
slots of ``b = slot_bits`` bits, slot 0 lowest, as one ordinary signed
integer::

    P = v_0 + v_1 * 2^b + v_2 * 2^(2b) + ... + v_(s-1) * 2^((s-1) b)

Adding packed plaintexts (or their ciphertexts) adds slot by slot, and
multiplying by a small integer multiplies every slot, as long as every slot
keeps ``|v| <= 2^(b-1) - 1``: no carries or offsets need tracking.
:meth:`SlotLayout.unpack` reads slot 0 as the signed residue of ``P`` mod
``2^b``, subtracts it, shifts by ``b`` and repeats. Since ``|P| < 2^(s b - 1)``
a layout fits a key when ``s * b <= key.packing_bits`` (Paillier:
``|n| - 2``; OU: ``|p| - 2``), which keeps ``|P|`` below half the plaintext
modulus, so the centred decryption is ``P`` itself.

Choosing ``b``: fresh values with ``|v| < 2^value_bits``, summed at most
``max_additions`` times, stay below ``2^(value_bits + ceil(log2
max_additions))``; one more bit holds the sign::

    b = value_bits + ceil(log2(max_additions)) + 1

(:meth:`SlotLayout.for_key`). A slot that overflows corrupts its neighbours
silently, so size ``max_additions`` for the worst case. For example 53-bit
fixed-point values summed over up to 2^20 rows take 74-bit slots: 27 slots in
a 2048-bit Paillier plaintext, 13 in a 3072-bit OU plaintext.

Two uses:

1. *Pack plaintexts before encryption*, e.g. SecureBoost's gradient and
   hessian of a row in one plaintext (``n_slots=2``): pack, encrypt, add
   homomorphically (bucket sums), decrypt once, unpack both.
2. *Pack ciphertexts after computing*: :func:`pack_ciphertexts` shifts and
   adds ``s`` ciphertexts into one (Horner's rule: ``C = C^(2^b) * c_i``), so
   the key owner decrypts one ciphertext per ``s`` values
   (:func:`decrypt_packed`) and receives ``s`` times fewer bytes. This costs
   the packing party about ``(s - 1) * b`` squarings per packed ciphertext.

Packed slots tell the key owner every slot value, no more than separate
ciphertexts would; but a packed ciphertext built from ciphertexts that lack
fresh randomness should be re-randomised before it is sent (see
:mod:`unseen.crypto.he`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gmpy2 import mpz, powmod
from numpy.typing import ArrayLike

from unseen.crypto import parallel
from unseen.crypto.fixedpoint import ZnFixedPoint
from unseen.crypto.he import (
    CiphertextArray,
    HEPrivateKey,
    HEPublicKey,
    ciphertext_list,
    int_list,
    mulmod_seconds,
    object_array,
)


@dataclass(frozen=True)
class SlotLayout:
    """``n_slots`` signed slots of ``slot_bits`` bits each in one plaintext."""

    slot_bits: int
    n_slots: int

    def __post_init__(self) -> None:
        if self.slot_bits < 2:
            raise ValueError("slots need at least 2 bits (one for the sign)")
        if self.n_slots < 1:
            raise ValueError("a layout needs at least one slot")

    @classmethod
    def for_key(
        cls,
        key: HEPublicKey | HEPrivateKey,
        value_bits: int,
        max_additions: int = 1,
        n_slots: int | None = None,
    ) -> SlotLayout:
        """The layout for values ``|v| < 2^value_bits`` summed up to ``max_additions`` times.

        ``n_slots=None`` takes as many slots as the key's plaintext holds.
        """
        if value_bits < 0 or max_additions < 1:
            raise ValueError("value_bits must be >= 0 and max_additions >= 1")
        pk = key.public_key if isinstance(key, HEPrivateKey) else key
        slot_bits = value_bits + (max_additions - 1).bit_length() + 1
        most = pk.packing_bits // slot_bits
        if most < 1:
            raise ValueError(f"{slot_bits}-bit slots do not fit this key's plaintext")
        if n_slots is None:
            n_slots = most
        elif n_slots > most:
            raise ValueError(f"at most {most} slots of {slot_bits} bits fit this key")
        return cls(slot_bits, n_slots)

    @property
    def total_bits(self) -> int:
        return self.slot_bits * self.n_slots

    @property
    def max_value(self) -> int:
        """Largest ``|v|`` a slot holds (fresh values and every sum of them)."""
        return (1 << (self.slot_bits - 1)) - 1

    def fits(self, key: HEPublicKey | HEPrivateKey) -> bool:
        pk = key.public_key if isinstance(key, HEPrivateKey) else key
        return self.total_bits <= pk.packing_bits

    def packed_count(self, count: int) -> int:
        """Packed plaintexts (or ciphertexts) needed for ``count`` values."""
        return -(-count // self.n_slots)

    def pack(self, values: ArrayLike) -> np.ndarray:
        """Pack integers (flattened, in order; the last group padded with zeros).

        Returns ``packed_count(len)`` signed integers (an object array); raises
        ``OverflowError`` for a value with ``|v| > max_value``.
        """
        flat, _ = int_list(values)
        bound = self.max_value
        for v in flat:
            if v > bound or -v > bound:
                raise OverflowError(f"{v} does not fit a {self.slot_bits}-bit signed slot")
        s, b = self.n_slots, self.slot_bits
        flat = flat + [0] * (-len(flat) % s)
        out = []
        for g in range(0, len(flat), s):
            p = 0
            for v in reversed(flat[g : g + s]):
                p = (p << b) + v
            out.append(p)
        return object_array(out)

    def unpack(self, packed: ArrayLike, count: int | None = None) -> np.ndarray:
        """Signed packed integers back to their slot values (the first ``count``)."""
        flat, _ = int_list(packed)
        s, b = self.n_slots, self.slot_bits
        mask, half, full = (1 << b) - 1, 1 << (b - 1), 1 << b
        out: list[int] = []
        for p in flat:
            for _ in range(s):
                d = p & mask
                if d >= half:
                    d -= full
                out.append(d)
                p = (p - d) >> b
            if p:
                raise OverflowError("packed value exceeds its layout (slot overflow)")
        if count is not None:
            if count > len(out):
                raise ValueError(f"asked for {count} values, the packed data holds {len(out)}")
            out = out[:count]
        return object_array(out)

    def pack_fixed(self, x: ArrayLike, frac_bits: int) -> np.ndarray:
        """Pack reals as ``round(x * 2^frac_bits)`` (rounding as :class:`ZnFixedPoint`)."""
        enc = ZnFixedPoint(3 << self.slot_bits, frac_bits)
        return self.pack(enc.encode_signed_array(np.asarray(x, dtype=np.float64)))

    def unpack_fixed(
        self, packed: ArrayLike, frac_bits: int, count: int | None = None, scale: int = 1
    ) -> np.ndarray:
        """Unpack slots carrying ``scale * frac_bits`` fractional bits to ``float64``."""
        ints = self.unpack(packed, count)
        return ints.astype(np.float64) / float(2 ** (frac_bits * scale))


def _pack_chunk(modulus: mpz, slot_bits: int, n_slots: int, flat: list[mpz]) -> list[mpz]:
    """Horner shift-and-add of consecutive groups of ``n_slots`` ciphertexts."""
    shift = 1 << slot_bits
    out = []
    for g in range(0, len(flat), n_slots):
        group = flat[g : g + n_slots]
        acc = group[-1]
        for c in reversed(group[:-1]):
            acc = powmod(acc, shift, modulus) * c % modulus
        out.append(acc)
    return out


def pack_ciphertexts(
    key: HEPublicKey, c: ArrayLike, layout: SlotLayout, *, n_jobs: int | None = None
) -> CiphertextArray:
    """Pack ciphertexts of small signed values: one ciphertext per ``layout.n_slots`` inputs.

    Input ``i`` lands in slot ``i % n_slots`` of packed ciphertext
    ``i // n_slots``; the last group is padded with the trivial ``Enc(0) = 1``.
    Every input (and every sum it stands for) must satisfy ``|v| <= layout.max_value``.
    """
    if not layout.fits(key):
        raise ValueError("the layout does not fit this key's plaintext")
    flat, _ = ciphertext_list(c)
    s = layout.n_slots
    flat = flat + [mpz(1)] * (-len(flat) % s)
    modulus = key.ciphertext_modulus
    groups = len(flat) // s
    secs = s * layout.slot_bits * mulmod_seconds(modulus.bit_length())
    jobs = parallel.worth_parallel(groups, secs, n_jobs)
    if jobs <= 1:
        return object_array(_pack_chunk(modulus, layout.slot_bits, s, flat))
    calls = [
        (modulus, layout.slot_bits, s, flat[part.start * s : part.stop * s])
        for part in parallel.split(groups, jobs)
    ]
    out: list[mpz] = []
    for part in parallel.run(_pack_chunk, calls, jobs):
        out.extend(part)
    return object_array(out)


def decrypt_packed(
    key: HEPrivateKey,
    packed: ArrayLike,
    layout: SlotLayout,
    count: int | None = None,
    *,
    n_jobs: int | None = None,
) -> np.ndarray:
    """Decrypt packed ciphertexts and unpack their slots (the first ``count`` values)."""
    if not layout.fits(key):
        raise ValueError("the layout does not fit this key's plaintext")
    return layout.unpack(key.decrypt_signed(packed, n_jobs=n_jobs), count)
