"""Vertical LR in ``ss-dealer`` mode: secret sharing over Z_2^64 with a semi-honest dealer.

Papers: the gradient step of FATE's hetero LR (S. Hardy, W. Henecka, H. Ivey-Law,
R. Nock, G. Patrini, G. Smith, B. Thorne, "Private federated learning on
vertically partitioned data via entity resolution and additively homomorphic
encryption", 2017; Q. Yang, Y. Liu, T. Chen, Y. Tong, "Federated machine
learning: concept and applications", ACM TIST 2019), with the homomorphic
encryption replaced by additive secret sharing and SecureML's products of a
*plaintext* matrix with a shared vector, whose mask is reused across
iterations (P. Mohassel, Y. Zhang, "SecureML", IEEE S&P 2017, section 4.2).

Parties: the guest (label and features), one or more hosts (features), and a
dealer (no data) who deals correlated randomness (:mod:`unseen.crypto.triples`).

Protocol, per party ``p`` (computing parties in the order guest, hosts):

1. *Setup.* ``p`` standardises its columns and puts its rows in the shared
   order. It encodes its matrix in fixed point, ``Q_p = round(X_p 2^12)``; the
   guest appends a column of ones (the intercept, and ``sum(d)`` for the loss)
   and the label column ``y``. For every batch (in row chunks of at most 256
   MiB), ``p`` sends ``E = Q_p - A`` to the other computing parties once, ``A`` a
   uniform mask from the dealer that only ``p`` and the dealer know
   (``Mpc.plain_matrix``).
2. *Per batch.* ``p`` computes its part of the linear predictor in plaintext,
   ``z_p = Q_p w_p / 2^12`` (+ ``b`` at the guest), and its part of the residual,
   ``d_p = 0.25 z_p`` (the guest: ``0.25 z_G + 0.5 - y``), in fixed point with 16
   fractional bits. The parties hold ``[d] = sum_p [d_p]`` as additive shares
   (pairwise PRG streams, no message).
3. For every owner ``q`` (SecureML's product of a plaintext matrix with a shared
   vector, opened to ``q``): with a fresh dealer triple ``[B]`` (``q``'s share of
   ``B`` is 0), ``[C] = [A^T B]``, every other party ``j`` sends ``q`` its share
   minus ``B_j`` (``n_B`` ring elements), then its share of the product,
   ``C_j + E^T B_j``; ``q`` computes ``C_q + Q_q^T f`` with ``f`` the sum of the
   masked shares and its own, and adds the others' product shares: its gradient.
   The guest's ``y . d`` entry is not sent: it stays shared. ``Q_q^T f``,
   ``E^T B`` and the dealer's ``A^T B`` run in ``uint64`` at memory speed
   (:func:`unseen.crypto.triples.ring_matmul`). ``z_p`` is the party's own plaintext
   product: float32 BLAS on a float32 copy of its features (half the bytes of ``Q``).
4. ``p`` decodes ``X_p^T d`` (scale ``2^28``, no truncation: values are opened
   exactly) and updates its own weights with its local optimiser.
5. *Per epoch.* Loss: hosts share ``S_h = z_h . d`` (from their own gradients);
   ``[-4 y.d + sum_h S_h]`` is opened to the guest, who completes the Taylor
   loss (:func:`unseen.ml.lr_common.loss_from_parts`) and tells every data party
   whether to stop. The dealer computes the corrections two epochs ahead of the
   parties (``prefetch(wait=False)``), the first ones while the masked matrices
   travel.

Threat model: semi-honest (honest-but-curious) parties; the dealer must not
collude with any computing party (the trust FATE places in its arbiter); no
two computing parties may collude. Who learns what:

- each computing party learns its own gradient ``X_p^T d / |B| `` for every batch
  (as in FATE, where the arbiter decrypts it for the party) and its own weights;
- the guest also learns the loss of every epoch; hosts learn whether training stops;
- everything else a party receives is a share or a masked value, uniform in
  Z_2^64: ``E = Q - A`` (``A`` uniform, used against one fixed matrix only),
  ``share - B`` (``B`` fresh per product), and shares opened only to their owner;
- the dealer learns nothing (it only receives the shapes of its requests);
- public: row count, each party's number of features, batch sizes, epochs run.

What the revealed gradients imply (the known leakage of FATE-style LR): at the
first batch the weights are zero, so ``d = 0.5 - y`` and each host learns
``X_h^T y`` over that batch (the sum of each of its features over the positive
rows); a batch with no more rows than a party has features lets that party
solve for the batch's residuals, and so for its labels. Large batches (full
batch by default) limit this; a batch size below twice the largest feature
count is refused, and no batch is shorter than the batch size (the rows after
the last full batch join it: :func:`unseen.ml.lr_common.batch_bounds`). The guest, from ``X_G^T d``, learns ``X_G^T z_h`` aggregates
of the hosts' scores.

Fixed point: features with 12 fractional bits, residuals with 16; products
open at scale ``2^28``, so ``|X^T d|`` must stay below ``2^35`` -- about
``3 * 10^10``, far above standardised data at any realistic size. Results
match the plaintext reference (:mod:`unseen.ml.lr_plain`) to about ``1e-3``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from unseen.crypto.prg import SEED_BYTES, AesCtrPrg
from unseen.crypto.sharing import Mpc, PlainMatrix, Shared
from unseen.crypto.triples import DealerProvider, DealerStats, Request, ring_matmul, serve_dealer
from unseen.ml.lr_common import (
    JobRoles,
    LocalOptimizer,
    LRParams,
    TrainResult,
    batch_bounds,
    converged,
    loss_from_parts,
)
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

FEATURE_BITS = 12
RESIDUAL_BITS = 16
PRODUCT_SCALE = float(2 ** (FEATURE_BITS + RESIDUAL_BITS))
_LIMIT = 2.0**35  # |X^T d| and friends must stay below this (scale 2^28 in 63 bits)
CHUNK_BYTES = 256 << 20  # the masked matrices are made and sent in row chunks of this size
LOOKAHEAD = 2  # epochs of dealer corrections requested ahead
MERGE_ELEMENTS = 8_000_000  # products up to this size: masked share and product share together
_U64 = np.uint64
NAMESPACE = "lr"

Announce = Callable[[int, float | None], None]  # (epoch, loss or None) -> None


def encode(x: np.ndarray, frac_bits: int) -> np.ndarray:
    """Reals to ring elements ``round(x * 2^frac_bits)`` (two's complement)."""
    return (
        np.rint(np.asarray(x, dtype=np.float64) * float(2**frac_bits)).astype(np.int64).view(_U64)
    )


def decode(u: np.ndarray, scale: float) -> np.ndarray:
    return np.asarray(u, dtype=_U64).view(np.int64).astype(np.float64) / scale


class PairwiseSharer:
    """Shares of ``sum_p v_p`` over Z_2^64 with no message per sharing.

    At setup every party sends every other party a fresh 16-byte seed. To share,
    party ``q`` takes ``v_q - sum_p out_(q->p) + sum_p in_(p->q)``: the streams
    cancel in the sum. This is ``Mpc.share`` of each ``v_p`` (the receiver's share
    is the seed's stream), summed, with the seeds sent once instead of per call.
    """

    def __init__(self, ctx: Context, parties: tuple[str, ...], namespace: str) -> None:
        others = [p for p in parties if p != ctx.party]
        self._out: dict[str, AesCtrPrg] = {}
        self._in: dict[str, AesCtrPrg] = {}
        for p in others:
            seed = ctx.rng.token(SEED_BYTES)
            ctx.send(p, f"{namespace}/stream-seed", seed)
            self._out[p] = AesCtrPrg(seed)
        for p in others:
            seed = ctx.recv(p, f"{namespace}/stream-seed")
            if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
                raise ProtocolError(f"{p!r} sent a malformed seed")
            self._in[p] = AesCtrPrg(seed)

    def share_sum(self, value: np.ndarray) -> np.ndarray:
        mine = np.array(value, dtype=_U64, copy=True)
        with np.errstate(over="ignore"):
            for p in self._out:
                mine -= self._out[p].uint64(mine.shape)
                mine += self._in[p].uint64(mine.shape)
        return mine


def _owner_copy_dropped(pm: PlainMatrix) -> PlainMatrix:
    """Drop the owner's ring copy of its matrix and of the mask ``A``: the products here use
    the owner's float64 copy and the dealer's corrections (saves two copies of the data)."""
    return dataclasses.replace(pm, value=None, mask=dataclasses.replace(pm.mask, a=None))


def check_batch_size(params: LRParams, roles: JobRoles) -> None:
    """Refuse batches small enough for a party to solve its gradient for the residuals."""
    if params.batch_size <= 0 or params.batch_size >= roles.rows:
        return
    widest = max(roles.features.values()) + 2
    if params.batch_size < 2 * widest:
        raise ConfigError(
            f"batch size {params.batch_size} is too small: a party with {widest - 2} features "
            f"could solve its gradient for the batch's labels; use at least {2 * widest} "
            "(or the full batch)"
        )


@dataclass
class _Chunk:
    """Rows ``[start, stop)`` (within their batch) of one owner's matrix, masked once."""

    start: int
    stop: int
    pm: PlainMatrix


class SsDataParty:
    """A guest or host in ``ss-dealer`` training. Every computing party runs the same steps."""

    def __init__(
        self,
        ctx: Context,
        x: np.ndarray,
        y: np.ndarray | None,
        roles: JobRoles,
        params: LRParams,
    ) -> None:
        if roles.dealer is None:
            raise ConfigError("ss-dealer mode needs a dealer party")
        self.ctx = ctx
        self.y = y
        self.roles = roles
        self.params = params
        self.me = ctx.party
        self.parties = roles.data_parties
        self.is_guest = self.me == roles.guest
        self.batches = batch_bounds(roles.rows, params.batch_size)
        # columns of each owner's plaintext matrix: the guest adds [1, y]
        self.cols = {p: roles.features[p] + (2 if p == roles.guest else 0) for p in self.parties}
        self.d = d = x.shape[1]
        dim = d + 1 if (self.is_guest and params.fit_intercept) else d
        self.opt = LocalOptimizer(dim, params, penalized=np.arange(dim) < d)
        self.provider = DealerProvider(
            ctx, roles.dealer, self.parties, namespace=f"{NAMESPACE}/dealer"
        )
        self.mpc = Mpc(ctx, self.provider, parties=self.parties, namespace=f"{NAMESPACE}/ss")
        self.chunks: dict[str, list[list[_Chunk]]] = {}
        # z = X w in float32 BLAS (about 5x the integer product's speed, 4 bytes a value);
        # taken before the host's x becomes Q in place
        self.x32 = np.array(x, dtype=np.float32, copy=True)
        self.q = self._plain_matrix(x)
        self.q_ring = self.q.view(_U64)

    # -- step 1 ---------------------------------------------------------------------------
    def _plain_matrix(self, x: np.ndarray) -> np.ndarray:
        """``Q_p = round(2^12 X_p)`` as ``int64`` (the guest's with the ones and label
        columns). The host's is converted in place in ``x``'s memory, block by block: one
        copy of the data in all."""
        rows = max(b - a for a, b in self.batches)
        if float(np.max(np.abs(x), initial=0.0)) * rows * 8 >= _LIMIT:
            raise ConfigError(
                "feature values are too large for the fixed-point encoding at this batch "
                "size: standardise the features (the default)"
            )
        n, d = x.shape
        scale = float(2**FEATURE_BITS)
        if self.is_guest:
            assert self.y is not None
            q = np.empty((n, d + 2), dtype=np.int64)
            q[:, :d] = np.rint(x * scale)
            q[:, d] = 1 << FEATURE_BITS
            q[:, d + 1] = self.y.astype(np.int64) << FEATURE_BITS
            return q
        if not x.flags.c_contiguous or x.dtype != np.float64:
            x = np.ascontiguousarray(x, dtype=np.float64)
        q = x.view(np.int64)
        step = max(1, (1 << 20) // max(1, d))
        for a in range(0, n, step):
            q[a : a + step] = np.rint(x[a : a + step] * scale).astype(np.int64)
        return q

    def _z(self, a: int, b: int, w: np.ndarray) -> np.ndarray:
        """``X w`` over rows ``[a, b)``: this party's own plaintext, so float32 BLAS on a float32
        copy of the features (more accurate than ``Q w``, which rounds features to 12 bits)."""
        return (self.x32[a:b] @ w[: self.d].astype(np.float32)).astype(np.float64)

    def _chunk_rows(self, owner: str, a: int, b: int) -> list[tuple[int, int]]:
        """Rows ``[a, b)`` of a batch cut so that one chunk of ``owner``'s matrix is at most
        :data:`CHUNK_BYTES`: the masks are made and sent chunk by chunk (bounded memory)."""
        rows = max(64, CHUNK_BYTES // (8 * self.cols[owner]))
        return [(s, min(s + rows, b)) for s in range(a, b, rows)]

    def setup(self) -> None:
        ctx = self.ctx
        with ctx.step("mask the data matrices"):
            self.sharer = PairwiseSharer(ctx, self.parties, f"{NAMESPACE}/share")
            # the layout: owner -> batch -> chunks (rows within the batch, mask id)
            self.layout: dict[str, list[list[tuple[int, int, int]]]] = {}
            masks: list[Request] = []
            for owner in self.parties:
                layout: list[list[tuple[int, int, int]]] = []
                for a, b in self.batches:
                    chunks = []
                    for c0, c1 in self._chunk_rows(owner, a, b):
                        shape = (c1 - c0, self.cols[owner])
                        chunks.append((c0 - a, c1 - a, len(masks)))
                        masks.append(Request("plain_mask", (shape,), owner=owner, mask=len(masks)))
                    layout.append(chunks)
                self.layout[owner] = layout
            self.provider.prefetch(masks)
            # the dealer computes the first epochs' corrections while the matrices travel
            self._prefetched = 0
            self._prefetch_until(min(LOOKAHEAD, self.params.epochs))
            for owner in self.parties:
                per_batch: list[list[_Chunk]] = []
                for (a, _), chunks in zip(self.batches, self.layout[owner], strict=True):
                    made = []
                    for c0, c1, mask_id in chunks:
                        mine = self.q_ring[a + c0 : a + c1] if owner == self.me else None
                        shape = (c1 - c0, self.cols[owner])
                        pm = self.mpc.plain_matrix(mine, owner, shape=shape)
                        if pm.mask.id != mask_id:
                            raise ProtocolError("the masks were made out of order")
                        made.append(_Chunk(c0, c1, _owner_copy_dropped(pm)))
                    per_batch.append(made)
                self.chunks[owner] = per_batch

    def _epoch_requests(self) -> list[Request]:
        """The dealer requests of one epoch, in the order the products use them."""
        reqs = []
        for k in range(len(self.batches)):
            for owner in self.parties:
                for c0, c1, mask_id in self.layout[owner][k]:
                    shape = (c1 - c0, self.cols[owner])
                    reqs.append(
                        Request(
                            "plain_matmul",
                            (shape, (c1 - c0,)),
                            owner=owner,
                            mask=mask_id,
                            transpose=True,
                        )
                    )
        return reqs

    def _prefetch_until(self, epochs: int) -> None:
        """Ask the dealer, without waiting, for the corrections of epochs up to ``epochs``."""
        while self._prefetched < epochs:
            self.provider.prefetch(self._epoch_requests(), wait=False)
            self._prefetched += 1

    # -- steps 2-4 ------------------------------------------------------------------------
    def _products(self, k: int, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Step 3 for every owner: my gradient ``Q_me^T d`` opened to me, and my share of
        the guest's ``y . d`` entry (which stays shared).

        For owner ``q`` and each chunk: every other party sends ``q`` its share minus the
        dealer's fresh ``B`` (one message for all chunks), then its share of the product,
        ``C + E^T B`` (all but the ``y . d`` entry); ``q`` adds ``C + Q^T f``.
        """
        self._calls += 1
        key = f"{NAMESPACE}/grad/{self._calls}"
        triples = {
            owner: [
                self.provider.plain_matmul(c.pm.mask, (c.stop - c.start,), transpose=True)
                for c in self.chunks[owner][k]
            ]
            for owner in self.parties
        }
        y_share = np.zeros(1, dtype=_U64)
        guest = self.roles.guest
        a, b = self.batches[k]
        with np.errstate(over="ignore"):
            # as a non-owner: my share minus B, and my share of the product C + E^T B.
            # Small products go in one message; a large one is sent after the masked
            # share, so that the owner computes while this party computes E^T B.
            for owner in self.parties:
                if owner == self.me:
                    continue
                chunks = list(zip(self.chunks[owner][k], triples[owner], strict=True))
                masked = np.concatenate([d[c.start : c.stop] - t.b for c, t in chunks])
                if not self._merged(owner, b - a):
                    self.ctx.send(owner, f"{key}/{owner}/masked", masked)
                share = np.zeros(self.cols[owner], dtype=_U64)
                for c, t in chunks:
                    assert c.pm.masked is not None and t.b is not None
                    share += t.c + ring_matmul(c.pm.masked.T, t.b)
                if owner == guest:
                    y_share = share[-1:].copy()
                    share = share[:-1]
                if self._merged(owner, b - a):
                    self.ctx.send(owner, f"{key}/{owner}/both", np.concatenate([masked, share]))
                else:
                    self.ctx.send(owner, f"{key}/{owner}/share", share)
            # as the owner: Q^T (my share + their masked shares) + C, plus their shares
            f = d.copy()
            width = self.cols[self.me] - (1 if self.is_guest else 0)
            theirs = []
            merged = self._merged(self.me, b - a)
            for p in self.parties:
                if p == self.me:
                    continue
                if merged:
                    both = self._recv(p, f"{key}/{self.me}/both", (b - a + width,))
                    f += both[: b - a]
                    theirs.append(both[b - a :])
                else:
                    f += self._recv(p, f"{key}/{self.me}/masked", (b - a,))
            total = np.zeros(self.cols[self.me], dtype=_U64)
            for c, t in zip(self.chunks[self.me][k], triples[self.me], strict=True):
                total += t.c + ring_matmul(
                    self.q_ring[a + c.start : a + c.stop].T, f[c.start : c.stop]
                )
            if self.is_guest:
                y_share = total[-1:].copy()
                total = total[:-1]
            for p in self.parties:
                if p != self.me and not merged:
                    theirs.append(self._recv(p, f"{key}/{self.me}/share", total.shape))
            for share in theirs:
                total += share
        return total, y_share

    def _merged(self, owner: str, rows: int) -> bool:
        """Whether the other parties send ``owner`` one message per product (public sizes)."""
        return rows * self.cols[owner] <= MERGE_ELEMENTS

    def _recv(self, peer: str, key: str, shape: tuple[int, ...]) -> np.ndarray:
        got = self.ctx.recv(peer, key)
        if not isinstance(got, np.ndarray) or got.dtype != _U64 or got.shape != shape:
            raise ProtocolError(f"{peer!r} sent a malformed value under {key!r}")
        return got

    def _batch(self, k: int, lr: float, acc: dict[str, np.ndarray | float]) -> None:
        a, b = self.batches[k]
        w = self.opt.weights_for_batch()
        d_feat = self.d
        z = self._z(a, b, w)
        if self.is_guest:
            assert self.y is not None
            if self.params.fit_intercept:
                z = z + w[d_feat]
            residual = 0.25 * z + 0.5 - self.y[a:b]
        else:
            residual = 0.25 * z
        if float(np.max(np.abs(residual), initial=0.0)) >= 2.0**20:
            raise ConfigError("training diverged (|z| > 4e6): lower the learning rate")
        d = self.sharer.share_sum(_encode_residual(residual))
        opened, y_share = self._products(k, d)
        with np.errstate(over="ignore"):  # every party adds its share of y.d: it stays shared
            acc["y_dot_d"] = acc["y_dot_d"] + y_share
        xtd = decode(opened, PRODUCT_SCALE)  # X_p^T d (guest: then sum(d))
        if self.is_guest:
            acc["sum_d"] = float(acc["sum_d"]) + float(xtd[d_feat])
            grad = xtd[: d_feat + 1] if self.params.fit_intercept else xtd[:d_feat]
        else:
            grad = xtd
        acc["s"] = float(acc["s"]) + float(w @ grad)  # S_p = z_p . d
        self.opt.step(grad / (b - a), lr)

    # -- step 5 ---------------------------------------------------------------------------
    def _epoch_loss(self, acc: dict[str, np.ndarray | float]) -> float | None:
        """Open ``-4 y.d + sum_h S_h`` to the guest; it returns the epoch's Taylor loss."""
        mine = np.zeros(1, dtype=_U64) if self.is_guest else encode(np.array([float(acc["s"])]), 28)
        s_hosts = self.sharer.share_sum(mine)
        with np.errstate(over="ignore"):
            u = s_hosts - np.asarray(acc["y_dot_d"], dtype=_U64) * _U64(4)
        opened = self.mpc.reveal(Shared(self.mpc, u), to=self.roles.guest)
        if opened is None:
            return None
        half_u = 0.5 * float(decode(opened, PRODUCT_SCALE)[0])
        # loss_from_parts with -2 y.d + 0.5 sum_h S_h = 0.5 U, and S_G added here
        total = loss_from_parts(self.roles.rows, float(acc["sum_d"]), 0.0, float(acc["s"]))
        return (total + half_u) / self.roles.rows

    def fit(self, on_epoch: Announce | None = None) -> TrainResult:
        ctx = self.ctx
        began = time.perf_counter()
        self.setup()
        setup_seconds = time.perf_counter() - began
        history: list[float] = []
        seconds: list[float] = []
        self._calls = 0
        epochs_run = 0
        for epoch in range(self.params.epochs):
            t0 = time.perf_counter()
            last = epoch == self.params.epochs - 1
            # the dealer works LOOKAHEAD epochs ahead of the parties
            self._prefetch_until(min(epoch + 1 + LOOKAHEAD, self.params.epochs))
            lr = self.params.lr_at(epoch)
            acc: dict[str, np.ndarray | float] = {
                "y_dot_d": np.zeros(1, dtype=_U64),
                "sum_d": 0.0,
                "s": 0.0,
            }
            with ctx.step(f"epoch {epoch + 1}"):
                for k in range(len(self.batches)):
                    ctx.check_cancelled()
                    self._batch(k, lr, acc)
                loss = self._epoch_loss(acc)
                stop = self._decide(epoch, loss, history, last)
            epochs_run += 1
            seconds.append(time.perf_counter() - t0)
            if on_epoch is not None:
                on_epoch(epoch, loss)
            if stop:
                for _ in range(self._prefetched - epochs_run):
                    self._discard(self._epoch_requests())
                break
        self.provider.close()  # the dealer checks that every party asked for the same randomness
        intercept = None
        d = self.d
        if self.is_guest:
            intercept = float(self.opt.w[d]) if self.params.fit_intercept else 0.0
        return TrainResult(
            self.opt.w[:d].copy(), intercept, history, epochs_run, seconds, setup_seconds
        )

    def _decide(self, epoch: int, loss: float | None, history: list[float], last: bool) -> bool:
        """The guest decides whether to stop, and tells the other data parties."""
        key = f"{NAMESPACE}/stop/{epoch}"
        if self.is_guest:
            assert loss is not None
            history.append(loss)
            stop = last or converged(history, self.params.tol)
            for p in self.roles.hosts:
                self.ctx.send(p, key, stop)
            return stop
        history.append(float("nan"))  # hosts count epochs, without the loss
        stop = self.ctx.recv(self.roles.guest, key)
        if not isinstance(stop, bool):
            raise ProtocolError("the guest sent a malformed stop decision")
        return stop

    def _discard(self, reqs: list[Request]) -> None:
        """Use up randomness prefetched for epochs that will not run (keeps the dealer in sync)."""
        masks = {
            c.pm.mask.id: c.pm.mask
            for per_batch in self.chunks.values()
            for chunks in per_batch
            for c in chunks
        }
        for req in reqs:
            assert req.mask is not None
            self.provider.plain_matmul(masks[req.mask], req.shapes[1], transpose=True)


def _encode_residual(residual: np.ndarray) -> np.ndarray:
    return encode(residual, RESIDUAL_BITS)


def train_data_party(
    ctx: Context,
    x: np.ndarray,
    y: np.ndarray | None,
    roles: JobRoles,
    params: LRParams,
    on_epoch: Announce | None = None,
) -> TrainResult:
    """The guest's or a host's role in ``ss-dealer`` training."""
    check_batch_size(params, roles)
    party = SsDataParty(ctx, x, y, roles, params)
    result = party.fit(on_epoch)
    if not party.is_guest:
        result.history = []
    return result


def train_dealer(ctx: Context, roles: JobRoles) -> DealerStats:
    """The dealer's role: deal correlated randomness to the computing parties until they close."""
    return serve_dealer(ctx, roles.data_parties, namespace=f"{NAMESPACE}/dealer")
