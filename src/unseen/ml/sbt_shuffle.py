"""``ss-dealer`` SecureBoost: per-bin gradient sums from secret shares and a dealer's permutations.

What the guest must learn, for every host feature ``f``, node ``v`` and bin
``k``, is ``sum_{i in v, bin_f(i) = k} (g_i, h_i)``: the host's bin-indicator
matrix ``M_f`` (plaintext at the host) times the guest's gradient vector. A
Beaver-style product ``M_f @ [y]`` with a matrix triple hides ``M_f`` behind a
dense uniform mask ``E = M_f - A``, which costs ``bins x rows`` ring
operations per product -- 33 times the plaintext histogram at 32 bins, and not
close to plaintext speed. Here ``M_f`` is masked instead by a *random
permutation of the rows* that the dealer deals (a *permutation correlation*,
the permutation analogue of a matrix triple), so every step is ``O(rows)``
like the plaintext histogram. This is the "shared permutation from a dealer"
of secret-shared shuffling (e.g. Mohassel & Sadeghian, "How to hide circuits
in MPC", EUROCRYPT 2013, section 5; Chase, Ghosh & Poburinnaya, "Secret-shared
shuffle", ASIACRYPT 2020, the dealer-assisted variant), applied as in
secure group-by aggregation.

Per host and tree, with ``Y`` the guest's fixed-point ``(g, h)`` in ``Z_2^64``
(one word a row for logistic gradients, :class:`PackedGH`; two otherwise,
:class:`FixedPointGH`):

1. **Dealer.** From seeds it shared at the start, it knows the guest's
   uniform masks ``a`` and ``b_f``, and the host's uniform permutations
   ``pi_f`` (one per feature, fresh per tree). It sends the host
   ``delta_f = a[pi_f] - b_f``. It never sees any data.
2. **Guest.** Sends the host ``m = Y - a`` (uniform to the host).
3. **Host.** Computes ``s_f = m[pi_f] + delta_f = Y[pi_f] - b_f``; with the
   guest's ``b_f`` this is a sharing of ``Y`` permuted by ``pi_f``, which
   neither the guest (does not know ``pi_f``) nor the host (does not know
   ``b_f``) can read.
4. **Per depth.** The host sends the guest each permuted row's label
   ``(node, bin)`` for feature ``f`` -- that is ``M_f`` with its rows
   permuted by ``pi_f``, the masked indicator matrix (the bins once a tree,
   one byte a row; the node slots each depth below the root, packed in 1, 2,
   4, 8 or 16 bits a row). Both sides sum their share by label (a local histogram), the host
   sends its sums, and the guest adds: the per-bin sums, in the clear at the
   guest only.

Leakage (semi-honest; the dealer colludes with no one):

- the host sees ``m`` and ``delta_f``: uniform, independent of the data;
- the dealer sees only seeds it made and public sizes (rows per tree, host
  feature counts and, with ``colsample_bytree``, how many each tree uses, words
  per row: 1 for logistic and softmax losses, 2 for regression, and the most
  trees there can be: ``n_estimators``, times the classes for ``multi:softprob``);
- the guest sees the per-(node, bin) sums that SecureBoost reveals, and the
  labels in an order that is uniform and unknown to it: so it also learns
  **how many rows of each node fall in each bin** of each host feature. Classic
  SecureBoost reveals those counts too in its first tree (every row has the
  same hessian there) and, for squared-error loss, in every tree; here they
  are revealed in every tree. A fresh ``pi_f`` per tree and per feature keeps
  labels from being linked across trees or features. (A tree's permuted bins
  can arrive at the end of the tree before; when early stopping ends training
  there, the guest holds those of a tree never grown: the root's bin counts,
  the same in every tree when all trees have all rows.)

Cost per host per tree, with ``w`` words a row (8 bytes each; ``w = 1`` for
logistic gradients): the guest sends ``8 w rows`` bytes; the dealer sends
``8 w rows * features``; the host sends ``rows * features`` bytes of permuted
bins, and per depth ``rows * features * b / 8`` bytes of node slots (``b``
bits a slot: 1 at the root, 4 at depth 3 or 4); both sides sum their shares
by label in one compiled pass -- the plaintext histogram's work. At the root
(every row in node 0, no slots sent) the host forms ``s_f`` and sums it by
bin in the same pass.

Randomness: seeds from ``secrets`` (``ctx.rng.token``), expanded with AES-128-CTR
(:class:`~unseen.crypto.prg.AesCtrPrg`) in separate streams per (tree,
feature); a permutation is a Fisher-Yates shuffle driven by its stream, with
exact rejection sampling, and above two million rows a uniform bucket per row
first, each bucket then shuffled in the core's cache (Rao-Sandelius; exactly
uniform as well, :func:`unseen.ml.sbt_kernels.permutation`).

The per-row loops (shuffles, gathers through a permutation, sums of ``uint64``
shares by label) are compiled with Numba (:mod:`unseen.ml.sbt_kernels`); a party
runs each depth's loops over its features in parts on every core it may use
(:class:`~unseen.ml.sbt_kernels.FeatureThreads`).

Pipelining: the dealer deals tree ``t + 1`` while the others grow tree ``t``
(the row count of a tree is fixed by the parameters, so the guest asks for the
first tree during set-up), and a host derives its next permutations (and, when
every tree has all rows, its next permuted bins), the guest its next masks, in
a background thread. That work runs at a lower CPU priority (nice 19, per
thread on Linux), so where parties share cores it takes the cycles the current
tree's steps leave idle; only the first tree's dealing runs at full priority,
as everyone waits for it. When every tree has all rows, a host sends the next
tree's permuted bins at the end of a tree, so they are not in flight at the root.
The large per-tree arrays (the dealer's corrections, the guest's masks, a host's
permutations, and on the receiving side the corrections themselves) are written into
the same memory every tree or every other tree: fresh memory each tree cost page
faults and zeroing in the first trees of a run.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from unseen.crypto.prg import SEED_BYTES, AesCtrPrg
from unseen.ml import sbt_kernels as kernels
from unseen.ml.objectives import BOUNDED
from unseen.ml.sbt_protocol import FeatureSample, GuestExchange, HostExchange
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

_U64 = np.uint64
_NS = "sbt-ss"
#: a host's work for a tree done ahead: permutations, the bins they permuted, permuted bins
_Ahead = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


def _yield_to_others(niceness: int = 19) -> None:
    """Lower the calling thread's CPU priority (Linux: per thread; elsewhere: nothing).

    For work done ahead (the next tree's masks, permutations, corrections): where
    parties share cores it then takes only the cycles the current tree's
    dependent steps leave idle, instead of slowing them.
    """
    if hasattr(os, "setpriority"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
        except OSError:
            pass


def _stream(seed: bytes, *labels: object) -> AesCtrPrg:
    """An independent PRG stream for ``labels`` under ``seed`` (SHA-256 derivation)."""
    tag = "/".join(str(x) for x in labels).encode()
    return AesCtrPrg(hashlib.sha256(seed + b"|" + tag).digest()[:SEED_BYTES])


def _permutation(
    seed: bytes, tree: int, feature: int, n: int, out: np.ndarray | None = None
) -> np.ndarray:
    """The uniform permutation ``pi_f`` of ``range(n)`` for ``(tree, feature)`` (int32),
    written into ``out`` if given."""
    return kernels.permutation(_stream(seed, "pi", tree, feature), n, out)


def _reused(
    memory: dict[object, np.ndarray], key: object, shape: tuple[int, ...], dtype: type
) -> np.ndarray:
    """The array kept in ``memory`` under ``key`` if it has ``shape``, else a new one kept
    there: large per-tree arrays written into the same memory (fresh memory each tree costs
    page faults and zeroing). Its contents are left as they were."""
    out = memory.get(key)
    if out is None or out.shape != shape:
        out = memory[key] = np.empty(shape, dtype=dtype)
    return out


def _mask_a(seed: bytes, tree: int, n: int, lanes: int) -> np.ndarray:
    return _stream(seed, "a", tree).uint64((n, lanes))


def _mask_b(seed: bytes, tree: int, feature: int, out: np.ndarray) -> np.ndarray:
    """The guest's mask ``b_f`` for ``(tree, feature)``, written into ``out`` (rows, lanes)."""
    return _stream(seed, "b", tree, feature).fill_uint64(out)


def checked_slots(value: object, shape: tuple[int, int], n_slots: int, who: str) -> np.ndarray:
    """A peer's packed node slots for ``shape`` (features, rows), checked; else ProtocolError."""
    bits = slot_bits(n_slots)
    if (
        not isinstance(value, np.ndarray)
        or value.dtype != np.uint8
        or value.shape != (shape[0], kernels.packed_size(shape[1], bits))
    ):
        raise ProtocolError(f"{who!r} sent malformed labels")
    largest = kernels.largest_label(value, bits)
    if largest > n_slots:
        raise ProtocolError(f"{who!r} put a row in node slot {largest} of {n_slots}")
    return value


def all_in_one_node(slot: np.ndarray) -> bool:
    """Whether every row of the tree is in node slot 0 (the root): no labels need to cross."""
    return not slot.any()


def root_slots(f_count: int, rows: int) -> np.ndarray:
    """The packed node slots at the root, which both sides know: every row in slot 0."""
    return np.zeros((f_count, kernels.packed_size(rows, slot_bits(1))), dtype=np.uint8)


def slot_bits(n_slots: int) -> int:
    """Bits per packed node slot: slots ``0 .. n_slots - 1`` and ``n_slots`` (not summed)."""
    need = int(n_slots).bit_length()
    for bits in kernels.LABEL_BITS:
        if bits >= need:
            return bits
    raise ConfigError(f"{n_slots} nodes at one depth need more than 16 bits a label")


def _integer_bits(rows: int, bound: float) -> int:
    """Bits that hold any sum of up to ``rows`` values of magnitude at most ``bound`` (one unit)."""
    return math.ceil(math.log2(max(rows, 1) * max(bound, 2.0**-20)))


class FixedPointGH:
    """``(g, h)`` as two fixed-point words of ``Z_2^64`` per row (``lanes = 2``).

    ``bound`` bounds ``|g|`` and ``h``; every sum over at most ``rows`` rows
    then stays below ``2^62`` in magnitude. Any gradients, e.g. regression's.
    """

    lanes = 2

    def __init__(self, rows: int, bound: float) -> None:
        self.frac_bits = min(40, 62 - _integer_bits(rows, bound))
        if self.frac_bits < 4:
            raise ConfigError(
                f"gradients up to {bound:.3g} over {rows} rows leave {self.frac_bits} fraction "
                "bits in the share ring: scale the label down"
            )

    @classmethod
    def for_gradients(cls, g: np.ndarray, h: np.ndarray) -> FixedPointGH:
        """The encoding with as many fraction bits as sums of these ``g``, ``h`` allow."""
        return cls(g.size, float(max(np.abs(g).max(initial=0), h.max(initial=0))))

    def encode(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``(rows, 2)`` uint64."""
        scale = float(1 << self.frac_bits)
        y = np.stack([np.rint(g * scale), np.rint(h * scale)], axis=1).astype(np.int64)
        return y.view(_U64)

    def encode_rounded(
        self, g: np.ndarray, h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`encode`, and the reals it stands for (:meth:`rounded`)."""
        y = self.encode(g, h)
        return (y, *self.rounded(y))

    def decode(self, sums: np.ndarray) -> np.ndarray:
        """Sums in ``Z_2^64`` (last axis: the 2 lanes) to reals ``(..., 2)``: ``g``, ``h``."""
        return sums.astype(np.int64).astype(np.float64) / float(1 << self.frac_bits)

    def rounded(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reals that encoded ``y`` stands for: ``g`` and ``h`` as summed."""
        gh = self.decode(y)
        return gh[:, 0], gh[:, 1]


class PackedGH:
    """``(g, h)`` in one word of ``Z_2^64`` per row (``lanes = 1``), for bounded gradients.

    The word is ``G + 2^split H`` with ``G = rint(g 2^fg)`` (signed) and
    ``H = rint(h 2^fh) >= 0``. Summed over up to ``rows`` rows modulo ``2^64``,
    it is still ``sum G + 2^split sum H`` with ``|sum G| < 2^(split - 1)`` and
    ``0 <= sum H < 2^(64 - split)``: the low ``split`` bits, read as signed,
    are ``sum G``, and the rest is ``sum H``. One word instead of two halves
    every share, mask and correction, at the cost of fraction bits: the 61
    bits left after the sums' integer parts (and a bit of headroom each for
    rounding) are split between ``g`` and ``h``, e.g. 14 and 15 at 100,000
    logistic rows. Sums of such values are exact in float64 too, so the
    guest's own histograms of the rounded values equal the hosts' sums and
    ties break alike.
    """

    lanes = 1

    def __init__(self, rows: int, g_bound: float, h_bound: float) -> None:
        int_g, int_h = _integer_bits(rows, g_bound), _integer_bits(rows, h_bound)
        spare = 64 - (int_g + 2) - (int_h + 1)  # g: sign and headroom; h: headroom
        self.g_frac, self.h_frac = min(40, spare // 2), min(40, spare - spare // 2)
        self.split = int_g + 2 + self.g_frac
        if min(self.g_frac, self.h_frac) < 4 or not 2 <= self.split <= 62:
            raise ConfigError(
                f"gradients up to {g_bound:.3g} (hessians {h_bound:.3g}) over {rows} rows do not "
                "fit one share word with 4 fraction bits each"
            )

    @classmethod
    def for_gradients(cls, g: np.ndarray, h: np.ndarray) -> PackedGH:
        """The packing with as many fraction bits as sums of these ``g``, ``h`` allow."""
        return cls(g.size, float(np.abs(g).max(initial=0)), float(h.max(initial=0)))

    def encode(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``(rows, 1)`` uint64."""
        big = np.rint(g * float(1 << self.g_frac)).astype(np.int64).view(_U64)
        small = np.rint(h * float(1 << self.h_frac)).astype(np.int64).view(_U64)
        with np.errstate(over="ignore"):
            return (big + (small << _U64(self.split)))[:, None]

    def encode_rounded(
        self, g: np.ndarray, h: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`encode`, and the reals it stands for (:meth:`rounded`), in one compiled pass."""
        return kernels.encode_packed(
            np.ascontiguousarray(g, dtype=np.float64),
            np.ascontiguousarray(h, dtype=np.float64),
            self.g_frac,
            self.h_frac,
            self.split,
        )

    def decode(self, sums: np.ndarray) -> np.ndarray:
        """Sums in ``Z_2^64`` (last axis: the 1 lane) to reals ``(..., 2)``: ``g``, ``h``."""
        word = sums[..., 0]
        half = _U64(1 << (self.split - 1))
        low = word & _U64((1 << self.split) - 1)
        with np.errstate(over="ignore"):
            g = (low ^ half).astype(np.int64) - np.int64(half)  # sign-extended low lane
            h = (word - g.view(_U64)) >> _U64(self.split)
        return np.stack(
            [
                g.astype(np.float64) / float(1 << self.g_frac),
                h.astype(np.float64) / float(1 << self.h_frac),
            ],
            axis=-1,
        )

    def rounded(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reals that encoded ``y`` stands for: ``g`` and ``h`` as summed."""
        gh = self.decode(y)
        return gh[:, 0], gh[:, 1]


def share_lanes(objective: str) -> int:
    """Words per row of the shares (public parameters only): 1 for bounded gradients.

    Logistic and softmax gradients are bounded (``|g| <= 1``, ``h <= 1/2``) and pack
    into one word (:class:`PackedGH`); regression gradients are not, and take two
    (:class:`FixedPointGH`).
    """
    return 1 if objective in BOUNDED else 2


def encoding_for(lanes: int, g: np.ndarray, h: np.ndarray) -> FixedPointGH | PackedGH:
    """The fixed point of these gradients in ``lanes`` words a row (see :func:`share_lanes`)."""
    return PackedGH.for_gradients(g, h) if lanes == 1 else FixedPointGH.for_gradients(g, h)


def _label_sums(
    threads: kernels.FeatureThreads,
    slots: np.ndarray,
    bits: int,
    bins: np.ndarray,
    shares: np.ndarray,
    width: int,
    n_slots: int,
) -> np.ndarray:
    """:func:`~unseen.ml.sbt_kernels.label_sums`, the features in parts on this party's cores."""
    return threads.concat(
        bins.shape[0],
        lambda f: kernels.label_sums(slots[f], bits, bins[f], shares[f], width, n_slots),
    )


class _SendBehind:
    """Sends from a thread, one at a time, while the caller goes on computing.

    ``send`` waits for the previous send first; ``flush`` waits for the last
    one. A failed send raises at the next ``send`` or ``flush``.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sbt-send")
        self._in_flight: Future[None] | None = None

    def send(self, peer: str, key: str, value: object) -> None:
        self.flush()
        self._in_flight = self._thread.submit(self.ctx.send, peer, key, value)

    def flush(self) -> None:
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()

    def close(self) -> None:
        self.flush()
        self._thread.shutdown(wait=True)


class ShuffleGuestExchange(GuestExchange):
    """The guest's side: share ``(g, h)``, add the hosts' share sums to its own."""

    def __init__(
        self,
        ctx: Context,
        hosts: list[str],
        dealer: str,
        widths: dict[str, int],
        width: int,
        objective: str = "binary:logistic",
        rows: int | None = None,
        trees: int | None = None,
    ) -> None:
        """``rows``: rows in every tree (public, from the parameters), if known ahead:
        then the dealer deals the first tree, and this guest derives its masks, during
        set-up instead of in the first tree. ``trees``: the most trees training grows
        (``n_estimators``, public): the dealer deals none past them."""
        self.ctx, self.hosts, self.dealer, self.width = ctx, hosts, dealer, width
        self.trees = trees
        self.n_features = widths
        # colsample_bytree: per tree, how many features of each host it uses (absent: all);
        # correlations, masks and sums cover those alone, the j-th by seed label j
        self._counts: dict[int, dict[str, int]] = {}
        self.lanes = share_lanes(objective)
        self.seeds: dict[str, bytes] = {}
        with ctx.step("ss-dealer: seeds"):
            for host in hosts:
                seed = ctx.recv(dealer, f"{_NS}/seed/{host}")
                if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
                    raise ProtocolError("the dealer sent a malformed seed")
                self.seeds[host] = seed
        self.fxp: FixedPointGH | PackedGH | None = None
        self.rows = 0
        self.tree = -1
        self._b: dict[str, np.ndarray] = {}  # this tree's masks b_f per host
        # the masks' memory, per host and tree parity: tree t + 1's are derived while tree
        # t uses its own, into the memory of tree t - 1 (fresh memory costs page faults)
        self._mask_memory: dict[object, np.ndarray] = {}
        self._pbins: dict[str, np.ndarray] = {}  # this tree's permuted bins per host
        # the next tree's masks do not depend on the data: derive them in the background
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sbt-masks", initializer=_yield_to_others
        )
        self._next: tuple[int, int, Future[dict[str, np.ndarray]]] | None = None
        self._sender = _SendBehind(ctx)
        self._threads = kernels.FeatureThreads()
        self._asked, self._asked_rows = -1, 0  # the last tree the dealer was asked to deal
        if rows is not None:
            self._ask_dealer(0, rows)
            self._next = (0, rows, self._pool.submit(self._all_masks, 0, rows))

    def use_features(self, tree: int, features: FeatureSample, upcoming: FeatureSample) -> None:
        for t, sample in ((tree, features), (tree + 1, upcoming)):
            if any(cols is not None for cols in sample.values()):
                self._counts[t] = {
                    h: self.n_features[h] if c is None else int(c.size) for h, c in sample.items()
                }

    def _count(self, tree: int, host: str) -> int:
        """How many of ``host``'s features tree ``tree`` sums."""
        return self._counts.get(tree, self.n_features)[host]

    def _ask_dealer(self, tree: int, rows: int) -> None:
        """The dealer's go for ``tree`` (it deals ``tree + 1`` right after ``tree``)."""
        if tree > self._asked:
            go: dict[str, object] = {"rows": rows, "lanes": self.lanes, "trees": self.trees}
            if tree in self._counts or tree + 1 in self._counts:  # sizes only
                go["features"] = {h: self._count(tree, h) for h in self.hosts}
                go["next"] = {h: self._count(tree + 1, h) for h in self.hosts}
            self._sender.send(self.dealer, f"{_NS}/{tree}/go", go)
            self._asked, self._asked_rows = tree, rows
        elif rows != self._asked_rows:  # cannot happen: both come from tree_rows()
            raise ProtocolError(
                f"tree {tree} has {rows} rows, the dealer was told {self._asked_rows}"
            )

    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.tree, self.rows = tree, g.size
        self.fxp = encoding_for(self.lanes, g, h)
        y, g_rounded, h_rounded = self.fxp.encode_rounded(g, h)
        # sent from a thread: the guest sums its own histograms meanwhile
        with np.errstate(over="ignore"):
            for host in self.hosts:
                a = _mask_a(self.seeds[host], tree, g.size, self.lanes)
                self._sender.send(host, f"{_NS}/{tree}/m", y - a)
        self._ask_dealer(tree, int(g.size))
        self._pbins = {}
        if self._next is not None and self._next[:2] == (tree, g.size):
            self._b = self._next[2].result()
        else:
            if self._next is not None:  # done with the memory it may be writing
                self._next[2].result()
            self._b = self._all_masks(tree, g.size)
        self._next = (tree + 1, g.size, self._pool.submit(self._all_masks, tree + 1, g.size))
        return g_rounded, h_rounded

    def _all_masks(self, tree: int, rows: int) -> dict[str, np.ndarray]:
        """The guest's shares ``b_f`` of each host's permuted ``(g, h)``: ``(F, rows, lanes)``."""
        out = {}
        for host in self.hosts:
            shape = (self._count(tree, host), rows, self.lanes)
            b = _reused(self._mask_memory, (host, tree % 2), shape, _U64)
            for f in range(b.shape[0]):
                _mask_b(self.seeds[host], tree, f, b[f])
            out[host] = b
        return out

    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        assert self.fxp is not None
        size = n_slots * self.width
        self._sender.flush()  # the masked gradients (and a failure to send them) first
        out = {}
        for host in self.hosts:
            f_count = self._count(tree, host)
            if host not in self._pbins:  # once a tree: the bin part of the labels
                packed = self.ctx.recv(host, f"{_NS}/{tree}/bins")
                if (
                    not isinstance(packed, np.ndarray)
                    or packed.dtype != np.uint8
                    or packed.shape != (f_count, self.rows)
                    or packed.max(initial=0) >= self.width
                ):
                    raise ProtocolError(f"{host!r} sent malformed permuted bins")
                self._pbins[host] = packed
            bits = slot_bits(n_slots)
            if all_in_one_node(slot):  # the root: both sides know every row's slot
                slots = root_slots(f_count, self.rows)
            else:
                got = self.ctx.recv(host, f"{_NS}/{tree}/{depth}/slots")
                slots = checked_slots(got, (f_count, self.rows), n_slots, host)
            # while the host sums its shares
            mine = _label_sums(
                self._threads, slots, bits, self._pbins[host], self._b[host], self.width, n_slots
            )
            theirs = self.ctx.recv(host, f"{_NS}/{tree}/{depth}/sums")
            if (
                not isinstance(theirs, np.ndarray)
                or theirs.dtype != _U64
                or theirs.shape != (f_count, size, self.lanes)
            ):
                raise ProtocolError(f"{host!r} sent malformed share sums")
            with np.errstate(over="ignore"):
                total = mine + theirs
            sums = self.fxp.decode(total).reshape(f_count, n_slots, self.width, 2)
            out[host] = (
                np.ascontiguousarray(sums[..., 0].transpose(1, 0, 2)),
                np.ascontiguousarray(sums[..., 1].transpose(1, 0, 2)),
            )
        return out

    def finish(self, trees: int) -> None:
        self._sender.close()
        self._threads.close()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.ctx.send(self.dealer, f"{_NS}/{self.tree + 1}/go", {"stop": True})


class ShuffleHostExchange(HostExchange):
    """A host's side: hold a share of each permuted ``(g, h)``; reveal labels and share sums."""

    arrives = "masked gradients from the guest, corrections from the dealer"

    def __init__(
        self,
        ctx: Context,
        guest: str,
        dealer: str,
        width: int,
        objective: str = "binary:logistic",
        size: tuple[int, int] | None = None,
        trees: int | None = None,
        all_rows: bool = False,
    ) -> None:
        """``size``: (rows in every tree, this host's features), if known ahead: then
        the first tree's permutations are derived during set-up. ``all_rows``: every
        tree has all rows (no ``subsample``, no GOSS), so every tree has the same bins;
        then each tree's permuted bins go to the guest at the end of the tree before, up
        to ``trees`` (``n_estimators``): they are at the guest when the tree begins,
        not in flight beside the root's sums."""
        self.ctx, self.guest, self.dealer, self.width = ctx, guest, dealer, width
        self.lanes = share_lanes(objective)
        with ctx.step("ss-dealer: seeds"):
            seed = ctx.recv(dealer, f"{_NS}/seed")
            if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
                raise ProtocolError("the dealer sent a malformed seed")
        self.seed = seed
        self.trees = trees if all_rows else None
        self._bins_sent = -1  # the last tree whose permuted bins went to the guest
        self.perms = np.zeros((0, 0), dtype=np.int32)
        self._perm_memory: dict[object, np.ndarray] = {}  # per tree parity, reused
        self.shares = np.zeros((0, 0, 2), dtype=_U64)
        self.pbins = np.zeros((0, 0), dtype=np.uint8)
        self._pool = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="sbt-perms", initializer=_yield_to_others
        )
        # work done a tree ahead: (tree, rows, its permutations and permuted bins)
        self._next: tuple[int, int, Future[_Ahead]] | None = None
        if size is not None:
            self._next = (0, size[0], self._pool.submit(self._ahead, 0, *size, None))
        # the last tree's bins, and the same feature-major (copied once while they stay)
        self._bins: np.ndarray | None = None
        self._cols = np.zeros((0, 0), dtype=np.uint8)
        # the labels go to the guest while this host sums its shares
        self._sender = _SendBehind(ctx)
        self._threads = kernels.FeatureThreads()
        # the guest's masked vector m until s_f = m[pi_f] + delta_f is formed in self.shares
        self._pending_m: np.ndarray | None = None
        # colsample_bytree: this tree's sample of features and the next tree's size
        self.features: np.ndarray | None = None
        self._next_count: int | None = None

    def use_features(
        self, tree: int, features: np.ndarray | None, upcoming: np.ndarray | None
    ) -> None:
        self.features = features
        self._next_count = None if upcoming is None else int(upcoming.size)

    def _permutations(self, tree: int, n: int, f_count: int) -> np.ndarray:
        # into the memory of tree - 2 (tree + 1's are derived while tree uses its own)
        perms = _reused(self._perm_memory, tree % 2, (f_count, n), np.int32)
        for f in range(f_count):  # each written in place: no copy of the stack
            _permutation(self.seed, tree, f, n, perms[f])
        return perms

    def _ahead(self, tree: int, n: int, f_count: int, cols: np.ndarray | None) -> _Ahead:
        """Tree ``tree``'s permutations and, where its bins are known ahead (``cols``,
        feature-major: every tree has all rows), the permuted bins."""
        perms = self._permutations(tree, n, f_count)
        return perms, cols, kernels.pack_gathered(cols, perms, 8) if cols is not None else None

    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        sampled = self.features is not None
        if sampled:  # only the tree's sample of features, in order
            bins = bins[:, self.features]
        n, f_count = bins.shape
        if bins is not self._bins:  # the first tree, or rows sampled anew
            self._bins, self._cols = bins, np.ascontiguousarray(bins.T)
        if self._next is not None and self._next[:2] == (tree, n):
            perms, cols, pbins = self._next[2].result()
        else:
            if self._next is not None:  # done with the memory it may be writing
                self._next[2].result()
            perms, cols, pbins = self._ahead(tree, n, f_count, None)
        if perms.shape != (f_count, n):  # set-up guessed another size: derive them anew
            perms, cols, pbins = self._ahead(tree, n, f_count, None)
        if pbins is None or cols is not self._cols:
            pbins = kernels.pack_gathered(self._cols, perms, 8)
        # the permuted bins: M_f with its rows permuted, part of every depth's labels
        self.perms, self.pbins = perms, pbins
        if self._bins_sent < tree:  # else sent at the end of the tree before
            self._sender.send(self.guest, f"{_NS}/{tree}/bins", self.pbins)
        # the next tree's, in the background (trees have the same row count); with a sample
        # of features, its permutations only (the next tree's bins are other columns)
        if sampled or self._next_count is not None:
            f_next = f_count if self._next_count is None else self._next_count
            ahead = self._pool.submit(self._ahead, tree + 1, n, f_next, None)
        else:
            ahead = self._pool.submit(self._ahead, tree + 1, n, f_count, self._cols)
        self._next = (tree + 1, n, ahead)
        m = self.ctx.recv(self.guest, f"{_NS}/{tree}/m")
        if not isinstance(m, np.ndarray) or m.dtype != _U64 or m.shape != (n, self.lanes):
            raise ProtocolError("the guest sent a malformed masked vector")
        delta = self.ctx.recv(self.dealer, f"{_NS}/{tree}/delta")
        if (
            not isinstance(delta, np.ndarray)
            or delta.dtype != _U64
            or delta.shape != (f_count, n, self.lanes)
        ):
            raise ProtocolError("the dealer sent a malformed correction")
        # s_f = m[pi_f] + delta_f is formed at the first depth, once the labels are on
        # their way (the guest sums its own share meanwhile)
        self._pending_m, self.shares = m, delta

    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        bits = slot_bits(n_slots)
        perms, pbins, shares, m = self.perms, self.pbins, self.shares, self._pending_m
        f_count, width, threads = perms.shape[0], self.width, self._threads
        if all_in_one_node(slot):  # the root: the guest knows every row's slot too
            slots = root_slots(*perms.shape)
        else:
            # each permuted row's node slot; rows not summed go to slot n_slots (dropped)
            dump = np.empty(slot.size, dtype=np.uint8 if n_slots < 255 else np.uint16)
            labels = kernels.slot_labels(slot, n_slots, dump)
            slots = threads.concat(f_count, lambda f: kernels.pack_permuted(labels, perms[f], bits))
            # sent before the share sums, not beside them: the guest's own sums wait for
            # these labels, and a sending thread would compete with the sums for the cores
            self._sender.flush()
            self.ctx.send(self.guest, f"{_NS}/{tree}/{depth}/slots", slots)
        self._pending_m = None
        if m is not None and all_in_one_node(slot):
            # the root: form s_f = Y[pi_f] - b_f and sum it by bin in one pass
            sums = threads.concat(
                f_count,
                lambda f: kernels.add_permuted_bin_sums(m, perms[f], shares[f], pbins[f], width),
            )
        else:
            if m is not None:
                threads.map(f_count, lambda f: kernels.add_permuted(m, perms[f], shares[f]))
            sums = _label_sums(threads, slots, bits, pbins, shares, width, n_slots)
        self._sender.flush()
        self.ctx.send(self.guest, f"{_NS}/{tree}/{depth}/sums", sums)

    def end_tree(self, tree: int) -> None:
        self._sender.flush()
        self.shares = np.zeros((0, 0, 2), dtype=_U64)
        # every tree has all rows: the next tree's permuted bins are known (being made a
        # tree ahead), so they go now, off the next root's path (sent at the next tree's
        # start otherwise, and none past the last tree)
        ahead = self._next
        if self.trees is not None and tree + 1 < self.trees and ahead and ahead[0] == tree + 1:
            _, cols, pbins = ahead[2].result()
            if pbins is not None and cols is self._cols:  # made from this tree's bins
                self._sender.send(self.guest, f"{_NS}/{tree + 1}/bins", pbins)
                self._bins_sent = tree + 1

    def finish(self) -> None:
        self._sender.close()
        self._threads.close()
        self._pool.shutdown(wait=True, cancel_futures=True)


def deal_tree(guest_seed: bytes, host_seed: bytes, tree: int, delta: np.ndarray) -> np.ndarray:
    """The dealer's correction for one host and tree, ``delta_f = a[pi_f] - b_f`` per
    feature, written into ``delta`` (``(features, n, lanes)`` uint64), which it returns."""
    features, n, lanes = delta.shape
    a = _mask_a(guest_seed, tree, n, lanes)
    pi = np.empty(n, dtype=np.int32)
    for f in range(features):
        _permutation(host_seed, tree, f, n, pi)
        _mask_b(guest_seed, tree, f, delta[f])  # still in cache for the next line
        kernels.permuted_minus(a, pi[None], delta[f : f + 1])
    return delta


def serve_shuffle_dealer(ctx: Context, guest: str, hosts: list[str]) -> int:
    """The dealer's role: deal each tree's permutation correlations until the guest stops.

    Returns the number of trees served. The dealer learns public sizes only.
    It deals tree ``t + 1`` while the parties grow tree ``t`` (every tree has
    the same number of rows), so each correction is at the host when needed,
    and none past the last tree when the guest says how many there can be.
    """
    kernels.warm_up()
    with ctx.step("ss-dealer: seeds"):
        guest_seeds = {host: ctx.rng.token(SEED_BYTES) for host in hosts}
        host_seeds = {host: ctx.rng.token(SEED_BYTES) for host in hosts}
        for host in hosts:
            ctx.send(guest, f"{_NS}/seed/{host}", guest_seeds[host])
            ctx.send(host, f"{_NS}/seed", host_seeds[host])
        counts = {}
        for host in hosts:
            info = ctx.recv(host, f"{_NS}/features")
            if not isinstance(info, dict) or not isinstance(info.get("features"), int):
                raise ProtocolError(f"{host!r} sent a malformed feature count")
            counts[host] = int(info["features"])

    # per tree, each host's features in it (colsample_bytree; the guest says how many)
    per_tree: dict[int, dict[str, int]] = {}

    # each host's correction is written into the same memory every tree (a send returns
    # once the host holds the message): touched once, during set-up, not faulted in anew
    memory: dict[object, np.ndarray] = {}

    def deal(t: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
        k = per_tree.get(t, counts)
        return {
            h: deal_tree(
                guest_seeds[h],
                host_seeds[h],
                t,
                _reused(memory, h, (k[h], size[0], size[1]), _U64),
            )
            for h in hosts
        }

    def feature_counts(value: object) -> dict[str, int]:
        if (
            not isinstance(value, dict)
            or set(value) != set(hosts)
            or not all(isinstance(k, int) and 0 <= k <= counts[h] for h, k in value.items())
        ):
            raise ProtocolError("the guest sent malformed feature counts")
        return {h: int(value[h]) for h in hosts}

    def request(tree: int) -> tuple[int, int, int | None] | None:
        """The guest's start of ``tree``: rows, share words per row and the most trees there
        can be (``None``: not said); ``None``: training is over. With a sample of features
        per tree, also how many of each host's this tree and the next use."""
        msg = ctx.recv(guest, f"{_NS}/{tree}/go")
        if not isinstance(msg, dict):
            raise ProtocolError("the guest sent a malformed request")
        if msg.get("stop"):
            return None
        n, lanes, most = msg.get("rows"), msg.get("lanes"), msg.get("trees")
        if not isinstance(n, int) or n < 1 or lanes not in (1, 2):
            raise ProtocolError("the guest sent a malformed tree size")
        if most is not None and (not isinstance(most, int) or most < 1):
            raise ProtocolError("the guest sent a malformed tree count")
        if "features" in msg:
            now = feature_counts(msg["features"])
            if per_tree.get(tree, now) != now:  # dealt a tree ahead with other counts
                raise ProtocolError(
                    f"tree {tree} uses {now} features, the dealer was told {per_tree[tree]}"
                )
            per_tree[tree] = now
            per_tree[tree + 1] = feature_counts(msg.get("next"))
        return n, lanes, most

    with ctx.step("ss-dealer: tree 0"):  # everyone waits for it: at full priority
        first = request(0)
        if first is None:
            return 0
        size, most = first[:2], first[2]
        for host, delta in deal(0, size).items():
            ctx.send(host, f"{_NS}/0/delta", delta)
    _yield_to_others()  # from here on the dealer works a tree ahead
    tree = 0
    while True:
        # deal tree + 1 while the parties grow tree: its correction is there when they need it
        with ctx.step(f"ss-dealer: tree {tree + 1}"):
            if most is None or tree + 1 < most:  # else training ends with tree
                for host, delta in deal(tree + 1, size).items():
                    ctx.send(host, f"{_NS}/{tree + 1}/delta", delta)
            got = request(tree + 1)
            if got is None:
                return tree + 1
            if got[:2] != size:
                raise ProtocolError(f"tree {tree + 1} has size {got[:2]}, the others {size}")
            if most is not None and tree + 1 >= most:
                raise ProtocolError(f"the guest started tree {tree + 1} of at most {most}")
        tree += 1


def announce_features(ctx: Context, dealer: str, n_features: int) -> None:
    """A host tells the dealer how many features it has (a public size)."""
    ctx.send(dealer, f"{_NS}/features", {"features": int(n_features)})
