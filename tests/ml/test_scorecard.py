"""Scorecard points: the usual scaling of the log-odds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unseen.ml.scorecard import Scaling
from unseen.runtime.errors import ConfigError


def test_points_at_the_odds_and_pdo_per_doubling():
    """600 points at good:bad odds of 50:1; 20 more each time the odds double; higher
    risk, fewer points; the margin (log-odds of the bad outcome) gives the same."""
    s = Scaling()
    p_at_odds = 1 / (1 + 50)  # bad with probability 1/51: good:bad 50:1
    p_doubled = 1 / (1 + 100)
    p = np.array([p_at_odds, p_doubled, 0.5, 0.9])
    points = s.of_probabilities(p)
    assert points[0] == pytest.approx(600) and points[1] == pytest.approx(620)
    assert points[2] == pytest.approx(s.offset)  # even odds
    assert np.all(np.diff(points[np.argsort(p)]) < 0)  # the riskier, the fewer points
    assert s.factor == pytest.approx(20 / math.log(2))
    assert s.offset == pytest.approx(600 - 20 / math.log(2) * math.log(50))
    margins = np.array([-3.0, 0.0, 2.5])
    np.testing.assert_allclose(
        s.of_log_odds(margins), s.of_probabilities(1 / (1 + np.exp(-margins)))
    )
    custom = Scaling(points=500, odds=20, pdo=40)
    assert custom.of_probabilities(np.array([1 / 41]))[0] == pytest.approx(540)
    # probabilities of 0 and 1 stay finite
    assert np.all(np.isfinite(s.of_probabilities(np.array([0.0, 1.0]))))


@pytest.mark.parametrize("bad", [dict(odds=0), dict(pdo=-20), dict(points=math.inf)])
def test_a_scaling_that_is_no_line_is_refused(bad):
    with pytest.raises(ConfigError, match="scorecard scaling"):
        Scaling(**bad)
