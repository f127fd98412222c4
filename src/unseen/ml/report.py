"""The evaluation report the label holder writes: metrics, curve data, and plots.

``write_report(directory, y, scores)`` writes, for binary classification:

- ``metrics.json``: AUC, KS, accuracy (threshold 0.5), log-loss, rows, positives, the
  lift in the top tenth of scores, the average precision (the area under the
  precision-recall curve, telling for rare positives) and the precision, recall and F1
  at the threshold of accuracy;
- ``curves.csv``: the ROC, KS and precision-recall curves (``threshold, fpr, tpr, ks,
  precision``; ``ks = tpr - fpr``, the KS curve plotted against the share of rows above
  the threshold, ``depth``; the recall is ``tpr``);
- ``confusion.csv``: the rows by label and by the class called at the threshold 0.5, as
  for several classes;
- ``gains.csv``: the gains table of credit scoring, ten bands of rows by score, the
  highest first, each with its positive rate, lift, cumulative capture of positives and
  KS (:func:`~unseen.ml.metrics.gains_table`);
- ``roc.png``, ``ks.png``, ``pr.png`` (precision against recall) and ``lift.png`` (the
  cumulative gains curve and the lift per band) when matplotlib is installed (the ``plot`` extra: ``pip install 'unseen[plot]'``);
  without it the report says so and skips them.

``write_learning_curve`` plots a validation metric per boosting round (SecureBoost's
early-stopping history, or cross-validation's mean with its spread over the folds).

for regression (``objective="reg:squarederror"``): ``metrics.json`` with RMSE, MAE,
R² and rows, and ``predicted.png`` (predictions against labels) when matplotlib is
installed; and for several classes (``objective="multi:softprob"``, ``scores`` the
``(n, K)`` class probabilities): ``metrics.json`` with accuracy, multi-class log-loss,
rows and classes, and ``confusion.csv`` (rows: the label, columns: the most probable
class); for survival (``objective="survival:cox"``, ``scores`` hazard ratios):
``metrics.json`` with Harrell's C-index, cox-nloglik, rows and events, and
``survival.png``, Kaplan-Meier curves of each third of predicted risk; and for
``objective="survival:aft"`` (``scores`` predicted times, ``y`` intervals ``(n, 2)``):
``metrics.json`` with Harrell's C-index, aft-nloglik, the share of predicted times
within their interval, rows, events and rows censored on the right, and the same
curves.

Everything is computed at the party that holds the labels, from its own labels
and the scores it learned; nothing here talks to other parties.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unseen.ml.metrics import (
    AftReport,
    BinaryReport,
    MulticlassReport,
    RegressionReport,
    SurvivalReport,
    curves_table,
    evaluate,
    evaluate_aft,
    evaluate_multiclass,
    evaluate_regression,
    evaluate_survival,
    gains_table,
    intervals_as_times,
)
from unseen.ml.objectives import BINARY, MULTICLASS

if TYPE_CHECKING:
    from unseen.ml.aft import AftLoss


def _depth(y: np.ndarray, thresholds: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Share of rows scored at or above each threshold (the KS chart's x axis)."""
    s = np.sort(np.asarray(scores, dtype=np.float64))
    above = s.size - np.searchsorted(s, thresholds, side="left")
    return above / max(1, s.size)


def cannot_report(y: np.ndarray, objective: str = "binary:logistic") -> str | None:
    """Why no report can be made for these labels, or ``None`` if one can."""
    y = np.asarray(y, dtype=np.float64).ravel()
    if not y.size:
        return "no rows"
    if objective in BINARY and y.min() == y.max():
        return "the label has only one class here (AUC and KS need both)"
    if objective == "survival:aft":
        return None
    if objective == "survival:cox" and not np.any(y > 0):
        return "no observed event among these rows (every time is negative: censored)"
    return None


def write_report(
    directory: str | os.PathLike[str],
    y: np.ndarray,
    scores: np.ndarray,
    *,
    title: str = "",
    extra: dict[str, Any] | None = None,
    objective: str = "binary:logistic",
    tweedie_power: float = 1.5,
    quantile_alpha: float = 0.5,
    aft: AftLoss | None = None,
) -> tuple[
    BinaryReport | RegressionReport | MulticlassReport | SurvivalReport | AftReport, list[Path]
]:
    """Write the report to ``directory``; returns the metrics and the files written.

    ``objective``: the model's (``binary:logistic``: ``scores`` are probabilities of
    class 1 and ``y`` is 0/1, ``binary:logitraw``: their log-odds, ``binary:hinge``:
    margins, class 1 where positive, and no log-loss; ``reg:squarederror``:
    ``scores`` are predicted values; ``multi:softprob`` and ``multi:softmax``: ``scores``
    are ``(n, K)`` probabilities, ``y`` class indices;
    ``count:poisson``, ``reg:gamma``, ``reg:tweedie``: predicted means, and the report
    adds their mean deviance, Tweedie's at ``tweedie_power``; ``reg:quantileerror``:
    predicted ``quantile_alpha`` quantiles, and the report adds the mean pinball loss and
    the share of labels at or below them; ``survival:cox``: hazard
    ratios, ``y`` times (negative where censored): Harrell's C-index, cox-nloglik, and
    Kaplan-Meier curves per third of risk; ``survival:aft``: predicted times, ``y``
    intervals ``(n, 2)``, the likelihood under ``aft`` (default: normal noise at scale 1)).
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    if objective == "survival:aft":
        return _aft_report(out, y, scores, title, extra, aft)
    y = np.asarray(y, dtype=np.float64).ravel()
    if objective in MULTICLASS:
        return _multiclass_report(out, y, np.asarray(scores, dtype=np.float64), extra)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if objective == "survival:cox":
        return _survival_report(out, y, scores, title, extra)
    if objective not in BINARY:
        return _regression_report(
            out, y, scores, title, extra, objective, tweedie_power, quantile_alpha
        )
    # logitraw's log-odds give probabilities; hinge's margins their order and the class
    # (the side of 0, where the sigmoid crosses 0.5), but no probability: no log-loss
    probabilities = scores if objective == "binary:logistic" else 1.0 / (1.0 + np.exp(-scores))
    if objective == "binary:logitraw":
        scores = probabilities
    report = evaluate(y, probabilities)
    if objective == "binary:hinge":
        report.log_loss = math.nan
    curves = curves_table(y, scores)
    curves["depth"] = _depth(y, curves["threshold"], scores)
    files = [_write_metrics(out, report, extra)]
    names = ["threshold", "depth", "fpr", "tpr", "ks", "precision"]
    files.append(_write_columns(out / "curves.csv", {k: curves[k] for k in names}))
    called = (probabilities >= 0.5).astype(np.int64)  # as the report's accuracy
    files.append(_write_confusion(out, y, called, 2))
    gains = gains_table(y, scores)
    files.append(_write_columns(out / "gains.csv", gains))
    files += _plots(out, curves, report, title)
    files += _lift_plot(out, gains, title)
    return report, files


def _write_columns(path: Path, columns: dict[str, np.ndarray]) -> Path:
    """A CSV of named columns (integers as such, other numbers in full)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(list(columns))
        for row in zip(*columns.values(), strict=True):
            w.writerow([int(v) if isinstance(v, np.integer) else repr(float(v)) for v in row])
    return path


def _lift_plot(out: Path, gains: dict[str, np.ndarray], title: str) -> list[Path]:
    """``lift.png``: the cumulative gains curve (the share of positives captured against
    the share of rows taken, highest scores first) beside the lift of each band."""
    if not matplotlib_available():
        return []
    plt = _pyplot()

    taken = np.r_[0.0, np.cumsum(gains["rows"]) / gains["rows"].sum()]
    captured = np.r_[0.0, gains["cumulative_positive_share"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(taken, captured, marker="o", label="model")
    left.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="random")
    left.set_xlabel("share of rows, highest scores first")
    left.set_ylabel("share of positives captured")
    left.set_title(f"{title} cumulative gains".strip())
    left.legend(loc="lower right")
    right.bar(gains["band"], gains["lift"])
    right.axhline(1.0, linestyle="--", color="grey", linewidth=0.8)
    right.set_xlabel("band of scores (1: the highest)")
    right.set_ylabel("lift (positive rate over the overall rate)")
    right.set_xticks(gains["band"])
    right.set_title(f"{title} lift".strip())
    return [_save(plt, fig, out / "lift.png")]


def _write_metrics(
    out: Path,
    report: BinaryReport | RegressionReport | MulticlassReport | SurvivalReport | AftReport,
    extra: dict[str, Any] | None,
) -> Path:
    """``metrics.json``: the report's figures and the caller's ``extra`` fields."""
    path = out / "metrics.json"
    metrics = {**report.to_json(), **(extra or {})}
    path.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return path


def _multiclass_report(
    out: Path, y: np.ndarray, proba: np.ndarray, extra: dict[str, Any] | None
) -> tuple[MulticlassReport, list[Path]]:
    report = evaluate_multiclass(y, proba)
    path = _write_confusion(out, y, proba.argmax(axis=1), proba.shape[1])
    return report, [_write_metrics(out, report, extra), path]


def _write_confusion(out: Path, y: np.ndarray, called: np.ndarray, k: int) -> Path:
    """``confusion.csv``: per label (rows), how many rows were called each class."""
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y.astype(np.int64), called), 1)
    path = out / "confusion.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["label", *(f"predicted_{j}" for j in range(k))])
        for i in range(k):
            w.writerow([i, *confusion[i].tolist()])
    return path


def _regression_report(
    out: Path,
    y: np.ndarray,
    predicted: np.ndarray,
    title: str,
    extra: dict[str, Any] | None,
    objective: str = "reg:squarederror",
    tweedie_power: float = 1.5,
    quantile_alpha: float = 0.5,
) -> tuple[RegressionReport, list[Path]]:
    report = evaluate_regression(y, predicted, objective, tweedie_power, quantile_alpha)
    files = [_write_metrics(out, report, extra)]
    if matplotlib_available():
        plt = _pyplot()

        fig, ax = plt.subplots(figsize=(5, 5))
        ax.scatter(y, predicted, s=6, alpha=0.5)
        low, high = float(min(y.min(), predicted.min())), float(max(y.max(), predicted.max()))
        ax.plot([low, high], [low, high], linestyle="--", color="grey", linewidth=0.8)
        ax.set_xlabel("label")
        ax.set_ylabel("prediction")
        ax.set_title(f"{title} (RMSE {report.rmse:.4g}, R² {report.r2:.3f})".strip())
        files.append(_save(plt, fig, out / "predicted.png"))
    return report, files


def kaplan_meier(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The Kaplan-Meier estimate of survival for labels ``y`` (negative: censored): the
    event times, and the share of rows surviving past each."""
    time, event = np.abs(y), y > 0
    times = np.unique(time[event])
    at_risk = time.size - np.searchsorted(np.sort(time), times, side="left")
    deaths = np.bincount(np.searchsorted(times, time[event]), minlength=times.size)
    return times, np.cumprod(1.0 - deaths / at_risk)


def _survival_report(
    out: Path, y: np.ndarray, hazard_ratio: np.ndarray, title: str, extra: dict[str, Any] | None
) -> tuple[SurvivalReport, list[Path]]:
    """``metrics.json`` (C-index, cox-nloglik), and ``survival.png`` when matplotlib is
    installed: Kaplan-Meier curves of the rows in each third of predicted risk (a model
    that ranks well draws them apart, the riskiest third lowest)."""
    report = evaluate_survival(y, hazard_ratio)
    files = [_write_metrics(out, report, extra)]
    return report, files + _risk_thirds(out, y, hazard_ratio, title, report)


def _aft_report(
    out: Path,
    y: np.ndarray,
    scores: np.ndarray,
    title: str,
    extra: dict[str, Any] | None,
    aft: AftLoss | None,
) -> tuple[AftReport, list[Path]]:
    """``metrics.json`` of predicted times against intervals, and the Kaplan-Meier
    curves of the rows with an event or censored on the right, per third of risk (the
    shortest predicted times: the highest risk)."""
    from unseen.ml.aft import AftLoss

    intervals = np.asarray(y, dtype=np.float64)
    time = np.asarray(scores, dtype=np.float64).ravel()
    report = evaluate_aft(intervals, time, aft or AftLoss())
    times = intervals_as_times(intervals)
    kept = ~np.isnan(times)
    files = [_write_metrics(out, report, extra)]
    return report, files + _risk_thirds(out, times[kept], 1.0 / time[kept], title, report)


def _risk_thirds(
    out: Path,
    y: np.ndarray,
    risk: np.ndarray,
    title: str,
    report: SurvivalReport | AftReport,
) -> list[Path]:
    """``survival.png`` when matplotlib is installed: Kaplan-Meier curves of the rows
    (signed times ``y``, negative: censored) in each third of predicted ``risk``."""
    files: list[Path] = []
    if matplotlib_available() and y.size:
        plt = _pyplot()

        fig, ax = plt.subplots(figsize=(6, 4.5))
        cuts = np.quantile(risk, [1 / 3, 2 / 3])
        group = np.searchsorted(cuts, risk, side="right")
        for g, name in enumerate(("lowest", "middle", "highest")):
            rows = y[group == g]
            if np.any(rows > 0):
                times, surviving = kaplan_meier(rows)
                ax.step(
                    np.r_[0.0, times],
                    np.r_[1.0, surviving],
                    where="post",
                    label=f"{name} third of risk (n={rows.size})",
                )
        ax.set_xlabel("time")
        ax.set_ylabel("share surviving (Kaplan-Meier)")
        ax.set_ylim(0, 1.02)
        ax.legend()
        ax.set_title(f"{title} (C-index {report.concordance:.3f})".strip())
        files.append(_save(plt, fig, out / "survival.png"))
    return files


def write_importance(
    directory: str | os.PathLike[str], kinds: dict[str, dict[str, float]], top: int = 20
) -> list[Path]:
    """A tree model's feature importance beside it: ``importance.csv`` (one row per
    feature used in a split, every kind of ``kinds`` a column, by the first kind, largest
    first) and ``importance.png`` (the ``top`` features by the first kind) when
    matplotlib is installed. ``kinds``: kind -> feature -> value (XGBoost's
    ``get_score`` kinds)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    names = list(kinds)
    first = kinds[names[0]] if names else {}
    order = sorted(first, key=lambda f: (-first[f], f))
    path = out / "importance.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["feature", *names])
        for feature in order:
            w.writerow([feature, *(repr(float(kinds[k].get(feature, 0.0))) for k in names)])
    files = [path]
    kind = names[0].replace("_", " ") if names else ""
    shown = order[:top]
    title = f"feature importance ({kind}, top {len(shown)})"
    chart = _bar_chart(out / "importance.png", shown, [first[f] for f in shown], kind, title)
    return files + ([chart] if chart else [])


def write_contribution_chart(
    path: str | os.PathLike[str], names: list[str], sizes: Any, top: int = 20
) -> Path | None:
    """The features that move the scores most, as a PNG at ``path``: the ``top`` ones by
    ``sizes`` (each feature's mean absolute contribution to the margin over the rows
    scored), largest first; ``None`` and nothing written without matplotlib."""
    order = sorted(range(len(names)), key=lambda j: (-float(sizes[j]), names[j]))[:top]
    return _bar_chart(
        Path(path),
        [names[j] for j in order],
        [float(sizes[j]) for j in order],
        "mean |contribution| to the margin",
        f"features by their contribution to the scores (top {len(order)})",
    )


def _bar_chart(
    path: Path, labels: list[str], values: list[float], xlabel: str, title: str
) -> Path | None:
    """Horizontal bars, the first label at the top, as a PNG at ``path``; ``None`` and
    nothing written without matplotlib or with no bar."""
    if not labels or not matplotlib_available():
        return None
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(6, 0.3 * len(labels) + 1.2))
    ax.barh(labels[::-1], values[::-1])
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    return _save(plt, fig, Path(path))


def write_tree_chart(
    path: str | os.PathLike[str], nodes: Any, tree: int = 0, title: str = ""
) -> Path | None:
    """One tree as a party sees it, drawn as a PNG at ``path``, from its nodes in the form
    of XGBoost's ``trees_to_dataframe`` (a SecureBoost party's ``trees.csv``): a split's
    feature and threshold where this party knows them (``x < threshold`` goes "yes"),
    another party's split by its feature and bin at the guest, by its owner elsewhere;
    each leaf's value where known; the branch missing values take marked. ``None`` and
    nothing written without matplotlib or without the tree."""
    rows = nodes[nodes["Tree"] == tree]
    if rows.empty or not matplotlib_available():
        return None
    by_id = {str(r["ID"]): r for _, r in rows.iterrows()}
    root = f"{tree}-0"
    position: dict[str, tuple[float, int]] = {}
    next_leaf = [0.0]

    def place(node: str, depth: int) -> float:  # leaves left to right, parents centred
        r = by_id[node]
        if r["Feature"] == "Leaf" or not isinstance(r["Yes"], str):
            x = next_leaf[0]
            next_leaf[0] += 1.0
        else:
            x = (place(str(r["Yes"]), depth + 1) + place(str(r["No"]), depth + 1)) / 2
        position[node] = (x, depth)
        return x

    place(root, 0)
    plt = _pyplot()
    leaves, depth = next_leaf[0], max(d for _, d in position.values())
    fig, ax = plt.subplots(figsize=(min(40.0, max(6.0, 1.5 * leaves)), 1.3 * depth + 1.6))
    box = {"boxstyle": "round", "facecolor": "white", "edgecolor": "grey"}
    for node, (x, d) in position.items():
        r = by_id[node]
        leaf = r["Feature"] == "Leaf" or not isinstance(r["Yes"], str)
        ax.text(x, -d, _tree_label(r, leaf), ha="center", va="center", fontsize=8, bbox=box)
        if leaf:
            continue
        for child, answer in ((str(r["Yes"]), "yes"), (str(r["No"]), "no")):
            cx, cd = position[child]
            ax.plot([x, cx], [-d, -cd], color="grey", linewidth=0.8, zorder=0)
            missing = ", missing" if str(r.get("Missing")) == child else ""
            ax.text((x + cx) / 2, -(d + cd) / 2, answer + missing, fontsize=7, color="dimgrey")
    ax.set_xlim(-0.8, leaves - 0.2)
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.axis("off")
    ax.set_title(title or f"tree {tree}")
    return _save(plt, fig, Path(path))


def _tree_label(r: Any, leaf: bool) -> str:
    """A node's text in :func:`write_tree_chart`."""
    import pandas as pd

    if leaf:
        return f"leaf {r['Gain']:.4g}" if pd.notna(r.get("Gain")) else "leaf"
    feature = r["Feature"] if isinstance(r["Feature"], str) and r["Feature"] else ""
    if isinstance(r.get("Category"), str) and r["Category"]:  # a categorical split's set
        return f"{feature} in {r['Category']}"
    if pd.notna(r.get("Split")):
        return f"{feature} < {r['Split']:.4g}"
    if feature and pd.notna(r.get("Bin")):  # the guest's view of a host's split
        return f"{feature}\nbin <= {int(r['Bin'])}"
    party = r.get("Party")
    return f"{party}'s split" if isinstance(party, str) and party else "another party's split"


def write_learning_curve(
    path: str | os.PathLike[str],
    metric: str,
    mean: Any,
    std: Any = None,
    best: int | None = None,
    title: str = "validation",
) -> Path | None:
    """A validation metric per boosting round as a PNG at ``path`` (``std``: a band of
    plus and minus one standard deviation, as over cross-validation's folds; ``best``:
    the best round, from 1, marked); ``None`` and nothing written without matplotlib."""
    if not matplotlib_available():
        return None
    plt = _pyplot()

    y = np.asarray(mean, dtype=float)
    rounds = np.arange(1, y.size + 1)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(rounds, y, label=f"{metric}" + (" (mean over the folds)" if std is not None else ""))
    if std is not None:
        band = np.asarray(std, dtype=float)
        ax.fill_between(rounds, y - band, y + band, alpha=0.25, label="± one standard deviation")
    if best is not None:
        ax.axvline(best, linestyle="--", color="grey", linewidth=0.8)
        ax.plot([best], [y[best - 1]], "o", label=f"best: round {best}, {y[best - 1]:.5f}")
    ax.set_xlabel("boosting round")
    ax.set_ylabel(metric)
    ax.set_title(f"{title} {metric} per round".strip())
    ax.legend(loc="best")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return _save(plt, fig, Path(path))


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay ``fig`` out, write it to ``path`` as a PNG and close it."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _pyplot() -> Any:
    """matplotlib's pyplot, drawing to files only (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _plots(
    out: Path, curves: dict[str, np.ndarray], report: BinaryReport, title: str
) -> list[Path]:
    if not matplotlib_available():
        return []
    plt = _pyplot()

    files = []
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(curves["fpr"], curves["tpr"], label=f"ROC (AUC {report.auc:.4f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.set_title(f"{title} ROC".strip())
    ax.legend(loc="lower right")
    files.append(_save(plt, fig, out / "roc.png"))

    fig, ax = plt.subplots(figsize=(6, 4))
    depth = curves["depth"]
    ax.plot(depth, curves["tpr"], label="positives (TPR)")
    ax.plot(depth, curves["fpr"], label="negatives (FPR)")
    ax.plot(depth, curves["ks"], label=f"KS (max {report.ks:.4f})")
    ax.set_xlabel("share of rows above the threshold")
    ax.set_ylabel("cumulative share")
    ax.set_title(f"{title} KS".strip())
    ax.legend(loc="lower right")
    files.append(_save(plt, fig, out / "ks.png"))

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.step(
        curves["tpr"],
        curves["precision"],
        where="pre",  # each recall's precision holds back to the recall before it
        label=f"precision-recall (AP {report.average_precision:.4f})",
    )
    rate = report.positives / report.n if report.n else math.nan
    ax.axhline(rate, linestyle="--", color="grey", linewidth=0.8, label=f"positive rate {rate:.3f}")
    ax.set_xlabel("recall (true-positive rate)")
    ax.set_ylabel("precision")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"{title} precision-recall".strip())
    ax.legend(loc="upper right")
    files.append(_save(plt, fig, out / "pr.png"))
    return files
