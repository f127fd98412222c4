"""``he`` SecureBoost: the hosts sum encrypted gradients per bin (classic SecureBoost, no third party).

Cheng et al., "SecureBoost: A lossless federated learning framework", 2021,
algorithms 1 and 2, with the guest's key in an additively homomorphic scheme
(:mod:`unseen.crypto.paillier` by default, :mod:`unseen.crypto.ou` as an
option; both 2048-bit, 112-bit security):

1. **Guest, per tree.** Packs each row's ``(g, h)`` in fixed point into one
   plaintext ``g + h * 2^w`` (:class:`~unseen.crypto.packing.SlotLayout` with two
   slots; *gradient-hessian packing*), encrypts, sends the ciphertexts to every host.
   The randomness of those encryptions (an encryption of zero a row, nearly all of
   an encryption's cost) is made ahead, while the hosts sum the tree before
   (:mod:`unseen.crypto.he_pool`, at the lowest CPU priority): where the guest has
   cores of its own, a tree's encryption then costs the plaintext part alone.
2. **Host, per depth.** For the rows of the nodes to sum, multiplies the
   ciphertexts per (node, feature, bin): one modular multiplication per row
   and feature. Two speed-ups, both exact:

   - *feature pairs*: for two features at once it first sums per
     (node, bin of the first, bin of the second) cell, then adds each cell
     into both features' bins: ``rows + 2 * cells`` multiplications instead
     of ``2 * rows`` (a host with few rows per node sums features one by one
     when that is cheaper);
   - *all cores*: rows are split over a process pool, partial sums multiplied.

   It then packs several bin sums into one ciphertext (Horner's rule,
   :func:`~unseen.crypto.packing.pack_ciphertexts`; *cipher compression*),
   re-randomises them, and sends them to the guest.
3. **Guest.** Decrypts, unpacks: the per-bin sums, as in plaintext.

Histogram subtraction (the guest derives siblings) and depth-wise batching are
in :mod:`unseen.ml.sbt_protocol`.

Leakage (semi-honest): the host sees only ciphertexts under the guest's key
(IND-CPA: DCR for Paillier, the p-subgroup assumption for OU); returned sums
are re-randomised, so the guest, which knows the randomness of its own
ciphertexts, cannot tell which rows were multiplied into a sum. The guest
learns the per-bin sums and which bins are structurally empty (a value bin
beyond a feature's bin count, or the missing bin of a feature without missing
values) -- both told at set-up. Slot widths follow from public sizes only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gmpy2 import mpz

from unseen.crypto import parallel
from unseen.crypto.he import HEPrivateKey, HEPublicKey, object_array
from unseen.crypto.he_pool import RandomnessFiller
from unseen.crypto.packing import SlotLayout, pack_ciphertexts
from unseen.ml.objectives import BOUNDED
from unseen.ml.sbt_protocol import FeatureSample, GuestExchange, HostExchange
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

_NS = "sbt-he"
SCHEMES = ("paillier", "ou")
#: fraction bits of logistic gradients (|g| <= 1, h <= 1/4)
LOGISTIC_FRAC_BITS = 20
#: slot width of regression gradients (their scale is the guest's secret)
REGRESSION_SLOT_BITS = 64


def generate_key(scheme: str, bits: int) -> HEPrivateKey:
    if scheme == "paillier":
        from unseen.crypto.paillier import generate_keypair

        return generate_keypair(bits)
    if scheme == "ou":
        from unseen.crypto.ou import generate_keypair as ou_keypair

        return ou_keypair(bits)
    raise ConfigError(f"unknown HE scheme {scheme!r} (choose from {', '.join(SCHEMES)})")


def public_key_from_dict(d: dict[str, Any]) -> HEPublicKey:
    scheme = d.get("scheme")
    if scheme == "paillier":
        from unseen.crypto.paillier import PaillierPublicKey

        return PaillierPublicKey.from_dict(d)
    if scheme == "ou":
        from unseen.crypto.ou import OUPublicKey

        return OUPublicKey.from_dict(d)
    raise ProtocolError(f"unknown HE scheme {scheme!r}")


#: from this many rows on, the pool workers build their tables at set-up
WARM_UP_ROWS = 20_000


def warm_up(encrypt: Any, rows: int, batch: int = 4096) -> None:
    """Have every pool worker build its fixed-base tables now, at set-up, not in the first tree.

    Tables are built once per key and process; a batch of encryptions of zero
    large enough to be split over the pool reaches every worker. Small jobs
    encrypt in-process and skip this.
    """
    if rows >= WARM_UP_ROWS:
        encrypt(np.zeros(batch * parallel.effective_jobs(None), dtype=np.int64))


def slot_bits(rows: int, objective: str, weight: float = 1.0) -> int:
    """Bits of one slot (g or h), from public sizes: sums over ``rows`` rows fit with a sign bit.

    Logistic and softmax gradients are bounded by 1 (``|g| <= 1``, ``h <= 1/2``)."""
    if objective not in BOUNDED:
        return REGRESSION_SLOT_BITS
    return (
        LOGISTIC_FRAC_BITS
        + max(0, math.ceil(math.log2(weight)))
        + math.ceil(math.log2(rows + 1))
        + 2
    )


# --------------------------------------------------------------------------- host kernel


def _accumulate(
    modulus: int,
    width_bytes: int,
    cts: bytes,
    slots: np.ndarray,
    bins: np.ndarray,
    n_slots: int,
    width: int,
) -> bytes:
    """Ciphertext bin sums of rows ``cts`` (a worker's share): ``(n_slots, F, width)`` as bytes.

    Runs in a pool worker. Features go in pairs (see the module docstring).
    """
    n = mpz(modulus)
    one = mpz(1)
    ct = [mpz.from_bytes(cts[i : i + width_bytes], "big") for i in range(0, len(cts), width_bytes)]
    rows, f_count = bins.shape
    out: list[list[Any]] = [[one] * (n_slots * width) for _ in range(f_count)]
    slot64 = slots.astype(np.int64)

    def sums_by(key: np.ndarray) -> tuple[np.ndarray, list[Any]]:
        """Products of the ciphertexts per distinct ``key``: (keys, products)."""
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        ends = np.r_[starts[1:], ks.size]
        prods = []
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            idx = order[a:b].tolist()
            acc = ct[idx[0]]
            for i in idx[1:]:
                acc = acc * ct[i] % n
            prods.append(acc)
        return ks[starts], prods

    f = 0
    while f < f_count:
        b1 = bins[:, f].astype(np.int64)
        if f + 1 < f_count:
            b2 = bins[:, f + 1].astype(np.int64)
            cells = (slot64 * width + b1) * width + b2
            n_cells = np.unique(cells).size
            if rows + 2 * n_cells < 2 * rows:  # the pair is cheaper than two single features
                keys, prods = sums_by(cells)
                s, rest = np.divmod(keys, width * width)
                k1, k2 = np.divmod(rest, width)
                o1, o2 = out[f], out[f + 1]
                for a, c, d, p in zip(
                    (s * width + k1).tolist(), s.tolist(), k2.tolist(), prods, strict=True
                ):
                    o1[a] = o1[a] * p % n
                    j = c * width + d
                    o2[j] = o2[j] * p % n
                f += 2
                continue
        keys, prods = sums_by(slot64 * width + b1)
        o = out[f]
        for a, p in zip(keys.tolist(), prods, strict=True):
            o[a] = p
        f += 1
    flat = [
        out[f][s * width + b] for s in range(n_slots) for f in range(f_count) for b in range(width)
    ]
    return b"".join(int(v).to_bytes(width_bytes, "big") for v in flat)


def _to_mpz(raw: bytes, width_bytes: int) -> list[Any]:
    return [
        mpz.from_bytes(raw[i : i + width_bytes], "big") for i in range(0, len(raw), width_bytes)
    ]


class HeHostExchange(HostExchange):
    """A host's side: sum the guest's ciphertexts per bin, pack, re-randomise, return."""

    arrives = "encrypted gradients from the guest"

    def __init__(
        self, ctx: Context, guest: str, width: int, mask: np.ndarray, rows: int = 0
    ) -> None:
        self.ctx, self.guest, self.width, self.mask = ctx, guest, width, mask
        with ctx.step("he: public key"):
            msg = ctx.recv(guest, f"{_NS}/key")
            if not isinstance(msg, dict) or not isinstance(msg.get("key"), dict):
                raise ProtocolError("the guest sent a malformed public key")
            self.pk = public_key_from_dict(msg["key"])
            if self.pk.security_bits < 112:
                raise ProtocolError(
                    f"the guest's key gives only {self.pk.security_bits}-bit security"
                )
            self.slot_bits = int(msg.get("slot_bits", 0))
            if not 8 <= self.slot_bits <= 128 or 4 * self.slot_bits > self.pk.packing_bits:
                raise ProtocolError(f"unusable slot width {self.slot_bits}")
        # one returned value is a (g, h) pair: two slots
        self.layout = SlotLayout(2 * self.slot_bits, self.pk.packing_bits // (2 * self.slot_bits))
        with ctx.step("he: tables"):
            warm_up(self.pk.encrypt_raw, rows)  # re-randomisation encrypts zeros
        self.cts = np.zeros((0, 0), dtype=np.uint8)
        self.bins = np.zeros((0, 0), dtype=np.uint8)
        self.features: np.ndarray | None = None  # the tree's sample (None: every feature)
        self.tree_mask = mask

    def use_features(
        self, tree: int, features: np.ndarray | None, upcoming: np.ndarray | None
    ) -> None:
        self.features = features

    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        got = self.ctx.recv(self.guest, f"{_NS}/{tree}/gh")
        width_bytes = self.pk.ciphertext_bytes
        if (
            not isinstance(got, np.ndarray)
            or got.dtype != np.uint8
            or got.shape != (bins.shape[0], width_bytes)
        ):
            raise ProtocolError("the guest sent malformed ciphertexts")
        self.cts, self.bins = got, self._tree_bins(bins)

    def _tree_bins(self, bins: np.ndarray) -> np.ndarray:
        """The tree's columns of ``bins`` (its sample of features, if any); sets ``tree_mask``."""
        if self.features is None:
            self.tree_mask = self.mask
            return bins
        self.tree_mask = self.mask[self.features]
        return bins[:, self.features]

    def _sums_by_cell(
        self, cts: np.ndarray, slot: np.ndarray, bins: np.ndarray, n_slots: int
    ) -> list[Any]:
        """Products of the ciphertexts ``cts`` (bytes, a row each) per (slot, feature, bin)
        of the rows' ``slot`` and ``bins``, on every core: ``n_slots * F * width`` values."""
        pk, width_bytes = self.pk, self.pk.ciphertext_bytes
        jobs = parallel.worth_parallel(slot.size * bins.shape[1], 3e-6, None)
        modulus = int(pk.ciphertext_modulus)
        calls = [
            (modulus, width_bytes, cts[s].tobytes(), slot[s], bins[s], n_slots, self.width)
            for s in parallel.split(slot.size, jobs)
        ]
        partial = [_to_mpz(r, width_bytes) for r in parallel.run(_accumulate, calls, jobs)]
        sums = partial[0]
        n = pk.ciphertext_modulus
        for other in partial[1:]:
            sums = [a * b % n for a, b in zip(sums, other, strict=True)]
        return sums

    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        pk = self.pk
        rows = np.flatnonzero(slot >= 0)
        sums = self._sums_by_cell(self.cts[rows], slot[rows], self.bins[rows], n_slots)
        # only the cells that hold rows: the guest learns which do from the hessian sums anyway
        f_count = self.bins.shape[1]
        cell = (
            slot[rows].astype(np.int64)[:, None] * f_count + np.arange(f_count)
        ) * self.width + self.bins[rows]
        keep = np.bincount(cell.ravel(), minlength=n_slots * self.tree_mask.size) > 0
        chosen = object_array([v for v, k in zip(sums, keep.tolist(), strict=True) if k])
        packed = pack_ciphertexts(pk, chosen, self.layout) if chosen.size else chosen
        fresh = pk.rerandomize(packed) if packed.size else packed
        self.ctx.send(self.guest, f"{_NS}/{tree}/{depth}/cells", np.packbits(keep))
        self.ctx.send(self.guest, f"{_NS}/{tree}/{depth}/sums", pk.to_bytes(fresh))


# --------------------------------------------------------------------------- guest


class HeGuestExchange(GuestExchange):
    """The guest's side: encrypt packed ``(g, h)`` once a tree; decrypt the hosts' packed sums."""

    def __init__(
        self,
        ctx: Context,
        hosts: list[str],
        widths: dict[str, int],
        width: int,
        *,
        masks: dict[str, np.ndarray],
        rows: int,
        objective: str = "binary:logistic",
        weight: float = 1.0,
        key_bits: int = 2048,
        scheme: str = "paillier",
        trees: int | None = None,
    ) -> None:
        self.ctx, self.hosts, self.width, self.masks = ctx, hosts, width, masks
        self.trees = trees  # the most trees the hosts take part in (None: no limit known)
        self.objective = objective
        with ctx.step("he: key generation"):
            self.sk = generate_key(scheme, key_bits)
        self.pk = self.sk.public_key
        self.slot_bits = slot_bits(rows, objective, weight)
        self.pair = SlotLayout(self.slot_bits, 2)  # a row's (g, h)
        self.layout = SlotLayout(2 * self.slot_bits, self.pk.packing_bits // (2 * self.slot_bits))
        for host in hosts:
            ctx.send(host, f"{_NS}/key", {"key": self.pk.to_dict(), "slot_bits": self.slot_bits})
        self.frac_bits = LOGISTIC_FRAC_BITS
        crt = getattr(self.sk, "encrypt_raw", None)  # CRT if offered
        self.encrypt = crt or self.pk.encrypt_raw
        with ctx.step("he: tables"):
            warm_up(self.encrypt, rows)
        self.features: FeatureSample = {}
        # a tree's encryptions of zero, made ahead: the first tree's during set-up, each
        # next tree's while the hosts sum the current one's (see unseen.crypto.he_pool)
        self.ahead = RandomnessFiller(
            self.pk, using=self.sk if crt else None, ended=lambda: ctx.ended
        )
        if trees is None or trees > 0:
            self.ahead.fill_to(rows)

    def _encrypt_rows(self, plain: np.ndarray) -> Any:
        """Encrypt a tree's rows: with the randomness made ahead as far as it goes."""
        head = min(self.pk.precomputed, plain.size)
        if not head:
            return self.encrypt(plain)
        done = self.pk.encrypt_raw(plain[:head])  # takes `head` encryptions of zero
        if head == plain.size:
            return done
        return object_array([*done.tolist(), *self.encrypt(plain[head:]).tolist()])

    def use_features(self, tree: int, features: FeatureSample, upcoming: FeatureSample) -> None:
        self.features = features

    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        gq, hq = self._fixed_point(g, h)
        scale = float(1 << self.frac_bits)
        shift = self.slot_bits
        plain = object_array(
            [a + (b << shift) for a, b in zip(gq.tolist(), hq.tolist(), strict=True)]
        )
        cts = self.pk.to_bytes(self._encrypt_rows(plain))
        for host in self.hosts:
            self.ctx.send(host, f"{_NS}/{tree}/gh", cts)
        if self.trees is None or tree + 1 < self.trees:
            self.ahead.fill_to(plain.size)  # for the next tree (rows per tree are fixed)
        return gq / scale, hq / scale

    def finish(self, trees: int) -> None:
        self.ahead.stop()

    def _recv_cells(self, host: str, key: str, shape: tuple[int, ...]) -> np.ndarray:
        """A host's map of the cells it returns sums for (packed bits), checked."""
        size = math.prod(shape)
        bits = self.ctx.recv(host, key)
        if (
            not isinstance(bits, np.ndarray)
            or bits.dtype != np.uint8
            or bits.shape != ((size + 7) // 8,)
        ):
            raise ProtocolError(f"{host!r} sent a malformed cell map")
        return np.unpackbits(bits, count=size).astype(bool).reshape(shape)

    def _recv_sums(self, host: str, key: str, count: int) -> Any:
        """``count`` ciphertexts of a host's sums, checked."""
        got = self.ctx.recv(host, key)
        expected = (count, self.pk.ciphertext_bytes)
        if not isinstance(got, np.ndarray) or got.dtype != np.uint8 or got.shape != expected:
            raise ProtocolError(f"{host!r} sent malformed encrypted sums")
        try:
            return self.pk.from_bytes(got)
        except ValueError as e:
            raise ProtocolError(f"{host!r} sent invalid ciphertexts: {e}") from None

    def _fixed_point(self, g: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The tree's ``g``, ``h`` as integers at ``frac_bits`` fraction bits (set here)."""
        if self.objective in BOUNDED:
            self.frac_bits = LOGISTIC_FRAC_BITS
        else:  # private: as many fraction bits as the largest sum allows
            bound = float(max(np.abs(g).max(initial=0), h.max(initial=0), 2.0**-20))
            self.frac_bits = min(40, self.slot_bits - 2 - math.ceil(math.log2(g.size * bound)))
            if self.frac_bits < 4:
                raise ConfigError("gradients too large for the he slots: scale the label down")
        scale = float(1 << self.frac_bits)
        return np.rint(g * scale).astype(np.int64), np.rint(h * scale).astype(np.int64)

    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        out = {}
        scale = float(1 << self.frac_bits)
        for host in self.hosts:
            mask, cols = self.masks[host], self.features.get(host)
            if cols is not None:  # the host summed only the tree's sample of its features
                mask = mask[cols]
            keep = self._recv_cells(host, f"{_NS}/{tree}/{depth}/cells", (n_slots, *mask.shape))
            if np.any(keep & ~mask[None]):
                raise ProtocolError(f"{host!r} reports rows in bins that cannot hold any")
            count = int(keep.sum())
            packed = self._recv_sums(
                host, f"{_NS}/{tree}/{depth}/sums", self.layout.packed_count(count)
            )
            try:
                values = self.layout.unpack(self.sk.decrypt_signed(packed), count)
                gh = self.pair.unpack(values).astype(np.float64).reshape(-1, 2) / scale
            except OverflowError:
                raise ProtocolError(f"{host!r} sent sums out of range") from None
            g_full = np.zeros((n_slots, *mask.shape))
            h_full = np.zeros((n_slots, *mask.shape))
            g_full[keep] = gh[:, 0]
            h_full[keep] = gh[:, 1]
            out[host] = (g_full, h_full)
        return out


__all__ = [
    "HeGuestExchange",
    "HeHostExchange",
    "SCHEMES",
    "slot_bits",
]
