"""Vertical LR in ``he`` mode: two parties, Paillier, no third party.

Papers: the gradient step of FATE's hetero LR without an arbiter (S. Hardy et
al., "Private federated learning on vertically partitioned data via entity
resolution and additively homomorphic encryption", 2017; Q. Yang et al.,
"Federated machine learning: concept and applications", ACM TIST 2019): each
party keeps its own Paillier key pair (P. Paillier, EUROCRYPT 1999; 2048 bits
or more, :mod:`unseen.crypto.paillier`) and decrypts only values the other
party has masked. The homomorphic work is organised as the offline phase of
SecureML (P. Mohassel, Y. Zhang, IEEE S&P 2017, section 4.2: multiplication
triples from additively homomorphic encryption): it produces *correlated
randomness* for many epochs at once, and each epoch then runs on masked
values in Z_2^64 at memory speed.

Why: in FATE's protocol every epoch encrypts every row and multiplies every
ciphertext by every feature. Here the ciphertexts carry *random masks*, not
data, so they can be prepared ahead -- and a ciphertext holds the masks of up
to ``T`` epochs in slots (:mod:`unseen.crypto.packing`), because a party's
plaintext matrix multiplies every slot alike. One encryption per row and one
homomorphic matrix product serve ``T`` epochs (``T = 14`` with 2048-bit keys at
100,000 rows).

Protocol (guest ``G`` with label ``y``, host ``H``; the algorithm of
:mod:`unseen.ml.lr_common`; ``[[.]]_P`` is encryption under ``P``'s key). For
each party ``O`` and its fixed-point matrix ``Q_O = round(2^8 X_O)`` (the guest's
with a column of ones and the label), the other party ``J`` provides the masks:

*Offline, once per block of T epochs:*

1. ``J`` draws uniform masks ``B_t`` in Z_2^64, one per row and epoch (from its
   secret PRG), packs each row's ``T`` masks into one plaintext and sends
   ``[[P_i]]_J``, ``P_i = sum_t B_t[i] 2^(b t)``.
2. ``O`` computes, for every batch, ``[[Q_O^T P]]_J`` (a multi-exponentiation per
   column, exponents the small entries of ``Q_O``): slot ``t`` holds ``Q_O^T B_t``.
   It adds a FRESH encryption of packed masks ``R_t`` uniform in
   ``[0, 2^(b-2))``, ``b - 2`` bits being 40 more than ``|Q_O^T B_t|`` can
   reach, and sends the result to ``J``.
3. ``J`` decrypts and unpacks: ``V_t = Q_O^T B_t + R_t``; ``O`` keeps ``R_t``.
   Both reduce modulo 2^64.

*Online, epoch t, each batch:* ``d = d_G + u``, ``d_G = 0.25 z_G + 0.5 - y``
(with the intercept), ``u = 0.25 z_H``, each party's part in fixed point (20
fractional bits).

4. ``J`` sends ``O`` its part masked, ``f = d_J + B_t`` (uniform in Z_2^64), and
   ``V_t`` -- both parties at once, one message each way.
5. ``O`` computes ``Q_O^T f - V_t + R_t = Q_O^T d_J`` (mod 2^64, exact), adds
   its own ``X_O^T d_O`` and updates its weights.
6. The guest's label column: ``H`` does not send ``V_t`` for it; at the end of
   the epoch it sends ``4 sum V_y + S_H`` (``S_H = z_H . d``, from its gradients)
   and the guest computes ``-4 y.u + S_H``, just what the Taylor loss needs
   (:func:`unseen.ml.lr_common.loss_from_parts`); it tells ``H`` whether to stop.

Threat model: semi-honest guest and host, two parties only, no third party.

- ``O`` receives ``[[P]]_J`` (IND-CPA under DCR), ``f`` (uniform in Z_2^64:
  ``B_t`` is fresh per row and epoch) and ``V_t``: with its ``R_t`` it learns
  ``Q_O^T B_t``, hence from ``f`` exactly ``Q_O^T d_J`` -- its gradient's cross
  term, which it is meant to learn -- and nothing else about ``d_J``.
- ``J`` receives fresh encryptions of ``Q_O^T B_t + R_t`` under its own key: the
  masks ``R_t`` hide ``Q_O^T B_t`` statistically (distance ``2^-40`` per slot).
- So: ``G`` learns its gradient per batch, the Taylor loss per epoch and its
  weights; ``H`` learns its gradient per batch, its weights and when training
  stops. As in FATE (and ``ss-dealer`` mode), revealed gradients carry the
  known leakage: at the first batch ``d = 0.5 - y``, so ``H`` learns
  ``X_H^T y`` over it.
- Public: row count, feature counts, batch sizes, epochs run, key sizes.

Cost per block of ``T`` epochs: each party encrypts one packed plaintext per
row (through CRT, the key owner's fixed-base tables) and computes one
homomorphic product of its matrix (``rows x columns`` ciphertext powers with
16-bit exponents, Pippenger's method); per epoch, then, one ring message each
way and a ``uint64`` matrix-vector product. Traffic per block: one ciphertext
(512 bytes with 2048-bit keys) per row each way.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import numpy as np

from unseen.crypto.packing import SlotLayout
from unseen.crypto.paillier import PaillierPublicKey, generate_keypair
from unseen.crypto.triples import ring_matmul
from unseen.ml.lr_common import (
    JobRoles,
    LocalOptimizer,
    LRParams,
    TrainResult,
    batch_bounds,
    converged,
    loss_from_parts,
    small_keys_allowed,
)
from unseen.ml.lr_ss import Announce, check_batch_size
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError

FEATURE_BITS = 8  # the exponents' fraction bits: their size drives the homomorphic cost
EXPONENT_BITS = 15  # |Q| < 2^15, so standardised features must stay below 2^7 in size
RESIDUAL_BITS = 20
SCALE = float(2 ** (FEATURE_BITS + RESIDUAL_BITS))
STAT_SECURITY = 40  # statistical masking of the decrypted correlations, bits
NAMESPACE = "lr-he"
_U64 = np.uint64
_MASK64 = (1 << 64) - 1


def _ring(x: np.ndarray, bits: int) -> np.ndarray:
    """Reals in fixed point as ring elements (two's complement)."""
    return np.rint(np.asarray(x, dtype=np.float64) * float(2**bits)).astype(np.int64).view(_U64)


def _signed(u: np.ndarray) -> np.ndarray:
    return np.asarray(u, dtype=_U64).view(np.int64).astype(np.float64)


def slot_bits(max_batch_rows: int) -> int:
    """Bits per slot: ``|Q^T B| < 2^(15 + 64 + L)`` over ``2^L`` rows, 40 bits of
    statistical masking above it, a sign bit and a guard bit; whole bytes."""
    rows_bits = max(1, int(max_batch_rows - 1).bit_length())
    bits = EXPONENT_BITS + 64 + rows_bits + STAT_SECURITY + 2
    return -(-bits // 8) * 8


def pack_rows(masks: np.ndarray, bits: int) -> list[int]:
    """Row ``i`` of ``masks`` (``uint64``, n x T) as ``sum_t masks[i, t] 2^(bits t)``."""
    n, t = masks.shape
    width = bits // 8
    buf = np.zeros((n, t, width), dtype=np.uint8)
    buf[:, :, :8] = masks.astype("<u8").view(np.uint8).reshape(n, t, 8)
    flat = buf.reshape(n, t * width)
    return [int.from_bytes(row.tobytes(), "little") for row in flat]


class HeParty:
    """The guest or the host in ``he`` training; each is both ``O`` (for its own
    gradient) and ``J`` (providing the masks for the other's)."""

    def __init__(
        self, ctx: Context, x: np.ndarray, y: np.ndarray | None, roles: JobRoles, params: LRParams
    ) -> None:
        if roles.dealer is not None or len(roles.hosts) != 1:
            raise ConfigError("he mode runs between exactly two parties")
        self.ctx = ctx
        self.x = x
        self.y = y
        self.roles = roles
        self.params = params
        self.is_guest = ctx.party == roles.guest
        self.other = roles.hosts[0] if self.is_guest else roles.guest
        self.batches = batch_bounds(roles.rows, params.batch_size)
        d = x.shape[1]
        dim = d + 1 if (self.is_guest and params.fit_intercept) else d
        self.opt = LocalOptimizer(dim, params, penalized=np.arange(dim) < d)
        self.n_jobs: int | None = None

    def _cols(self, party: str) -> int:
        return self.roles.features[party] + (2 if party == self.roles.guest else 0)

    # -- setup ---------------------------------------------------------------------------
    def setup(self) -> None:
        ctx = self.ctx
        with ctx.step("exchange Paillier keys"):
            bits = self.params.key_bits
            small = bits < 2048 and small_keys_allowed()  # tests only (LRParams checks)
            self.sk = generate_keypair(bits, insecure_test_key=small)
            ctx.send(self.other, f"{NAMESPACE}/public-key", self.sk.public_key.to_dict())
            got = ctx.recv(self.other, f"{NAMESPACE}/public-key")
            try:
                self.peer_pk = PaillierPublicKey.from_dict(got, insecure_test_key=small)
            except (KeyError, TypeError, ValueError) as e:
                raise ProtocolError(f"{self.other!r} sent a bad Paillier public key: {e}") from None
            if self.peer_pk.modulus_bits < bits:
                raise ProtocolError(f"{self.other!r}'s Paillier key has fewer than {bits} bits")
        x = self.x
        if float(np.max(np.abs(x), initial=0.0)) >= 2.0 ** (EXPONENT_BITS - FEATURE_BITS):
            raise ConfigError(
                f"a feature value reaches {2 ** (EXPONENT_BITS - FEATURE_BITS)} after "
                "standardisation: he mode needs standardised features below that size"
            )
        if self.is_guest:
            assert self.y is not None
            x = np.hstack([x, np.ones((len(x), 1)), self.y.reshape(-1, 1)])
        self.q = np.rint(x * float(2**FEATURE_BITS)).astype(np.int64)  # the exponents
        self.q_ring = self.q.view(_U64)
        self.bits = slot_bits(max(b - a for a, b in self.batches))
        room = min(self.sk.public_key.packing_bits, self.peer_pk.packing_bits)
        self.slots = room // self.bits
        if self.slots < 1:
            raise ConfigError("the Paillier key is too small for these masked products")

    # -- offline: correlations for a block of epochs --------------------------------------
    def offline(self, block: int, epochs: int) -> None:
        """Masks ``B`` (mine, for the other's product), ``R`` (mine, for my product) and ``V``
        (mine, the other's product's correlation) for ``epochs`` epochs."""
        ctx = self.ctx
        key = f"{NAMESPACE}/{block}"
        layout = SlotLayout(self.bits, epochs)
        n = self.roles.rows
        clock = time.perf_counter()
        with ctx.step("prepare correlated randomness (Paillier)"):
            # 1. as J: my masks, packed per row, under my key
            self.B = ctx.rng.uint64((n, epochs))
            packed = pack_rows(self.B, self.bits)
            enc = self.sk.encrypt_raw(np.asarray(packed, dtype=object), n_jobs=self.n_jobs)
            ctx.send(self.other, f"{key}/masks", self.sk.public_key.to_bytes(enc))
            del packed, enc
            t_encrypt = time.perf_counter() - clock
            # 2. as O: my matrix times the other's masks, plus fresh masks R, batch by batch
            pk = self.peer_pk
            theirs = self._recv_ct(f"{key}/masks", pk, n)
            clock = time.perf_counter()
            cols = self.q.shape[1]
            r_bound = 1 << (self.bits - 2)
            self.R = np.zeros((len(self.batches), cols, epochs), dtype=_U64)
            products = []
            for k, (a, b) in enumerate(self.batches):
                prod = pk.vecmat(theirs[a:b], self.q[a:b], n_jobs=self.n_jobs)
                r = [[secrets.randbelow(r_bound) for _ in range(epochs)] for _ in range(cols)]
                self.R[k] = np.array([[v & _MASK64 for v in row] for row in r], dtype=_U64)
                masks = layout.pack(np.array([v for row in r for v in row], dtype=object))
                products.append(pk.add(prod, pk.encrypt_raw(masks, n_jobs=self.n_jobs)))
            del theirs
            ctx.send(self.other, f"{key}/products", pk.to_bytes(np.concatenate(products)))
            t_product = time.perf_counter() - clock
            # 3. as J: decrypt the other's products: V = Q_O^T B + R_O, per batch and epoch
            cols_o = self._cols(self.other)
            got = self._recv_ct(f"{key}/products", self.sk.public_key, len(self.batches) * cols_o)
            values = layout.unpack(self.sk.decrypt_signed(got, n_jobs=self.n_jobs))
            flat = np.array([int(v) & _MASK64 for v in values.tolist()], dtype=_U64)
            self.V = flat.reshape(len(self.batches), cols_o, epochs)
        ctx.log.info(
            "correlated randomness for %d epochs: %d masks encrypted in %.1f s, "
            "product of my %d columns in %.1f s",
            epochs,
            n,
            t_encrypt,
            cols,
            t_product,
        )

    def _recv_ct(self, key: str, pk: Any, count: int) -> np.ndarray:
        raw = self.ctx.recv(self.other, key)
        try:
            ct = pk.from_bytes(raw)
        except (ValueError, TypeError) as e:
            raise ProtocolError(f"{self.other!r} sent bad ciphertexts under {key!r}: {e}") from None
        if ct.shape != (count,):
            raise ProtocolError(f"{self.other!r} sent {ct.shape} ciphertexts, expected {count}")
        return np.asarray(ct)

    # -- online: one batch ----------------------------------------------------------------
    def _batch(self, epoch: int, t: int, k: int, lr: float, acc: dict[str, Any]) -> None:
        a, b = self.batches[k]
        w = self.opt.weights_for_batch()
        d_feat = self.x.shape[1]
        z = self.x[a:b] @ w[:d_feat]
        if self.is_guest:
            assert self.y is not None
            if self.params.fit_intercept:
                z = z + w[d_feat]
            mine = 0.25 * z + 0.5 - self.y[a:b]  # d_G
        else:
            mine = 0.25 * z  # u
        if float(np.max(np.abs(mine), initial=0.0)) >= 2.0**30:
            raise ConfigError("training diverged: lower the learning rate")
        # 4. my part, masked, and the correlation of the other's product (not its y entry)
        with np.errstate(over="ignore"):
            f = _ring(mine, RESIDUAL_BITS) + self.B[a:b, t]
        v = self.V[k, :, t]
        if not self.is_guest:
            acc["v_y"] = (acc["v_y"] + int(v[-1])) & _MASK64
            v = v[:-1]
        key = f"{NAMESPACE}/e{epoch}/b{k}"
        self.ctx.send(self.other, key, np.concatenate([f, v]))
        got = self.ctx.recv(self.other, key)
        cols = self.q.shape[1]
        expect = (b - a) + cols - (1 if self.is_guest else 0)
        if not isinstance(got, np.ndarray) or got.dtype != _U64 or got.shape != (expect,):
            raise ProtocolError(f"{self.other!r} sent a malformed masked residual")
        f_other, v_other = got[: b - a], got[b - a :]
        # 5. Q^T d_other = Q^T f - V + R (mod 2^64)
        with np.errstate(over="ignore"):
            ring = ring_matmul(self.q_ring[a:b].T, f_other) + self.R[k, :, t]
            if self.is_guest:
                acc["t_y"] = (acc["t_y"] + int(ring[-1])) & _MASK64  # y.(u + B) + R_y
                ring = ring[:-1]
            ring = ring - v_other
        cross = _signed(ring) / SCALE
        local = self.x[a:b].T @ mine
        if self.is_guest:
            sum_d = float(np.sum(mine)) + float(cross[d_feat])
            acc["sum_d"] += sum_d
            acc["y_dot_dg"] += float(self.y[a:b] @ mine)  # type: ignore[index]
            grad = local + cross[:d_feat]
            if self.params.fit_intercept:
                grad = np.append(grad, sum_d)
        else:
            grad = local + cross
        acc["s"] += float(w @ grad)  # S_p = z_p . d
        self.opt.step(grad / (b - a), lr)

    # -- per epoch --------------------------------------------------------------------------
    def _epoch_loss(self, epoch: int, acc: dict[str, Any]) -> float | None:
        """6. ``H`` sends ``4 sum V_y + S_H``; the guest completes the Taylor loss."""
        key = f"{NAMESPACE}/e{epoch}/loss"
        if not self.is_guest:
            s_h = int(np.rint(acc["s"] * SCALE))
            self.ctx.send(self.other, key, f"{(4 * acc['v_y'] + s_h) & _MASK64:x}")
            return None
        got = self.ctx.recv(self.other, key)
        try:
            w = int(got, 16)
        except (TypeError, ValueError):
            raise ProtocolError(f"{self.other!r} sent a malformed loss term") from None
        u = (w - 4 * acc["t_y"]) & _MASK64  # -4 y.u + S_H, scaled
        u_real = (u - (1 << 64) if u >> 63 else u) / SCALE
        total = loss_from_parts(self.roles.rows, acc["sum_d"], acc["y_dot_dg"], acc["s"])
        return float((total + 0.5 * u_real) / self.roles.rows)

    def fit(self, on_epoch: Announce | None = None) -> TrainResult:
        ctx = self.ctx
        began = time.perf_counter()
        self.setup()
        setup_seconds = time.perf_counter() - began
        history: list[float] = []
        seconds: list[float] = []
        epochs_run, epoch, block, stop = 0, 0, 0, False
        while epoch < self.params.epochs and not stop:
            t0 = time.perf_counter()
            size = min(self.slots, self.params.epochs - epoch)
            self.offline(block, size)
            offline = time.perf_counter() - t0
            for t in range(size):
                t1 = time.perf_counter()
                acc: dict[str, Any] = {"v_y": 0, "t_y": 0, "sum_d": 0.0, "y_dot_dg": 0.0, "s": 0.0}
                lr = self.params.lr_at(epoch)
                with ctx.step(f"epoch {epoch + 1}"):
                    for k in range(len(self.batches)):
                        ctx.check_cancelled()
                        self._batch(epoch, t, k, lr, acc)
                    loss = self._epoch_loss(epoch, acc)
                    stop = self._decide(epoch, loss, history)
                # the block's homomorphic work is spread over its epochs
                seconds.append(time.perf_counter() - t1 + offline / size)
                epochs_run += 1
                epoch += 1
                if on_epoch is not None:
                    on_epoch(epoch - 1, loss)
                if stop:
                    break
            block += 1
        d = self.x.shape[1]
        intercept = None
        if self.is_guest:
            intercept = float(self.opt.w[d]) if self.params.fit_intercept else 0.0
        return TrainResult(
            self.opt.w[:d].copy(),
            intercept,
            history if self.is_guest else [],
            epochs_run,
            seconds,
            setup_seconds,
        )

    def _decide(self, epoch: int, loss: float | None, history: list[float]) -> bool:
        key = f"{NAMESPACE}/e{epoch}/stop"
        last = epoch == self.params.epochs - 1
        if self.is_guest:
            assert loss is not None
            history.append(loss)
            stop = last or converged(history, self.params.tol)
            self.ctx.send(self.other, key, stop)
            return stop
        stop = self.ctx.recv(self.other, key)
        if not isinstance(stop, bool):
            raise ProtocolError("the guest sent a malformed stop decision")
        return stop


def train_data_party(
    ctx: Context,
    x: np.ndarray,
    y: np.ndarray | None,
    roles: JobRoles,
    params: LRParams,
    on_epoch: Announce | None = None,
) -> TrainResult:
    """The guest's or the host's role in ``he`` training."""
    check_batch_size(params, roles)
    return HeParty(ctx, x, y, roles, params).fit(on_epoch)
