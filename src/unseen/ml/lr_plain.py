"""Plaintext reference of vertical LR: the same algorithm on the joined data, in numpy.

No privacy at all: it is what the secure modes are compared with, number by
number in the tests and for speed in ``benchmarks/vertical_lr.py``. Same
standardisation, row order, batches, Taylor sigmoid, optimiser, penalties,
schedule, loss and early stopping as :mod:`unseen.ml.lr_common` describes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from unseen.ml.lr_common import (
    LocalOptimizer,
    LRParams,
    Standardizer,
    batch_bounds,
    converged,
    row_order,
    sigmoid,
    taylor_loss_sum,
)


@dataclass
class PlainResult:
    weights: np.ndarray  # on the standardised features
    intercept: float
    scaler: Standardizer
    history: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)

    def decision_function(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.scaler.transform(x) @ self.weights + self.intercept)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.decision_function(x))


def fit_plain(
    x: np.ndarray,
    y: np.ndarray,
    params: LRParams,
    seed: bytes | None = None,
    on_batch: Callable[[int, int, np.ndarray, np.ndarray], None] | None = None,
) -> PlainResult:
    """Train on the joined matrix ``x`` (n x d) and labels ``y`` in {0, 1}.

    ``seed``: the row-order seed (as the guest draws it; ``None`` keeps the input order).
    ``on_batch(epoch, batch, residual, data_gradient)``: sees every batch's residual
    ``d`` and gradient ``X^T d`` (the intercept's last) -- what the tests look for on
    the wire.
    """
    scaler = Standardizer.fit(x, params.standardize)
    order = row_order(len(y), seed if params.shuffle else None)
    xs = x[order]  # one copy, standardised in place
    xs -= scaler.mean
    xs /= scaler.std
    ys = np.asarray(y, dtype=np.float64)[order]
    n, d = xs.shape
    k = d + 1 if params.fit_intercept else d
    opt = LocalOptimizer(k, params, penalized=np.arange(k) < d)
    result = PlainResult(np.zeros(d), 0.0, scaler)
    for epoch in range(params.epochs):
        began = time.perf_counter()
        lr = params.lr_at(epoch)
        total = 0.0
        for start, stop in batch_bounds(n, params.batch_size):
            xb, yb = xs[start:stop], ys[start:stop]
            w = opt.weights_for_batch()
            z = xb @ w[:d]
            if params.fit_intercept:
                z += w[d]
            residual = 0.25 * z + 0.5 - yb
            total += taylor_loss_sum(z, yb)
            grad = xb.T @ residual
            if params.fit_intercept:
                grad = np.append(grad, residual.sum())
            if on_batch is not None:
                on_batch(epoch, start, residual, grad)
            opt.step(grad / (stop - start), lr)
        result.history.append(total / n)
        result.epoch_seconds.append(time.perf_counter() - began)
        if converged(result.history, params.tol):
            break
    result.weights = opt.w[:d].copy()
    result.intercept = float(opt.w[d]) if params.fit_intercept else 0.0
    return result
