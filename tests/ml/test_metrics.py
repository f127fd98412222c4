"""Metrics at the label holder agree with scikit-learn; the evaluation report is complete."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn import metrics as skm

from unseen.ml.metrics import (
    accuracy,
    auc,
    average_precision,
    class_score_bands,
    class_stability,
    confusion,
    curves_table,
    evaluate,
    evaluate_regression,
    gains_table,
    ks,
    log_loss,
    precision_recall,
    roc_curve,
    score_bands,
    stability_index,
    stability_reading,
)
from unseen.ml.report import (
    cannot_report,
    matplotlib_available,
    write_contribution_chart,
    write_learning_curve,
    write_report,
)


@pytest.fixture(params=[0, 1, 2])
def scored(request):
    rng = np.random.default_rng(request.param)
    n = [500, 37, 2000][request.param]
    y = (rng.random(n) < 0.3).astype(float)
    y[:2] = [0, 1]
    p = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    if request.param == 2:
        p = np.round(p, 1)  # many ties
    return y, p


def test_auc_ks_accuracy_logloss_match_sklearn(scored):
    y, p = scored
    assert auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    fpr, tpr, _ = skm.roc_curve(y, p, drop_intermediate=False)
    assert ks(y, p) == pytest.approx(np.max(tpr - fpr), abs=1e-12)
    assert accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p >= 0.5))
    assert log_loss(y, p) == pytest.approx(skm.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15)))


def test_roc_curve_matches_sklearn(scored):
    y, p = scored
    fpr, tpr, thr = roc_curve(y, p)
    sfpr, stpr, sthr = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sfpr)
    np.testing.assert_allclose(tpr, stpr)
    np.testing.assert_allclose(thr[1:], sthr[1:])


def test_auc_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        auc(np.ones(5), np.linspace(0, 1, 5))


def test_evaluate_and_curves(scored):
    y, p = scored
    report = evaluate(y, p)
    assert report.n == len(y) and report.positives == int(y.sum())
    table = curves_table(y, p)
    assert np.max(table["ks"]) == pytest.approx(report.ks)
    assert "AUC" in report.line()


def test_report_files(tmp_path, scored):
    y, p = scored
    report, files = write_report(tmp_path / "rep", y, p, title="test", extra={"mode": "x"})
    names = {f.name for f in files}
    assert {"metrics.json", "curves.csv"} <= names
    saved = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert saved["auc"] == pytest.approx(report.auc) and saved["mode"] == "x"
    with (tmp_path / "rep" / "curves.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == {"threshold", "depth", "fpr", "tpr", "ks", "precision"}
    with (tmp_path / "rep" / "confusion.csv").open() as f:
        matrix = [[int(v) for v in row[1:]] for row in list(csv.reader(f))[1:]]
    counts = confusion(y, p)
    assert matrix == [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    assert saved["average_precision"] == pytest.approx(report.average_precision)
    depth = np.array([float(r["depth"]) for r in rows[1:]])
    assert np.all(np.diff(depth) >= 0) and depth[-1] == pytest.approx(1.0)
    assert max(float(r["ks"]) for r in rows) == pytest.approx(report.ks)
    with (tmp_path / "rep" / "gains.csv").open() as f:
        bands = list(csv.DictReader(f))
    assert len(bands) == 10 and bands[0]["band"] == "1"
    assert float(bands[0]["lift"]) == pytest.approx(saved["top_decile_lift"])
    assert sum(int(b["rows"]) for b in bands) == len(y)
    if matplotlib_available():
        assert {"roc.png", "ks.png", "lift.png", "pr.png"} <= names
        assert (tmp_path / "rep" / "roc.png").read_bytes()[:4] == b"\x89PNG"
    else:
        assert not (tmp_path / "rep" / "roc.png").exists()


def test_precision_recall_f1_and_average_precision_are_scikit_learns(scored):
    """The precision-recall curve, its area (average precision) and precision, recall and
    F1 at the threshold 0.5, as scikit-learn computes them (ties merged)."""
    from sklearn import metrics as sk

    y, p = scored
    precision, recall = precision_recall(y, p)
    sk_precision, sk_recall, _ = sk.precision_recall_curve(y, p)
    # scikit-learn lists them from the lowest threshold up, ending at (recall 0, 1)
    np.testing.assert_allclose(precision, sk_precision[::-1])
    np.testing.assert_allclose(recall, sk_recall[::-1])
    assert average_precision(y, p) == pytest.approx(sk.average_precision_score(y, p))
    report = evaluate(y, p)
    said = (p >= 0.5).astype(int)
    assert report.precision == pytest.approx(sk.precision_score(y, said))
    assert report.recall == pytest.approx(sk.recall_score(y, said))
    assert report.f1 == pytest.approx(sk.f1_score(y, said))
    assert "AP" in report.line() and "F1" in report.line()
    counts = confusion(y, p)
    np.testing.assert_array_equal(
        sk.confusion_matrix(y, said), [[counts["tn"], counts["fp"]], [counts["fn"], counts["tp"]]]
    )
    # no row called positive: precision and F1 have nothing to count
    nothing = evaluate(y, np.zeros_like(p))
    assert np.isnan(nothing.precision) and nothing.recall == 0 and nothing.f1 == 0


def test_gains_table_is_the_definition(scored):
    """Ten bands of rows by score, highest first (equal sizes, by rank): each band's
    positive rate, lift and the cumulative capture of positives and KS, recomputed row
    by row; the top band's lift is in the report's line and metrics.json."""
    y, p = scored
    table = gains_table(y, p)
    order = np.argsort(-p, kind="stable")
    band_of = np.empty(y.size, dtype=np.int64)
    band_of[order] = np.arange(y.size) * 10 // y.size  # rank-based bands of equal size
    overall = y.mean()
    for b in range(10):
        rows = band_of == b
        assert table["rows"][b] == rows.sum() and table["positives"][b] == y[rows].sum()
        assert table["min_score"][b] == p[rows].min() and table["max_score"][b] == p[rows].max()
        assert table["lift"][b] == pytest.approx(y[rows].mean() / overall)
        upto = band_of <= b
        captured = y[upto].sum() / y.sum()
        assert table["cumulative_positive_share"][b] == pytest.approx(captured)
        assert table["cumulative_lift"][b] == pytest.approx(y[upto].mean() / overall)
        missed = (1 - y[upto]).sum() / (1 - y).sum()
        assert table["ks"][b] == pytest.approx(captured - missed)
    assert np.all(np.diff(table["max_score"]) <= 0)  # highest scores first
    assert table["cumulative_positive_share"][-1] == pytest.approx(1.0)
    assert np.max(table["ks"]) <= ks(y, p) + 1e-12  # KS at band edges only
    report = evaluate(y, p)
    assert report.top_decile_lift == pytest.approx(table["lift"][0]) and "lift" in report.line()
    assert gains_table(y[:3], p[:3])["rows"].tolist() == [1, 1, 1]  # fewer rows than bands


def test_stability_index_is_the_definition():
    """PSI: ten bands of the reference scores by quantile (a score on an edge goes up),
    sum (a - e) ln(a / e) with shares floored at 1e-4; about 0 for the same population,
    large for a shifted one."""
    rng = np.random.default_rng(4)
    reference = rng.beta(2, 5, 20_000)
    edges, shares = score_bands(reference)
    assert edges.size == 9 and shares == pytest.approx(np.full(10, 0.1), abs=1e-4)
    same, shifted = rng.beta(2, 5, 20_000), rng.beta(3, 4, 20_000)
    assert stability_index(edges, shares, same) < 0.01
    psi = stability_index(edges, shares, shifted)
    band = np.searchsorted(edges, shifted, side="right")
    actual = np.maximum(np.bincount(band, minlength=10) / shifted.size, 1e-4)
    assert psi == pytest.approx(np.sum((actual - shares) * np.log(actual / shares)))
    assert psi > 0.25 and stability_reading(psi) == "shifted"
    assert stability_reading(0.05) == "stable" and stability_reading(0.2) != "stable"
    # a score on an edge goes to the band above it; ties merge bands
    edges, shares = score_bands(np.array([0.0, 0.0, 0.0, 1.0]), bands=4)
    assert edges.tolist() == [0.0, 0.25] and shares.tolist() == [0.0, 0.75, 0.25]
    empty = stability_index(edges, shares, np.array([1.0, 1.0]))  # a band left empty
    assert np.isfinite(empty) and empty > 1


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_class_stability_bands_each_class_and_the_likeliest_class():
    """Several classes: each class's probability against its own ten bands, and the shares
    of the likeliest class as categories; about 0 for the same population, large where
    one class grows."""
    rng = np.random.default_rng(8)
    ref = _softmax(rng.normal(0, 1, (30_000, 3)))
    bands = class_score_bands(ref)
    assert len(bands["classes"]) == 3 and len(bands["classes"][1]["shares"]) == 10
    edges, shares = score_bands(ref[:, 1])
    assert bands["classes"][1]["edges"] == edges.tolist()
    assert bands["predicted"] == pytest.approx(np.bincount(ref.argmax(1)) / len(ref))
    same = class_stability(bands, _softmax(rng.normal(0, 1, (30_000, 3))))
    assert max(same["per_class"]) < 0.01 and same["predicted"] < 0.01
    grown = _softmax(rng.normal(0, 1, (30_000, 3)) + [0.0, 0.0, 1.5])
    drift = class_stability(bands, grown)
    assert drift["per_class"][2] > 0.25 and drift["predicted"] > 0.25
    actual = np.bincount(grown.argmax(1), minlength=3) / len(grown)
    expected = np.array(bands["predicted"])
    assert drift["predicted"] == pytest.approx(
        np.sum((actual - expected) * np.log(actual / expected))
    )
    assert drift["per_class"][0] == pytest.approx(
        stability_index(
            np.array(bands["classes"][0]["edges"]),
            np.array(bands["classes"][0]["shares"]),
            grown[:, 0],
        )
    )
    with pytest.raises(ValueError, match="3 classes"):
        class_stability(bands, grown[:, :2])


def test_regression_metrics_match_sklearn():
    rng = np.random.default_rng(3)
    y = rng.normal(100, 30, 400)
    p = y + rng.normal(0, 10, 400)
    r = evaluate_regression(y, p)
    assert r.rmse == pytest.approx(np.sqrt(skm.mean_squared_error(y, p)), rel=1e-12)
    assert r.mae == pytest.approx(skm.mean_absolute_error(y, p), rel=1e-12)
    assert r.r2 == pytest.approx(skm.r2_score(y, p), rel=1e-12)
    assert r.n == 400 and "RMSE" in r.line()
    assert np.isnan(evaluate_regression(np.ones(3), np.arange(3.0)).r2)  # constant labels


@pytest.mark.parametrize(
    "objective, power, key",
    [
        ("count:poisson", 1.0, "mean_poisson_deviance"),
        ("reg:gamma", 2.0, "mean_gamma_deviance"),
        ("reg:tweedie", 1.3, "mean_tweedie_deviance"),
    ],
)
def test_log_link_reports_add_the_mean_deviance(objective, power, key, tmp_path):
    rng = np.random.default_rng(4)
    mu = rng.uniform(0.5, 4.0, 300)
    y = rng.poisson(mu).astype(float) if power == 1 else rng.gamma(2.0, mu / 2.0)
    if objective == "reg:tweedie":
        y[::3] = 0.0  # claims with zeros
    p = mu * rng.uniform(0.8, 1.2, 300)
    r = evaluate_regression(y, p, objective, power)
    assert r.deviance == pytest.approx(skm.mean_tweedie_deviance(y, p, power=power), rel=1e-10)
    assert "deviance" in r.line()
    report, _ = write_report(tmp_path, y, p, objective=objective, tweedie_power=power)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved[key] == pytest.approx(r.deviance) and saved["rmse"] == pytest.approx(r.rmse)
    assert evaluate_regression(y, p).deviance is None  # squared error: none


def test_regression_report_files(tmp_path):
    y = np.linspace(0, 50, 60)
    p = y + np.sin(y)
    report, files = write_report(
        tmp_path / "rep", y, p, title="t", extra={"mode": "x"}, objective="reg:squarederror"
    )
    saved = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert saved["rmse"] == pytest.approx(report.rmse) and saved["mode"] == "x"
    assert "auc" not in saved and not (tmp_path / "rep" / "curves.csv").exists()
    names = {f.name for f in files}
    assert ("predicted.png" in names) == matplotlib_available()


def test_cannot_report_one_class_or_no_rows():
    assert cannot_report(np.array([1.0, 1.0])) is not None
    assert cannot_report(np.array([])) == "no rows"
    assert cannot_report(np.array([0.0, 1.0])) is None
    assert cannot_report(np.array([3.0, 3.0]), "reg:squarederror") is None


def test_learning_curves_are_plotted_with_matplotlib(tmp_path):
    """A validation metric per round, alone or with the folds' spread, as a PNG; nothing
    without matplotlib."""
    mean = [0.6, 0.45, 0.4, 0.41]
    for name, std in (("alone.png", None), ("folds.png", [0.01, 0.02, 0.02, 0.03])):
        got = write_learning_curve(tmp_path / "sub" / name, "logloss", mean, std, best=3)
        if matplotlib_available():
            assert got == tmp_path / "sub" / name and got.read_bytes()[:4] == b"\x89PNG"
        else:
            assert got is None and not (tmp_path / "sub" / name).exists()


def _harrell_by_pairs(y, risk):
    """Harrell's C by its definition, pair by pair (O(n^2))."""
    time, event = np.abs(y), y > 0
    right = tied = pairs = 0
    for i in np.flatnonzero(event):
        later = (time > time[i]) | ((time == time[i]) & ~event)  # outlived i's event
        pairs += int(later.sum())
        right += int((risk[i] > risk[later]).sum())
        tied += int((risk[i] == risk[later]).sum())
    return (right + 0.5 * tied) / pairs


def test_concordance_index_is_harrells_pair_by_pair():
    from unseen.ml.metrics import concordance_index

    rng = np.random.default_rng(3)
    for _ in range(30):  # small sets with many tied times and tied risks
        n = int(rng.integers(3, 80))
        t = rng.integers(1, 9, n).astype(float)
        y = np.where(rng.random(n) < 0.6, t, -t)
        y[0] = abs(y[0])  # one event at least
        risk = rng.integers(0, 6, n).astype(float)
        assert concordance_index(y, risk) == pytest.approx(_harrell_by_pairs(y, risk))
    y = np.array([1.0, 2.0, 3.0, -4.0])
    assert concordance_index(y, np.array([4.0, 3.0, 2.0, 1.0])) == 1.0  # riskiest first
    assert concordance_index(y, np.array([1.0, 2.0, 3.0, 4.0])) == 0.0
    assert np.isnan(concordance_index(np.array([-1.0, 2.0]), np.array([1.0, 2.0])))


def test_survival_report_files(tmp_path):
    from unseen.ml.report import kaplan_meier

    rng = np.random.default_rng(0)
    risk = rng.lognormal(size=400)
    t = rng.exponential(1.0 / risk)
    y = np.where(rng.random(400) < 0.7, t, -t)
    report, files = write_report(tmp_path, y, risk, objective="survival:cox")
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["concordance"] == pytest.approx(_harrell_by_pairs(y, risk))
    assert 0.6 < saved["concordance"] < 0.8 and saved["events"] == int((y > 0).sum())
    assert (tmp_path / "survival.png" in files) == matplotlib_available()
    assert "C-index" in report.line()
    times, surviving = kaplan_meier(np.array([1.0, 2.0, -2.0, 3.0, -5.0]))
    assert times.tolist() == [1.0, 2.0, 3.0]
    np.testing.assert_allclose(surviving, [0.8, 0.8 * 3 / 4, 0.8 * 3 / 4 * 1 / 2])
    assert cannot_report(-np.ones(3), "survival:cox").startswith("no observed event")


def test_quantile_reports_add_the_pinball_loss_and_the_coverage(tmp_path):
    rng = np.random.default_rng(1)
    y, p = rng.normal(size=300), rng.normal(size=300) + 1.0
    report = evaluate_regression(y, p, "reg:quantileerror", alpha=0.9)
    assert report.pinball == pytest.approx(skm.mean_pinball_loss(y, p, alpha=0.9))
    assert report.coverage == pytest.approx(np.mean(y <= p))
    assert "quantile 0.9: pinball loss" in report.line()
    write_report(tmp_path, y, p, objective="reg:quantileerror", quantile_alpha=0.9)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["quantile_alpha"] == 0.9 and saved["pinball_loss"] == report.pinball
    assert "pinball_loss" not in evaluate_regression(y, p).to_json()


def test_contribution_chart(tmp_path):
    """The features that move the scores most as a PNG (with matplotlib), else nothing."""
    path = tmp_path / "contribs.png"
    got = write_contribution_chart(path, ["a", "b", "host:c"], np.array([0.1, 0.5, 0.3]))
    if matplotlib_available():
        assert got == path and path.read_bytes()[:4] == b"\x89PNG"
    else:
        assert got is None and not path.exists()


def test_tree_chart_labels_and_file(tmp_path):
    """A tree drawn from its nodes (trees.csv's form): a party's own split with its
    threshold, the guest's view of a host's split by feature and bin, a split unknown to
    this party by its owner, leaves with their values where known."""
    import pandas as pd

    from unseen.ml.report import _tree_label, write_tree_chart

    nodes = pd.DataFrame(
        {
            "Tree": [0, 0, 0, 0, 0],
            "Node": [0, 1, 2, 3, 4],
            "ID": ["0-0", "0-1", "0-2", "0-3", "0-4"],
            "Party": ["h", "g", "", "", ""],
            "Feature": ["h:x7", "g2", "Leaf", "Leaf", "Leaf"],
            "Split": [np.nan, 0.25, np.nan, np.nan, np.nan],
            "Bin": [12, 3, np.nan, np.nan, np.nan],
            "Yes": ["0-1", "0-3", None, None, None],
            "No": ["0-2", "0-4", None, None, None],
            "Missing": ["0-2", "0-3", None, None, None],
            "Gain": [5.0, 2.0, 0.5, -0.25, np.nan],
        }
    )
    rows = [r for _, r in nodes.iterrows()]
    assert _tree_label(rows[0], False) == "h:x7\nbin <= 12"
    assert _tree_label(rows[1], False) == "g2 < 0.25"
    assert _tree_label(rows[2], True) == "leaf 0.5" and _tree_label(rows[4], True) == "leaf"
    unknown = rows[1].copy()
    unknown[["Party", "Feature", "Split", "Bin"]] = ["g", "", np.nan, np.nan]
    assert _tree_label(unknown, False) == "g's split"
    unknown["Party"] = ""
    assert _tree_label(unknown, False) == "another party's split"
    got = write_tree_chart(tmp_path / "tree.png", nodes, 0)
    assert write_tree_chart(tmp_path / "none.png", nodes, 1) is None  # no such tree
    if matplotlib_available():
        assert got == tmp_path / "tree.png" and got.read_bytes()[:4] == b"\x89PNG"
    else:
        assert got is None


def test_column_stability_bands_values_and_missing_cells():
    """A feature's stability index (CSI): about 0 on its own training values, large
    where the values moved or cells went missing; a categorical feature's codes a band
    each; for a column with nothing missing, the PSI of the values in the same bands."""
    from unseen.ml.metrics import column_bands, column_stability

    rng = np.random.default_rng(3)
    train = rng.normal(size=5000)
    train[:250] = np.nan  # 5% missing
    bands = column_bands(train)
    assert len(bands["shares"]) == len(bands["edges"]) + 1 == 10
    assert sum(bands["shares"]) + bands["missing"] == pytest.approx(1.0)
    assert bands["missing"] == pytest.approx(0.05)
    assert column_stability(bands, train) == pytest.approx(0.0, abs=1e-12)
    same = rng.normal(size=3000)
    same[:150] = np.nan
    assert column_stability(bands, same) < 0.02
    assert stability_reading(column_stability(bands, same + 1.0)) == "shifted"
    holes = same.copy()
    holes[:1500] = np.nan  # half missing now
    assert column_stability(bands, holes) > 0.25
    codes = rng.integers(0, 4, 2000).astype(float)
    cat = column_bands(codes, categories=4)
    assert cat["edges"] == [0.5, 1.5, 2.5] and cat["missing"] == 0.0
    only_two = np.where(codes > 1, 1.0, 0.0)  # categories 2 and 3 gone
    assert column_stability(cat, only_two) > 1.0
    full = rng.normal(size=2000)
    ref = column_bands(full)
    new = full * 1.3
    psi = stability_index(np.array(ref["edges"]), np.array(ref["shares"]), new)
    assert column_stability(ref, new) == pytest.approx(psi)


def test_column_bands_read_every_kth_row_of_a_long_column(monkeypatch):
    """Beyond the row limit (a million; 1,000 here) the bands come from every k-th row:
    shares still sum to one with the missing share, and the column's own CSI stays near 0."""
    from unseen.ml import metrics

    monkeypatch.setattr(metrics, "_BAND_ROWS", 1000)
    values = np.random.default_rng(4).normal(size=10_500)
    values[::20] = np.nan
    bands = metrics.column_bands(values)
    assert sum(bands["shares"]) + bands["missing"] == pytest.approx(1.0)
    assert bands["missing"] == pytest.approx(0.05, abs=0.01)
    assert metrics.column_stability(bands, values) < 0.02
