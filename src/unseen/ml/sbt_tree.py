"""Gradient-boosted trees the XGBoost way: losses, histograms, split search, tree layout.

This is the plaintext arithmetic that every SecureBoost mode shares. The
protocols (:mod:`unseen.ml.sbt_protocol`) only change *how the guest obtains*
the per-bin sums of gradients and hessians over a host's features; what it
does with them is below, and is the same as XGBoost's ``hist`` method (Chen &
Guestrin, "XGBoost: A scalable tree boosting system", KDD 2016, eqs. 5-7 and
algorithm 2), so the model is lossless (Cheng et al., "SecureBoost", 2021,
theorem 1):

- second-order loss with L2 regularisation: a leaf's weight is
  ``w = -G / (H + lambda)`` (times the learning rate) and a split's gain is
  ``G_L^2/(H_L+lambda) + G_R^2/(H_R+lambda) - G^2/(H+lambda)``;
- a split is kept if its gain exceeds ``1e-6`` and ``gamma`` (XGBoost's
  ``min_split_loss``) and both children have hessian sums of at least
  ``min_child_weight``;
- candidates are the bin boundaries of each feature; missing values (the
  extra bin) go right first, then left if that is strictly better (XGBoost's
  forward/backward enumeration), ties go to the lowest feature, then the
  lowest bin;
- trees grow depth-wise to ``max_depth``.

Histograms are float64 sums over rows, in row order (a compiled loop); the sibling of a
computed child is ``parent - child`` (histogram subtraction; Ke et al.,
"LightGBM", NeurIPS 2017, section 3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from unseen.ml import sbt_kernels as kernels
from unseen.ml.aft import AftLoss, interval_accuracy
from unseen.ml.objectives import (
    ADAPTIVE,
    INTERVAL,
    LOG_LINK,
    LOGISTIC,
    LOGISTIC_BINARY,
    MULTICLASS,
    OBJECTIVES,
    SURVIVAL,
)
from unseen.runtime.errors import ConfigError

#: smallest gain that counts as an improvement (XGBoost's kRtEps)
MIN_GAIN = 1e-6

#: XGBoost's count:poisson keeps its hessian at exp(margin + this), and its leaf weights
#: within this (its default max_delta_step: 0.7 in single precision)
POISSON_MAX_DELTA_STEP = float(np.float32(0.7))
#: the smallest class share the default multi-class base margin takes (XGBoost's, near)
_MIN_SHARE = 1e-6


# --------------------------------------------------------------------------- losses


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def softmax(margin: np.ndarray) -> np.ndarray:
    """Rows of ``(n, K)`` margins to class probabilities (shifted by the row's largest)."""
    e = np.exp(margin - margin.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True))


def quantile(values: np.ndarray, alpha: float, weights: np.ndarray | None = None) -> float:
    """The ``alpha`` quantile of ``values``, as XGBoost takes it for its adaptive leaves
    and base scores: without weights, linear between order statistics at rank
    ``alpha (n + 1)`` (NIST's definition; the smallest or largest value outside ``[1, n]``);
    with weights, the first value whose share of the weight, in order, reaches ``alpha``
    (a step, no interpolation). ``nan`` for no value."""
    n = values.size
    if n == 0:
        return math.nan
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    if weights is not None:
        cdf = np.cumsum(weights[order])
        return float(ordered[min(int(np.searchsorted(cdf, cdf[-1] * alpha, "left")), n - 1)])
    if alpha <= 1 / (n + 1):
        return float(ordered[0])
    if alpha >= n / (n + 1):
        return float(ordered[-1])
    x = alpha * (n + 1)
    k = math.floor(x) - 1
    return float(ordered[k] + ((x - 1) - k) * (ordered[k + 1] - ordered[k]))


@dataclass(frozen=True)
class LossParams:
    """The objectives' own parameters, by XGBoost's names; each objective reads its own
    (checked against the objective in :class:`~unseen.ml.sbt_protocol.BoostParams`)."""

    tweedie_variance_power: float = 1.5  # reg:tweedie's rho, in (1, 2)
    quantile_alpha: float = 0.5  # reg:quantileerror's quantile
    huber_slope: float = 1.0  # reg:pseudohubererror's delta
    fair_c: float = 1.0  # reg:fair's c
    aft: AftLoss = AftLoss()  # survival:aft's noise distribution and scale


#: every parameter at its default
DEFAULT_LOSS = LossParams()

#: objectives whose default base score is XGBoost's one Newton step from a margin of 0
NEWTON_BASE: tuple[str, ...] = ("reg:pseudohubererror", "survival:cox", "reg:squaredlogerror")


def base_margin(
    objective: str,
    y: np.ndarray,
    base_score: float | None,
    weights: np.ndarray | None = None,
    n_classes: int = 1,
    params: LossParams = DEFAULT_LOSS,
    scale_pos_weight: float = 1.0,
) -> float | np.ndarray:
    """The starting margin: ``base_score`` (default: the mean label, weighted where rows
    have weights), on the margin scale.

    With ``scale_pos_weight`` (logistic losses) the default is instead XGBoost's
    estimate then, one Newton step from a margin of 0 with the positive rows' weights
    scaled: ``4 (m - 1/2)``, ``m`` the mean label so weighted (a margin; for
    ``binary:logistic`` and ``reg:logistic`` XGBoost keeps its sigmoid as base score).

    ``multi:softprob`` (``n_classes`` classes): a margin per class, by default as
    XGBoost estimates it, the log of each class's (weighted) share, centred
    (``log p_k - mean_j log p_j``; a class absent from ``y`` counts as a share of
    1e-6); a ``base_score`` is the margin of every class (XGBoost's 0.5 gives equal
    classes). ``survival:cox``: the log of ``base_score``, a hazard ratio (the partial
    likelihood does not depend on it: it scales every prediction alike). ``reg:absoluteerror`` and
    ``reg:quantileerror``: by default the label's (weighted) median or ``quantile_alpha``
    quantile of ``params``, as XGBoost estimates them (:func:`quantile`).
    ``reg:pseudohubererror``, ``reg:squaredlogerror`` and ``survival:cox``: by default XGBoost's
    estimate, one Newton step from 0, ``-sum g / sum h`` at margin 0 (for Cox, 0 itself
    where no times tie). ``survival:aft``: the log of ``base_score``, a time (default
    0.5, XGBoost's default base score, which it does not estimate for this loss).
    ``reg:logistic``: as ``binary:logistic``, a probability. ``binary:logitraw``: the
    mean label itself, as XGBoost's (which takes it for a margin, not a probability).
    ``binary:hinge``: by default XGBoost's estimate, one Newton step from 0 turned into
    its prediction: 1 where the (weighted) labels are mostly 1, else 0; a ``base_score``
    is the margin itself.
    """
    if objective in MULTICLASS:
        if base_score is not None:
            return np.full(n_classes, float(base_score))
        share = np.bincount(y.astype(np.int64), weights=weights, minlength=n_classes)
        logs = np.log(np.maximum(share / share.sum(), _MIN_SHARE))
        return np.asarray(logs - logs.mean())
    if objective == "binary:hinge":
        if base_score is not None:
            return float(base_score)
        # XGBoost's: the Newton step from 0 (the weighted mean of 2y - 1), then predicted
        step = float(np.average(2.0 * y - 1.0, weights=weights))
        return 1.0 if step > 0 else 0.0
    if objective in INTERVAL:  # a time: its log (XGBoost's default 0.5, not estimated)
        if base_score is not None and base_score <= 0:
            raise ConfigError(f"{objective} needs a positive base_score, not {base_score}")
        return float(np.log(0.5 if base_score is None else base_score))
    if objective in LOGISTIC and base_score is None and scale_pos_weight != 1:
        scaled = np.where(y == 1, scale_pos_weight, 1.0)
        scaled = scaled if weights is None else scaled * weights
        return 4.0 * (float(np.average(y, weights=scaled)) - 0.5)
    score = float(np.average(y, weights=weights)) if base_score is None else float(base_score)
    if objective in ("binary:logistic", "reg:logistic"):
        score = min(max(score, 1e-6), 1 - 1e-6)
        return float(np.log(score / (1 - score)))
    if objective in ADAPTIVE and base_score is None:  # XGBoost's: the label's quantile
        return quantile(np.asarray(y, dtype=np.float64), params.quantile_alpha, weights)
    if objective in NEWTON_BASE and base_score is None:
        # XGBoost's: one Newton step from a margin of 0, -sum(g) / sum(h) (weighted)
        zero = np.zeros_like(y, dtype=np.float64)
        g, h = grad_hess(objective, y, zero, params)
        total_h = float(np.average(h, weights=weights))
        return -float(np.average(g, weights=weights)) / total_h if total_h > 0 else 0.0
    if objective in SURVIVAL:  # base_score is a hazard ratio: its log
        if base_score is not None and base_score <= 0:
            raise ConfigError(f"{objective} needs a positive base_score, not {base_score}")
        return float(np.log(score))
    if objective in LOG_LINK:  # base_score is a mean, as in XGBoost: its log
        if score <= 0:
            raise ConfigError(f"{objective} needs a positive base_score (mean label), not {score}")
        return float(np.log(score))
    return score


def grad_hess(
    objective: str,
    y: np.ndarray,
    margin: np.ndarray,
    params: LossParams = DEFAULT_LOSS,
    risk_sets: RiskSets | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of the loss at ``margin``, per row (``multi:softprob``:
    per row and class, ``(n, K)``, as XGBoost's softmax: ``g = p - [y = k]``,
    ``h = 2 p (1 - p)``). ``params``: the objective's own parameters.

    The log-link losses as XGBoost's: ``count:poisson`` ``g = e^m - y``, ``h = e^(m +
    0.7)`` (XGBoost's safeguard, :data:`POISSON_MAX_DELTA_STEP`); ``reg:gamma`` ``g = 1 -
    y e^-m``, ``h = y e^-m``; ``reg:tweedie`` with variance power rho (in
    (1, 2)) ``g = -y e^((1-rho) m) + e^((2-rho) m)``, ``h = -(1-rho) y e^((1-rho) m) +
    (2-rho) e^((2-rho) m)``. ``survival:cox``: :func:`cox_grad_hess` (``risk_sets``:
    ``y``'s, made once). ``reg:absoluteerror`` ``g = sign(m - y)``, ``h = 1``; ``reg:quantileerror`` at quantile ``alpha`` ``g = 1 -
    alpha`` where ``m >= y``, else ``-alpha``, ``h = 1`` (the pinball loss; both as
    XGBoost's, whose leaves are then set by :func:`adaptive_leaf_values`);
    ``reg:pseudohubererror``: :func:`pseudo_huber_grad_hess` at ``huber_slope``;
    ``reg:logistic`` (labels in [0, 1]) and ``binary:logitraw`` as ``binary:logistic``
    (``multi:softmax`` as ``multi:softprob``); ``reg:squaredlogerror``
    ``g = d / (m + 1)``, ``h = max((1 - d) / (m + 1)^2, 1e-6)`` with ``d = log1p(m) -
    log1p(y)`` (the margin kept above -1, as XGBoost's). FATE's robust losses, on the
    error ``z = m - y``: ``reg:fair`` ``g = c z / (|z| + c)``, ``h = c^2 / (|z| + c)^2``
    (``fair_c``), ``reg:logcosh`` ``g = tanh z``, ``h = 1 - tanh^2 z``. ``binary:hinge``,
    with ``s = 2y - 1``: ``g = -s``, ``h = 1`` where ``s m < 1`` (inside the margin),
    else ``g = 0`` and ``h`` the smallest float32 (XGBoost's). ``survival:aft``:
    :meth:`AftLoss.grad_hess` of ``params.aft``, ``y`` the ``(n, 2)`` intervals.
    """
    if objective == "survival:aft":
        return params.aft.grad_hess(y, margin)
    if objective == "survival:cox":
        return cox_grad_hess(y, margin, risk_sets)
    if objective == "reg:absoluteerror":
        return np.sign(margin - y), np.ones_like(margin)
    if objective == "binary:hinge":  # XGBoost's: the hinge loss max(0, 1 - s m)
        s = 2.0 * y - 1.0
        inside = s * margin < 1.0
        tiny = float(np.finfo(np.float32).tiny)
        return np.where(inside, -s, 0.0), np.where(inside, 1.0, tiny)
    if objective == "reg:fair":  # FATE's (and LightGBM's) fair loss
        z, c = margin - y, params.fair_c
        return c * z / (np.abs(z) + c), c * c / (np.abs(z) + c) ** 2
    if objective == "reg:logcosh":  # FATE's log_cosh
        slope = np.tanh(margin - y)
        return slope, 1.0 - slope * slope
    if objective == "reg:pseudohubererror":
        return pseudo_huber_grad_hess(y, margin, params.huber_slope)
    if objective == "reg:squaredlogerror":  # XGBoost's: the margin kept above -1
        p = np.maximum(margin, -1 + 1e-6)
        d = np.log1p(p) - np.log1p(y)
        return d / (p + 1), np.maximum((1.0 - d) / (p + 1) ** 2, 1e-6)
    if objective == "reg:quantileerror":
        alpha = params.quantile_alpha
        return np.where(margin >= y, 1.0 - alpha, -alpha), np.ones_like(margin)
    if objective == "count:poisson":
        return np.exp(margin) - y, np.exp(margin + POISSON_MAX_DELTA_STEP)
    if objective == "reg:gamma":
        ratio = y * np.exp(-margin)
        return 1.0 - ratio, ratio
    if objective == "reg:tweedie":
        rho = params.tweedie_variance_power
        a, b = y * np.exp((1 - rho) * margin), np.exp((2 - rho) * margin)
        return -a + b, -(1 - rho) * a + (2 - rho) * b
    if objective in LOGISTIC:
        p = sigmoid(margin)
        return p - y, np.maximum(p * (1 - p), 1e-16)
    if objective == "reg:squarederror":
        return margin - y, np.ones_like(margin)
    if objective in MULTICLASS:
        p = softmax(margin)
        g = p.copy()
        g[np.arange(y.size), y.astype(np.int64)] -= 1.0
        return g, np.maximum(2.0 * p * (1.0 - p), 1e-16)
    raise ValueError(f"unknown objective {objective!r} (choose from {OBJECTIVES})")


def pseudo_huber_grad_hess(
    y: np.ndarray, margin: np.ndarray, slope: float
) -> tuple[np.ndarray, np.ndarray]:
    """The pseudo-Huber loss ``slope^2 (sqrt(1 + (z / slope)^2) - 1)`` of the error ``z =
    margin - y``, as XGBoost's ``reg:pseudohubererror`` (``huber_slope``): squared error
    near 0, absolute error far out. ``g = z / sqrt(s)``, ``h = 1 / (s sqrt(s))`` with ``s
    = 1 + (z / slope)^2``."""
    z = margin - y
    scale = 1.0 + (z / slope) ** 2
    root = np.sqrt(scale)
    return z / root, 1.0 / (scale * root)


def adaptive_leaf_values(
    leaf_of: np.ndarray,
    residual: np.ndarray,
    leaves: np.ndarray,
    alpha: float,
    learning_rate: float,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Leaf values of ``reg:absoluteerror`` and ``reg:quantileerror``, as XGBoost's
    adaptive trees set them once a tree is grown: for each leaf of ``leaves``, the
    ``alpha`` quantile (:func:`quantile`; the median for absolute error) of the residuals
    ``y - margin`` of the rows the tree was grown on that reach it (``leaf_of``), times
    the learning rate. A leaf no row reaches gets 0 (XGBoost keeps its weight there; no
    leaf of a tree grown on its rows is empty)."""
    out = np.zeros(leaves.size)
    order = np.argsort(leaf_of, kind="stable")
    bounds = np.searchsorted(leaf_of[order], leaves)
    ends = np.searchsorted(leaf_of[order], leaves, side="right")
    for i, (a, b) in enumerate(zip(bounds.tolist(), ends.tolist(), strict=True)):
        rows = order[a:b]
        if rows.size:
            w = None if weights is None else weights[rows]
            out[i] = learning_rate * quantile(residual[rows], alpha, w)
    return out


@dataclass(frozen=True)
class RiskSets:
    """Survival labels in order of time ``|y|`` (a stable sort: tied rows keep their
    order, as XGBoost's), made once for a training: ``order``, the rows in that order;
    ``event``, whether each, in order, had its event; ``start``, for each, the position
    where its risk set starts (the first row of its tied time: every row whose time is
    not earlier is at risk, ties all in -- Breslow's method)."""

    order: np.ndarray
    event: np.ndarray
    start: np.ndarray

    @classmethod
    def of(cls, y: np.ndarray) -> RiskSets:
        order = np.argsort(np.abs(y), kind="stable")
        times = np.abs(y)[order]
        return cls(order, y[order] > 0, np.searchsorted(times, times, side="left"))

    def sums(self, values: np.ndarray) -> np.ndarray:
        """For each row in order, the sum of ``values`` over its risk set."""
        from_here = np.cumsum(values[self.order][::-1])[::-1]  # the sum from each position on
        return np.asarray(from_here[self.start])


def cox_grad_hess(
    y: np.ndarray, margin: np.ndarray, risk_sets: RiskSets | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and hessian of Cox's negative log partial likelihood, as XGBoost's
    ``survival:cox`` (Breslow's method for ties).

    ``y``: each row's time, positive where the event was observed and negative
    (``-t``) where the row was censored at ``t``. With ``e_i = exp(margin_i)``, rows in
    order of time and ``R_j`` the sum of ``e`` over row ``j``'s risk set (the rows not
    out of it yet): ``r_i`` and ``s_i``, the sums of ``1 / R_j`` and ``1 / R_j^2`` over
    the events ``j`` up to row ``i`` in that order, give ``g_i = e_i r_i - [y_i > 0]``
    and ``h_i = e_i r_i - e_i^2 s_i``. Only the guest, which holds the times, computes
    them; they are per-row gradients like any other loss's to the rest of the protocol.
    ``risk_sets``: ``RiskSets.of(y)``, made once for many rounds (else made here).
    """
    sets = RiskSets.of(y) if risk_sets is None else risk_sets
    e = np.exp(margin)
    risk = sets.sums(e)
    r = np.cumsum(np.where(sets.event, 1.0 / risk, 0.0))
    s = np.cumsum(np.where(sets.event, 1.0 / risk**2, 0.0))
    es = e[sets.order]
    g, h = np.empty_like(e), np.empty_like(e)
    g[sets.order] = es * r - sets.event
    h[sets.order] = es * r - es * es * s
    return g, h


def cox_nloglik(y: np.ndarray, margin: np.ndarray) -> float:
    """XGBoost's ``cox-nloglik``: Cox's negative log partial likelihood (Breslow's
    method for ties) over the rows' observed events, divided by their number."""
    sets = RiskSets.of(y)
    if not sets.event.any():
        return math.nan
    risk = sets.sums(np.exp(margin))
    return float(-np.sum((margin[sets.order] - np.log(risk))[sets.event]) / sets.event.sum())


def transform(objective: str, margin: np.ndarray) -> np.ndarray:
    """Margins to predictions, as XGBoost's: probabilities (of class 1; per class for
    ``multi:softprob``), the margin itself (``binary:logitraw``), the likeliest class
    (``multi:softmax``; ``binary:hinge``: 1 where the margin is positive, else 0), the
    regression value, or the hazard ratio (``survival:cox``) or time (``survival:aft``)."""
    if objective in ("binary:logistic", "reg:logistic"):
        return sigmoid(margin)
    if objective == "multi:softprob":
        return softmax(margin)
    if objective == "multi:softmax":
        return np.asarray(np.argmax(margin, axis=1), dtype=np.float64)
    if objective == "binary:hinge":
        return np.asarray(margin > 0, dtype=np.float64)
    if objective in LOG_LINK or objective in SURVIVAL:
        return np.asarray(np.exp(margin))
    return margin


def scores_of(objective: str, margin: np.ndarray) -> np.ndarray:
    """The scores ``unseen predict`` writes: :func:`transform`'s, but each class's
    probability for ``multi:softmax`` too (its likeliest class is then a column) and the
    margin for ``binary:hinge`` (the signed distance to the boundary: the class is the
    side, 1 where positive)."""
    if objective == "binary:hinge":
        return margin
    return transform("multi:softprob" if objective in MULTICLASS else objective, margin)


#: the validation metrics, as XGBoost names them, per objective (the first: the default)
EVAL_METRICS: dict[str, tuple[str, ...]] = {
    "binary:logistic": ("logloss", "auc", "error"),
    "reg:squarederror": ("rmse", "mae"),
    "multi:softprob": ("mlogloss", "merror"),
    "binary:logitraw": ("logloss", "auc", "error"),
    "multi:softmax": ("mlogloss", "merror"),
    "binary:hinge": ("error",),
    "count:poisson": ("poisson-nloglik", "rmse", "mae"),
    "reg:gamma": ("gamma-deviance", "rmse", "mae"),
    "reg:tweedie": ("tweedie-nloglik", "rmse", "mae"),
    "survival:cox": ("cox-nloglik",),
    "reg:absoluteerror": ("mae", "rmse"),
    "reg:quantileerror": ("quantile", "mae", "rmse"),
    "reg:pseudohubererror": ("mphe", "rmse", "mae"),
    "reg:logistic": ("rmse", "mae"),
    "reg:squaredlogerror": ("rmsle", "rmse", "mae"),
    "survival:aft": ("aft-nloglik", "interval-regression-accuracy"),
    "reg:fair": ("fair", "rmse", "mae"),
    "reg:logcosh": ("logcosh", "rmse", "mae"),
}
#: metrics where larger is better (early stopping keeps the largest)
MAXIMIZE: tuple[str, ...] = ("auc", "interval-regression-accuracy")


def eval_loss(
    objective: str,
    y: np.ndarray,
    margin: np.ndarray,
    metric: str | None = None,
    params: LossParams = DEFAULT_LOSS,
) -> float:
    """The early-stopping metric ``metric`` as XGBoost computes it (default: the
    objective's, XGBoost's default: log-loss, RMSE, multi-class log-loss (``mlogloss``)
    or for the log-link losses their negative log-likelihoods as XGBoost writes them,
    ``poisson-nloglik``, ``gamma-deviance``, ``tweedie-nloglik@rho``; ``cox-nloglik``
    for ``survival:cox``; ``quantile``, the mean pinball loss at ``quantile_alpha``, for
    ``reg:quantileerror``; ``mae`` for ``reg:absoluteerror``; ``mphe``, the mean
    pseudo-Huber error, for ``reg:pseudohubererror``; ``rmsle`` for
    ``reg:squaredlogerror``; ``fair`` and ``logcosh``, the mean losses, for ``reg:fair``
    and ``reg:logcosh``; ``aft-nloglik``, the mean negative log-likelihood under
    ``params.aft``, for ``survival:aft``, or ``interval-regression-accuracy``, the share of
    rows whose predicted time lies in their interval). Also ``auc`` and
    ``error`` (share of rows on the wrong side of 0.5) for binary labels (for
    ``binary:logitraw`` too on the probability its margin gives: XGBoost computes its
    ``logloss`` and ``error`` on the raw margin, which is no probability), ``merror``
    (share of rows whose likeliest class is not theirs), ``mae``; RMSE and MAE of the
    log-link losses are of the predicted means. :data:`MAXIMIZE` names those where more
    is better. ``params``: the objective's own parameters."""
    metric = metric or EVAL_METRICS[objective][0]
    if metric == "auc":
        from unseen.ml.metrics import auc

        return auc(y, margin)  # the order is all AUC sees: margins order as probabilities
    if metric == "error":
        return float(np.mean((sigmoid(margin) > 0.5) != (y == 1)))
    if metric == "merror":
        return float(np.mean(np.argmax(margin, axis=1) != y.astype(np.int64)))
    if metric == "cox-nloglik":
        return cox_nloglik(y, margin)
    if metric == "aft-nloglik":
        return params.aft.nloglik(y, margin)
    if metric == "interval-regression-accuracy":
        return interval_accuracy(y, margin)
    if metric == "quantile":  # XGBoost's: the mean pinball loss at alpha
        return pinball_loss(y, margin, params.quantile_alpha)
    if metric == "fair":  # the mean fair loss at c: c |z| - c^2 log(1 + |z| / c)
        z, c = np.abs(margin - y), params.fair_c
        return float(np.mean(c * z - c * c * np.log1p(z / c)))
    if metric == "logcosh":  # the mean log cosh of the error (kept from overflowing)
        z = np.abs(margin - y)
        return float(np.mean(z + np.log1p(np.exp(-2.0 * z)) - math.log(2.0)))
    if metric == "rmsle":  # XGBoost's: the RMSE of log1p
        return float(np.sqrt(np.mean((np.log1p(margin) - np.log1p(y)) ** 2)))
    if metric == "mphe":  # XGBoost's: the mean pseudo-Huber error at the slope
        slope = params.huber_slope
        return float(np.mean(slope**2 * (np.sqrt(1.0 + ((margin - y) / slope) ** 2) - 1.0)))
    if metric in ("rmse", "mae"):
        err = transform(objective, margin) - y
        return float(np.sqrt(np.mean(err**2)) if metric == "rmse" else np.mean(np.abs(err)))
    if objective == "count:poisson":
        return float(np.mean(_log_factorial(y) + np.exp(margin) - margin * y))
    if objective == "reg:gamma":  # XGBoost's gamma-deviance (its default for reg:gamma)
        ratio = y / (np.exp(margin) + 1e-9)
        return float(2 * np.mean(ratio - np.log(ratio) - 1))
    if objective == "reg:tweedie":
        rho = params.tweedie_variance_power
        a = y * np.exp((1 - rho) * margin) / (1 - rho)
        return float(np.mean(-a + np.exp((2 - rho) * margin) / (2 - rho)))
    if objective in LOGISTIC_BINARY:
        p = np.clip(sigmoid(margin), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    if objective in MULTICLASS:
        p = softmax(margin)[np.arange(y.size), y.astype(np.int64)]
        return float(-np.mean(np.log(np.clip(p, 1e-15, 1.0))))
    return float(np.sqrt(np.mean((margin - y) ** 2)))


def pinball_loss(y: np.ndarray, predicted: np.ndarray, alpha: float) -> float:
    """The mean pinball (quantile) loss of predicted ``alpha`` quantiles: ``alpha (y -
    p)`` where the label is above the prediction, ``(1 - alpha) (p - y)`` where below."""
    d = y - predicted
    return float(np.mean(np.where(d >= 0, alpha * d, (alpha - 1) * d)))


def _log_factorial(y: np.ndarray) -> np.ndarray:
    """``log Gamma(y + 1)`` per label: from a table of ``log k!`` where the labels are
    counts (whole numbers, up to a million), else one ``math.lgamma`` per label."""
    if y.size and y.min() >= 0 and y.max() <= 1e6 and np.all(y == np.floor(y)):
        table = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, int(y.max()) + 1)))])
        return np.asarray(table[y.astype(np.int64)])
    return np.asarray(np.vectorize(math.lgamma, otypes=[np.float64])(y + 1.0))


# --------------------------------------------------------------------------- gains


@dataclass(frozen=True)
class SplitRule:
    """Regularisation that decides splits and leaf weights."""

    reg_lambda: float = 1.0
    gamma: float = 0.0
    min_child_weight: float = 1.0
    reg_alpha: float = 0.0
    max_delta_step: float = 0.0

    def _l1(self, g: np.ndarray) -> np.ndarray:
        """``G`` shrunk towards 0 by ``reg_alpha`` (XGBoost's ThresholdL1)."""
        if self.reg_alpha == 0:
            return g
        a = self.reg_alpha
        return np.where(g > a, g - a, np.where(g < -a, g + a, 0.0))

    def score(self, g: np.ndarray, h: np.ndarray) -> np.ndarray:
        """``T(G)^2 / (H + lambda)``, 0 where ``H < min_child_weight`` (XGBoost's CalcGain;
        ``T`` is :meth:`_l1`); with ``max_delta_step``, ``-(2 G w + (H + lambda) w^2)`` at
        the clipped weight ``w`` (XGBoost's CalcGainGivenWeight)."""
        ok = (h >= self.min_child_weight) & (h > 0)
        t = self._l1(g)
        if self.max_delta_step == 0:
            return np.where(ok, t * t / np.where(ok, h + self.reg_lambda, 1.0), 0.0)
        w = self.weight(g, h)
        return np.where(ok, -(2.0 * g * w + (h + self.reg_lambda) * w * w), 0.0)

    def weight(
        self,
        g: np.ndarray | float,
        h: np.ndarray | float,
        bounds: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> np.ndarray:
        """The optimal leaf weight ``-T(G) / (H + lambda)`` (0 where ``H < min_child_weight``),
        clipped to ``[-max_delta_step, max_delta_step]`` where that is set, then to the
        nodes' ``bounds`` (lower, upper) of monotone constraints where given."""
        g, h = np.asarray(g, dtype=np.float64), np.asarray(h, dtype=np.float64)
        ok = (h >= self.min_child_weight) & (h > 0)
        w = np.where(ok, -self._l1(g) / np.where(ok, h + self.reg_lambda, 1.0), 0.0)
        if self.max_delta_step:
            w = np.clip(w, -self.max_delta_step, self.max_delta_step)
        if bounds is not None:
            w = np.minimum(np.maximum(w, bounds[0]), bounds[1])
        return w


@dataclass
class BestSplits:
    """The best split of each of ``K`` nodes over one party's features (``gain = -inf``: none)."""

    gain: np.ndarray  # (K,)
    feature: np.ndarray  # (K,) feature index at the party
    bin: np.ndarray  # (K,) bins 0..bin go left (-1 for a categorical split)
    default_left: np.ndarray  # (K,) where missing values go
    # (K,) objects: for a categorical split the tuple of bins (categories) that go right,
    # else None
    right_bins: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))
    # (K,) monotone constraints: XGBoost's "missing values left, every value right", kept
    # as "every value left, missing right" (the same rows); for the children's bounds
    # the feature's direction is then reversed (:func:`child_bounds`)
    flipped: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        if self.right_bins.shape != self.gain.shape:
            self.right_bins = np.full(self.gain.shape, None, dtype=object)
        if self.flipped.shape != self.gain.shape:
            self.flipped = np.zeros(self.gain.shape, dtype=bool)

    @classmethod
    def none(cls, k: int) -> BestSplits:
        return cls(
            np.full(k, -np.inf), np.zeros(k, np.int64), np.zeros(k, np.int64), np.zeros(k, bool)
        )

    #: the per-node fields, in order
    FIELDS: ClassVar[tuple[str, ...]] = (
        "gain",
        "feature",
        "bin",
        "default_left",
        "right_bins",
        "flipped",
    )


#: gains this close (relative) count as tied: fixed-point sums differ from float64 ones by
#: far less, so a tie between features that cut the rows alike goes to the same feature
TIE = 1e-9


def first_best(gains: np.ndarray) -> np.ndarray:
    """Per row, the first column whose gain is within :data:`TIE` of the row's maximum."""
    best = gains.max(axis=1, keepdims=True)
    tol = TIE * np.maximum(1.0, np.abs(np.where(np.isfinite(best), best, 0.0)))
    return np.asarray(np.argmax(gains >= best - tol, axis=1))


def find_splits(
    hist_g: np.ndarray,
    hist_h: np.ndarray,
    total_g: np.ndarray,
    total_h: np.ndarray,
    n_bins: np.ndarray,
    rule: SplitRule,
    monotone: Monotone | None = None,
    categorical: np.ndarray | None = None,
    categories: CategoricalSplits | None = None,
) -> BestSplits:
    """The best split per node from histograms of shape ``(K, F, W)``.

    ``W - 1`` is the missing bin; feature ``f`` has ``n_bins[f]`` value bins.
    ``total_g``, ``total_h`` (``(K,)``) are the nodes' sums over all their rows.
    Candidates: a cut after bin ``j`` for ``j < n_bins[f] - 1``, with missing
    values right (forward enumeration) or left (backward, kept where strictly
    better); with missing values, also "every value left, missing right". A
    compiled loop (:func:`unseen.ml.sbt_kernels.best_splits`). ``monotone``: the
    nodes' bounds and the features' directions where the model has monotone
    constraints (XGBoost's ``monotone_constraints``). ``categorical``: which features
    are categorical (their bins are categories), split as ``categories`` says.
    """
    k, f, _ = hist_g.shape
    if k == 0 or f == 0:
        return BestSplits.none(k)
    cat = np.zeros(f, dtype=bool) if categorical is None else np.asarray(categorical, dtype=bool)
    # the numeric features in the compiled loop, where the categorical ones offer no cut
    # (one value bin, no missing value); theirs are searched apart, then merged
    num_g, num_h, num_bins = hist_g, hist_h, n_bins
    if cat.any():
        num_g, num_h = hist_g.copy(), hist_h.copy()
        num_g[:, cat], num_h[:, cat] = 0.0, 0.0
        num_bins = np.where(cat, 1, n_bins)
    if monotone is None:
        lower, upper = np.full(k, -np.inf), np.full(k, np.inf)
        signs, constrained = np.zeros(f, dtype=np.int8), False
    else:
        lower, upper, signs, constrained = *monotone.bounds, monotone.signs, True
    gain, feature, cut, dleft, flipped = kernels.best_splits(
        np.ascontiguousarray(num_g, dtype=np.float64),
        np.ascontiguousarray(num_h, dtype=np.float64),
        np.asarray(total_g, dtype=np.float64),
        np.asarray(total_h, dtype=np.float64),
        np.asarray(num_bins, dtype=np.int64),
        float(rule.reg_lambda),
        float(rule.reg_alpha),
        float(rule.max_delta_step),
        float(rule.min_child_weight),
        TIE,
        np.asarray(lower, dtype=np.float64),
        np.asarray(upper, dtype=np.float64),
        np.asarray(signs, dtype=np.int8),
        constrained,
    )
    best = BestSplits(gain, feature, cut, dleft, flipped=flipped)
    if cat.any():
        n_cats = np.asarray(n_bins)[cat]
        bounds = None if monotone is None else monotone.bounds  # a categorical sign is 0
        _merge_categorical(
            best, hist_g, hist_h, total_g, total_h, cat, n_cats, rule, categories, bounds
        )
    return best


@dataclass(frozen=True)
class CategoricalSplits:
    """How categorical features are split (XGBoost's parameters of the same names).

    A feature with fewer than ``max_cat_to_onehot`` categories is split one category
    against the rest (one-hot); a larger one by partition: its categories sorted by
    their optimal weight ``-G / (H + lambda)``, then cut like a numeric feature's bins
    (Fisher, "On grouping for maximum homogeneity", JASA 1958, the sort that makes the
    best binary partition contiguous; XGBoost's and LightGBM's method), scanning at
    most ``max_cat_threshold`` categories from either end."""

    max_cat_to_onehot: int = 4
    max_cat_threshold: int = 64


def _categorical_splits(
    hg: np.ndarray,
    hh: np.ndarray,
    tg: np.ndarray,
    th: np.ndarray,
    n_bins: np.ndarray,
    rule: SplitRule,
    how: CategoricalSplits,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each node's best split on each categorical feature, from histograms ``(K, C, W)``
    (the last bin: missing values) of ``C`` categorical features with ``n_bins[c]``
    categories: ``(gain, step, forward, order)``, each ``(K, C)`` but ``order``
    ``(K, C, W - 1)``. XGBoost's EnumerateOneHot and EnumeratePart, candidate by
    candidate in their order, the first of equal gains kept (a later one replaces the best
    only if strictly better; equal: within :data:`TIE`, as a backward cut's sums are the
    node's minus the forward ones'). Which categories go right: :func:`_right_bins`. ``bounds``: the
    nodes' weight bounds (lower, upper) where the model has monotone constraints on
    other features: every gain is then taken at weights clipped to them, as XGBoost's."""
    k, c, w = hg.shape
    values = w - 1
    gm, hm = hg[:, :, values, None], hh[:, :, values, None]
    tg3, th3 = tg[:, None, None], th[:, None, None]

    def score(g: np.ndarray, h: np.ndarray) -> np.ndarray:  # a child's (or node's) loss reduction
        if bounds is None:
            return rule.score(g, h)
        w = rule.weight(g, h, (bounds[0][:, None, None], bounds[1][:, None, None]))
        return np.where(h <= 0, 0.0, -(2.0 * g * w + (h + rule.reg_lambda) * w * w))

    parent = score(tg3, th3)

    def gains(gr: np.ndarray, hr: np.ndarray) -> np.ndarray:  # right sums -> gain or -inf
        gl, hl = tg3 - gr, th3 - hr
        ok = (hl >= rule.min_child_weight) & (hr >= rule.min_child_weight)
        return np.where(ok, score(gl, hl) + score(gr, hr) - parent, -np.inf)

    j = np.arange(values)[None, None, :]
    n = n_bins[None, :, None]
    onehot = n_bins < how.max_cat_to_onehot
    # one-hot: per category, the category right with missing values left, then right
    g1, h1 = hg[:, :, :values], hh[:, :, :values]
    single = np.stack([gains(g1, h1), gains(g1 + gm, h1 + hm)], axis=-1)
    # (K, C, V, 2) -> the candidates in turn; none past a feature's categories
    single = np.where((j >= n)[..., None], -np.inf, single).reshape(k, c, 2 * values)
    # partition: categories by weight (stable; empty slots last), cut from either end
    # (XGBoost's weights here are float32: weights equal but for float64 rounding -- sums
    # of the same gradients in another order -- tie, and the stable sort keeps bin order)
    weights = np.where(j < n, rule.weight(g1, h1), np.inf).astype(np.float32)
    order = np.argsort(weights, axis=-1, kind="stable")
    scan = np.minimum(how.max_cat_threshold, n_bins)[None, :, None]
    fg = np.cumsum(np.take_along_axis(g1, order, axis=-1), axis=-1)
    fh = np.cumsum(np.take_along_axis(h1, order, axis=-1), axis=-1)
    forward = np.where(j < scan - 1, gains(fg, fh), -np.inf)  # step j: order[:j + 1] right
    back = np.take_along_axis(order, np.clip(n - 1 - j, 0, values - 1), axis=-1)
    bg = np.cumsum(np.take_along_axis(g1, back, axis=-1), axis=-1)
    bh = np.cumsum(np.take_along_axis(h1, back, axis=-1), axis=-1)
    gr, hr = tg3 - bg, th3 - bh  # the rest of the node, missing values with it, goes right
    backward = np.where(j < scan - 1, gains(gr, hr), -np.inf)  # step j: order[:n-1-j] right
    part = np.concatenate([forward, backward], axis=-1)
    cands = np.where(onehot[None, :, None], single, part)  # (K, C, 2 V)
    # the first of the largest, within TIE: a backward cut that groups the rows as a
    # forward one did (around a category empty in the node) sums them in another order,
    # and float32 gains (XGBoost's) tie where float64 ones differ in the last bits
    at = first_best(cands.reshape(k * c, 2 * values)).reshape(k, c)
    gain = np.take_along_axis(cands, at[..., None], axis=-1)[..., 0]
    first = np.where(onehot[None, :], at % 2 == 0, at < values)  # missing values left
    step = np.where(onehot[None, :], at // 2, at % values)
    return gain, step, first, order


def _right_bins(
    onehot: bool, step: int, forward: bool, order: np.ndarray, n_bins: int
) -> tuple[int, ...]:
    """The bins (categories) a split found by :func:`_categorical_splits` sends right."""
    if onehot:
        return (step,)
    right = order[: step + 1] if forward else order[: n_bins - 1 - step]
    return tuple(sorted(int(b) for b in right))


def _merge_categorical(
    best: BestSplits,
    hist_g: np.ndarray,
    hist_h: np.ndarray,
    total_g: np.ndarray,
    total_h: np.ndarray,
    cat: np.ndarray,
    n_cats: np.ndarray,
    rule: SplitRule,
    how: CategoricalSplits | None,
    bounds: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Fold the categorical features' best splits into ``best`` (the numeric ones'), node
    by node: the largest gain wins, the first feature among those within :data:`TIE`
    (XGBoost keeps the lower feature index on a tie)."""
    how = how or CategoricalSplits()
    features = np.flatnonzero(cat)
    tg, th = np.asarray(total_g, dtype=np.float64), np.asarray(total_h, dtype=np.float64)
    gain, step, forward, order = _categorical_splits(
        hist_g[:, features], hist_h[:, features], tg, th, n_cats, rule, how, bounds
    )
    top = np.maximum(best.gain, gain.max(axis=1))
    tol = TIE * np.maximum(1.0, np.abs(np.where(np.isfinite(top), top, 0.0)))
    for k in np.flatnonzero(np.isfinite(top)):
        near = np.flatnonzero(gain[k] >= top[k] - tol[k])
        if not near.size:
            continue  # a numeric feature's split
        at = int(near[0])
        if best.gain[k] >= top[k] - tol[k] and best.feature[k] < features[at]:
            continue  # a numeric feature before it, as good
        n = int(n_cats[at])
        onehot = n < how.max_cat_to_onehot
        best.gain[k], best.feature[k], best.bin[k] = gain[k, at], features[at], -1
        best.default_left[k], best.flipped[k] = bool(forward[k, at]), False
        best.right_bins[k] = _right_bins(
            onehot, int(step[k, at]), bool(forward[k, at]), order[k, at], n
        )


@dataclass
class Monotone:
    """Monotone constraints in one split search: the nodes' weight ``bounds`` (lower,
    upper: ``(K,)`` each) and the features' ``signs`` (``(F,)``: +1 rising, -1 falling,
    0 free)."""

    bounds: tuple[np.ndarray, np.ndarray]
    signs: np.ndarray


def child_bounds(
    bounds: tuple[float, float], sign: int, left_weight: float, right_weight: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """XGBoost's bounds of a split's children (TreeEvaluator.AddSplit): the parent's,
    and for a constrained feature split at ``mid``, the mean of the children's weights
    (clipped to the parent's bounds): a rising feature caps the left child's weights
    at ``mid`` and floors the right child's there; a falling one the other way."""
    lo, hi = bounds
    mid = (left_weight + right_weight) / 2
    if sign > 0:
        return (lo, mid), (mid, hi)
    if sign < 0:
        return (mid, hi), (lo, mid)
    return (lo, hi), (lo, hi)


def merge_best(candidates: list[BestSplits]) -> tuple[np.ndarray, BestSplits]:
    """Per node, which candidate set (party) wins and its split; ties go to the first."""
    gains = np.stack([c.gain for c in candidates])  # (P, K)
    owner = first_best(gains.T)
    k = np.arange(gains.shape[1])
    pick = BestSplits(
        *(np.stack([getattr(c, name) for c in candidates])[owner, k] for name in BestSplits.FIELDS)
    )
    return owner, pick


def is_worth_splitting(gain: np.ndarray, rule: SplitRule) -> np.ndarray:
    """XGBoost's validity test for a candidate split."""
    return np.asarray(np.isfinite(gain) & (gain > MIN_GAIN) & (gain >= rule.gamma))


# --------------------------------------------------------------------------- histograms


class Histograms:
    """Per-bin sums of ``g`` and ``h`` by node over one tree's binned rows.

    ``bins`` is ``(n, F)``, fastest in Fortran order (contiguous columns); they
    are checked and laid out feature-major, and ``g``, ``h`` stacked, once a
    tree; each call then sums one depth's nodes in one compiled pass over the
    selected rows (:func:`unseen.ml.sbt_kernels.bin_sums`). Each bin adds its
    rows in row order, as ``numpy.bincount`` would, so the sums are the same
    to the last bit.
    """

    def __init__(self, bins: np.ndarray, width: int, g: np.ndarray, h: np.ndarray) -> None:
        if bins.size and int(bins.max()) >= width:
            raise ValueError(f"a bin index is {int(bins.max())}, not below {width}")
        self.cols = bins.T if bins.flags.f_contiguous else np.ascontiguousarray(bins.T)
        self.width = width
        self.values = np.stack(
            [np.asarray(g, dtype=np.float64), np.asarray(h, dtype=np.float64)], axis=1
        )

    def __call__(self, slot: np.ndarray, n_slots: int) -> tuple[np.ndarray, np.ndarray]:
        """Two ``(n_slots, F, width)`` arrays; row ``i`` counts toward node ``slot[i]`` (-1: none)."""
        if slot.size and int(slot.max()) >= n_slots:
            raise ValueError(f"a slot is {int(slot.max())}, not below {n_slots}")
        if self.cols.shape[0] == 0:
            shape = (n_slots, 0, self.width)
            return np.zeros(shape), np.zeros(shape)
        rows = np.flatnonzero(slot >= 0)
        out = kernels.bin_sums(self.cols, rows, slot, self.values, n_slots, self.width)
        return np.ascontiguousarray(out[..., 0]), np.ascontiguousarray(out[..., 1])


def smaller_children(counts: np.ndarray) -> np.ndarray:
    """For sibling pairs ``(2j, 2j+1)`` with row ``counts``: True for the one to compute."""
    left, right = counts[0::2], counts[1::2]
    pick_left = left <= right
    out = np.zeros(counts.size, dtype=bool)
    out[0::2], out[1::2] = pick_left, ~pick_left
    return out


# --------------------------------------------------------------------------- trees


@dataclass
class TreeLayout:
    """The shape of one tree, known to every party: node ``i``'s children or ``-1`` (a leaf).

    Nodes are numbered breadth-first from the root 0. ``owner[i]`` is the
    index of the party that holds node ``i``'s split (``-1`` at leaves); a host
    stores ``-2`` for a split that is not its own (it does not learn whose).
    """

    left: list[int] = field(default_factory=lambda: [-1])
    right: list[int] = field(default_factory=lambda: [-1])
    owner: list[int] = field(default_factory=lambda: [-1])

    @property
    def n_nodes(self) -> int:
        return len(self.left)

    def split(self, node: int, owner: int) -> tuple[int, int]:
        """Make ``node`` an inner node; returns the new children's ids."""
        a, b = self.n_nodes, self.n_nodes + 1
        self.left[node], self.right[node], self.owner[node] = a, b, owner
        self.left += [-1, -1]
        self.right += [-1, -1]
        self.owner += [-1, -1]
        return a, b

    def leaves(self) -> np.ndarray:
        return np.array([i for i in range(self.n_nodes) if self.left[i] < 0], dtype=np.int64)

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {
            "left": np.array(self.left, dtype=np.int32),
            "right": np.array(self.right, dtype=np.int32),
            "owner": np.array(self.owner, dtype=np.int32),
        }

    @classmethod
    def from_arrays(cls, left: np.ndarray, right: np.ndarray, owner: np.ndarray) -> TreeLayout:
        return cls(left.tolist(), right.tolist(), owner.tolist())


@dataclass
class LocalSplits:
    """The splits one party holds: node -> (its feature, threshold, default left, and for
    a categorical feature the category codes that go right; ``None`` for a numeric one)."""

    node: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    default_left: list[bool] = field(default_factory=list)
    categories: list[tuple[int, ...] | None] = field(default_factory=list)

    def add(
        self,
        node: int,
        feature: int,
        threshold: float,
        default_left: bool,
        categories: tuple[int, ...] | None = None,
    ) -> None:
        self.node.append(node)
        self.feature.append(feature)
        self.threshold.append(threshold)
        self.default_left.append(default_left)
        self.categories.append(categories)

    def side(self, i: int, X: np.ndarray) -> np.ndarray:
        """Whether each row of ``X`` (this party's columns) goes left at split ``i``."""
        return goes_left(
            X[:, self.feature[i]], self.threshold[i], self.default_left[i], self.categories[i]
        )


def goes_left(
    x: np.ndarray,
    threshold: float,
    default_left: bool,
    categories: tuple[int, ...] | None = None,
) -> np.ndarray:
    """XGBoost's rule: ``x < threshold`` goes left; missing goes the default way.

    A categorical split (``categories``: the codes that go right) sends every other code
    left, a code unseen in training (-1) too, as XGBoost does with a category outside
    the split's set."""
    if categories is not None:
        out = ~np.isin(x, np.asarray(categories, dtype=np.float64))
    else:
        with np.errstate(invalid="ignore"):
            out = x < threshold
    miss = np.isnan(x)
    if miss.any():
        out[miss] = default_left
    return out


def reachable_leaves(
    layout: TreeLayout, splits: LocalSplits, X: np.ndarray, me: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which leaves each row can reach, deciding only this party's splits.

    Returns ``(leaf ids, mask (n, n_leaves) bool)``. At a split held by another
    party both children stay possible; intersecting every party's masks
    leaves exactly one leaf per row (joint prediction, SecureBoost section 5).
    """
    n = X.shape[0]
    mine = {nd: i for i, nd in enumerate(splits.node)}
    reach: dict[int, np.ndarray] = {0: np.ones(n, dtype=bool)}
    for node in range(layout.n_nodes):  # breadth-first ids: parents come first
        r = reach.pop(node) if layout.left[node] >= 0 else reach[node]
        if layout.left[node] < 0:
            continue
        lo, hi = layout.left[node], layout.right[node]
        if layout.owner[node] == me and node in mine:
            left = splits.side(mine[node], X)
            reach[lo], reach[hi] = r & left, r & ~left
        else:
            reach[lo], reach[hi] = r, r.copy()
    leaves = layout.leaves()
    if leaves.size == 0:
        return leaves, np.ones((n, 0), dtype=bool)
    return leaves, np.stack([reach[int(leaf)] for leaf in leaves], axis=1)
