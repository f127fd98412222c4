"""The learning objectives of SecureBoost, as XGBoost names them.

A light module (no numpy), so that the command line can offer the names
without importing the tree code.
"""

from __future__ import annotations

from typing import Literal, get_args

Objective = Literal[
    "binary:logistic",
    "reg:squarederror",
    "multi:softprob",
    "count:poisson",
    "reg:gamma",
    "reg:tweedie",
    "survival:cox",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:pseudohubererror",
    "reg:logistic",
    "reg:squaredlogerror",
    "survival:aft",
    "reg:fair",
    "reg:logcosh",
]
OBJECTIVES: tuple[str, ...] = get_args(Objective)
#: objectives whose labels are classes
CLASSIFICATION: tuple[str, ...] = ("binary:logistic", "multi:softprob")
#: objectives whose g, h are bounded (|g| <= 1, h <= 1/2): they pack into one share word
BOUNDED: tuple[str, ...] = ("binary:logistic", "multi:softprob", "reg:logistic")
#: objectives with a log link: the margin is the log of the predicted mean
LOG_LINK: tuple[str, ...] = ("count:poisson", "reg:gamma", "reg:tweedie")
#: objectives whose leaves are refreshed after each tree, as XGBoost's "adaptive" trees:
#: each leaf's value is a quantile of its rows' residuals (the median for absolute error)
ADAPTIVE: tuple[str, ...] = ("reg:absoluteerror", "reg:quantileerror")
#: survival objectives, with a log link: ``survival:cox``'s label is a time, negative
#: where censored, and its predictions hazard ratios; ``survival:aft``'s label is an
#: interval (below)
SURVIVAL: tuple[str, ...] = ("survival:cox", "survival:aft")
#: objectives whose label is an interval, two columns: a lower and an upper bound of the
#: time (equal: the event was seen then; upper infinite: censored on the right; lower 0:
#: censored on the left), as XGBoost's ``label_lower_bound`` and ``label_upper_bound``;
#: predictions are times (``exp`` of the margin)
INTERVAL: tuple[str, ...] = ("survival:aft",)
#: the accelerated failure time model's noise distributions (XGBoost's
#: ``aft_loss_distribution``)
AFT_DISTRIBUTIONS: tuple[str, ...] = ("normal", "logistic", "extreme")
