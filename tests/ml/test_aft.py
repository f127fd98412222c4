"""The accelerated failure time loss (``ml/aft.py``): derivatives, limits, metrics.

The models built on it are compared with XGBoost's in ``test_secureboost.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from unseen.ml.aft import AftLoss, interval_accuracy
from unseen.ml.objectives import AFT_DISTRIBUTIONS

#: one row of each kind: seen at 2, censored on the right at 1.5, on the left below 3,
#: within [0.8, 2.5]
KINDS = np.array([[2.0, 2.0], [1.5, np.inf], [0.0, 3.0], [0.8, 2.5]])


@pytest.mark.parametrize("distribution", AFT_DISTRIBUTIONS)
@pytest.mark.parametrize("sigma", [0.6, 1.0, 1.7])
def test_gradient_and_hessian_are_the_losss_derivatives(distribution, sigma):
    """Near the intervals (no limit; rows at the clip left out), g and h are the first
    and second derivatives of each row's negative log-likelihood in the margin
    (central differences), for every kind of censoring."""
    loss = AftLoss(distribution, sigma)
    for m in (-0.7, 0.1, 0.9):
        margin = np.full(len(KINDS), m)
        g, h = loss.grad_hess(KINDS, margin)
        step = 1e-4
        up, mid, down = (loss.row_losses(KINDS, margin + d) for d in (step, 0.0, -step))
        free = (np.abs(g) < 15) & (h < 15)  # not at XGBoost's clip
        assert free.sum() >= 2
        numeric_g, numeric_h = (up - down) / (2 * step), (up - 2 * mid + down) / step**2
        np.testing.assert_allclose(g[free], numeric_g[free], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(h[free], numeric_h[free], rtol=1e-3, atol=1e-6)


def test_the_likelihood_is_the_intervals():
    """A seen row's loss is minus the log density of its time; a censored row's, minus the
    log of the probability of its interval."""
    loss = AftLoss("normal", 1.0)
    from math import erf, exp, log, pi, sqrt

    def cdf(z: float) -> float:
        return 0.5 * (1 + erf(z / sqrt(2)))

    m = 0.3
    expected = [
        -log(exp(-((log(2.0) - m) ** 2) / 2) / sqrt(2 * pi) / 2.0),
        -log(1 - cdf(log(1.5) - m)),
        -log(cdf(log(3.0) - m)),
        -log(cdf(log(2.5) - m) - cdf(log(0.8) - m)),
    ]
    np.testing.assert_allclose(loss.row_losses(KINDS, np.full(4, m)), expected, rtol=1e-12)
    assert loss.nloglik(KINDS, np.full(4, m)) == pytest.approx(np.mean(expected))
    weights = np.array([1.0, 0.0, 0.0, 3.0])
    assert loss.nloglik(KINDS, np.full(4, m), weights) == pytest.approx(
        (expected[0] + 3 * expected[3]) / 4
    )


def test_interval_accuracy_counts_predicted_times_within_the_bounds():
    margin = np.log(np.array([2.0, 1.0, 2.9, 2.6]))  # in, below, in, above
    assert interval_accuracy(KINDS, margin) == 0.5
    assert interval_accuracy(KINDS, margin, np.array([1.0, 1.0, 2.0, 0.0])) == 0.75


def test_an_unknown_distribution_is_refused():
    with pytest.raises(ValueError, match="aft_loss_distribution must be one of"):
        AftLoss("cauchy")


def test_aft_loss_far_off_the_interval_takes_xgboosts_limits():
    """Where the densities underflow, the gradient and hessian are the paper's limits
    (clipped as XGBoost's: |g| <= 15, 1e-16 <= h <= 15), never nan or inf; the
    likelihood is kept at 1e-12 or above."""
    far = np.array([[1e-200, 1e-200], [1e200, 1e200], [1e200, np.inf], [0.0, 1e-200]])
    margin = np.zeros(4)
    g, h = AftLoss("normal").grad_hess(far, margin)
    # seen far below / far above the margin; censored on the right far above (its
    # limit: no pull); on the left far below (pulled down, the most allowed)
    assert g.tolist() == [15.0, -15.0, -15.0, 15.0]
    assert h.tolist() == [1.0, 1.0, 1.0, 1.0]
    g, h = AftLoss("logistic", 2.0).grad_hess(far, margin)
    assert g.tolist() == [0.5, -0.5, -0.5, 0.5] and np.all(h == 1e-16)
    g, h = AftLoss("extreme").grad_hess(far, margin)
    assert g.tolist() == [1.0, -15.0, -15.0, 1.0] and h.tolist() == [1e-16, 15.0, 15.0, 1e-16]
    losses = AftLoss("normal").row_losses(far, margin)
    assert np.all(np.isfinite(losses)) and losses.max() == pytest.approx(-np.log(1e-12))
    # near the interval: the derivative of the likelihood (normal noise, seen at t = e)
    y = np.array([[np.e, np.e]])
    g, h = AftLoss("normal", 0.5).grad_hess(y, np.array([0.2]))
    assert g[0] == pytest.approx(-(1.0 - 0.2) / 0.25) and h[0] == pytest.approx(1 / 0.25)
    assert AftLoss("normal", 0.5).nloglik(y, np.array([0.2])) == pytest.approx(
        0.5 * (0.8 / 0.5) ** 2 + np.log(0.5 * np.e * np.sqrt(2 * np.pi))
    )
