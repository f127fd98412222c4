"""Metrics computed at the label holder: AUC, KS, accuracy, log-loss and the gains
table (lift by score band) for binary classification; RMSE, MAE and R² for regression; Harrell's concordance index for
survival.

numpy (and for the concordance index one compiled loop), so that every party can
evaluate without extra dependencies; the tests check them against scikit-learn, or
against the definition, pair by pair.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from unseen.ml.aft import AftLoss


def _check(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"{y.size} labels but {p.size} scores")
    return y, p


def roc_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False-positive rates, true-positive rates and thresholds (scores descending, ties merged)."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="mergesort")
    ys, ps = y[order], p[order]
    distinct = np.r_[np.nonzero(np.diff(ps))[0], ys.size - 1] if ys.size else np.array([], int)
    tps = np.cumsum(ys)[distinct]
    fps = (distinct + 1) - tps
    pos, neg = ys.sum(), ys.size - ys.sum()
    tpr = np.r_[0.0, tps / pos] if pos else np.r_[0.0, np.zeros_like(tps)]
    fpr = np.r_[0.0, fps / neg] if neg else np.r_[0.0, np.zeros_like(fps)]
    thresholds = np.r_[np.inf, ps[distinct]]
    return fpr, tpr, thresholds


def auc(y: np.ndarray, p: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half)."""
    fpr, tpr, _ = roc_curve(y, p)
    if fpr[-1] == 0 or tpr[-1] == 0:
        raise ValueError("AUC needs both classes in the labels")
    return float(np.trapezoid(tpr, fpr))


def ks(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov statistic: max over thresholds of TPR - FPR."""
    fpr, tpr, _ = roc_curve(y, p)
    return float(np.max(tpr - fpr))


def precision_recall(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at :func:`roc_curve`'s thresholds (scores descending, ties
    merged): ``precision = tp / (tp + fp)`` of the rows at or above each threshold, 1 at
    the first (no row), and ``recall = tp / positives``, the true-positive rate."""
    y, p = _check(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    return _precision(y, fpr, tpr), tpr


def _precision(y: np.ndarray, fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """Precision at each point of a ROC curve of labels ``y`` (1 where no row is taken)."""
    pos, neg = y.sum(), y.size - y.sum()
    tp, fp = tpr * pos, fpr * neg
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(tp + fp > 0, tp / (tp + fp), 1.0)


def average_precision(y: np.ndarray, p: np.ndarray) -> float:
    """The area under the precision-recall curve as scikit-learn's
    ``average_precision_score``: ``sum (R_n - R_(n-1)) P_n`` over the thresholds; the
    positive rate for a model that ranks at random. For rare positives (defaults) it
    tells more than AUC."""
    precision, recall = precision_recall(y, p)
    if not recall.size or recall[-1] == 0:
        return math.nan
    return float(np.sum(np.diff(recall) * precision[1:]))


def confusion(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, int]:
    """The counts of true and false positives and negatives at ``threshold`` (class 1
    from it on, as :func:`accuracy`)."""
    y, p = _check(y, p)
    said, is_pos = p >= threshold, y == 1
    return {
        "tp": int(np.sum(said & is_pos)),
        "fp": int(np.sum(said & ~is_pos)),
        "fn": int(np.sum(~said & is_pos)),
        "tn": int(np.sum(~said & ~is_pos)),
    }


def accuracy(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> float:
    y, p = _check(y, p)
    return float(np.mean((p >= threshold) == (y == 1))) if y.size else float("nan")


def log_loss(y: np.ndarray, p: np.ndarray, eps: float = 1e-15) -> float:
    y, p = _check(y, p)
    q = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


@dataclass
class BinaryReport:
    auc: float
    ks: float
    accuracy: float
    log_loss: float
    n: int
    positives: int
    # the positive rate among the top tenth of scores over the overall rate (nan: no rows)
    top_decile_lift: float = math.nan
    # the area under the precision-recall curve (average precision)
    average_precision: float = math.nan
    # at the threshold of accuracy (0.5): of the rows called positive, the share that is
    # (nan: none called), the share of positives called, and their harmonic mean
    precision: float = math.nan
    recall: float = math.nan
    f1: float = math.nan

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"AUC {self.auc:.4f}  KS {self.ks:.4f}  accuracy {self.accuracy:.4f}  "
            f"log-loss {self.log_loss:.4f}  lift in the top 10% {self.top_decile_lift:.2f}  "
            f"AP {self.average_precision:.4f}  F1 {self.f1:.4f}  (n={self.n})"
        )


def evaluate(y: np.ndarray, p: np.ndarray) -> BinaryReport:
    y, p = _check(y, p)
    counts = confusion(y, p)
    called, positives = counts["tp"] + counts["fp"], counts["tp"] + counts["fn"]
    precision = counts["tp"] / called if called else math.nan
    recall = counts["tp"] / positives if positives else math.nan
    f1 = 2 * counts["tp"] / (called + positives) if called + positives else math.nan
    return BinaryReport(
        auc=auc(y, p),
        ks=ks(y, p),
        accuracy=accuracy(y, p),
        log_loss=log_loss(y, p),
        n=int(y.size),
        positives=int(y.sum()),
        top_decile_lift=float(gains_table(y, p)["lift"][0]) if y.size else math.nan,
        average_precision=average_precision(y, p),
        precision=precision,
        recall=recall,
        f1=f1,
    )


def gains_table(y: np.ndarray, p: np.ndarray, bands: int = 10) -> dict[str, np.ndarray]:
    """The gains (lift) table of credit scoring: the rows in ``bands`` bands of equal size
    by score, the highest scores first (band 1; by rank ``r``, 0 the highest, in band
    ``floor(r bands / n)``, so that tied scores at a band's edge split in row order),
    with per band ``rows``, ``min_score`` and ``max_score``, ``positives`` and
    ``positive_rate``, ``lift`` (that rate over the overall rate),
    ``cumulative_positive_share`` (the share of all positives in the bands up to this
    one: the gain, or capture rate), ``cumulative_lift`` and ``ks`` (the share of
    positives less the share of negatives in the bands up to this one). Columns for a
    CSV; fewer bands where there are fewer rows."""
    y, p = _check(y, p)
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    # rank r (0: the highest score) is in band floor(r * bands / n)
    edges = -(-np.arange(1, bands) * y.size // bands)  # where bands 1 .. bands-1 begin
    parts = [part for part in np.split(np.arange(y.size), edges) if part.size]
    rows = np.array([part.size for part in parts], dtype=np.int64)
    positives = np.array([ys[part].sum() for part in parts])
    total_pos, total_neg = ys.sum(), y.size - ys.sum()
    rate = positives / np.maximum(rows, 1)
    overall = total_pos / max(y.size, 1)
    cum_pos, cum_rows = np.cumsum(positives), np.cumsum(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        share_pos = cum_pos / total_pos if total_pos else np.full(rows.size, np.nan)
        share_neg = (cum_rows - cum_pos) / total_neg if total_neg else np.full(rows.size, np.nan)
        lift = rate / overall if overall else np.full(rows.size, np.nan)
        cumulative_lift = (cum_pos / cum_rows) / overall if overall else np.full(rows.size, np.nan)
    return {
        "band": np.arange(1, rows.size + 1),
        "rows": rows,
        "min_score": np.array([ps[part].min() for part in parts]),
        "max_score": np.array([ps[part].max() for part in parts]),
        "positives": positives.astype(np.int64),
        "positive_rate": rate,
        "lift": lift,
        "cumulative_positive_share": share_pos,
        "cumulative_lift": cumulative_lift,
        "ks": share_pos - share_neg,
    }


#: the smallest share a band counts with in the stability index (an empty band's)
_MIN_BAND_SHARE = 1e-4


def score_bands(scores: np.ndarray, bands: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """The reference of :func:`stability_index`: the inner edges of ``bands`` bands of
    ``scores`` by quantile (equal scores merge bands), and the share of the scores in
    each band (a score on an edge goes to the band above it)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not scores.size:
        raise ValueError("no scores to band")
    edges = np.unique(np.quantile(scores, np.arange(1, bands) / bands))
    counts = _band_counts(edges, scores)
    return edges, counts / scores.size


def stability_index(edges: np.ndarray, expected: np.ndarray, scores: np.ndarray) -> float:
    """The population stability index of ``scores`` against a reference (``edges`` and
    ``expected`` shares, from :func:`score_bands` of the training scores):
    ``sum (a - e) ln(a / e)`` over the bands, ``a`` these scores' shares, each share at
    least 1e-4. Read by the usual rule: below 0.1 stable, 0.1-0.25 a shift worth a look,
    above 0.25 a shift (the population, or the model's inputs, changed)."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not scores.size:
        return math.nan
    counts = _band_counts(edges, scores, len(expected))
    return _psi(counts / scores.size, np.asarray(expected, dtype=np.float64))


def class_score_bands(proba: np.ndarray, bands: int = 10) -> dict[str, list[Any]]:
    """The reference of :func:`class_stability` for several classes' probabilities
    (``n x K``): each class's probability in ``bands`` bands (:func:`score_bands`), and
    the share of the rows whose likeliest class each class is."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or not proba.size:
        raise ValueError("class probabilities are an n x K array")
    per_class = []
    for k in range(proba.shape[1]):
        edges, shares = score_bands(proba[:, k], bands)
        per_class.append({"edges": edges.tolist(), "shares": shares.tolist()})
    return {"classes": per_class, "predicted": _likeliest_shares(proba).tolist()}


def class_stability(reference: dict[str, list[Any]], proba: np.ndarray) -> dict[str, Any]:
    """The stability of several classes' probabilities against :func:`class_score_bands`
    of the training rows: ``per_class``, the PSI of each class's probability, and
    ``predicted``, the PSI of the likeliest class's shares (a category a band)."""
    proba = np.asarray(proba, dtype=np.float64)
    classes = reference["classes"]
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(f"expected probabilities of {len(classes)} classes")
    per_class = [
        stability_index(np.asarray(c["edges"]), np.asarray(c["shares"]), proba[:, k])
        for k, c in enumerate(classes)
    ]
    if not len(proba):
        return {"per_class": per_class, "predicted": math.nan}
    expected = np.asarray(reference["predicted"], dtype=np.float64)
    return {"per_class": per_class, "predicted": _psi(_likeliest_shares(proba), expected)}


def _likeliest_shares(proba: np.ndarray) -> np.ndarray:
    """The share of the rows (``n x K`` class probabilities, n > 0) whose likeliest class
    each class is."""
    return np.bincount(proba.argmax(axis=1), minlength=proba.shape[1]) / len(proba)


def _band_counts(edges: np.ndarray, values: np.ndarray, bands: int | None = None) -> np.ndarray:
    """How many ``values`` fall in each band between the inner ``edges`` (a value on an
    edge goes to the band above it); ``bands`` at least (default: one more than edges)."""
    minlength = len(edges) + 1 if bands is None else bands
    return np.bincount(np.searchsorted(edges, values, side="right"), minlength=minlength)


def _psi(actual: np.ndarray, expected: np.ndarray) -> float:
    """``sum (a - e) ln(a / e)`` over bands, each share at least 1e-4."""
    a, e = np.maximum(actual, _MIN_BAND_SHARE), np.maximum(expected, _MIN_BAND_SHARE)
    return float(np.sum((a - e) * np.log(a / e)))


#: rows :func:`column_bands` reads at most (every k-th beyond): a reference of shares
#: needs no more, and a 10-million-row column costs a tenth of the time
_BAND_ROWS = 1_000_000


def column_bands(
    values: np.ndarray, bands: int = 10, categories: int | None = None
) -> dict[str, list[float] | float]:
    """The reference of :func:`column_stability` for one feature's training values:
    ``bands`` bands by quantile of the present values (equal values merge bands; a
    categorical feature's ``categories`` codes a band each), the share of all rows in
    each, and the share of missing values (NaN); from every k-th row beyond a million."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size > _BAND_ROWS:
        values = values[:: -(-values.size // _BAND_ROWS)]
    present = values[~np.isnan(values)]
    if categories is not None:
        edges = np.arange(max(categories - 1, 0)) + 0.5
    elif present.size:
        edges = np.unique(np.quantile(present, np.arange(1, bands) / bands))
    else:
        edges = np.array([])
    counts = _band_counts(edges, present)
    n = max(values.size, 1)
    return {
        "edges": edges.tolist(),
        "shares": (counts / n).tolist(),
        "missing": float((values.size - present.size) / n),
    }


def feature_bands(
    X: np.ndarray, features: list[str], categories: Mapping[str, Sequence[Any]] | None = None
) -> dict[str, dict[str, Any]]:
    """A party's training columns in bands (:func:`column_bands`; a categorical feature's
    ``categories`` a band each), kept in its model part as the reference of its features'
    stability in later data (:func:`feature_stability`): the party's own, never sent."""
    categories = categories or {}
    return {
        name: column_bands(
            X[:, j], categories=len(categories[name]) if name in categories else None
        )
        for j, name in enumerate(features)
    }


def feature_stability(
    bands: dict[str, dict[str, Any]], X: np.ndarray, features: list[str]
) -> dict[str, float]:
    """Each feature's characteristic stability index (:func:`column_stability`) in ``X``
    (missing cells NaN, categories coded as in training) against its training ``bands``,
    the largest first; features without bands (a model saved before) are left out."""
    index = {
        name: column_stability(bands[name], X[:, j])
        for j, name in enumerate(features)
        if name in bands
    }
    return dict(sorted(index.items(), key=lambda kv: -kv[1]))


def column_stability(reference: dict[str, Any], values: np.ndarray) -> float:
    """The characteristic stability index of one feature: the population stability
    index (:func:`stability_index`) of its new values against its training bands
    (:func:`column_bands`), missing values a band of their own."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if not values.size:
        return math.nan
    present = values[~np.isnan(values)]
    edges = np.asarray(reference["edges"], dtype=np.float64)
    expected = np.r_[np.asarray(reference["shares"], dtype=np.float64), reference["missing"]]
    counts = _band_counts(edges, present)
    return _psi(np.r_[counts, values.size - present.size] / values.size, expected)


def stability_reading(psi: float) -> str:
    """The usual reading of a population stability index."""
    if psi < 0.1:
        return "stable"
    return "a shift worth a look" if psi < 0.25 else "shifted"


def curves_table(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    """ROC, KS and precision-recall curve data (columns for a CSV): threshold, fpr, tpr,
    ks = tpr - fpr, and precision (:func:`precision_recall`; the recall is tpr)."""
    y, p = _check(y, p)
    fpr, tpr, thr = roc_curve(y, p)
    precision = _precision(y, fpr, tpr)
    return {"threshold": thr, "fpr": fpr, "tpr": tpr, "ks": tpr - fpr, "precision": precision}


@dataclass
class RegressionReport:
    rmse: float
    mae: float
    r2: float
    n: int
    #: for a log-link loss, its mean deviance (sklearn's mean_poisson_deviance, ...)
    deviance: float | None = None
    deviance_kind: str | None = None  # "poisson", "gamma" or "tweedie (power 1.5)"
    #: for predicted quantiles: which, the mean pinball loss, and the share of labels at
    #: or below the prediction (the coverage; about the quantile for a calibrated model)
    quantile_alpha: float | None = None
    pinball: float | None = None
    coverage: float | None = None

    def to_json(self) -> dict[str, float | int]:
        out = {"rmse": self.rmse, "mae": self.mae, "r2": self.r2, "n": self.n}
        if self.deviance is not None:
            out[f"mean_{(self.deviance_kind or '').split()[0]}_deviance"] = self.deviance
        if self.quantile_alpha is not None and self.pinball is not None:
            out["quantile_alpha"], out["pinball_loss"] = self.quantile_alpha, self.pinball
            out["coverage"] = float(self.coverage or 0.0)
        return out

    def line(self) -> str:
        line = f"RMSE {self.rmse:.4f}  MAE {self.mae:.4f}  R² {self.r2:.4f}"
        if self.deviance is not None:
            line += f"  mean {self.deviance_kind} deviance {self.deviance:.4f}"
        if self.quantile_alpha is not None:
            line += (
                f"  quantile {self.quantile_alpha:g}: pinball loss {self.pinball:.4f}, "
                f"{self.coverage:.1%} of labels at or below"
            )
        return f"{line}  (n={self.n})"


@dataclass(frozen=True)
class MulticlassReport:
    accuracy: float
    mlogloss: float
    n: int
    classes: int

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"accuracy {self.accuracy:.4f}  mlogloss {self.mlogloss:.4f}  "
            f"(n={self.n}, {self.classes} classes)"
        )


def evaluate_multiclass(y: np.ndarray, proba: np.ndarray) -> MulticlassReport:
    """Accuracy (the most probable class) and multi-class log-loss of ``(n, K)``
    probabilities against class indices ``y``."""
    y = np.asarray(y, dtype=np.int64).ravel()
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[0] != y.size:
        raise ValueError(f"{y.size} labels for probabilities of shape {proba.shape}")
    if not y.size:
        raise ValueError("no rows to evaluate")
    if y.min() < 0 or y.max() >= proba.shape[1]:
        raise ValueError(f"labels must be class indices below {proba.shape[1]}")
    picked = np.clip(proba[np.arange(y.size), y], 1e-15, 1.0)
    return MulticlassReport(
        accuracy=float(np.mean(proba.argmax(axis=1) == y)),
        mlogloss=float(-np.mean(np.log(picked))),
        n=int(y.size),
        classes=int(proba.shape[1]),
    )


def mean_tweedie_deviance(y: np.ndarray, mu: np.ndarray, power: float) -> float:
    """Mean unit deviance of means ``mu`` (> 0) for labels ``y`` under a Tweedie
    distribution of variance power ``power``: 1 Poisson, 2 Gamma (``y > 0``), between
    them compound Poisson-Gamma (scikit-learn's ``mean_tweedie_deviance``, the same
    formulas; ``y log y`` is 0 at ``y = 0``)."""
    y, mu = np.asarray(y, dtype=np.float64), np.asarray(mu, dtype=np.float64)
    if power == 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0) / mu), 0.0)
        dev = 2 * (ylogy - y + mu)
    elif power == 2:
        dev = 2 * (np.log(mu / y) + y / mu - 1)
    else:
        dev = 2 * (
            np.maximum(y, 0) ** (2 - power) / ((1 - power) * (2 - power))
            - y * mu ** (1 - power) / (1 - power)
            + mu ** (2 - power) / (2 - power)
        )
    return float(np.mean(dev))


def evaluate_regression(
    y: np.ndarray,
    p: np.ndarray,
    objective: str = "reg:squarederror",
    power: float = 1.5,
    alpha: float = 0.5,
) -> RegressionReport:
    """Root-mean-square and mean absolute error, and R² (1 - SSE / SST; ``nan`` if the
    labels are constant); for ``count:poisson``, ``reg:gamma`` and ``reg:tweedie`` (with
    variance ``power``) also the mean deviance of the predicted means ``p`` (scikit-learn's
    ``mean_tweedie_deviance``: power 1 Poisson, 2 Gamma); for ``reg:quantileerror``
    (predicted ``alpha`` quantiles) the mean pinball loss and the coverage."""
    y, p = _check(y, p)
    if not y.size:
        raise ValueError("no rows to evaluate")
    err = p - y
    sst = float(np.sum((y - y.mean()) ** 2))
    kinds = {"count:poisson": ("poisson", 1.0), "reg:gamma": ("gamma", 2.0)}
    kinds["reg:tweedie"] = (f"tweedie (power {power:g})", power)
    deviance, kind = None, None
    if objective in kinds:
        kind, rho = kinds[objective]
        deviance = mean_tweedie_deviance(y, p, rho)
    quantiles: dict[str, float] = {}
    if objective == "reg:quantileerror":
        from unseen.ml.sbt_tree import pinball_loss

        quantiles = {
            "quantile_alpha": alpha,
            "pinball": pinball_loss(y, p, alpha),
            "coverage": float(np.mean(y <= p)),
        }
    return RegressionReport(
        rmse=float(np.sqrt(np.mean(err**2))),
        mae=float(np.mean(np.abs(err))),
        r2=1.0 - float(np.sum(err**2)) / sst if sst > 0 else float("nan"),
        n=int(y.size),
        deviance=deviance,
        deviance_kind=kind,
        **quantiles,
    )


# --------------------------------------------------------------------------- survival


@dataclass(frozen=True)
class SurvivalReport:
    """Cox's model scored on labelled rows (times, negative where censored)."""

    concordance: float  # Harrell's C: 1 orders every comparable pair right, 0.5 chance
    cox_nloglik: float  # XGBoost's cox-nloglik (per event)
    n: int
    events: int

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"C-index {self.concordance:.4f}  cox-nloglik {self.cox_nloglik:.4f}  "
            f"(n={self.n}, {self.events} events)"
        )


def concordance_index(y: np.ndarray, risk: np.ndarray) -> float:
    """Harrell's concordance index of ``risk`` (higher: the event sooner, as a hazard
    ratio) for survival labels ``y`` (time ``t > 0`` of an observed event, ``-t`` for a
    row censored at ``t``).

    A pair is comparable when the row with the earlier time had its event; a row
    censored at the same time as another's event counts as later (it outlived it).
    The index is the share of comparable pairs that ``risk`` orders right, a tie in
    ``risk`` counting a half; ``nan`` when no pair is comparable. O(n log n).
    """
    y, risk = _check(y, risk)
    time, event = np.abs(y), y > 0
    rank = np.unique(risk, return_inverse=True)[1].astype(np.int64).ravel()
    order = np.argsort(-time, kind="stable")
    right, tied, pairs = _concordant_pairs(order, time, event, rank, int(rank.max(initial=0)) + 1)
    return (right + 0.5 * tied) / pairs if pairs else math.nan


@njit(cache=True)
def _concordant_pairs(
    order: np.ndarray, time: np.ndarray, event: np.ndarray, rank: np.ndarray, ranks: int
) -> tuple[float, float, float]:
    """Comparable pairs, those ordered right and those tied in risk: rows from the
    latest time back, each event against the rows already passed (later, or censored
    at its time), their risk ranks counted in a Fenwick tree."""
    tree = np.zeros(ranks + 1, dtype=np.int64)
    right, tied, pairs, passed = 0.0, 0.0, 0.0, 0
    n, i = order.size, 0
    while i < n:
        j = i
        while j < n and time[order[j]] == time[order[i]]:
            j += 1
        for first_censored in (True, False):  # a group's censored rows outlive its events
            if not first_censored:
                for k in range(i, j):
                    r = order[k]
                    if event[r]:
                        below, at_most, x = 0, 0, rank[r]
                        while x > 0:
                            below += tree[x]
                            x -= x & -x
                        x = rank[r] + 1
                        while x > 0:
                            at_most += tree[x]
                            x -= x & -x
                        right += below
                        tied += at_most - below
                        pairs += passed
            for k in range(i, j):
                r = order[k]
                if event[r] != first_censored:
                    x = rank[r] + 1
                    while x <= ranks:
                        tree[x] += 1
                        x += x & -x
                    passed += 1
        i = j
    return right, tied, pairs


@dataclass(frozen=True)
class AftReport:
    """The accelerated failure time model scored on labelled rows (intervals of time)."""

    concordance: float  # Harrell's C of the predicted times, on the events and right-censored
    aft_nloglik: float  # XGBoost's aft-nloglik (mean negative log-likelihood)
    interval_accuracy: float  # XGBoost's interval-regression-accuracy
    n: int
    events: int  # rows whose time was seen (equal bounds)
    right_censored: int  # rows with no event yet (no upper bound)

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)

    def line(self) -> str:
        return (
            f"C-index {self.concordance:.4f}  aft-nloglik {self.aft_nloglik:.4f}  "
            f"predicted time within the interval {self.interval_accuracy:.1%}  "
            f"(n={self.n}, {self.events} events, {self.right_censored} censored on the right)"
        )


def intervals_as_times(y: np.ndarray) -> np.ndarray:
    """Interval labels ``(n, 2)`` as the signed times of :func:`concordance_index` and
    the Kaplan-Meier estimate: ``t`` where the event was seen at ``t`` (equal bounds),
    ``-t`` where the row was censored on the right at ``t``; ``nan`` for rows censored
    on the left or in an interval (or on the right at 0), which neither takes."""
    lower, upper = y[:, 0], y[:, 1]
    right = np.isinf(upper) & (lower > 0)
    return np.where(lower == upper, lower, np.where(right, -lower, np.nan))


def evaluate_aft(y: np.ndarray, predicted_time: np.ndarray, aft: AftLoss) -> AftReport:
    """Harrell's C (a shorter predicted time is a higher risk; over the rows
    :func:`intervals_as_times` keeps), ``aft``'s negative log-likelihood and the share of
    predicted times within their interval, for interval labels ``y`` ``(n, 2)``."""
    from unseen.ml.aft import interval_accuracy

    y = np.asarray(y, dtype=np.float64)
    predicted_time = np.asarray(predicted_time, dtype=np.float64).ravel()
    if y.ndim != 2 or y.shape != (predicted_time.size, 2):
        raise ValueError(f"labels {y.shape} do not fit {predicted_time.size} predictions")
    if not y.shape[0]:
        raise ValueError("no rows to evaluate")
    times = intervals_as_times(y)
    kept = ~np.isnan(times)
    margin = np.log(predicted_time)
    return AftReport(
        concordance=concordance_index(times[kept], 1.0 / predicted_time[kept]),
        aft_nloglik=aft.nloglik(y, margin),
        interval_accuracy=interval_accuracy(y, margin),
        n=int(y.shape[0]),
        events=int(np.sum(times > 0)),
        right_censored=int(np.sum(times < 0)),
    )


def evaluate_survival(y: np.ndarray, hazard_ratio: np.ndarray) -> SurvivalReport:
    """Harrell's C and XGBoost's cox-nloglik of predicted hazard ratios (``exp`` of
    Cox's margin) for survival labels ``y`` (negative: censored)."""
    y, hazard_ratio = _check(y, hazard_ratio)
    if not y.size:
        raise ValueError("no rows to evaluate")
    from unseen.ml.sbt_tree import cox_nloglik

    return SurvivalReport(
        concordance=concordance_index(y, hazard_ratio),
        cox_nloglik=cox_nloglik(y, np.log(hazard_ratio)),
        n=int(y.size),
        events=int(np.sum(y > 0)),
    )
