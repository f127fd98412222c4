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
#: survival objectives: the label is a time, negative where censored; predictions are
#: hazard ratios (``exp`` of the margin)
SURVIVAL: tuple[str, ...] = ("survival:cox",)
