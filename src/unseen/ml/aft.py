"""The accelerated failure time (AFT) loss: survival with censored intervals, as XGBoost's
``survival:aft``.

Barnwal, Cho and Hocking, "Survival regression with accelerated failure time model in
XGBoost", Journal of Computational and Graphical Statistics 31(4), 2022
(arXiv:2006.04920). The model: ``log T = margin + sigma Z``, with ``Z`` drawn from the
noise distribution (normal, logistic or extreme value) and ``sigma`` its scale. Each
row's label is an interval ``[lower, upper]`` that holds its time ``T``:

- ``lower == upper``: the event was seen at that time (uncensored);
- ``upper`` infinite: the row left the study at ``lower`` without the event (censored
  on the right, the usual case: a loan still performing when the data was drawn);
- ``lower == 0``: the event happened before ``upper`` (censored on the left);
- else the event happened between the two (censored in an interval: between two
  reviews).

The loss is the interval's negative log-likelihood: ``-log(pdf(z) / (sigma T))`` for
an uncensored row (``z = (log T - margin) / sigma``), ``-log(CDF(z_upper) -
CDF(z_lower))`` for a censored one. Gradients and hessians are the paper's, with
XGBoost's guards, so that the trees are XGBoost's: both clipped (``|g| <= 15``,
``1e-16 <= h <= 15``), and where a denominator vanishes (a margin far off its
interval) the limit the paper derives for that side and censoring.

Only the guest, which holds the intervals, computes this; to the rest of the protocol
the gradients are per-row numbers like any other loss's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unseen.ml.objectives import AFT_DISTRIBUTIONS

#: XGBoost's range for the gradient and hessian (its ``aft::kMin/kMaxGradient``, ...)
MAX_GRADIENT = 15.0
MIN_HESSIAN = 1e-16
MAX_HESSIAN = 15.0
#: the smallest likelihood (and denominator) taken at face value (XGBoost's ``aft::kEps``)
EPS = 1e-12

_UNCENSORED, _RIGHT, _LEFT, _INTERVAL = range(4)


# ------------------------------------------------------------------ noise distributions
# Each: the density, distribution function and the density's first and second
# derivatives at z, with XGBoost's values where exp(z) overflows.


def _normal(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from scipy.special import erf  # here: every party imports this module, the guest uses it

    pdf = np.exp(-z * z / 2.0) / np.sqrt(2.0 * np.pi)
    cdf = 0.5 * (1.0 + erf(z / np.sqrt(2.0)))
    return pdf, cdf, -z * pdf, (z * z - 1.0) * pdf


def _logistic(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = np.exp(z)
    big = np.isinf(w) | np.isinf(w * w)
    pdf = np.where(big, 0.0, w / ((1.0 + w) * (1.0 + w)))
    cdf = np.where(np.isinf(w), 1.0, w / (1.0 + w))
    grad = np.where(np.isinf(w), 0.0, pdf * (1.0 - w) / (1.0 + w))
    hess = np.where(big, 0.0, pdf * (w * w - 4.0 * w + 1.0) / ((1.0 + w) * (1.0 + w)))
    return pdf, cdf, grad, hess


def _extreme(z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = np.exp(z)
    pdf = np.where(np.isinf(w), 0.0, w * np.exp(-w))
    cdf = 1.0 - np.exp(-w)
    grad = np.where(np.isinf(w), 0.0, (1.0 - w) * pdf)
    hess = np.where(np.isinf(w) | np.isinf(w * w), 0.0, (w * w - 3.0 * w + 1.0) * pdf)
    return pdf, cdf, grad, hess


_DISTRIBUTIONS = {"normal": _normal, "logistic": _logistic, "extreme": _extreme}


def _limits(distribution: str, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The gradient and hessian where the margin is far off the interval, by censoring
    (rows: uncensored, right, left, interval) and by side (columns: the interval above
    the margin, ``z <= 0`` everywhere; below it, some ``z > 0``): the paper's limits,
    as XGBoost's ``GetLimitGradAtInfPred`` and ``GetLimitHessAtInfPred``."""
    g, h, inv, inv2 = MAX_GRADIENT, MIN_HESSIAN, 1.0 / sigma, 1.0 / (sigma * sigma)
    if distribution == "normal":
        grad = [[g, -g], [0.0, -g], [g, 0.0], [g, -g]]
        hess = [[inv2, inv2], [h, inv2], [inv2, h], [inv2, inv2]]
    elif distribution == "logistic":
        grad = [[inv, -inv], [0.0, -inv], [inv, 0.0], [inv, -inv]]
        hess = [[h, h], [h, h], [h, h], [h, h]]
    else:  # extreme
        grad = [[inv, -g], [0.0, -g], [inv, 0.0], [inv, -g]]
        hess = [[h, MAX_HESSIAN], [h, MAX_HESSIAN], [h, h], [h, MAX_HESSIAN]]
    return np.array(grad), np.array(hess)


# ------------------------------------------------------------------------------- the loss


@dataclass(frozen=True)
class AftLoss:
    """The AFT loss with noise ``distribution`` (one of :data:`AFT_DISTRIBUTIONS`) at
    scale ``sigma`` (XGBoost's ``aft_loss_distribution`` and
    ``aft_loss_distribution_scale``). Labels ``y`` are ``(n, 2)``: each row's lower and
    upper bound (see the module's docstring); margins are log times."""

    distribution: str = "normal"
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.distribution not in AFT_DISTRIBUTIONS:
            raise ValueError(
                f"aft_loss_distribution must be one of {AFT_DISTRIBUTIONS}, "
                f"not {self.distribution!r}"
            )

    def _sides(self, y: np.ndarray, margin: np.ndarray) -> dict[str, np.ndarray]:
        """Each row's censoring, and the distribution at its bounds (zero density and
        the CDF's limit on a side the interval leaves open)."""
        lower, upper = y[:, 0], y[:, 1]
        f = _DISTRIBUTIONS[self.distribution]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            z_l = (np.log(lower) - margin) / self.sigma
            z_u = (np.log(upper) - margin) / self.sigma
            pdf_l, cdf_l, grad_l, hess_l = f(z_l)
            pdf_u, cdf_u, grad_u, hess_u = f(z_u)
        right, left = np.isinf(upper), lower <= 0.0
        uncensored = lower == upper
        kind = np.where(
            uncensored, _UNCENSORED, np.where(right, _RIGHT, np.where(left, _LEFT, _INTERVAL))
        )
        return {
            "kind": kind,
            "uncensored": uncensored,
            "z": np.where(uncensored, z_l, 0.0),
            "above": np.where(uncensored, z_l > 0, (~right & (z_u > 0)) | (~left & (z_l > 0))),
            "pdf": pdf_l,
            "grad_pdf": grad_l,
            "hess_pdf": hess_l,
            "pdf_l": np.where(left, 0.0, pdf_l),
            "cdf_l": np.where(left, 0.0, cdf_l),
            "grad_l": np.where(left, 0.0, grad_l),
            "pdf_u": np.where(right, 0.0, pdf_u),
            "cdf_u": np.where(right, 1.0, cdf_u),
            "grad_u": np.where(right, 0.0, grad_u),
            "lower": lower,
        }

    def grad_hess(self, y: np.ndarray, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per row, the loss's first and second derivative in the margin (XGBoost's)."""
        s, sigma = self._sides(y, margin), self.sigma
        unc = s["uncensored"]
        pdf_diff, cdf_diff = s["pdf_u"] - s["pdf_l"], s["cdf_u"] - s["cdf_l"]
        grad_diff = s["grad_u"] - s["grad_l"]
        g_num = np.where(unc, s["grad_pdf"], pdf_diff)
        g_den = np.where(unc, sigma * s["pdf"], sigma * cdf_diff)
        h_num = np.where(
            unc,
            -(s["pdf"] * s["hess_pdf"] - s["grad_pdf"] ** 2),
            -(cdf_diff * grad_diff - pdf_diff**2),
        )
        h_den = np.where(unc, (sigma * s["pdf"]) ** 2, (sigma * cdf_diff) ** 2)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            g, h = g_num / g_den, h_num / h_den
        # a margin far off the interval: the densities underflow, take the limit
        grad_limit, hess_limit = _limits(self.distribution, sigma)
        side = s["above"].astype(np.int64)
        g = np.where((g_den < EPS) & ~np.isfinite(g), grad_limit[s["kind"], side], g)
        h = np.where((h_den < EPS) & ~np.isfinite(h), hess_limit[s["kind"], side], h)
        return (
            np.clip(g, -MAX_GRADIENT, MAX_GRADIENT),
            np.clip(h, MIN_HESSIAN, MAX_HESSIAN),
        )

    def row_losses(self, y: np.ndarray, margin: np.ndarray) -> np.ndarray:
        """Each row's negative log-likelihood (the likelihood kept at or above ``EPS``)."""
        s = self._sides(y, margin)
        with np.errstate(divide="ignore", invalid="ignore"):
            density = s["pdf"] / (self.sigma * s["lower"])
        likelihood = np.where(s["uncensored"], density, s["cdf_u"] - s["cdf_l"])
        return np.asarray(-np.log(np.maximum(likelihood, EPS)))

    def nloglik(
        self, y: np.ndarray, margin: np.ndarray, weights: np.ndarray | None = None
    ) -> float:
        """XGBoost's ``aft-nloglik``: the (weighted) mean negative log-likelihood."""
        return float(np.average(self.row_losses(y, margin), weights=weights))


def interval_accuracy(
    y: np.ndarray, margin: np.ndarray, weights: np.ndarray | None = None
) -> float:
    """XGBoost's ``interval-regression-accuracy``: the (weighted) share of rows whose
    predicted time ``exp(margin)`` lies within their interval."""
    predicted = np.exp(margin)
    inside = (predicted >= y[:, 0]) & (predicted <= y[:, 1])
    return float(np.average(inside, weights=weights))
