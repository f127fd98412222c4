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

Per host and tree, with ``Y`` the guest's ``(rows, 2)`` fixed-point ``(g, h)``
(ring ``Z_2^64``):

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
   permuted by ``pi_f``, the masked indicator matrix. Both sides sum their
   share by label (a local histogram), the host sends its sums, and the
   guest adds: the per-bin sums, in the clear at the guest only.

Leakage (semi-honest; the dealer colludes with no one):

- the host sees ``m`` and ``delta_f``: uniform, independent of the data;
- the dealer sees only seeds it made and public sizes (rows per tree, host
  feature counts);
- the guest sees the per-(node, bin) sums that SecureBoost reveals, and the
  labels in an order that is uniform and unknown to it: so it also learns
  **how many rows of each node fall in each bin** of each host feature. Classic
  SecureBoost reveals those counts too in its first tree (every row has the
  same hessian there) and, for squared-error loss, in every tree; here they
  are revealed in every tree. A fresh ``pi_f`` per tree and per feature keeps
  labels from being linked across trees or features.

Cost per host per tree: the guest sends ``16 rows`` bytes; the dealer sends
``16 rows * features``; the host sends ``rows * features`` bytes of permuted
bins, and per depth as many of node slots; both sides sum their shares by
label in one compiled pass -- the plaintext histogram's work.

Randomness: seeds from ``secrets`` (``ctx.rng.token``), expanded with AES-128-CTR
(:class:`~unseen.crypto.prg.AesCtrPrg`) in separate streams per (tree,
feature); a permutation is a Fisher-Yates shuffle driven by its stream, with
exact rejection sampling (:func:`unseen.ml.sbt_kernels.permutation`).

The per-row loops (shuffles, gathers through a permutation, sums of ``uint64``
shares by label) are compiled with Numba (:mod:`unseen.ml.sbt_kernels`).

Pipelining: the dealer deals tree ``t + 1`` while the others grow tree ``t``
(the row count of a tree is fixed by the parameters), and a host derives its
next permutations in a background thread.
"""

from __future__ import annotations

import hashlib
import math
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from unseen.crypto.prg import SEED_BYTES, AesCtrPrg
from unseen.ml import sbt_kernels as kernels
from unseen.ml.sbt_protocol import GuestExchange, HostExchange
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

_U64 = np.uint64
_NS = "sbt-ss"


def _stream(seed: bytes, *labels: object) -> AesCtrPrg:
    """An independent PRG stream for ``labels`` under ``seed`` (SHA-256 derivation)."""
    tag = "/".join(str(x) for x in labels).encode()
    return AesCtrPrg(hashlib.sha256(seed + b"|" + tag).digest()[:SEED_BYTES])


def _permutation(seed: bytes, tree: int, feature: int, n: int) -> np.ndarray:
    """The uniform permutation ``pi_f`` of ``range(n)`` for ``(tree, feature)`` (int32)."""
    return kernels.permutation(_stream(seed, "pi", tree, feature), n)


def _mask_a(seed: bytes, tree: int, n: int) -> np.ndarray:
    return _stream(seed, "a", tree).uint64((n, 2))


def _mask_b(seed: bytes, tree: int, feature: int, n: int) -> np.ndarray:
    return _stream(seed, "b", tree, feature).uint64((n, 2))


class ShareRing:
    """The ring ``Z_2^k`` of the shares (``k`` public, from public parameters only).

    Shares are summed modulo ``2^64`` and reduced to their low ``k`` bits, which
    is the same sharing modulo ``2^k``. With ``exact_float`` (bounded,
    logistic gradients), ``k = 53 - ceil(log2(rows + 1))``: the fixed point
    then leaves every sum over the rows exact in float64 too, so the guest's
    own (float64) histograms of the same rounded values equal the hosts'
    sums and ties break alike. Otherwise ``k = 64``.
    """

    def __init__(self, rows: int, exact_float: bool) -> None:
        self.bits = 53 - max(1, math.ceil(math.log2(rows + 1))) if exact_float else 64
        self.mask = _U64((1 << self.bits) - 1) if self.bits < 64 else _U64(0xFFFFFFFFFFFFFFFF)

    def label_sums(
        self, slots: np.ndarray, bins: np.ndarray, shares: np.ndarray, width: int, n_slots: int
    ) -> np.ndarray:
        """``out[f, slot * width + bin]``: the sum of ``shares[f]`` over rows with that label.

        ``slots``, ``bins``: ``(F, n)`` unsigned; slot ``n_slots`` marks rows not
        summed. The caller has checked ``slots <= n_slots`` and ``bins < width``
        (a peer's labels on receipt): the compiled loop does not check bounds.
        ``shares``: ``(F, n, 2)`` uint64. Returns ``(F, n_slots * width, 2)``
        uint64 in the ring.
        """
        return kernels.label_sums(slots, bins, shares, width, n_slots) & self.mask


class FixedPointGH:
    """``(g, h)`` in fixed point in the ring, with as many fraction bits as the sums allow.

    ``bound`` bounds ``|g|`` and ``h``; every sum over at most ``rows`` rows
    then stays below ``2^(k-2)`` in magnitude.
    """

    def __init__(self, ring: ShareRing, rows: int, bound: float) -> None:
        need = math.ceil(math.log2(max(rows, 1) * max(bound, 2.0**-20)))
        self.ring = ring
        self.frac_bits = min(40, ring.bits - 2 - need)
        if self.frac_bits < 4:
            raise ConfigError(
                f"gradients up to {bound:.3g} over {rows} rows leave {self.frac_bits} fraction "
                "bits in the share ring: scale the label down"
            )

    @classmethod
    def for_gradients(cls, ring: ShareRing, g: np.ndarray, h: np.ndarray) -> FixedPointGH:
        """The encoding with as many fraction bits as sums of these ``g``, ``h`` allow."""
        return cls(ring, g.size, float(max(np.abs(g).max(initial=0), h.max(initial=0))))

    def encode(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        scale = float(1 << self.frac_bits)
        y = np.stack([np.rint(g * scale), np.rint(h * scale)], axis=1).astype(np.int64)
        return y.view(_U64)

    def decode(self, sums: np.ndarray) -> np.ndarray:
        """Ring sums (uint64 < 2^k) to reals, reading the top half of the ring as negative."""
        k = self.ring.bits
        signed = (
            sums.astype(np.int64)
            if k == 64
            else np.where(
                sums >= _U64(1 << (k - 1)), sums.astype(np.int64) - (1 << k), sums.astype(np.int64)
            )
        )
        return signed.astype(np.float64) / float(1 << self.frac_bits)

    def rounded(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The reals that encoded ``y`` (``(rows, 2)``) stands for: ``g`` and ``h`` as summed."""
        scale = float(1 << self.frac_bits)
        return y[:, 0].view(np.int64) / scale, y[:, 1].view(np.int64) / scale


def exact_float_ring(objective: str) -> bool:
    """Whether the share ring keeps float64 sums exact (public parameters only).

    Logistic gradients are bounded (``|g| <= 1``, ``h <= 1/4``), so such a ring
    leaves enough fraction bits up to about a million rows; regression
    gradients are not, so they get the whole ``Z_2^64``.
    """
    return objective == "binary:logistic"


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
    ) -> None:
        self.ctx, self.hosts, self.dealer, self.width = ctx, hosts, dealer, width
        self.n_features = widths
        self.exact_float = exact_float_ring(objective)
        self.seeds: dict[str, bytes] = {}
        kernels.warm_up()
        with ctx.step("ss-dealer: seeds"):
            for host in hosts:
                seed = ctx.recv(dealer, f"{_NS}/seed/{host}")
                if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
                    raise ProtocolError("the dealer sent a malformed seed")
                self.seeds[host] = seed
        self.fxp: FixedPointGH | None = None
        self.ring = ShareRing(1, self.exact_float)
        self.rows = 0
        self.tree = -1
        self._b: dict[str, np.ndarray] = {}  # this tree's masks b_f per host
        self._pbins: dict[str, np.ndarray] = {}  # this tree's permuted bins per host
        # the next tree's masks do not depend on the data: derive them in the background
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sbt-masks")
        self._next: tuple[int, int, Future[dict[str, np.ndarray]]] | None = None

    def begin_tree(
        self, tree: int, g: np.ndarray, h: np.ndarray, rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.tree, self.rows = tree, g.size
        self.ctx.send(self.dealer, f"{_NS}/{tree}/go", {"rows": int(g.size)})
        self.ring = ShareRing(g.size, self.exact_float)
        self.fxp = FixedPointGH.for_gradients(self.ring, g, h)
        y = self.fxp.encode(g, h)
        with np.errstate(over="ignore"):
            for host in self.hosts:
                self.ctx.send(host, f"{_NS}/{tree}/m", y - _mask_a(self.seeds[host], tree, g.size))
        self._pbins = {}
        if self._next is not None and self._next[:2] == (tree, g.size):
            self._b = self._next[2].result()
        else:
            self._b = self._all_masks(tree, g.size)
        self._next = (tree + 1, g.size, self._pool.submit(self._all_masks, tree + 1, g.size))
        return self.fxp.rounded(y)

    def _all_masks(self, tree: int, rows: int) -> dict[str, np.ndarray]:
        """The guest's shares ``b_f`` of each host's permuted ``(g, h)``: ``(F, rows, 2)``."""
        out = {}
        for host in self.hosts:
            b = np.empty((self.n_features[host], rows, 2), dtype=_U64)
            for f in range(self.n_features[host]):
                b[f] = _mask_b(self.seeds[host], tree, f, rows)
            out[host] = b
        return out

    def histograms(
        self, tree: int, depth: int, slot: np.ndarray, n_slots: int
    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        assert self.fxp is not None
        size = n_slots * self.width
        out = {}
        for host in self.hosts:
            f_count = self.n_features[host]
            if host not in self._pbins:  # once a tree: the bin part of the labels
                pbins = self.ctx.recv(host, f"{_NS}/{tree}/bins")
                if (
                    not isinstance(pbins, np.ndarray)
                    or pbins.dtype != np.uint8
                    or pbins.shape != (f_count, self.rows)
                    or pbins.max(initial=0) >= self.width
                ):
                    raise ProtocolError(f"{host!r} sent malformed permuted bins")
                self._pbins[host] = pbins
            slots = self.ctx.recv(host, f"{_NS}/{tree}/{depth}/slots")
            if (
                not isinstance(slots, np.ndarray)
                or slots.shape != (f_count, self.rows)
                or slots.dtype not in (np.uint8, np.uint16)
                or slots.max(initial=0) > n_slots
            ):
                raise ProtocolError(f"{host!r} sent malformed labels")
            # while the host sums its shares
            mine = self.ring.label_sums(
                slots, self._pbins[host], self._b[host], self.width, n_slots
            )
            theirs = self.ctx.recv(host, f"{_NS}/{tree}/{depth}/sums")
            if (
                not isinstance(theirs, np.ndarray)
                or theirs.dtype != _U64
                or theirs.shape != (f_count, size, 2)
            ):
                raise ProtocolError(f"{host!r} sent malformed share sums")
            with np.errstate(over="ignore"):
                total = (mine + theirs) & self.ring.mask
            sums = self.fxp.decode(total).reshape(f_count, n_slots, self.width, 2)
            out[host] = (
                np.ascontiguousarray(sums[..., 0].transpose(1, 0, 2)),
                np.ascontiguousarray(sums[..., 1].transpose(1, 0, 2)),
            )
        return out

    def finish(self, trees: int) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.ctx.send(self.dealer, f"{_NS}/{self.tree + 1}/go", {"stop": True})


class ShuffleHostExchange(HostExchange):
    """A host's side: hold a share of each permuted ``(g, h)``; reveal labels and share sums."""

    def __init__(
        self, ctx: Context, guest: str, dealer: str, width: int, objective: str = "binary:logistic"
    ) -> None:
        self.ctx, self.guest, self.dealer, self.width = ctx, guest, dealer, width
        self.exact_float = exact_float_ring(objective)
        kernels.warm_up()
        with ctx.step("ss-dealer: seeds"):
            seed = ctx.recv(dealer, f"{_NS}/seed")
            if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
                raise ProtocolError("the dealer sent a malformed seed")
        self.seed = seed
        self.ring = ShareRing(1, self.exact_float)
        self.perms = np.zeros((0, 0), dtype=np.int32)
        self.shares = np.zeros((0, 0, 2), dtype=_U64)
        self.pbins = np.zeros((0, 0), dtype=np.int32)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sbt-perms")
        self._next: tuple[int, int, Future[np.ndarray]] | None = None
        # the labels go to the guest while this host sums its shares: one send in flight
        self._sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sbt-send")
        self._in_flight: Future[None] | None = None
        # the guest's masked vector m until s_f = m[pi_f] + delta_f is formed in self.shares
        self._pending_m: np.ndarray | None = None

    def _send_behind(self, key: str, value: np.ndarray) -> None:
        """Send ``value`` from the sender thread; the previous such send must be through."""
        self._flush()
        self._in_flight = self._sender.submit(self.ctx.send, self.guest, key, value)

    def _flush(self) -> None:
        """Wait for the send in flight; its error, if any, is raised here."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            in_flight.result()

    def _permutations(self, tree: int, n: int, f_count: int) -> np.ndarray:
        if f_count == 0:
            return np.zeros((0, n), dtype=np.int32)
        return np.stack([_permutation(self.seed, tree, f, n) for f in range(f_count)])

    def begin_tree(self, tree: int, bins: np.ndarray, rows: np.ndarray | None = None) -> None:
        n, f_count = bins.shape
        if self._next is not None and self._next[:2] == (tree, n):
            perms = self._next[2]
        else:
            perms = self._pool.submit(self._permutations, tree, n, f_count)
        self.perms = perms.result()
        # the next tree's permutations, in the background (trees have the same row count)
        self._next = (tree + 1, n, self._pool.submit(self._permutations, tree + 1, n, f_count))
        # the permuted bins: M_f with its rows permuted, part of every depth's labels
        self.pbins = kernels.gather_each(np.ascontiguousarray(bins.T), self.perms)
        self._send_behind(f"{_NS}/{tree}/bins", self.pbins)
        m = self.ctx.recv(self.guest, f"{_NS}/{tree}/m")
        if not isinstance(m, np.ndarray) or m.dtype != _U64 or m.shape != (n, 2):
            raise ProtocolError("the guest sent a malformed masked vector")
        delta = self.ctx.recv(self.dealer, f"{_NS}/{tree}/delta")
        if (
            not isinstance(delta, np.ndarray)
            or delta.dtype != _U64
            or delta.shape != (f_count, n, 2)
        ):
            raise ProtocolError("the dealer sent a malformed correction")
        self.ring = ShareRing(n, self.exact_float)
        # s_f = m[pi_f] + delta_f is formed at the first depth, once the labels are on
        # their way (the guest sums its own share meanwhile)
        self._pending_m, self.shares = m, delta

    def histograms(self, tree: int, depth: int, slot: np.ndarray, n_slots: int) -> None:
        # each permuted row's node slot; rows not summed go to slot n_slots (dropped)
        dump = np.where(slot < 0, n_slots, slot).astype(np.uint8 if n_slots < 255 else np.uint16)
        slots = kernels.gather_each(np.broadcast_to(dump, self.perms.shape), self.perms)
        self._send_behind(f"{_NS}/{tree}/{depth}/slots", slots)
        if self._pending_m is not None:
            kernels.add_permuted(self._pending_m, self.perms, self.shares)  # Y[pi_f] - b_f
            self._pending_m = None
        sums = self.ring.label_sums(slots, self.pbins, self.shares, self.width, n_slots)
        self._flush()
        self.ctx.send(self.guest, f"{_NS}/{tree}/{depth}/sums", sums)

    def end_tree(self, tree: int) -> None:
        self._flush()
        self.shares = np.zeros((0, 0, 2), dtype=_U64)

    def finish(self) -> None:
        self._flush()
        self._sender.shutdown(wait=True)
        self._pool.shutdown(wait=True, cancel_futures=True)


def deal_tree(guest_seed: bytes, host_seed: bytes, tree: int, n: int, features: int) -> np.ndarray:
    """The dealer's correction for one host and tree: ``delta_f = a[pi_f] - b_f`` per feature."""
    a = _mask_a(guest_seed, tree, n)
    delta = np.empty((features, n, 2), dtype=_U64)
    for f in range(features):
        delta[f] = _mask_b(guest_seed, tree, f, n)
        pi = _permutation(host_seed, tree, f, n)
        kernels.permuted_minus(a, pi[None], delta[f : f + 1])
    return delta


def serve_shuffle_dealer(ctx: Context, guest: str, hosts: list[str]) -> int:
    """The dealer's role: deal each tree's permutation correlations until the guest stops.

    Returns the number of trees served. The dealer learns public sizes only.
    It deals tree ``t + 1`` while the parties grow tree ``t`` (every tree has
    the same number of rows), so each correction is at the host when needed.
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

    def deal(t: int, n: int) -> dict[str, np.ndarray]:
        return {h: deal_tree(guest_seeds[h], host_seeds[h], t, n, counts[h]) for h in hosts}

    def request(tree: int) -> int | None:
        """The guest's start of ``tree``: its row count, or ``None`` when training is over."""
        msg = ctx.recv(guest, f"{_NS}/{tree}/go")
        if not isinstance(msg, dict):
            raise ProtocolError("the guest sent a malformed request")
        if msg.get("stop"):
            return None
        n = msg.get("rows")
        if not isinstance(n, int) or n < 1:
            raise ProtocolError("the guest sent a malformed row count")
        return n

    with ctx.step("ss-dealer: tree 0"):
        rows = request(0)
        if rows is None:
            return 0
        for host, delta in deal(0, rows).items():
            ctx.send(host, f"{_NS}/0/delta", delta)
    tree = 0
    while True:
        # deal tree + 1 while the parties grow tree: its correction is there when they need it
        with ctx.step(f"ss-dealer: tree {tree + 1}"):
            for host, delta in deal(tree + 1, rows).items():
                ctx.send(host, f"{_NS}/{tree + 1}/delta", delta)
            n = request(tree + 1)
            if n is None:
                return tree + 1
            if n != rows:
                raise ProtocolError(f"tree {tree + 1} has {n} rows, the others {rows}")
        tree += 1


def announce_features(ctx: Context, dealer: str, n_features: int) -> None:
    """A host tells the dealer how many features it has (a public size)."""
    ctx.send(dealer, f"{_NS}/features", {"features": int(n_features)})
