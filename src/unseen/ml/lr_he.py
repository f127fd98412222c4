"""Vertical LR in ``he`` mode: two parties, Paillier, no third party.

Papers: FATE's hetero LR (S. Hardy et al., "Private federated learning on
vertically partitioned data via entity resolution and additively homomorphic
encryption", 2017; Q. Yang et al., "Federated machine learning: concept and
applications", ACM TIST 2019) in its two-party form without an arbiter: each
party holds its own Paillier key pair (P. Paillier, EUROCRYPT 1999; keys of 2048
bits or more, :mod:`unseen.crypto.paillier`) and decrypts only values that the
other party has masked.

Protocol, per batch ``B`` (guest ``G`` with label ``y``, host ``H``; the algorithm
of :mod:`unseen.ml.lr_common`; ``[[.]]_P`` is encryption under ``P``'s key):

1. ``H``: ``z_H = X_H w_H``; sends ``[[u]]_H`` with ``u = 0.25 z_H`` (fixed point).
2. ``G``: ``d_G = 0.25 z_G + 0.5 - y`` (with the intercept); sends ``[[d_G]]_G``.
   The residual is ``d = d_G + u``.
3. ``G``: ``[[Q_G^T u + r_G]]_H`` -- a homomorphic product of the ciphertexts
   with its fixed-point matrix ``Q_G = round(2^8 [X_G, 1, y])`` (a multi-
   exponentiation per column), plus a FRESH encryption of masks ``r_G`` uniform
   modulo ``H``'s modulus; sends it to ``H``.
4. ``H``: likewise ``[[Q_H^T d_G + r_H]]_G`` to ``G``.
5. Each decrypts what it received and returns the masked values; ``H`` keeps the
   entry of ``y . u`` (it only enters the loss, below). Each unmasks its own
   cross term, adds its local part (``X_G^T d_G`` at ``G``, ``X_H^T u`` at ``H``) and
   updates its own weights.
6. Per epoch, loss: ``H`` returns ``-4 sum(y.u + r) + S_H`` (``S_H = z_H . d``, from
   its gradients) and ``G`` removes its masks: it learns ``-4 y.u + S_H``, just
   what the Taylor loss needs (:func:`unseen.ml.lr_common.loss_from_parts`); it
   tells ``H`` whether to stop.

Threat model: semi-honest guest and host, two parties, no third party.

- ``G`` learns its own gradient per batch, the loss per epoch and its weights;
  it receives only ciphertexts under ``H``'s key and values masked uniformly
  modulo ``H``'s key.
- ``H`` learns its own gradient per batch, its weights, and when training stops;
  it receives only ciphertexts under ``G``'s key and uniformly masked values.
- The masks are uniform modulo the decrypting party's modulus, and every
  ciphertext sent for decryption carries fresh encryption randomness, so the
  decrypting party sees a fresh encryption of a uniform value.
- Public: row count, feature counts, batch sizes, epochs run, key sizes.
- As in ``ss-dealer`` mode (and FATE), the revealed gradients carry the known
  leakage: at the first batch ``d = 0.5 - y``, so ``H`` learns ``X_H^T y`` over it.

Cost per epoch: every row encrypted once at each party (through CRT, with the
key owner's fixed-base tables), and ``rows x columns`` ciphertext-by-plaintext
products as one Pippenger multi-exponentiation per column, with 8-bit fixed-
point exponents (standardised features below 2^7 in size): about ``N x d``
modular multiplications in all, spread over the process pool of
:mod:`unseen.crypto.parallel`. Traffic: two ciphertexts (512 bytes each for
2048-bit keys) per row per epoch.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import numpy as np

from unseen.crypto.paillier import PaillierPublicKey, generate_keypair
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

FEATURE_BITS = 8  # exponent size drives the cost: 8 fractional bits, see the module doc
RESIDUAL_BITS = 20
SCALE = float(2 ** (FEATURE_BITS + RESIDUAL_BITS))
NAMESPACE = "lr-he"


def _ints(x: np.ndarray, bits: int) -> np.ndarray:
    return np.rint(np.asarray(x, dtype=np.float64) * float(2**bits)).astype(np.int64)


def _centred(v: int, n: int) -> int:
    v %= n
    return v - n if v > n // 2 else v


class HeParty:
    """The guest or the host in ``he`` training; the two roles mirror each other."""

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

    # -- setup -------------------------------------------------------------------------------
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
        if float(np.max(np.abs(x), initial=0.0)) >= 2.0**20:
            raise ConfigError("feature values too large for he mode: standardise the features")
        if self.is_guest:
            assert self.y is not None
            x = np.hstack([x, np.ones((len(x), 1)), self.y.reshape(-1, 1)])
        self.q = _ints(x, FEATURE_BITS)  # the exponents: my matrix in fixed point

    # -- one batch ---------------------------------------------------------------------------
    def _send_ct(self, key: str, pk: Any, ct: np.ndarray) -> None:
        self.ctx.send(self.other, key, pk.to_bytes(ct))

    def _recv_ct(self, key: str, pk: Any, count: int) -> np.ndarray:
        raw = self.ctx.recv(self.other, key)
        try:
            ct = pk.from_bytes(raw)
        except (ValueError, TypeError) as e:
            raise ProtocolError(f"{self.other!r} sent bad ciphertexts under {key!r}: {e}") from None
        if ct.shape != (count,):
            raise ProtocolError(f"{self.other!r} sent {ct.shape} ciphertexts, expected {count}")
        return ct

    def _batch(self, epoch: int, k: int, lr: float, acc: dict[str, Any]) -> None:
        a, b = self.batches[k]
        key = f"{NAMESPACE}/{epoch}/{k}"
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
        enc = _ints(mine, RESIDUAL_BITS)
        # steps 1-2: my part of the residual, under my key
        self._send_ct(f"{key}/part", self.sk.public_key, self.sk.encrypt_raw(enc, n_jobs=self.n_jobs))
        theirs = self._recv_ct(f"{key}/part", self.peer_pk, b - a)
        # steps 3-4: my matrix times their part, masked, for them to decrypt
        pk = self.peer_pk
        q = self.q[a:b]
        n_peer = int(pk.n)
        masks = [secrets.randbelow(n_peer) for _ in range(q.shape[1])]
        product = pk.add(pk.vecmat(theirs, q, n_jobs=self.n_jobs), pk.encrypt_raw(masks))
        self._send_ct(f"{key}/masked", pk, product)
        # step 5: decrypt theirs, return it; unmask mine
        cols_other = self._cols(self.other)
        received = self._recv_ct(f"{key}/masked", self.sk.public_key, cols_other)
        opened = [int(v) for v in self.sk.decrypt_raw(received).tolist()]
        if not self.is_guest:  # the y.u entry stays here, summed, for the loss
            acc["y_masked"] = (acc["y_masked"] + opened[-1]) % int(self.sk.public_key.n)
            opened = opened[:-1]
        self.ctx.send(self.other, f"{key}/opened", [f"{v:x}" for v in opened])
        back = self.ctx.recv(self.other, f"{key}/opened")
        expect = q.shape[1] - (1 if self.is_guest else 0)
        if not isinstance(back, list) or len(back) != expect:
            raise ProtocolError(f"{self.other!r} returned a malformed decryption")
        cross = np.array(
            [_centred(int(v, 16) - r, n_peer) for v, r in zip(back, masks, strict=False)],
            dtype=np.float64,
        ) / SCALE
        if self.is_guest:
            acc["y_mask"] = acc["y_mask"] + masks[-1]
        x_mine = self.x[a:b]
        local = x_mine.T @ mine  # my matrix times my own part, in plaintext
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

    def _cols(self, party: str) -> int:
        return self.roles.features[party] + (2 if party == self.roles.guest else 0)

    # -- per epoch ---------------------------------------------------------------------------
    def _epoch_loss(self, epoch: int, acc: dict[str, Any]) -> float | None:
        key = f"{NAMESPACE}/{epoch}/loss"
        if not self.is_guest:
            n = int(self.sk.public_key.n)
            value = (-4 * acc["y_masked"] + int(round(acc["s"] * SCALE))) % n
            self.ctx.send(self.other, key, f"{value:x}")
            return None
        got = self.ctx.recv(self.other, key)
        n_peer = int(self.peer_pk.n)
        u = _centred(int(got, 16) + 4 * acc["y_mask"], n_peer) / SCALE  # -4 y.u + S_H
        total = loss_from_parts(self.roles.rows, acc["sum_d"], acc["y_dot_dg"], acc["s"])
        return (total + 0.5 * u) / self.roles.rows

    def fit(self, on_epoch: Announce | None = None) -> TrainResult:
        ctx = self.ctx
        began = time.perf_counter()
        self.setup()
        setup_seconds = time.perf_counter() - began
        history: list[float] = []
        seconds: list[float] = []
        epochs_run = 0
        for epoch in range(self.params.epochs):
            t0 = time.perf_counter()
            lr = self.params.lr_at(epoch)
            acc: dict[str, Any] = {"y_masked": 0, "y_mask": 0, "sum_d": 0.0, "y_dot_dg": 0.0,
                                   "s": 0.0}
            with ctx.step(f"epoch {epoch + 1}"):
                for k in range(len(self.batches)):
                    ctx.check_cancelled()
                    self._batch(epoch, k, lr, acc)
                loss = self._epoch_loss(epoch, acc)
                stop = self._decide(epoch, loss, history)
            epochs_run += 1
            seconds.append(time.perf_counter() - t0)
            if on_epoch is not None:
                on_epoch(epoch, loss)
            if stop:
                break
        d = self.x.shape[1]
        intercept = None
        if self.is_guest:
            intercept = float(self.opt.w[d]) if self.params.fit_intercept else 0.0
        return TrainResult(self.opt.w[:d].copy(), intercept, history if self.is_guest else [],
                           epochs_run, seconds, setup_seconds)

    def _decide(self, epoch: int, loss: float | None, history: list[float]) -> bool:
        key = f"{NAMESPACE}/{epoch}/stop"
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
