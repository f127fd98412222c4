"""Scorecard points: probabilities of the bad outcome as the credit scores of a scorecard.

A credit score is a line in the log-odds of the good outcome (Siddiqi, "Credit Risk
Scorecards", 2006, ch. 6, "scaling"): ``points`` at odds ``odds`` to 1, and ``pdo`` more
each time the odds double:

    score = points + pdo / ln 2 * ln(good_odds / odds),   good_odds = (1 - p) / p

with ``p`` the model's probability of class 1, the bad outcome (default, churn, fraud).
A higher score is a lower risk. Scorecard tools name the line's intercept and slope
the ``offset`` (``points - factor * ln odds``, the score at even odds) and the
``factor`` (``pdo / ln 2``).

The guest turns the scores it learned into points: no party learns anything more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from unseen.runtime.errors import ConfigError


@dataclass(frozen=True)
class Scaling:
    """``points`` at good:bad odds of ``odds`` to 1, ``pdo`` more points per doubling
    of the odds (the textbook 600 points at 50:1, 20 points to double the odds)."""

    points: float = 600.0
    odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.points) and self.odds > 0 and self.pdo > 0):
            raise ConfigError(
                f"scorecard scaling needs finite points, odds > 0 and pdo > 0: {self}"
            )

    @property
    def factor(self) -> float:
        """Points per unit of log-odds: ``pdo / ln 2``."""
        return self.pdo / math.log(2.0)

    @property
    def offset(self) -> float:
        """The score at even odds: ``points - factor * ln odds``."""
        return self.points - self.factor * math.log(self.odds)

    def of_log_odds(self, log_odds_bad: np.ndarray) -> np.ndarray:
        """Points from the log-odds of the bad outcome (a logistic model's margin)."""
        return np.asarray(self.offset - self.factor * np.asarray(log_odds_bad, dtype=np.float64))

    def of_probabilities(self, p_bad: np.ndarray) -> np.ndarray:
        """Points from probabilities of the bad outcome (kept within 1e-15 of 0 and 1)."""
        p = np.clip(np.asarray(p_bad, dtype=np.float64), 1e-15, 1 - 1e-15)
        return self.of_log_odds(np.log(p) - np.log1p(-p))
