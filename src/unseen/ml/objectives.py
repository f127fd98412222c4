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
    "binary:logitraw",
    "multi:softmax",
    "binary:hinge",
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
#: objectives of two classes, labels 0/1, trained on the logistic loss: they predict the
#: probability of class 1, or with ``binary:logitraw`` its log-odds (the margin, what a
#: scorecard's points are drawn from)
LOGISTIC_BINARY: tuple[str, ...] = ("binary:logistic", "binary:logitraw")
#: objectives of two classes, labels 0/1: the logistic ones and ``binary:hinge`` (the
#: hinge loss of a support vector machine, which predicts the class itself)
BINARY: tuple[str, ...] = (*LOGISTIC_BINARY, "binary:hinge")
#: objectives of several classes, labels 0 .. num_class - 1, trained on the softmax loss
#: with a tree per class and round: they predict each class's probability, or with
#: ``multi:softmax`` the likeliest class
MULTICLASS: tuple[str, ...] = ("multi:softprob", "multi:softmax")
#: objectives whose labels are classes
CLASSIFICATION: tuple[str, ...] = BINARY + MULTICLASS
#: objectives with the logistic loss's gradients (labels in [0, 1])
LOGISTIC: tuple[str, ...] = (*LOGISTIC_BINARY, "reg:logistic")
#: objectives whose g, h are bounded (|g| <= 1, h <= 1/2): they pack into one share word
BOUNDED: tuple[str, ...] = (*LOGISTIC, *MULTICLASS)
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


def label_kind(objective: str) -> str:
    """How an objective's label is read from a file: ``binary`` (0/1), ``class`` (a class
    index) or ``real`` (a number)."""
    return "binary" if objective in BINARY else "class" if objective in MULTICLASS else "real"
