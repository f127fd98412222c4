"""SecureBoost in one process (every party a thread): lossless against XGBoost, all modes.

"Lossless" is checked two ways: the model's test AUC is within 0.005 of XGBoost
(``tree_method="hist"``, same hyper-parameters) on the joined data, and its
predictions equal XGBoost's on the joined data binned with the parties' own
cut points (up to fixed-point rounding).
"""

from __future__ import annotations

import functools
import importlib.util
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from unseen.ml.metrics import auc, evaluate_regression
from unseen.ml.model_io import PREDICTORS
from unseen.ml.secureboost import (
    PartyModel,
    SecureBoostClassifier,
    SecureBoostRegressor,
    check_features,
    predict_party,
    security_statement,
    xgboost_reference,
)
from unseen.runtime.errors import ConfigError, InputError
from unseen.runtime.local import run_local

pytest.importorskip("xgboost")

BREAST = dict(n_estimators=10, max_depth=5, learning_rate=0.3, max_bin=32)


def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr.astype(float), yte.astype(float)


def fit_jointly(
    mode,
    parts_tr,
    ytr,
    parts_te,
    estimator=SecureBoostClassifier,
    eval_set=None,
    all_classes=False,
    **params,
):
    """Train with parties guest, host1.. (+ dealer in ss-dealer mode); the guest's test
    scores (a classifier's: class 1's probability, or with ``all_classes`` every class's)."""
    names = ["guest"] + [f"host{i}" for i in range(1, len(parts_tr))]

    def party(i):
        def role(ctx):
            est = estimator(mode=mode, **params)
            ev = None
            if eval_set is not None:
                ev = (eval_set[0][i], eval_set[1] if i == 0 else None)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None, eval_set=ev)
            if estimator is SecureBoostClassifier:
                out = est.predict_proba(ctx, parts_te[i])
                return est, out if out is None or all_classes else out[:, 1]
            return est, est.predict(ctx, parts_te[i])

        return role

    roles = {name: party(i) for i, name in enumerate(names)}
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: estimator(mode=mode, **params).fit(ctx)
    res = run_local(roles, timeout=300)
    return res["guest"][1], {n: res[n][0] for n in names}


def xgb_scores(Xtr, ytr, Xte, objective="binary:logistic", binned=False, **params):
    keys = ("n_estimators", "max_depth", "learning_rate", "max_bin")
    extra = {k: params[k] for k in ("reg_lambda", "min_child_weight") if k in params}
    return xgboost_reference(
        Xtr,
        ytr,
        Xte,
        objective=objective,
        same_bins=binned,
        **{k: params[k] for k in keys},
        **extra,
    )


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "ss-dealer-matrix"])
def test_breast_cancer_is_lossless(mode):
    Xtr, Xte, ytr, yte = breast_cancer()
    p, _ = fit_jointly(mode, [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]], **BREAST)
    assert abs(auc(yte, p) - auc(yte, xgb_scores(Xtr, ytr, Xte, **BREAST))) < 0.005
    same_bins = xgb_scores(Xtr, ytr, Xte, binned=True, **BREAST)
    np.testing.assert_allclose(p, same_bins, atol=1e-5)


def _compiled_variants() -> dict[str, int]:
    from unseen.ml import sbt_kernels

    loops = {name: getattr(sbt_kernels, name) for name in dir(sbt_kernels)}
    return {name: len(f.signatures) for name, f in loops.items() if hasattr(f, "signatures")}


def test_training_runs_only_loops_compiled_during_set_up():
    """The warm-up covers every type training passes the compiled loops (a type it
    missed would make a tree wait while Numba loads or compiles that variant)."""
    from unseen.ml import sbt_kernels

    sbt_kernels.warm_up()
    before = _compiled_variants()
    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=2)
    fit_jointly("ss-dealer", [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]], **params)
    assert _compiled_variants() == before


@pytest.mark.parametrize("scheme", ["paillier", "ou"])
def test_he_mode_is_lossless(scheme):
    Xtr, Xte, ytr, yte = breast_cancer()
    params = dict(BREAST, n_estimators=3, max_depth=3)
    p, models = fit_jointly(
        "he",
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        he_options={"scheme": scheme},
        **params,
    )
    np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **params), atol=1e-5)
    assert models["guest"].model_.mode == "he"


def test_he_hidden_is_lossless():
    """Instance spaces hidden from the hosts: the same trees as XGBoost on the same bins;
    with deeper trees (more nodes than one OU plaintext's slots), a row sample and a
    feature sample, the same as plain mode."""
    Xtr, Xte, ytr, _ = breast_cancer()
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    ou = {"he_options": {"scheme": "ou"}}
    params = dict(BREAST, n_estimators=3, max_depth=4)
    p, models = fit_jointly("he-hidden", parts_tr, ytr, parts_te, **params, **ou)
    np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **params), atol=1e-5)
    assert models["host1"].model_.mode == "he-hidden"
    params = dict(
        BREAST, n_estimators=2, max_depth=6, subsample=0.7, colsample_bytree=0.6, random_state=1
    )
    p, _ = fit_jointly("he-hidden", parts_tr, ytr, parts_te, **params, **ou)
    q, _ = fit_jointly("plain", parts_tr, ytr, parts_te, **params)
    np.testing.assert_allclose(p, q, atol=1e-5)


@pytest.mark.slow
def test_ss_dealer_at_scale_with_two_pass_permutations():
    """Above 2^21 rows the dealer's and the host's permutations are drawn in two passes:
    they must still agree, and the model equal XGBoost's on the same bins (2.2 million
    rows, every message of corrections about 90 MB) but for the fixed point: g and h
    keep 9 and 10 fraction bits in one share word at this size (14 and 15 at 100k)."""
    from unseen.ml import sbt_kernels

    rng = np.random.default_rng(17)
    n = sbt_kernels.TWO_PASS_ROWS + 100_003
    assert sbt_kernels.bucket_count(n) > 1
    X = rng.standard_normal((n + 2000, 8)).astype(np.float32).astype(np.float64)
    y = (X @ rng.standard_normal(8) + rng.standard_normal(n + 2000) > 0).astype(float)
    Xtr, Xte, ytr = X[:n], X[n:], y[:n]
    params = dict(n_estimators=2, max_depth=3, learning_rate=0.3, max_bin=16)
    p, _ = fit_jointly(
        "ss-dealer", [Xtr[:, :3], Xtr[:, 3:]], ytr, [Xte[:, :3], Xte[:, 3:]], **params
    )
    q = xgb_scores(Xtr, ytr, Xte, binned=True, **params)
    np.testing.assert_allclose(p, q, atol=5e-4)  # measured: 1.2e-4 at most
    assert np.abs(p - q).mean() < 1e-4
    assert np.abs(p - 0.5).max() > 0.2  # the trees do separate the rows


def _fit_with_missing(mode, parts_tr, ytr, parts_te, missing, **params):
    """fit_jointly with each party's own ``missing`` (guest first); the guest's scores and
    every party's model part."""

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode=mode, missing=missing[i], **params)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None)
            out = est.predict_proba(ctx, parts_te[i])
            return est.model_, None if out is None else out[:, 1]

        return role

    roles = {"guest": party(0), "host1": party(1)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode, **params).fit(ctx)
    res = run_local(roles, timeout=300)
    return res["guest"][1], {n: res[n][0] for n in ("guest", "host1")}


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_a_missing_value_code_is_xgboosts_missing(mode, tmp_path):
    """``missing`` (XGBoost's): each party's numeric cells equal to its own code (-999 at
    the guest, -1 at the host) are missing, in training and in prediction: the model is
    the one trained with NaN in their place, and equals XGBoost's on the same bins. The
    code is kept in each party's model."""
    Xtr, Xte, ytr, _ = breast_cancer()
    rng = np.random.default_rng(9)
    holes_tr, holes_te = rng.random(Xtr.shape) < 0.15, rng.random(Xte.shape) < 0.15
    nan_tr, nan_te = np.where(holes_tr, np.nan, Xtr), np.where(holes_te, np.nan, Xte)
    codes = np.where(np.arange(Xtr.shape[1]) < 10, -999.0, -1.0)
    coded_tr, coded_te = np.where(holes_tr, codes, Xtr), np.where(holes_te, codes, Xte)
    params = dict(n_estimators=4, max_depth=4, learning_rate=0.3, max_bin=16)

    def split(X):
        return [X[:, :10], X[:, 10:]]

    p, models = _fit_with_missing(
        mode, split(coded_tr), ytr, split(coded_te), [-999, -1.0], **params
    )
    q, _ = _fit_with_missing(mode, split(nan_tr), ytr, split(nan_te), [None, None], **params)
    np.testing.assert_allclose(p, q, atol=1e-12)
    np.testing.assert_allclose(p, xgb_scores(nan_tr, ytr, nan_te, binned=True, **params), atol=1e-5)
    as_numbers, _ = _fit_with_missing(
        mode, split(coded_tr), ytr, split(coded_te), [None, None], **params
    )
    assert np.abs(as_numbers - q).max() > 1e-3  # read as numbers, the codes change the model
    assert (models["guest"].missing, models["host1"].missing) == (-999.0, -1.0)
    # continued training keeps each part's code; another code is refused
    _, cont = _fit_on(
        mode, split(coded_tr), ytr, split(coded_te), init=models, **dict(params, n_estimators=1)
    )
    assert (cont["guest"].model_.missing, cont["host1"].model_.missing) == (-999.0, -1.0)
    with pytest.raises(ConfigError, match=r"read -(999|1)\.0 as missing, not 5\.0"):
        _fit_on(mode, split(coded_tr), ytr, split(coded_te), init=models, missing=5.0, **params)
    models["host1"].save(tmp_path / "host")
    assert PartyModel.load(tmp_path / "host").missing == -1.0
    with pytest.raises(ConfigError, match="finite number"):
        SecureBoostClassifier(missing=float("inf"))
    assert SecureBoostClassifier(missing=-999).get_params()["missing"] == -999


def test_a_missing_value_code_leaves_category_codes_alone():
    """Category codes are not cell values: a code equal to ``missing`` stays a category."""
    from unseen.ml.secureboost import mark_missing

    X = np.array([[0.0, 0.0, 2.0], [1.0, 0.0, 0.0]])
    got = mark_missing(X, 0.0, ["a", "region", "b"], {"region": ["north", "south"]})
    np.testing.assert_array_equal(got, [[np.nan, 0.0, 2.0], [1.0, 0.0, np.nan]])
    assert mark_missing(X, None, ["a", "region", "b"]) is X
    assert np.array_equal(X[:, 0], [0.0, 1.0])  # the caller's matrix is not changed


def test_three_parties_two_hosts():
    Xtr, Xte, ytr, yte = breast_cancer()
    cols = [slice(0, 10), slice(10, 20), slice(20, 30)]
    p, models = fit_jointly(
        "ss-dealer", [Xtr[:, c] for c in cols], ytr, [Xte[:, c] for c in cols], **BREAST
    )
    np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **BREAST), atol=1e-5)
    guest = models["guest"].model_
    assert set(guest.host_features) == {"host1", "host2"}
    # each host holds thresholds for its own splits only, the guest holds none of theirs
    for i, name in enumerate(["host1", "host2"], start=1):
        part = models[name].model_
        for lay, sp in zip(part.trees.layouts, part.trees.splits, strict=True):
            assert all(lay.owner[v] == i for v in sp.node)
        assert all(v.size == 0 for v in part.trees.values)  # leaf weights: guest only
    owners = {o for lay in guest.trees.layouts for o in lay.owner if o >= 0}
    assert owners == {0, 1, 2}  # every party's features were used


@pytest.mark.parametrize("mode", ["he", "he-hidden"])
def test_he_three_parties(mode):
    """A guest and two hosts; in he-hidden each host answers its splits for every row."""
    Xtr, Xte, ytr, yte = breast_cancer()
    cols = [slice(0, 10), slice(10, 20), slice(20, 30)]
    params = dict(BREAST, n_estimators=2, max_depth=3)
    p, _ = fit_jointly(
        mode,
        [Xtr[:, c] for c in cols],
        ytr,
        [Xte[:, c] for c in cols],
        he_options={"scheme": "ou"},
        **params,
    )
    np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **params), atol=1e-5)


def _caravan():
    spec = importlib.util.find_spec("ISLP")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ISLP (which ships the Caravan data) is not installed")
    import pandas as pd

    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "Caravan.csv"
    df = pd.read_csv(path)
    y = (df.pop("Purchase") == "Yes").to_numpy(dtype=float)
    return df.to_numpy(dtype=float), y


def assert_lossless(X, y, guest_columns, **params):
    """ss-dealer on a stratified 75/25 split, guest: label + the first ``guest_columns``
    columns, host: the rest; AUC within 0.005 of XGBoost, scores equal on the same bins."""
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    g = guest_columns
    p, _ = fit_jointly(
        "ss-dealer", [Xtr[:, :g], Xtr[:, g:]], ytr, [Xte[:, :g], Xte[:, g:]], **params
    )
    assert abs(auc(yte, p) - auc(yte, xgb_scores(Xtr, ytr, Xte, **params))) < 0.005
    np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **params), atol=1e-5)


def test_caravan_is_lossless():
    """ISLP's Caravan (5,822 insurance customers, 85 features, 6% buyers)."""
    X, y = _caravan()
    assert_lossless(X, y, 25, n_estimators=20, max_depth=4, learning_rate=0.1, max_bin=32)


def test_digits_is_lossless():
    """scikit-learn's bundled digits (1,797 images, 64 pixels): is it a 5 or more?"""
    from sklearn.datasets import load_digits

    X, d = load_digits(return_X_y=True)
    y = (d >= 5).astype(float)
    assert_lossless(X, y, 24, n_estimators=10, max_depth=4, learning_rate=0.3, max_bin=16)


def test_fair_is_lossless():
    """statsmodels' Fair (6,366 women, 8 features; 32% had an affair): the larger data set
    the CI runs (Caravan needs ISLP, which needs torch)."""
    from statsmodels.datasets import fair

    df = fair.load_pandas().data
    y = (df.pop("affairs") > 0).to_numpy(dtype=float)
    assert_lossless(
        df.to_numpy(dtype=float), y, 4, n_estimators=20, max_depth=5, learning_rate=0.1, max_bin=32
    )


def test_randhie_regression_is_lossless():
    """statsmodels' RAND health insurance experiment (20,190 person-years, 9 features):
    doctor visits, squared error."""
    from statsmodels.datasets import randhie

    df = randhie.load_pandas().data
    y = df.pop("mdvis").to_numpy(dtype=float)
    X = df.to_numpy(dtype=float)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    params = dict(n_estimators=10, max_depth=4, learning_rate=0.3, max_bin=32)
    p, _ = fit_jointly(
        "ss-dealer",
        [Xtr[:, :4], Xtr[:, 4:]],
        ytr,
        [Xte[:, :4], Xte[:, 4:]],
        estimator=SecureBoostRegressor,
        **params,
    )
    obj = "reg:squarederror"
    ref = xgb_scores(Xtr, ytr, Xte, objective=obj, binned=True, **params)
    np.testing.assert_allclose(p, ref, rtol=1e-4, atol=1e-3)
    rmse = evaluate_regression(yte, p).rmse
    rmse_xgb = evaluate_regression(yte, xgb_scores(Xtr, ytr, Xte, objective=obj, **params)).rmse
    assert abs(rmse - rmse_xgb) < 0.005 * rmse_xgb


def test_regression_matches_xgboost():
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    params = dict(n_estimators=10, max_depth=3, learning_rate=0.3, max_bin=16)
    for mode, extra in (
        ("ss-dealer", {}),
        ("ss-dealer-matrix", {}),
        ("he", {"he_options": {"scheme": "ou"}}),
    ):
        p, _ = fit_jointly(
            mode,
            [Xtr[:, :4], Xtr[:, 4:]],
            ytr,
            [Xte[:, :4], Xte[:, 4:]],
            estimator=SecureBoostRegressor,
            **params,
            **extra,
        )
        ref = xgb_scores(Xtr, ytr, Xte, objective="reg:squarederror", binned=True, **params)
        np.testing.assert_allclose(p, ref, rtol=1e-4, atol=1e-3)


def claims_data(objective: str, power: float = 1.5):
    """Diabetes features with a synthetic label of the objective's kind (fixed seed):
    counts (count:poisson), positive amounts (reg:gamma), amounts with 40% zeros
    (reg:tweedie), each with a log-linear mean in six of the features."""
    X, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    mu = np.exp(0.5 + X[:, :6] @ rng.normal(0, 6, 6))
    if objective == "count:poisson":
        y = rng.poisson(mu).astype(float)
    elif objective == "reg:gamma":
        y = rng.gamma(2.0, mu / 2.0)
    else:
        y = np.where(rng.random(mu.size) < 0.4, 0.0, rng.gamma(2.0, mu / 2.0))
    return X[:300], X[300:], y[:300], y[300:]


@pytest.mark.parametrize(
    "mode, objective",
    [
        ("plain", "count:poisson"),
        ("plain", "reg:gamma"),
        ("plain", "reg:tweedie"),
        ("ss-dealer", "count:poisson"),
        ("ss-dealer", "reg:tweedie"),
        ("ss-dealer-matrix", "reg:gamma"),
        ("he", "count:poisson"),
        ("he-hidden", "reg:tweedie"),
    ],
)
def test_log_link_losses_are_xgboosts(mode, objective):
    """count:poisson (XGBoost's max_delta_step of 0.7 included), reg:gamma and reg:tweedie:
    the same model as XGBoost's on the same bins, predicting means (exp of the margin)."""
    Xtr, Xte, ytr, _ = claims_data(objective)
    power = 1.3 if objective == "reg:tweedie" else 1.5
    params = dict(n_estimators=8, max_depth=4, learning_rate=0.3, max_bin=16)
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    p, models = fit_jointly(
        mode,
        [Xtr[:, :4], Xtr[:, 4:]],
        ytr,
        [Xte[:, :4], Xte[:, 4:]],
        estimator=SecureBoostRegressor,
        objective=objective,
        tweedie_variance_power=power,
        **params,
        **extra,
    )
    reference = xgb_log_link(Xtr, ytr, Xte, objective, power, **params)
    np.testing.assert_allclose(p, reference, rtol=1e-5, atol=1e-6)
    assert p.min() > 0  # means
    assert models["guest"].get_params()["objective"] == objective


def xgb_loss(objective, Xtr, ytr, Xte, eval_set=None, weights=None, xgb_extra=None, **params):
    """XGBoost on SecureBoost's bins with ``objective`` (``xgb_extra``: its own parameters,
    a ``base_score`` among them, else XGBoost estimates it): the test rows' predictions,
    and with ``eval_set`` its default metric there per round (else ``None``)."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    btr, bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    reference = xgboost_params(
        objective=objective,
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        max_bin=256,
        base_score=0.0,
    )
    del reference["base_score"]
    reference |= xgb_extra or {}
    result: dict = {}
    evals = []
    if eval_set is not None:
        _, bev = secureboost_bins(Xtr, eval_set[0], params["max_bin"])
        evals = [(_labelled(bev, eval_set[1]), "eval")]
    dtrain = _labelled(btr, ytr, weights)
    booster = xgb.train(reference, dtrain, params["n_estimators"], evals=evals, evals_result=result)
    history = next(iter(result["eval"].values())) if eval_set is not None else None
    return booster.predict(xgb.DMatrix(bte)), history


def _labelled(X, y, weights=None):
    """An XGBoost DMatrix with labels ``y``: one per row, or (``(n, 2)``) each row's
    lower and upper bound (``survival:aft``)."""
    import xgboost as xgb

    if y.ndim == 1:
        return xgb.DMatrix(X, label=y, weight=weights)
    matrix = xgb.DMatrix(X, weight=weights)
    matrix.set_float_info("label_lower_bound", y[:, 0])
    matrix.set_float_info("label_upper_bound", y[:, 1])
    return matrix


def xgb_log_link(Xtr, ytr, Xte, objective, power, eval_set=None, **params):
    """XGBoost on SecureBoost's bins with a log-link loss (base score: the mean label);
    with ``eval_set`` its default metric on it per round, else the predictions."""
    extra = {"base_score": float(np.mean(ytr))}
    if objective == "reg:tweedie":
        extra["tweedie_variance_power"] = power
    p, history = xgb_loss(objective, Xtr, ytr, Xte, eval_set, xgb_extra=extra, **params)
    return p if eval_set is None else history


def survival_data():
    """Diabetes features with synthetic survival times (fixed seed): hazard log-linear in
    six features, a third of the rows censored (their time negative, XGBoost's
    convention), times rounded to a tenth so that many rows tie."""
    X, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(1)
    hazard = np.exp(X[:, :6] @ rng.normal(0, 8, 6))
    event_time = rng.exponential(1.0 / hazard)
    censor_time = rng.exponential(2.0, hazard.size)
    t = np.round(np.minimum(event_time, censor_time), 1) + 0.1
    y = np.where(event_time <= censor_time, t, -t)
    return X[:300], X[300:], y[:300], y[300:]


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "ss-dealer-matrix", "he", "he-hidden"])
def test_cox_survival_is_xgboosts(mode):
    """survival:cox (Breslow's ties, censored rows' times negative): the same hazard
    ratios as XGBoost's on the same bins, and (plain) the same cox-nloglik per round on
    a validation set; the guest alone holds the times."""
    Xtr, Xte, ytr, yte = survival_data()
    assert np.unique(np.abs(ytr)).size < ytr.size / 2 and (ytr < 0).mean() > 0.2
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    p, models = fit_jointly(
        mode,
        [Xtr[:, :4], Xtr[:, 4:]],
        ytr,
        [Xte[:, :4], Xte[:, 4:]],
        estimator=SecureBoostRegressor,
        eval_set=([Xte[:, :4], Xte[:, 4:]], yte) if mode == "plain" else None,
        objective="survival:cox",
        **params,
        **extra,
    )
    reference, history = xgb_loss(
        "survival:cox", Xtr, ytr, Xte, (Xte, yte) if mode == "plain" else None, **params
    )
    np.testing.assert_allclose(p, reference, rtol=1e-5)
    assert p.std() > 0.1  # the trees learnt something
    if mode == "plain":
        np.testing.assert_allclose(models["guest"].model_.history, history, rtol=2e-5)


def _fit_validated(mode, Xtr, ytr, Xte, yte, weights=None, **params):
    """Guest (the first 4 columns, the label ``ytr`` and row ``weights``) and a host (the
    rest), with a dealer in the ss-dealer modes, validating on the test rows (``yte``;
    ``None``: no validation set): the guest's predictions of the test rows and its
    estimator. ``params`` go to every party's SecureBoostRegressor."""
    parts_tr, parts_te = [Xtr[:, :4], Xtr[:, 4:]], [Xte[:, :4], Xte[:, 4:]]

    def party(i):
        def role(ctx):
            est = SecureBoostRegressor(mode=mode, **params)
            ev = None if yte is None else (parts_te[i], yte if i == 0 else None)
            y, w = (ytr, weights) if i == 0 else (None, None)
            est.fit(ctx, parts_tr[i], y, sample_weight=w, eval_set=ev)
            return est.predict(ctx, parts_te[i]), est

        return role

    roles = {"guest": party(0), "host1": party(1)}
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: SecureBoostRegressor(mode=mode).fit(ctx)
    return run_local(roles, timeout=300)["guest"]


def aft_data():
    """Diabetes features with synthetic times, log-linear in six features (fixed seed),
    every kind of label: 70% seen (equal bounds), the rest censored on the right (no upper
    bound), on the left (lower bound 0) or in an interval; six rows far above and six far
    below every prediction (times of 1e25 and 1e-25: the densities underflow, and the
    loss takes its limits)."""
    X, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(1)
    t = np.exp(X[:, :6] @ rng.normal(0, 5, 6) + rng.normal(0, 0.5, len(X)))
    t[:6], t[6:12] = 1e25, 1e-25
    kind = rng.random(len(X))
    lower = np.where(kind < 0.1, 0.0, np.where(kind < 0.2, 0.7 * t, t))
    upper = np.where(kind < 0.2, 1.3 * t, np.where(kind < 0.3, np.inf, t))
    y = np.column_stack([lower, upper])
    return X[:300], X[300:], y[:300], y[300:]


@pytest.mark.parametrize(
    "mode, distribution, weighted",
    [
        ("plain", "normal", False),
        ("plain", "logistic", True),
        ("plain", "extreme", False),
        ("ss-dealer", "logistic", False),
        ("ss-dealer-matrix", "extreme", True),
        ("he", "normal", True),
        ("he-hidden", "extreme", False),
    ],
)
def test_aft_survival_is_xgboosts(mode, distribution, weighted):
    """survival:aft, every kind of censoring, each noise distribution at a scale of
    1.2: the same predicted times as XGBoost's on the same bins (rows far off their
    interval included: the loss's limits are XGBoost's); in plain mode the same
    aft-nloglik per round on a validation set."""
    Xtr, Xte, ytr, yte = aft_data()
    weights = np.random.default_rng(2).uniform(0.5, 2.0, len(ytr)) if weighted else None
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    aft = dict(aft_loss_distribution=distribution, aft_loss_distribution_scale=1.2)
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    validate = mode == "plain"
    p, model = _fit_validated(
        mode,
        Xtr,
        ytr,
        Xte,
        yte if validate else None,
        weights,
        objective="survival:aft",
        **params,
        **aft,
        **extra,
    )
    reference, history = xgb_loss(
        "survival:aft",
        Xtr,
        ytr,
        Xte,
        (Xte, yte) if validate else None,
        weights,
        # named: XGBoost 3.2's default metric for the loss leaves out the scale (it
        # evaluates at 1.0); named, it takes the model's, as ours always does
        xgb_extra=aft | {"eval_metric": "aft-nloglik"},
        **params,
    )
    np.testing.assert_allclose(p, reference, rtol=2e-5)
    assert p.std() > 0.1 * p.mean()  # the trees learnt something
    if validate:
        np.testing.assert_allclose(model.model_.history, history, rtol=2e-5)


def test_aft_labels_are_checked():
    """An interval's bounds: two columns, 0 <= lower <= upper, upper positive (inf
    allowed), each error naming the row; the AFT parameters are AFT's alone."""
    from unseen.ml.secureboost import check_label

    ok = np.array([[1.0, 1.0], [0.0, 2.0], [3.0, np.inf], [1.0, 4.0]])
    assert check_label(ok, "survival:aft", 4).tolist() == ok.tolist()
    with pytest.raises(InputError, match="two columns"):
        check_label(np.ones(4), "survival:aft", 4)
    for row, wrong, message in [
        (2, [-1.0, 2.0], "lower bound must not be negative"),
        (3, [2.0, 1.0], "upper bound must not be below its lower bound"),
        (1, [0.0, 0.0], "upper bound must be positive"),
        (2, [np.nan, 2.0], "lower bound must be a finite number"),
    ]:
        bad = ok.copy()
        bad[row - 1] = wrong
        with pytest.raises(InputError, match=rf"row {row}\b.*{message}"):
            check_label(bad, "survival:aft", 4, file="t.csv", column="lo", upper_column="hi")
    with pytest.raises(ConfigError, match="for survival:aft only"):
        SecureBoostRegressor(aft_loss_distribution="logistic")
    with pytest.raises(ConfigError, match="aft_loss_distribution must be one of"):
        SecureBoostRegressor(objective="survival:aft", aft_loss_distribution="cauchy")
    with pytest.raises(ConfigError, match="aft_loss_distribution_scale must be positive"):
        SecureBoostRegressor(objective="survival:aft", aft_loss_distribution_scale=0.0)


def test_aft_intervals_load_from_two_columns(tmp_path):
    """load_table with --label and --label-upper: an empty upper bound or inf is open
    (censored on the right); a bound below its lower one is refused by file, row and the
    upper bound's column; survival:aft without the upper column, or the upper column with
    another loss, is refused."""
    from unseen.ml.secureboost import load_table

    path = tmp_path / "g.csv"
    path.write_text("x,lo,hi\n1,2.5,2.5\n2,3,\n3,0,4\n4,1,inf\n")
    data = load_table(path, label="lo", label_upper="hi", objective="survival:aft")
    assert data.y.tolist() == [[2.5, 2.5], [3.0, np.inf], [0.0, 4.0], [1.0, np.inf]]
    assert data.features == ["x"]
    path.write_text("x,lo,hi\n1,2.5,2.5\n2,3,1\n")
    with pytest.raises(InputError, match=r"g\.csv.*row 2.*'hi'.*below its lower bound"):
        load_table(path, label="lo", label_upper="hi", objective="survival:aft")
    with pytest.raises(ConfigError, match="--label-upper"):
        load_table(path, label="lo", objective="survival:aft")
    with pytest.raises(ConfigError, match="for survival:aft, not reg:squarederror"):
        load_table(path, label="lo", label_upper="hi", objective="reg:squarederror")


def test_cox_logistic_and_log_labels_are_checked():
    from unseen.ml.secureboost import check_label

    with pytest.raises(InputError, match=r"row 2.*survival time.*0 is neither"):
        check_label(np.array([1.0, 0.0, -2.0]), "survival:cox", 3)
    with pytest.raises(InputError, match="no observed event"):
        check_label(np.array([-1.0, -3.0]), "survival:cox", 2)
    assert check_label(np.array([1.5, -2.0]), "survival:cox", 2).tolist() == [1.5, -2.0]
    with pytest.raises(InputError, match=r"row 3.*must lie in \[0, 1\] for reg:logistic"):
        check_label(np.array([0.2, 1.0, 1.5]), "reg:logistic", 3)
    with pytest.raises(InputError, match=r"row 1.*above -1 for reg:squaredlogerror"):
        check_label(np.array([-1.0, 3.0]), "reg:squaredlogerror", 2)


@pytest.mark.parametrize("objective", ["count:poisson", "reg:gamma", "reg:tweedie"])
def test_log_link_validation_loss_is_xgboosts_metric(objective):
    """The validation history is XGBoost's default metric for the loss, round by round:
    poisson-nloglik, gamma-deviance, tweedie-nloglik@rho."""
    Xtr, Xte, ytr, yte = claims_data(objective)
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    _, models = fit_jointly(
        "plain",
        [Xtr[:, :4], Xtr[:, 4:]],
        ytr,
        [Xte[:, :4], Xte[:, 4:]],
        estimator=SecureBoostRegressor,
        eval_set=([Xte[:, :4], Xte[:, 4:]], yte),
        objective=objective,
        **params,
    )
    theirs = xgb_log_link(Xtr, ytr, Xte, objective, 1.5, eval_set=(Xte, yte), **params)
    np.testing.assert_allclose(models["guest"].model_.history, theirs, rtol=2e-5)


@pytest.mark.parametrize(
    "estimator, objective, metric",
    [
        (SecureBoostClassifier, "binary:logistic", "auc"),
        (SecureBoostClassifier, "binary:logistic", "error"),
        (SecureBoostRegressor, "reg:squarederror", "mae"),
        (SecureBoostRegressor, "count:poisson", "rmse"),
    ],
)
def test_eval_metric_is_xgboosts_and_early_stopping_follows_it(estimator, objective, metric):
    """eval_metric (XGBoost's names): the validation history equals XGBoost's evals_result
    for that metric round by round, and early stopping keeps the same number of trees as
    XGBoost's (auc: the largest wins)."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    if objective == "binary:logistic":
        Xtr, Xte, ytr, yte = breast_cancer()
        split, params = 10, dict(BREAST, n_estimators=30, learning_rate=0.5)
    else:
        Xtr, Xte, ytr, yte = claims_data("count:poisson")
        if objective == "reg:squarederror":
            ytr, yte = np.log1p(ytr), np.log1p(yte)
        split, params = 4, dict(n_estimators=30, max_depth=4, learning_rate=0.5, max_bin=16)
    _, models = fit_jointly(
        "plain",
        [Xtr[:, :split], Xtr[:, split:]],
        ytr,
        [Xte[:, :split], Xte[:, split:]],
        estimator=estimator,
        eval_set=([Xte[:, :split], Xte[:, split:]], yte),
        early_stopping_rounds=3,
        eval_metric=metric,
        **({"objective": objective} if estimator is SecureBoostRegressor else {}),
        **params,
    )
    btr, bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    reference = xgboost_params(
        objective=objective,
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        max_bin=256,
        base_score=float(np.mean(ytr)),
    )
    reference["eval_metric"] = metric
    result = {}
    booster = xgb.train(
        reference,
        xgb.DMatrix(btr, label=ytr),
        params["n_estimators"],
        evals=[(xgb.DMatrix(bte, label=yte), "eval")],
        evals_result=result,
        early_stopping_rounds=3,
        verbose_eval=False,
    )
    ours = models["guest"].model_
    np.testing.assert_allclose(ours.history, result["eval"][metric], rtol=2e-5, atol=1e-7)
    assert ours.n_trees == booster.best_iteration + 1 < params["n_estimators"]  # it stopped


def test_log_link_labels_and_parameters_are_checked(tmp_path):
    from sklearn.base import clone

    from unseen.ml.secureboost import check_label

    with pytest.raises(InputError, match=r"f.csv, row 2, column 'claims': y must be non-neg"):
        check_label([1.0, -1.0], "count:poisson", 2, file="f.csv", column="claims")
    with pytest.raises(InputError, match="row 3.*must be positive for reg:gamma"):
        check_label([1.0, 2.0, 0.0], "reg:gamma", 3)
    with pytest.raises(InputError, match="0 everywhere"):
        check_label([0.0, 0.0], "reg:tweedie", 2)
    assert check_label([0.0, 2.5], "reg:tweedie", 2).tolist() == [0.0, 2.5]
    with pytest.raises(ConfigError, match=r"tweedie_variance_power must lie in \(1, 2\)"):
        SecureBoostRegressor(objective="reg:tweedie", tweedie_variance_power=2.0)
    with pytest.raises(ConfigError, match="tweedie_variance_power is for reg:tweedie only"):
        SecureBoostRegressor(objective="count:poisson", tweedie_variance_power=1.2)
    with pytest.raises(ConfigError, match="positive base_score"):
        SecureBoostRegressor(objective="reg:gamma", base_score=0.0)
    with pytest.raises(ConfigError, match="eval_metric for reg:gamma is one of gamma-dev"):
        SecureBoostRegressor(objective="reg:gamma", eval_metric="auc")
    with pytest.raises(ConfigError, match="SecureBoostRegressor takes objective"):
        SecureBoostRegressor(objective="binary:logistic")
    with pytest.raises(ConfigError, match="SecureBoostClassifier takes objective"):
        SecureBoostClassifier(objective="count:poisson")
    # the objective is a parameter (clone, set_params): a classifier's for two classes
    est = SecureBoostRegressor(objective="reg:gamma")
    assert type(est)(**est.get_params()).params.objective == "reg:gamma"
    assert est.set_params(objective="count:poisson").params.objective == "count:poisson"
    assert SecureBoostClassifier().get_params()["objective"] == "binary:logistic"
    hinge = SecureBoostClassifier().set_params(objective="binary:hinge")
    assert clone(hinge).params.objective == "binary:hinge"
    assert SecureBoostRegressor(objective="count:poisson").params.rule.max_delta_step == (
        pytest.approx(0.7)
    )
    assert SecureBoostRegressor(objective="count:poisson", max_delta_step=0).params.rule == (
        SecureBoostRegressor(objective="count:poisson", max_delta_step=0.0).params.rule
    )
    assert SecureBoostRegressor().params.rule.max_delta_step == 0.0


def test_a_hosts_max_delta_step_is_checked_against_the_guests_effective_one():
    """Unset, max_delta_step is the objective's (0.7 for count:poisson, else 0): a host
    that asks for 0 agrees with a guest that left it unset for squared error, and is
    told the guest's 0.7 for Poisson counts."""
    from unseen.ml.sbt_protocol import BoostParams
    from unseen.ml.secureboost import train

    Xtr, _, ytr, _ = claims_data("count:poisson")

    def job(objective):
        params = BoostParams(objective=objective, n_estimators=1, max_depth=2, max_bin=8)
        roles = {
            "guest": lambda ctx: train(ctx, mode="plain", X=Xtr[:, :4], y=ytr, params=params),
            "host": lambda ctx: train(
                ctx, mode="plain", X=Xtr[:, 4:], expect={"max_delta_step": 0.0}
            ),
        }
        return run_local(roles, timeout=60)

    assert job("reg:squarederror")["host"].n_trees == 1
    with pytest.raises(ConfigError, match="max_delta_step=0.0 here, 0.699999988"):
        job("count:poisson")


#: falling in guest features 1 and 7 (mean texture, concave points) and in the host's 12
#: and 13 (joined 22, 23: worst perimeter, area); rising in the host's 9 (joined 19)
MONOTONE = {"x1": -1, "x7": -1, "host1:x12": -1, "host1:x13": -1, "host1:x9": 1}
MONOTONE_JOINED = {1: -1, 7: -1, 22: -1, 23: -1, 19: 1}


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("plain", {}),
        ("plain", {"reg_alpha": 0.5, "max_delta_step": 0.8, "subsample": 0.8}),
        ("ss-dealer", {}),
        ("he", {"he_options": {"scheme": "ou"}}),
        ("he-hidden", {"he_options": {"scheme": "ou"}}),
    ],
)
def test_monotone_constraints_are_xgboosts(mode, extra):
    """Monotone constraints on the guest's and the host's features (named by the guest):
    the model equals XGBoost's with the same monotone_constraints on the same bins (a
    bin's index rises with the value, so the directions carry over), far from the
    unconstrained one."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    trees = 3 if mode.startswith("he") else 6
    params = dict(BREAST, n_estimators=trees, **extra)
    if "subsample" in extra:  # the same rows in both: every tree's sample drawn alike
        params.pop("subsample")
    p, models = fit_jointly(
        mode,
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        monotone_constraints=MONOTONE,
        **params,
    )
    btr, bte = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))
    )
    signs = np.zeros(30, dtype=int)
    for f, sign in MONOTONE_JOINED.items():
        signs[f] = sign
    reference["monotone_constraints"] = "(" + ",".join(map(str, signs)) + ")"
    reference.update({k: v for k, v in extra.items() if k in ("reg_alpha", "max_delta_step")})
    theirs = xgb.train(reference, xgb.DMatrix(btr, label=ytr), trees)
    np.testing.assert_allclose(p, theirs.predict(xgb.DMatrix(bte)), atol=1e-5)
    del reference["monotone_constraints"]
    free = xgb.train(reference, xgb.DMatrix(btr, label=ytr), trees).predict(xgb.DMatrix(bte))
    assert np.abs(p - free).max() > 0.05  # the constraints bind
    assert models["guest"].model_.monotone_constraints == MONOTONE


@pytest.mark.parametrize("sign", [-1, 1])
def test_a_constrained_split_of_missing_from_present_values_is_xgboosts(sign):
    """A constrained feature whose missing rows lean one way: XGBoost's backward pass
    offers "missing values left, every value right", whose direction test is the mirror
    of "every value left, missing right" -- where the label leans against the feature's
    direction (-1 here), only the mirror is allowed, and its children's bounds are
    reversed; with the label leaning along it (+1), the ordinary split wins."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    rng = np.random.default_rng(11)
    n = 600
    X = rng.normal(size=(n, 4))
    missing = rng.random(n) < 0.3
    y = np.where(missing, rng.random(n) < 0.85, X[:, 0] - sign * X[:, 3] > 0).astype(float)
    X[missing, 3] = np.nan  # the host's feature 1: missing rows mostly positive
    Xtr, Xte, ytr = X[:450], X[450:], y[:450]
    params = dict(n_estimators=4, max_depth=3, learning_rate=0.5, max_bin=16)
    p, _ = fit_jointly(
        "plain",
        [Xtr[:, :2], Xtr[:, 2:]],
        ytr,
        [Xte[:, :2], Xte[:, 2:]],
        monotone_constraints={"host1:x1": sign},
        **params,
    )
    btr, bte = secureboost_bins(Xtr, Xte, 16)
    reference = xgboost_params(
        max_depth=3, learning_rate=0.5, max_bin=256, base_score=float(np.mean(ytr))
    )
    reference["monotone_constraints"] = f"(0,0,0,{sign})"
    theirs = xgb.train(reference, xgb.DMatrix(btr, label=ytr), 4)
    np.testing.assert_allclose(p, theirs.predict(xgb.DMatrix(bte)), atol=1e-5)


def test_monotone_scores_rise_and_fall_with_their_features(tmp_path):
    """Every test row, one constrained feature swept over its range with the rest
    fixed: the score never falls for a rising feature, never rises for a falling one
    (the guest's and the host's); the constraints survive saving and cloning."""
    Xtr, Xte, ytr, _ = breast_cancer()
    rows = Xte[:12]
    sweeps = []
    for f in MONOTONE_JOINED:
        grid = np.linspace(Xtr[:, f].min() - 0.1, Xtr[:, f].max() + 0.1, 25)
        block = np.repeat(rows, grid.size, axis=0)
        block[:, f] = np.tile(grid, rows.shape[0])
        sweeps.append(block)
    test = np.concatenate(sweeps)
    params = dict(BREAST, n_estimators=8, monotone_constraints=MONOTONE)
    p, models = fit_jointly(
        "plain", [Xtr[:, :10], Xtr[:, 10:]], ytr, [test[:, :10], test[:, 10:]], **params
    )
    curves = p.reshape(len(MONOTONE_JOINED), rows.shape[0], 25)
    moved = 0
    for curve, sign in zip(curves, MONOTONE_JOINED.values(), strict=True):
        steps = np.diff(curve, axis=1) * sign
        assert steps.min() >= -1e-12  # never against its direction
        moved += steps.max() > 1e-3
    assert moved >= 3  # and features the trees split on do move the score
    guest = models["guest"]
    assert guest.get_params()["monotone_constraints"] == MONOTONE
    guest.save(tmp_path / "g")
    assert SecureBoostClassifier.load(tmp_path / "g").monotone_constraints == MONOTONE
    copy = type(guest)(**guest.get_params())
    assert copy.monotone_constraints == MONOTONE


#: groups of features that may interact: two overlapping ones spanning both parties
INTERACTIONS = [[1, 7, 22], [20, 23, 27, 1]]  # joined indices: the host's start at 10


def _named(groups):
    return [[f"x{i}" if i < 10 else f"host1:x{i - 10}" for i in g] for g in groups]


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("plain", {}),
        ("plain", {"monotone_constraints": {"x1": -1, "host1:x13": -1}}),
        ("ss-dealer", {}),
        ("he", {"he_options": {"scheme": "ou"}}),
    ],
)
def test_interaction_constraints_are_xgboosts(mode, extra):
    """XGBoost's interaction_constraints across the parties' features (named by the
    guest): a node may split only on the features of its path and of the groups that
    hold them all; the model equals XGBoost's with the same groups on the same bins."""
    import json

    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    trees = 3 if mode == "he" else 6
    p, models = fit_jointly(
        mode,
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        interaction_constraints=_named(INTERACTIONS),
        **dict(BREAST, n_estimators=trees),
        **extra,
    )
    btr, bte = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))
    )
    if "monotone_constraints" in extra:
        signs = np.zeros(30, dtype=int)
        signs[[1, 23]] = -1
        reference["monotone_constraints"] = "(" + ",".join(map(str, signs)) + ")"
    free = xgb.train(reference, xgb.DMatrix(btr, label=ytr), trees).predict(xgb.DMatrix(bte))
    reference["interaction_constraints"] = json.dumps(INTERACTIONS)
    theirs = xgb.train(reference, xgb.DMatrix(btr, label=ytr), trees)
    np.testing.assert_allclose(p, theirs.predict(xgb.DMatrix(bte)), atol=1e-5)
    assert np.abs(p - free).max() > 0.05  # the groups bind
    assert_paths_within(models["guest"].trees_to_dataframe(), INTERACTIONS)
    assert models["guest"].model_.interaction_constraints == _named(INTERACTIONS)


def assert_paths_within(table, groups):
    """Every root-to-leaf path of the guest's table splits on one feature, or on
    features of one group only (joined indices, the host's named host1:x..)."""
    names = {n: i for i, n in enumerate(_named([range(30)])[0])}
    for t in table["Tree"].unique():
        nodes = table[table["Tree"] == t].set_index("Node")
        for leaf in nodes.index[nodes["Feature"] == "Leaf"]:
            path, v = set(), leaf
            while v != 0:
                v = next(
                    u for u in nodes.index if f"{t}-{v}" in (nodes.at[u, "Yes"], nodes.at[u, "No"])
                )
                path.add(names[nodes.at[v, "Feature"]])
            assert len(path) <= 1 or any(path <= set(g) for g in groups), path


def test_interaction_constraints_are_checked(tmp_path):
    from unseen.ml.sbt_protocol import interaction_sets

    groups = interaction_sets([["a", "h:d"], ["b"]], ["a", "b"], {"h": ["c", "d"]})
    assert groups == [frozenset({0, 3}), frozenset({1})]
    with pytest.raises(ConfigError, match="interaction_constraints names 'd', which is no"):
        interaction_sets([["a", "d"]], ["a", "b"], {"h": ["c", "d"]})
    with pytest.raises(ConfigError, match="a list of groups of feature names"):
        interaction_sets(["ab"], ["a", "b"], {})
    Xtr, Xte, ytr, _ = breast_cancer()
    _, models = fit_jointly(
        "plain",
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        interaction_constraints=[["x1", "host1:x12"]],
        **dict(BREAST, n_estimators=2),
    )
    # with a column sample too, where a node may have no feature of a party left
    rates = dict(colsample_bytree=0.5, colsample_bynode=0.7, random_state=4)
    _, sampled = fit_jointly(
        "plain",
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        interaction_constraints=_named(INTERACTIONS),
        **dict(BREAST, n_estimators=4, **rates),
    )
    assert_paths_within(sampled["guest"].trees_to_dataframe(), INTERACTIONS)
    models["guest"].save(tmp_path / "g")
    again = SecureBoostClassifier.load(tmp_path / "g")
    assert again.interaction_constraints == [["x1", "host1:x12"]]
    assert type(again)(**again.get_params()).interaction_constraints == [["x1", "host1:x12"]]


def test_monotone_constraints_are_checked():
    from unseen.ml.sbt_protocol import monotone_signs

    signs = monotone_signs({"a": 1, "h:c": -1}, ["a", "b"], {"h": ["c", "d"]})
    assert signs[""].tolist() == [1, 0] and signs["h"].tolist() == [-1, 0]
    with pytest.raises(ConfigError, match="names 'c', which is no feature.*'host:feature'"):
        monotone_signs({"c": 1}, ["a", "b"], {"h": ["c", "d"]})
    with pytest.raises(ConfigError, match="'a' must be -1, 0 or 1, not 2"):
        monotone_signs({"a": 2}, ["a", "b"], {})
    with pytest.raises(ConfigError, match="dict of feature name"):
        SecureBoostClassifier(monotone_constraints=(1, 0, -1))
    Xtr, Xte, ytr, _ = breast_cancer()
    with pytest.raises(ConfigError, match="'x99', which is no feature"):
        fit_jointly(
            "plain",
            [Xtr[:, :10], Xtr[:, 10:]],
            ytr,
            [Xte[:, :10], Xte[:, 10:]],
            monotone_constraints={"x99": 1},
            **dict(BREAST, n_estimators=1),
        )


def test_missing_values_go_to_the_better_side():
    rng = np.random.default_rng(3)
    n = 600
    X = rng.standard_normal((n, 6))
    y = (X[:, 0] + X[:, 4] + 0.3 * rng.standard_normal(n) > 0).astype(float)
    # host feature 4 (its column 1) is missing where it would be small: those rows belong left
    X[(X[:, 4] < -0.5) & (rng.random(n) < 0.7), 4] = np.nan
    X[rng.random(n) < 0.1, 1] = np.nan  # guest feature, missing at random
    Xtr, Xte, ytr = X[:450], X[450:], y[:450]
    params = dict(n_estimators=5, max_depth=3, learning_rate=0.3, max_bin=16)
    for mode in ("plain", "ss-dealer"):
        p, models = fit_jointly(
            mode, [Xtr[:, :3], Xtr[:, 3:]], ytr, [Xte[:, :3], Xte[:, 3:]], **params
        )
        np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **params), atol=1e-5)
    host = models["host1"].model_
    on_f4 = [
        d
        for sp in host.trees.splits
        for f, d in zip(sp.feature, sp.default_left, strict=True)
        if f == 1
    ]
    assert sum(on_f4) > len(on_f4) / 2  # missing rows mostly sent left, with the small values


@pytest.mark.parametrize(
    "seed,objective,params",
    [
        (0, "reg:squarederror", dict(max_depth=5, max_bin=16, min_child_weight=0.0)),
        (1, "binary:logistic", dict(max_depth=5, max_bin=32, reg_alpha=0.3, min_child_weight=0.0)),
    ],
)
def test_tied_cuts_are_chosen_in_xgboosts_order(seed, objective, params):
    """Where cuts tie on the training rows -- a node's rows all missing or present around
    bins empty in it -- they differ on new rows: XGBoost keeps the first of equal gains in
    its order (per feature, missing values right bin by bin up, then left from the top
    bin down), and so does SecureBoost. Deep trees, a quarter of the cells missing."""
    import xgboost as xgb

    from unseen.ml.secureboost import SecureBoostRegressor, secureboost_bins

    rng = np.random.default_rng(seed)
    n = int(rng.integers(200, 600))
    X = rng.normal(size=(n + 100, 8))
    X[rng.random(X.shape) < 0.25] = np.nan
    z = np.nan_to_num(X) @ rng.normal(size=8) + rng.normal(size=n + 100)
    y = z if objective.startswith("reg") else (z > np.median(z)).astype(float)
    Xtr, Xte, ytr = X[:n], X[n:], y[:n]
    params = dict(n_estimators=4, learning_rate=0.3, **params)
    estimator = SecureBoostRegressor if objective.startswith("reg") else SecureBoostClassifier
    got, _ = fit_jointly(
        "plain", [Xtr[:, :5], Xtr[:, 5:]], ytr, [Xte[:, :5], Xte[:, 5:]], estimator, **params
    )
    Btr, Bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    reference = {
        "objective": objective,
        "tree_method": "hist",
        "max_bin": 256,
        "base_score": float(np.mean(ytr)),
        "eta": params["learning_rate"],
        "nthread": 1,
        **{k: v for k, v in params.items() if k not in ("n_estimators", "learning_rate")},
    }
    reference["max_bin"] = 256  # one bin per SecureBoost bin
    booster = xgb.train(reference, xgb.DMatrix(Btr, label=ytr), params["n_estimators"])
    np.testing.assert_allclose(got, booster.predict(xgb.DMatrix(Bte)), atol=1e-5)


def xgb_guest_first(Xtr, ytr, Xte, guest_cols, rounds, objective="binary:logistic", **params):
    """XGBoost on SecureBoost's bins: ``rounds`` rounds on the guest's columns alone, then
    the rest on every column from their margins (``base_margin``) -- the model that
    ``guest_only_rounds`` grows. The test rows' probabilities."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    btr, bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    par = xgboost_params(
        objective=objective,
        base_score=float(np.mean(ytr)),
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        max_bin=256,
    )
    if objective == "multi:softprob":  # XGBoost's own base margins, as SecureBoost's
        del par["base_score"]
        par["num_class"] = int(ytr.max()) + 1
    first = xgb.train(par, xgb.DMatrix(btr[:, :guest_cols], label=ytr), rounds)
    margin_tr = first.predict(xgb.DMatrix(btr[:, :guest_cols]), output_margin=True)
    margin_te = first.predict(xgb.DMatrix(bte[:, :guest_cols]), output_margin=True)
    rest = params["n_estimators"] - rounds
    then = xgb.train(par, xgb.DMatrix(btr, label=ytr, base_margin=margin_tr), rest)
    return then.predict(xgb.DMatrix(bte, base_margin=margin_te))


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "he", "he-hidden"])
def test_guest_only_rounds_are_xgboost_on_the_guests_columns_first(mode):
    """The first rounds' trees split on guest features only, the later ones on every
    party's, equal to XGBoost trained that way; a host holds of those trees the shape
    and no split, and scores new rows with its part as before."""
    Xtr, Xte, ytr, yte = breast_cancer()
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    params = dict(BREAST, n_estimators=6)  # 3 trees of the guest's alone, then 3 joint
    p, parts = fit_jointly(
        mode,
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        guest_only_rounds=3,
        **params,
        **extra,
    )
    want = xgb_guest_first(Xtr, ytr, Xte, 10, 3, **params)
    np.testing.assert_allclose(p, want, atol=1e-5)
    guest, host = parts["guest"].model_.trees, parts["host1"].model_.trees
    assert all(not s.node for s in host.splits[:3]) and any(s.node for s in host.splits[3:])
    assert [t.left for t in host.layouts] == [t.left for t in guest.layouts]
    assert all(set(t.owner) <= {-1, 0} for t in guest.layouts[:3])


def test_guest_only_rounds_count_rounds_of_class_trees_and_may_be_all():
    """multi:softprob: a round is a tree per class; with every round the guest's alone,
    the model is the guest's own."""

    Xtr, Xte, ytr, yte = wine()
    params = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16)
    parts_tr, parts_te = [Xtr[:, :5], Xtr[:, 5:]], [Xte[:, :5], Xte[:, 5:]]
    for rounds in (1, 4):
        p, parts = fit_jointly(
            "ss-dealer",
            parts_tr,
            ytr,
            parts_te,
            all_classes=True,  # three labels: multi:softprob
            guest_only_rounds=rounds,
            **params,
        )
        want = xgb_guest_first(Xtr, ytr, Xte, 5, rounds, "multi:softprob", **params)
        np.testing.assert_allclose(p, np.asarray(want).reshape(p.shape), atol=1e-5)
        host = parts["host1"].model_.trees
        assert len(host.layouts) == 4 * 3
        assert sum(bool(s.node) for s in host.splits[: 3 * rounds]) == 0


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "he", "he-hidden"])
def test_a_guest_with_the_label_alone(mode):
    """Every feature a host's, the guest bringing only the label (its matrix has rows and
    no column): the model is XGBoost's on the host's columns, with every split the host's."""
    Xtr, Xte, ytr, yte = breast_cancer()
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    params = dict(BREAST, n_estimators=3) if mode.startswith("he") else BREAST
    none_tr, none_te = np.empty((len(ytr), 0)), np.empty((len(yte), 0))
    p, parts = fit_jointly(mode, [none_tr, Xtr], ytr, [none_te, Xte], **params, **extra)
    np.testing.assert_allclose(p, xgb_scores(Xtr, ytr, Xte, binned=True, **params), atol=1e-5)
    guest = parts["guest"].model_
    assert guest.features == [] and len(guest.host_features["host1"]) == 30
    assert {o for t in guest.trees.layouts for o in t.owner if o >= 0} == {1}
    if params is BREAST:  # lossless against XGBoost's own bins too (10 trees; he grows 3)
        assert abs(auc(yte, p) - auc(yte, xgb_scores(Xtr, ytr, Xte, **params))) < 0.005


def test_a_guest_with_the_label_alone_may_pass_no_matrix_and_validate():
    """``fit(ctx, None, y)`` and ``eval_set=(None, y_val)`` at the guest; early stopping
    on the host's columns alone; ``guest_only_rounds`` needs guest features."""
    Xtr, Xte, ytr, yte = breast_cancer()
    Xfit, Xval, yfit, yval = Xtr[:300], Xtr[300:], ytr[:300], ytr[300:]
    params = dict(BREAST, n_estimators=40, learning_rate=0.5, early_stopping_rounds=3)

    def guest(ctx):
        est = SecureBoostClassifier(mode="ss-dealer", **params)
        est.fit(ctx, None, yfit, eval_set=(None, yval))
        return est, est.predict_proba(ctx, np.empty((len(yte), 0)))[:, 1]

    def host(ctx):
        est = SecureBoostClassifier(mode="ss-dealer", **params)
        est.fit(ctx, Xfit, eval_set=(Xval, None))
        est.predict_proba(ctx, Xte)
        return est

    dealer = lambda ctx: SecureBoostClassifier(mode="ss-dealer", **params).fit(ctx)  # noqa: E731
    res = run_local({"guest": guest, "host": host, "dealer": dealer}, timeout=300)
    est, p = res["guest"]
    guest, host = est.model_, res["host"].model_
    assert guest.n_trees == host.n_trees < 40
    assert len(guest.history) == guest.n_trees + 3  # stopped after 3 rounds without gain
    same = dict(BREAST, n_estimators=guest.n_trees, learning_rate=0.5)
    np.testing.assert_allclose(p, xgb_scores(Xfit, yfit, Xte, binned=True, **same), atol=1e-5)

    with pytest.raises(ConfigError, match="guest_only_rounds .* it has none"):
        run_local(
            {
                "guest": lambda ctx: SecureBoostClassifier(
                    mode="plain", n_estimators=3, guest_only_rounds=1
                ).fit(ctx, None, ytr),
                "host": lambda ctx: SecureBoostClassifier(mode="plain", n_estimators=3).fit(
                    ctx, Xtr
                ),
            },
            timeout=60,
        )


def test_guest_only_rounds_are_checked():
    with pytest.raises(ConfigError, match="guest_only_rounds"):
        SecureBoostClassifier(n_estimators=3, guest_only_rounds=4)
    with pytest.raises(ConfigError, match="guest_only_rounds"):
        SecureBoostClassifier(n_estimators=3, guest_only_rounds=-1)


def test_early_stopping_truncates_every_part():
    Xtr, Xte, ytr, yte = breast_cancer()
    Xfit, Xval, yfit, yval = Xtr[:300], Xtr[300:], ytr[:300], ytr[300:]
    params = dict(BREAST, n_estimators=60, learning_rate=0.5, early_stopping_rounds=3)
    _, models = fit_jointly(
        "ss-dealer",
        [Xfit[:, :10], Xfit[:, 10:]],
        yfit,
        [Xte[:, :10], Xte[:, 10:]],
        eval_set=([Xval[:, :10], Xval[:, 10:]], yval),
        **params,
    )
    guest, host = models["guest"].model_, models["host1"].model_
    assert guest.n_trees == host.n_trees < 60
    history = guest.history
    assert len(history) == guest.n_trees + 3  # stopped after 3 rounds without improvement
    assert int(np.argmin(history)) == guest.n_trees - 1
    # feature importance counts the kept trees' splits only, not the three dropped trees'
    kept_splits = sum(int(np.sum(np.array(lay.left) >= 0)) for lay in guest.trees.layouts)
    assert sum(guest.feature_importance("weight").values()) == kept_splits


def test_matrix_mode_two_hosts_with_missing_values_and_subsample():
    """ss-dealer-matrix: each host its own triple session with the dealer; rows sampled per
    tree (the masked indicator covers every row); missing values in a host's bins."""
    Xtr, Xte, ytr, yte = breast_cancer()
    Xtr, Xte = Xtr.copy(), Xte.copy()
    Xtr[::7, 12] = np.nan
    Xte[::5, 25] = np.nan
    cols = [slice(0, 10), slice(10, 20), slice(20, 30)]
    params = dict(BREAST, n_estimators=4, subsample=0.8, random_state=3)
    parts_tr, parts_te = [Xtr[:, c] for c in cols], [Xte[:, c] for c in cols]
    p, models = fit_jointly("ss-dealer-matrix", parts_tr, ytr, parts_te, **params)
    ref, _ = fit_jointly("plain", parts_tr, ytr, parts_te, **params)
    np.testing.assert_allclose(p, ref, atol=1e-6)
    assert models["host2"].model_.mode == "ss-dealer-matrix"


def test_subsample_and_goss_train():
    """Rows sampled anew per tree: each tree's permuted bins are its own (a host sends
    them at the tree's start, not a tree ahead), so ss-dealer grows plain mode's trees."""
    Xtr, Xte, ytr, yte = breast_cancer()
    for extra in ({"subsample": 0.7, "random_state": 1}, {"goss": (0.2, 0.3), "random_state": 1}):
        parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
        params = dict(BREAST, n_estimators=4, **extra)
        p, _ = fit_jointly("ss-dealer", parts_tr, ytr, parts_te, **params)
        ref, _ = fit_jointly("plain", parts_tr, ytr, parts_te, **params)
        np.testing.assert_allclose(p, ref, atol=1e-5)
        assert auc(yte, p) > 0.97


def test_feature_importance_is_xgboosts():
    """Every kind of XGBoost's get_score (weight, gain, total_gain, cover, total_cover)
    equals XGBoost's on the same bins, hosts' features named "host:<name>"."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    _, models = fit_jointly(
        "plain", [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]], **BREAST
    )
    model = models["guest"].model_
    btr, _ = secureboost_bins(Xtr, Xte, 32)
    booster = xgb.train(
        xgboost_params(max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))),
        xgb.DMatrix(btr, label=ytr),
        10,
    )

    def xgboost_name(name: str) -> str:  # the joined columns: the guest's 10, the host's 20
        column = int(name.split(":")[-1].removeprefix("x"))
        return f"f{column + 10 if name.startswith('host1:') else column}"

    for kind in ("weight", "gain", "total_gain", "cover", "total_cover"):
        ours = {xgboost_name(k): v for k, v in model.feature_importance(kind).items()}
        theirs = booster.get_score(importance_type=kind)
        assert ours.keys() == theirs.keys(), kind
        for name, value in theirs.items():
            assert ours[name] == pytest.approx(value, rel=1e-5), (kind, name)
    assert models["guest"].feature_importances_ == model.feature_importance("total_gain")
    with pytest.raises(ConfigError, match="importance kind"):
        model.feature_importance("gains")


def xgb_with_feature_samples(Xtr, ytr, Xte, rate, samples, **params):
    """XGBoost on SecureBoost's bins, grown tree by tree, each tree on the given sample of
    features (``feature_weights`` 1 there, 0 elsewhere: XGBoost draws exactly those)."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    btr, bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    reference = xgboost_params(
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        max_bin=256,
        base_score=float(np.mean(ytr)),
    )
    dtrain = xgb.DMatrix(btr, label=ytr)
    booster = None
    for sample in samples:
        weights = np.zeros(Xtr.shape[1])
        weights[sample] = 1.0
        dtrain.set_info(feature_weights=weights)
        booster = xgb.train({**reference, "colsample_bytree": rate}, dtrain, 1, xgb_model=booster)
    assert booster is not None
    return booster.predict(xgb.DMatrix(bte))


@pytest.mark.parametrize(
    "mode, rate, per_tree",
    [
        ("plain", 0.3, 9),  # int(0.3 * 30) of 30 features a tree
        ("ss-dealer", 0.3, 9),
        ("ss-dealer-matrix", 0.3, 9),  # its hosts sum every feature: the guest picks
        ("he", 0.3, 9),
        ("plain", 0.03, 1),  # one feature a tree: a party with none in most trees
        ("ss-dealer", 0.03, 1),
        ("he", 0.03, 1),
    ],
)
def test_colsample_bytree_is_xgboosts_with_the_same_feature_samples(mode, rate, per_tree):
    """Each tree splits only on its sample of all parties' features: the model equals
    XGBoost grown tree by tree on the same bins and the same samples. In plain and he
    A host sums only its sampled features (in ss-dealer the dealer deals correlations for
    those alone)."""
    from unseen.ml.sbt_protocol import feature_sampler, tree_features

    Xtr, Xte, ytr, _ = breast_cancer()
    trees = 6 if mode != "he" else 3
    params = dict(BREAST, n_estimators=trees, colsample_bytree=rate, random_state=5)
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    p, _ = fit_jointly(mode, parts_tr, ytr, parts_te, **params, **extra)
    rng = feature_sampler(5)
    samples = [tree_features(rng, 30, rate) for _ in range(trees)]
    assert all(s is not None and s.size == per_tree for s in samples)
    if per_tree == 1:  # some tree had only a guest feature, some only a host feature
        assert {bool(s[0] < 10) for s in samples} == {True, False}
    reference = xgb_with_feature_samples(Xtr, ytr, Xte, rate, samples, **params)
    np.testing.assert_allclose(p, reference, atol=1e-5)
    # the sampling took effect: every feature gives another model
    every = xgb_scores(Xtr, ytr, Xte, binned=True, **dict(BREAST, n_estimators=trees))
    assert np.abs(p - every).max() > 1e-3


@pytest.mark.parametrize("mode", ["plain", "he", "ss-dealer"])
def test_hosts_sum_only_the_sampled_features(mode):
    """With colsample_bytree, a host sums (and sends) only its share of the tree's
    features, and the dealer deals correlations for those alone: a fraction of the bytes
    of every feature's."""
    from unseen.runtime.local import Transcript

    Xtr, _, ytr, _ = breast_cancer()
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}

    def bytes_sent(rate: float) -> tuple[int, int]:
        """What the host sent as sums, and what the dealer sent."""
        transcript = Transcript()
        params = dict(BREAST, n_estimators=2, max_depth=3, colsample_bytree=rate, random_state=5)
        roles = {
            "guest": lambda ctx: SecureBoostClassifier(mode=mode, **params, **extra).fit(
                ctx, Xtr[:, :10], ytr
            ),
            "host1": lambda ctx: SecureBoostClassifier(mode=mode).fit(ctx, Xtr[:, 10:]),
        }
        if mode == "ss-dealer":
            roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode).fit(ctx)
        run_local(roles, transcript=transcript, timeout=120)
        sums = sum(
            len(payload)
            for sender, _, key, _, payload in transcript.messages
            if sender == "host1" and key.endswith(("/plain-hist", "/sums"))
        )
        return sums, len(transcript.bytes_sent_by("dealer"))

    every, some = bytes_sent(1.0), bytes_sent(0.3)
    assert 0 < some[0] < 0.6 * every[0], (some, every)
    if mode == "ss-dealer":  # the corrections, 8 bytes a row and feature
        assert 0 < some[1] < 0.6 * every[1], (some, every)


def test_colsample_bytree_with_two_hosts():
    """Three parties: the sample spans the guest's and both hosts' features; the dealer
    deals each host's count a tree ahead."""
    from unseen.ml.sbt_protocol import feature_sampler, tree_features

    Xtr, Xte, ytr, _ = breast_cancer()
    cols = [slice(0, 10), slice(10, 20), slice(20, 30)]
    params = dict(BREAST, n_estimators=4, colsample_bytree=0.2, random_state=9)
    p, _ = fit_jointly(
        "ss-dealer", [Xtr[:, c] for c in cols], ytr, [Xte[:, c] for c in cols], **params
    )
    rng = feature_sampler(9)
    samples = [tree_features(rng, 30, 0.2) for _ in range(4)]
    reference = xgb_with_feature_samples(Xtr, ytr, Xte, 0.2, samples, **params)
    np.testing.assert_allclose(p, reference, atol=1e-5)


def xgb_with_fixed_sample(Xtr, ytr, Xte, sample, **params):
    """XGBoost on SecureBoost's bins with ``colsample_bylevel`` or ``colsample_bynode``
    (in ``params``) drawing exactly ``sample`` at every depth or node (``feature_weights``
    1 there, 0 elsewhere, and as many features drawn as the sample holds)."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    btr, bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    reference = xgboost_params(
        max_depth=params["max_depth"],
        learning_rate=params["learning_rate"],
        max_bin=256,
        base_score=float(np.mean(ytr)),
    )
    for name in ("colsample_bylevel", "colsample_bynode"):
        reference[name] = params.get(name, 1.0)
    dtrain = xgb.DMatrix(btr, label=ytr)
    weights = np.zeros(Xtr.shape[1])
    weights[sample] = 1.0
    dtrain.set_info(feature_weights=weights)
    booster = xgb.train(reference, dtrain, params["n_estimators"])
    return booster.predict(xgb.DMatrix(bte))


# 15 of the 30 features (0.5 of them): 4 of the guest's 10, 11 of the host's 20
FIXED_SAMPLE = np.array([1, 3, 6, 8, 10, 12, 13, 16, 19, 21, 22, 24, 26, 27, 29])


@pytest.mark.parametrize(
    "mode, name",
    [
        ("plain", "colsample_bylevel"),
        ("plain", "colsample_bynode"),
        ("ss-dealer", "colsample_bynode"),
        ("he", "colsample_bylevel"),
    ],
)
def test_colsample_bylevel_and_bynode_are_xgboosts_with_the_same_sample(mode, name, monkeypatch):
    """Each depth (bylevel) or node (bynode) splits only among its sample of the tree's
    features: with the sampler made to draw one fixed sample every time, the model equals
    XGBoost's drawing that same sample, on the same bins."""
    from unseen.ml import sbt_protocol

    draws = []

    def draw(rng, n_features, rate):
        if rate >= 1:
            return None
        assert n_features == 30 and rate == 0.5
        draws.append(n_features)
        return FIXED_SAMPLE

    monkeypatch.setattr(sbt_protocol, "tree_features", draw)
    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=3 if mode == "he" else 6, **{name: 0.5})
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    p, _ = fit_jointly(mode, parts_tr, ytr, parts_te, **params, **extra)
    # a draw per depth (bylevel) or per node (bynode) of every tree
    assert len(draws) >= params["n_estimators"] * (4 if name == "colsample_bylevel" else 8)
    reference = xgb_with_fixed_sample(Xtr, ytr, Xte, FIXED_SAMPLE, **params)
    np.testing.assert_allclose(p, reference, atol=1e-5)
    # the sample took effect: every feature gives another model
    every = xgb_scores(
        Xtr, ytr, Xte, binned=True, **dict(BREAST, n_estimators=params["n_estimators"])
    )
    assert np.abs(p - every).max() > 1e-3


def test_every_split_lies_in_its_nodes_sample(monkeypatch):
    """With colsample_bytree, bylevel and bynode together, drawn as they come: each
    node's chosen split is among the node's sample, the node's sample among its depth's,
    the depth's among the tree's; ss-dealer grows the very trees plain grows."""
    from unseen.ml import sbt_protocol

    seen = []  # per layer: the tree's sample, each node's sample, the winners
    node_columns = sbt_protocol.Guest.node_columns
    merge_best = sbt_protocol.merge_best

    def record_samples(self, n_nodes):
        out = node_columns(self, n_nodes)
        seen.append({"tree": self._tree_chosen, "nodes": out})
        return out

    def record_winners(candidates):
        owner, best = merge_best(candidates)
        seen[-1]["won"] = (owner, best)
        return owner, best

    monkeypatch.setattr(sbt_protocol.Guest, "node_columns", record_samples)
    monkeypatch.setattr(sbt_protocol, "merge_best", record_winners)
    Xtr, Xte, ytr, _ = breast_cancer()
    rates = dict(colsample_bytree=0.8, colsample_bylevel=0.7, colsample_bynode=0.5)
    params = dict(BREAST, n_estimators=4, random_state=3, **rates)
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    p, _ = fit_jointly("plain", parts_tr, ytr, parts_te, **params)
    offsets = {"": 0, "host1": 10}
    splits = 0
    for layer in seen:
        tree = set(layer["tree"].tolist())
        assert len(tree) == int(np.float32(0.8) * np.float32(30))  # 24
        owner, best = layer["won"]
        levels = set()
        for j, node in enumerate(layer["nodes"]):
            chosen = {int(c) + offsets[party] for party, cols in node.items() for c in cols}
            assert len(chosen) == 8 and chosen <= tree  # int(0.5 * int(0.7 * 24)) = 8
            levels |= chosen
            if np.isfinite(best.gain[j]) and best.gain[j] > 0:
                party = ["", "host1"][owner[j]]
                assert int(best.feature[j]) + offsets[party] in chosen
                splits += 1
        assert len(levels) <= 16  # within the depth's sample of int(0.7 * 24)
    assert splits >= 4 * 7  # most nodes split: the check bit
    q, _ = fit_jointly("ss-dealer", parts_tr, ytr, parts_te, **params)
    np.testing.assert_allclose(p, q, atol=1e-5)
    # the samples took effect
    r, _ = fit_jointly("plain", parts_tr, ytr, parts_te, **dict(params, colsample_bynode=1.0))
    assert np.abs(p - r).max() > 1e-3


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "he"])
def test_scale_pos_weight_is_xgboosts(mode):
    """The positive rows' g and h weigh scale_pos_weight: the model equals XGBoost's with
    the same weight on the same bins (he and ss-dealer encode the larger gradients), its
    own estimate of the base score included (a Newton step from 0 then, not the mean)."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=4 if mode == "he" else 10, scale_pos_weight=3.0)
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    p, _ = fit_jointly(mode, parts_tr, ytr, parts_te, **params, **extra)
    btr, bte = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))
    )
    del reference["base_score"]  # XGBoost's own estimate, as SecureBoost's default
    booster = xgb.train(
        {**reference, "scale_pos_weight": 3.0},
        xgb.DMatrix(btr, label=ytr),
        params["n_estimators"],
    )
    np.testing.assert_allclose(p, booster.predict(xgb.DMatrix(bte)), atol=1e-5)
    unweighted = xgb_scores(
        Xtr, ytr, Xte, binned=True, **dict(BREAST, n_estimators=params["n_estimators"])
    )
    assert np.abs(p - unweighted).max() > 1e-3
    with pytest.raises(ConfigError, match="binary:logistic and binary:logitraw only"):
        SecureBoostRegressor(scale_pos_weight=2.0)


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("plain", {"reg_alpha": 2.0}),
        ("ss-dealer", {"reg_alpha": 2.0}),
        ("plain", {"max_delta_step": 0.3}),
        ("ss-dealer", {"max_delta_step": 0.3, "reg_alpha": 0.5}),
    ],
)
def test_reg_alpha_and_max_delta_step_are_xgboosts(mode, extra):
    """L1 regularisation (gains and leaf weights from G shrunk by reg_alpha) and the
    largest leaf weight (gains at the clipped weight): the model equals XGBoost's with
    the same parameters on the same bins."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, **extra)
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    p, _ = fit_jointly(mode, parts_tr, ytr, parts_te, **params)
    btr, bte = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))
    )
    booster = xgb.train({**reference, **extra}, xgb.DMatrix(btr, label=ytr), 10)
    np.testing.assert_allclose(p, booster.predict(xgb.DMatrix(bte)), atol=1e-5)
    assert np.abs(p - xgb_scores(Xtr, ytr, Xte, binned=True, **BREAST)).max() > 1e-3


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "he"])
def test_sample_weight_is_xgboosts(mode):
    """The guest's row weights scale its g and h (XGBoost's instance weights): the model
    equals XGBoost's with the same weights on the same bins."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    w = np.random.default_rng(3).uniform(0.2, 3.0, size=ytr.size)
    trees = 4 if mode == "he" else 10
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}

    def guest(ctx):
        est = SecureBoostClassifier(mode=mode, **dict(BREAST, n_estimators=trees), **extra)
        est.fit(ctx, Xtr[:, :10], ytr, sample_weight=w)
        return est.predict_proba(ctx, Xte[:, :10])[:, 1]

    def host(ctx):
        est = SecureBoostClassifier(mode=mode).fit(ctx, Xtr[:, 10:])
        return est.predict_proba(ctx, Xte[:, 10:])

    roles = {"guest": guest, "host1": host}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode).fit(ctx)
    p = run_local(roles, timeout=120)["guest"]
    btr, bte = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.average(ytr, weights=w))
    )
    booster = xgb.train(reference, xgb.DMatrix(btr, label=ytr, weight=w), trees)
    np.testing.assert_allclose(p, booster.predict(xgb.DMatrix(bte)), atol=1e-5)
    unweighted = xgb_scores(Xtr, ytr, Xte, binned=True, **dict(BREAST, n_estimators=trees))
    assert np.abs(p - unweighted).max() > 1e-3


def test_bad_sample_weights_are_named():
    from unseen.ml.secureboost import check_weights

    assert check_weights(None, 3) is None
    assert np.array_equal(check_weights([1, 0, 2], 3), [1.0, 0.0, 2.0])
    for bad, message in (
        ([1, 2], "2 values for 3 rows"),
        ([1, -1, 2], "non-negative"),
        ([1, np.nan, 2], "non-negative"),
        ([0, 0, 0], "0 for every row"),
        (["a", "b", "c"], "numbers"),
    ):
        with pytest.raises(InputError, match=message):
            check_weights(bad, 3)


def test_colsample_bytree_counts_as_xgboost_does():
    from unseen.ml.sbt_protocol import tree_features

    rng = np.random.default_rng(0)
    assert tree_features(rng, 10, 1.0) is None
    # in single precision, as XGBoost: 0.84 of 75 is 62 (63 in double precision)
    assert tree_features(rng, 75, 0.84).size == 62
    assert tree_features(rng, 10, 0.01).size == 1  # at least one
    drawn = tree_features(rng, 40, 0.5)
    assert drawn.size == 20 and np.all(np.diff(drawn) > 0) and drawn.max() < 40
    with pytest.raises(ConfigError, match="colsample_bytree"):
        SecureBoostClassifier(colsample_bytree=0)
    with pytest.raises(ConfigError, match="colsample_bytree"):
        SecureBoostClassifier(colsample_bytree=1.5)
    with pytest.raises(ConfigError, match="colsample_bylevel must lie in"):
        SecureBoostClassifier(colsample_bylevel=0)
    with pytest.raises(ConfigError, match="colsample_bynode must lie in"):
        SecureBoostClassifier(colsample_bynode=1.01)


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_trees_to_dataframe_is_xgboosts_at_the_guest_and_keeps_thresholds_at_the_host(
    mode, tmp_path
):
    """The guest's table of every node equals XGBoost's trees_to_dataframe on the same
    bins: the same nodes, children, missing-value sides, features, gains, covers and leaf
    values (XGBoost's split value on bin indices is the last bin going left plus one). A
    host's splits show their thresholds there only; the guest shows a host's split by
    feature and bin, no threshold. The records survive saving."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=3, max_depth=4)
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    _, models = fit_jointly(mode, parts_tr, ytr, parts_te, **params)
    ours = models["guest"].trees_to_dataframe()
    btr, _ = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=4, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))
    )
    theirs = xgb.train(reference, xgb.DMatrix(btr, label=ytr), 3).trees_to_dataframe()
    assert ours["ID"].tolist() == theirs["ID"].tolist()
    for column in ("Yes", "No", "Missing"):
        assert ours[column].fillna("").tolist() == theirs[column].fillna("").tolist(), column
    np.testing.assert_allclose(ours["Gain"], theirs["Gain"], rtol=1e-5, atol=1e-6)  # leaves too
    np.testing.assert_allclose(ours["Cover"], theirs["Cover"], rtol=1e-5, atol=1e-6)
    split = ours["Feature"] != "Leaf"
    names = [
        f"f{int(f[len('host1:x') :]) + 10}" if f.startswith("host1:") else f"f{int(f[1:])}"
        for f in ours.loc[split, "Feature"]
    ]
    assert names == theirs.loc[split, "Feature"].tolist()
    np.testing.assert_array_equal(ours.loc[split, "Bin"] + 1, theirs.loc[split, "Split"])
    hosts = ours["Party"] == "host1"
    assert hosts.any() and (ours["Party"] == "guest").any()
    assert ours.loc[hosts, "Split"].isna().all() and ours.loc[~hosts & split, "Split"].notna().all()
    # the host: its own splits with thresholds, the guest's not even by name
    at_host = models["host1"].trees_to_dataframe()
    assert at_host["ID"].tolist() == ours["ID"].tolist()
    mine = at_host["Party"] == "host1"
    assert mine.tolist() == hosts.tolist()
    assert at_host.loc[mine, "Feature"].tolist() == [
        f[len("host1:") :] for f in ours.loc[hosts, "Feature"]
    ]
    assert at_host.loc[mine, "Split"].notna().all()
    other = split & ~hosts
    assert (at_host.loc[other, "Feature"] == "").all() and at_host.loc[other, "Split"].isna().all()
    assert at_host["Gain"].isna().all() and at_host["Cover"].isna().all()
    # saved and loaded: the same table
    models["guest"].save(tmp_path / "g")
    again = SecureBoostClassifier.load(tmp_path / "g").trees_to_dataframe()
    pd.testing.assert_frame_equal(again, ours)


def _explained_breast_cancer(rows=None):
    """Breast cancer's split (guest: 10 columns, host: 20) with missing cells in a guest's
    and a host's column of the test rows (the first ``rows`` of them)."""
    Xtr, Xte, ytr, _ = breast_cancer()
    Xte = Xte[:rows].copy()
    Xte[::5, 2], Xte[::3, 14] = np.nan, np.nan  # a guest's and a host's missing cells
    return Xtr, Xte, ytr, [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]


def _explain_jointly(mode, parts_tr, ytr, parts_te, explain, trees=6):
    """Train on breast cancer's split (BREAST, ``trees`` trees; a dealer in ss-dealer
    mode), then ``explain(est, ctx, X, i)`` at every data party ``i`` (0: the guest) on
    its columns of the explained rows: what each returned, by party."""
    params = dict(BREAST, n_estimators=trees)

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode=mode, **params)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None)
            return explain(est, ctx, parts_te[i], i)

        return role

    roles = {"guest": party(0), "host1": party(1)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode, **params).fit(ctx)
    return run_local(roles, timeout=120)


def _xgb_on_bins(Xtr, ytr, Xte, trees):
    """XGBoost with BREAST's parameters on SecureBoost's bins (32): the booster, and the
    explained rows as its matrix."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    btr, bte = secureboost_bins(Xtr, Xte, 32)
    reference = xgboost_params(
        max_depth=5, learning_rate=0.3, max_bin=256, base_score=float(np.mean(ytr))
    )
    return xgb.train(reference, xgb.DMatrix(btr, label=ytr), trees), xgb.DMatrix(bte)


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_apply_is_xgboosts_pred_leaf(mode):
    """``apply``: at the guest each row's leaf in every tree as its node id, equal to
    XGBoost's pred_leaf on the same bins (missing cells included); None at the host,
    which receives exactly what it receives in a prediction (it is not told)."""
    from unseen.runtime.local import Transcript

    Xtr, Xte, ytr, parts_tr, parts_te = _explained_breast_cancer()
    transcript = Transcript()

    def explain(est, ctx, X, i):
        return est.apply(ctx, X), est.predict_proba(ctx, X)

    params = dict(BREAST, n_estimators=6)

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode=mode, **params)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None)
            return explain(est, ctx, parts_te[i], i)

        return role

    roles = {"guest": party(0), "host1": party(1)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode, **params).fit(ctx)
    res = run_local(roles, transcript=transcript, timeout=120)
    nodes, _ = res["guest"]
    assert res["host1"] == (None, None)
    booster, bte = _xgb_on_bins(Xtr, ytr, Xte, 6)
    np.testing.assert_array_equal(nodes, booster.predict(bte, pred_leaf=True))
    to_host = [(key, payload) for _, to, key, _, payload in transcript.messages if to == "host1"]
    applied = {k: v for k, v in to_host if k.startswith("sbt-predict/")}
    predicted = {k.replace("-2/", "/"): v for k, v in to_host if k.startswith("sbt-predict-2/")}
    assert applied and applied == predicted


@pytest.mark.parametrize("approx", [True, False])
@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_contributions_are_xgboosts(mode, approx):
    """predict_contribs at the guest: each row's margin split per feature of every
    party (the host's named host1:x..) and a bias, equal to XGBoost's pred_contribs on
    the same bins, missing values included; they add up to the margins; the host gets
    None. ``approx``: Saabas's (XGBoost's approx_contribs); else exact SHAP values, which
    the host allows by calling with approx=False too (a feature split twice on a path
    included, which TreeSHAP unwinds and redoes)."""
    Xtr, Xte, ytr, parts_tr, parts_te = _explained_breast_cancer()

    def explain(est, ctx, X, i):
        shares = est.predict_contribs(ctx, X, approx=approx)
        return est, shares, est.predict_margin(ctx, X)

    res = _explain_jointly(mode, parts_tr, ytr, parts_te, explain)
    est, ours, margin = res["guest"]
    assert res["host1"][1] is None
    booster, bte = _xgb_on_bins(Xtr, ytr, Xte, 6)
    theirs = booster.predict(bte, pred_contribs=True, approx_contribs=approx)
    np.testing.assert_allclose(ours, theirs, atol=1e-5 if approx else 2e-5)
    other = booster.predict(bte, pred_contribs=True, approx_contribs=not approx)
    assert np.abs(ours - other).max() > 1e-3  # the one kind, not the other
    np.testing.assert_allclose(ours.sum(axis=1), margin, atol=1e-12 if approx else 1e-10)
    names = est.contribution_names_
    assert len(names) == 31 and names[10] == "host1:x0" and names[-1] == "bias"
    assert np.abs(ours[:, 10:30]).max() > 0.1  # the host's features explain part of it
    table = est.trees_to_dataframe().set_index("ID")

    def repeats(node, seen=()):
        row = table.loc[node]
        if row["Feature"] == "Leaf":
            return False
        if row["Feature"] in seen:
            return True
        below = (*seen, row["Feature"])
        return repeats(row["Yes"], below) or repeats(row["No"], below)

    assert any(repeats(f"{t}-0") for t in range(6))  # some path splits twice on a feature


def test_exact_contributions_need_every_hosts_consent():
    """A host that does not allow them stops the job, at both parties, naming the way."""
    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=2)

    def guest(ctx):
        est = SecureBoostClassifier(mode="plain", **params).fit(ctx, Xtr[:, :10], ytr)
        return est.predict_contribs(ctx, Xte[:, :10], approx=False)

    def host(ctx):
        est = SecureBoostClassifier(mode="plain", **params).fit(ctx, Xtr[:, 10:])
        return est.predict_contribs(ctx, Xte[:, 10:])  # Saabas's: no consent given

    with pytest.raises(ConfigError, match="has not allowed|guest asks for exact"):
        run_local({"guest": guest, "host1": host}, timeout=60)


def test_contributions_of_several_classes_and_of_older_models(tmp_path):
    """Several classes: a share per class, feature and bias, adding up to each class's
    margin (Saabas's and exact SHAP values alike). A model saved before nodes were
    recorded is refused with the reason."""
    Xtr, Xte, ytr, _ = wine()
    parts_tr, parts_te = [Xtr[:, :5], Xtr[:, 5:]], [Xte[:, :5], Xte[:, 5:]]

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode="plain", n_estimators=3, max_depth=3, max_bin=16)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None)
            exact = est.predict_contribs(ctx, parts_te[i], approx=False)
            return (
                est,
                est.predict_contribs(ctx, parts_te[i]),
                est.predict_margin(ctx, parts_te[i]),
                exact,
            )

        return role

    res = run_local({"guest": party(0), "host1": party(1)}, timeout=120)
    est, ours, margin, exact = res["guest"]
    assert ours.shape == exact.shape == (Xte.shape[0], 3, Xtr.shape[1] + 1)
    np.testing.assert_allclose(ours.sum(axis=2), margin, atol=1e-12)
    np.testing.assert_allclose(exact.sum(axis=2), margin, atol=1e-10)
    est.save(tmp_path / "g")
    res["host1"][0].save(tmp_path / "h")
    arrays = dict(np.load(tmp_path / "g" / "arrays.npz"))
    np.savez(tmp_path / "g" / "arrays.npz", **{k: v for k, v in arrays.items() if "node_" not in k})
    old = {n: SecureBoostClassifier.load(tmp_path / n) for n in ("g", "h")}
    with pytest.raises(ConfigError, match="saved without: train it again"):
        run_local(
            {
                "guest": lambda ctx: old["g"].predict_contribs(ctx, parts_te[0]),
                "host1": lambda ctx: old["h"].predict_contribs(ctx, parts_te[1]),
            },
            timeout=60,
        )


def test_an_estimator_predicts_several_times_in_one_job():
    """Each joint prediction has its own message keys: probabilities, margins and labels
    one after another in the same job (both parties call in the same order)."""
    Xtr, Xte, ytr, _ = breast_cancer()
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode="plain", **dict(BREAST, n_estimators=3))
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None)
            return (
                est.predict_proba(ctx, parts_te[i]),
                est.predict_margin(ctx, parts_te[i]),
                est.predict(ctx, parts_te[i]),
            )

        return role

    res = run_local({"guest": party(0), "host1": party(1)}, timeout=120)
    proba, margin, labels = res["guest"]
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-margin)), rtol=1e-12)
    assert (labels == (proba[:, 1] > 0.5)).all() and res["host1"] == (None, None, None)


def test_model_files_round_trip_and_predictor(tmp_path):
    Xtr, Xte, ytr, yte = breast_cancer()
    p, models = fit_jointly(
        "plain",
        [Xtr[:, :10], Xtr[:, 10:]],
        ytr,
        [Xte[:, :10], Xte[:, 10:]],
        **dict(BREAST, n_estimators=4),
    )
    for name, est in models.items():
        est.save(tmp_path / name)
    assert "secureboost" in PREDICTORS
    guest, host = (PartyModel.load(tmp_path / n) for n in ("guest", "host1"))
    assert host.role == "host" and "value" not in np.load(tmp_path / "host1" / "arrays.npz")
    imp = guest.feature_importance("weight")
    assert imp and all(k.startswith(("x", "host1:x")) for k in imp)
    assert guest.feature_importance("cover") == models["guest"].model_.feature_importance("cover")

    class Data:  # what `unseen predict` passes: X and feature names
        def __init__(self, X, features):
            self.X, self.features = X, features

    from unseen.ml.model_io import load_model_part

    def run(name, X):
        meta, arrays = load_model_part(tmp_path / name)
        return lambda ctx: predict_party(ctx, meta, arrays, Data(X, meta["features"]))

    res = run_local({"guest": run("guest", Xte[:, :10]), "host1": run("host1", Xte[:, 10:])})
    np.testing.assert_allclose(res["guest"], p)
    assert res["host1"] is None
    # a model saved before the nodes were recorded: its table, with what it knows
    arrays = dict(np.load(tmp_path / "guest" / "arrays.npz"))
    np.savez(
        tmp_path / "guest" / "arrays.npz", **{k: v for k, v in arrays.items() if "node_" not in k}
    )
    old = PartyModel.load(tmp_path / "guest").trees_to_dataframe()
    new = guest.trees_to_dataframe()
    assert old["Gain"].isna().sum() > 0 and old["Cover"].isna().all()
    leaves = new["Feature"] == "Leaf"
    np.testing.assert_array_equal(old.loc[leaves, "Gain"], new.loc[leaves, "Gain"])
    assert old["Feature"].tolist() == [
        f if not f.startswith("host1:") else "" for f in new["Feature"]
    ]
    # the estimator's own load: the same parameters, and it predicts as before
    loaded = {n: SecureBoostClassifier.load(tmp_path / n) for n in ("guest", "host1")}
    assert loaded["guest"].get_params() == models["guest"].get_params()
    res = run_local(
        {
            "guest": lambda ctx: loaded["guest"].predict_proba(ctx, Xte[:, :10]),
            "host1": lambda ctx: loaded["host1"].predict_proba(ctx, Xte[:, 10:]),
        }
    )
    np.testing.assert_allclose(res["guest"][:, 1], p)


def wine():
    """Three classes (59, 71, 48 rows), shuffled; 130 rows to train, 48 to test."""
    from sklearn.datasets import load_wine

    X, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    return X[order][:130], X[order][130:], y[order][:130], y[order][130:]


def fit_classes_jointly(mode, parts_tr, ytr, parts_te, eval_set=None, **params):
    """:func:`fit_jointly` for several classes: the guest's ``(n, K)`` probabilities."""
    return fit_jointly(mode, parts_tr, ytr, parts_te, eval_set=eval_set, all_classes=True, **params)


def xgb_classes(Xtr, ytr, Xte, rounds, **params):
    """XGBoost's multi:softprob on the joined data binned with SecureBoost's cut points."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins

    btr, bte = secureboost_bins(Xtr, Xte, params["max_bin"])
    booster = xgb.train(
        {
            "objective": "multi:softprob",
            "num_class": int(ytr.max()) + 1,
            "max_depth": params["max_depth"],
            "eta": params["learning_rate"],
            "max_bin": 256,
            "tree_method": "hist",
            "nthread": 1,
        },
        xgb.DMatrix(btr, label=ytr),
        rounds,
    )
    return booster.predict(xgb.DMatrix(bte))


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("plain", {}),
        ("ss-dealer", {}),
        ("ss-dealer-matrix", {}),
        ("he", {"he_options": {"scheme": "ou"}}),
        ("he-hidden", {"he_options": {"scheme": "ou"}}),
    ],
)
def test_multiclass_is_xgboosts(mode, extra):
    """More than two classes: a tree per class each round (multi:softprob), XGBoost's
    softmax gradients and its default base margins; equal to XGBoost on the same bins."""
    Xtr, Xte, ytr, yte = wine()
    params = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16)
    p, models = fit_classes_jointly(
        mode, [Xtr[:, :5], Xtr[:, 5:]], ytr, [Xte[:, :5], Xte[:, 5:]], **params, **extra
    )
    assert p.shape == (yte.size, 3)
    np.testing.assert_allclose(p, xgb_classes(Xtr, ytr, Xte, 4, **params), atol=1e-5)
    guest = models["guest"]
    assert guest.n_trees_ == 12 and guest.model_.params.objective == "multi:softprob"
    assert list(guest.classes_) == [0, 1, 2] and np.mean(guest.classes_[p.argmax(1)] == yte) > 0.9
    assert models["host1"].model_.params.num_class == 3  # the guest's, told at set-up


def _wine_jointly(then: Callable[[Any, Any, np.ndarray], Any]) -> Any:
    """Three rounds of three-class trees on wine (guest: 5 columns, host: 8) in plain
    mode; ``then(ctx, estimator, columns)`` with each party's columns of all 178 rows
    (training rows first): what the guest returns."""
    Xtr, Xte, ytr, _ = wine()
    params = dict(n_estimators=3, max_depth=3, learning_rate=0.3, max_bin=16)
    rows = np.vstack([Xtr, Xte])

    def party(i: int) -> Callable[..., Any]:
        cols = slice(0, 5) if i == 0 else slice(5, None)

        def role(ctx: Any) -> Any:
            est = SecureBoostClassifier(mode="plain", **params)
            est.fit(ctx, Xtr[:, cols], ytr if i == 0 else None)
            return then(ctx, est, rows[:, cols])

        return role

    return run_local({"guest": party(0), "host1": party(1)})["guest"]


def test_several_classes_keep_each_class_probability_for_stability():
    """The guest's model part keeps each class's training probabilities in bands and the
    likeliest class's shares: the training rows themselves read 0, a class made likelier
    reads shifted; score_stability (one score a row) points to class_stability."""
    _, _, ytr, _ = wine()
    est, on_train = _wine_jointly(lambda ctx, est, x: (est, est.predict_proba(ctx, x[: len(ytr)])))
    kept = est.model_.training_scores
    assert len(kept["classes"]) == 3
    assert kept["predicted"] == pytest.approx(np.bincount(on_train.argmax(1)) / len(ytr))
    same = est.class_stability(on_train)
    assert max(same["per_class"]) == pytest.approx(0.0, abs=1e-9) and same["predicted"] < 1e-9
    likelier = on_train.copy()
    likelier[:, 0] += 1.0
    likelier /= likelier.sum(axis=1, keepdims=True)
    assert est.class_stability(likelier)["predicted"] > 0.25
    with pytest.raises(ConfigError, match="class_stability"):
        est.score_stability(on_train[:, 0])


def test_apply_for_several_classes_is_xgboosts():
    """``apply`` with a tree per class: each round's trees class by class, as XGBoost's
    pred_leaf."""
    Xtr, Xte, ytr, _ = wine()
    nodes = _wine_jointly(lambda ctx, est, x: est.apply(ctx, x[len(ytr) :]))
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins

    btr, bte = secureboost_bins(Xtr, Xte, 16)
    reference = {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3}
    reference |= {"max_bin": 256, "tree_method": "hist", "nthread": 1}
    booster = xgb.train(reference, xgb.DMatrix(btr, label=ytr), 3)
    assert nodes.shape == (len(Xte), 9)
    np.testing.assert_array_equal(nodes, booster.predict(xgb.DMatrix(bte), pred_leaf=True))


def test_multiclass_labels_early_stopping_and_files(tmp_path):
    """Any class labels (here names): ``classes_`` keeps them, ``predict`` answers with
    them, and the saved model too; early stopping keeps whole rounds (a tree per
    class), and what it keeps equals XGBoost with as many rounds."""
    Xtr, Xte, ytr, _ = wine()
    names = np.array(["barbera", "barolo", "grignolino"])[ytr.astype(int)]
    Xfit, Xval, nfit, nval = Xtr[:90], Xtr[90:], names[:90], names[90:]
    params = dict(
        n_estimators=40, max_depth=3, learning_rate=0.5, max_bin=16, early_stopping_rounds=2
    )
    p, models = fit_classes_jointly(
        "ss-dealer",
        [Xfit[:, :5], Xfit[:, 5:]],
        nfit,
        [Xte[:, :5], Xte[:, 5:]],
        eval_set=([Xval[:, :5], Xval[:, 5:]], nval),
        **params,
    )
    guest, host = models["guest"], models["host1"]
    rounds = guest.n_trees_ // 3
    assert guest.n_trees_ % 3 == 0 and host.n_trees_ == guest.n_trees_ and rounds < 40
    history = guest.model_.history
    assert len(history) > rounds and int(np.argmin(history)) == rounds - 1
    codes = np.searchsorted(np.unique(nfit), nfit).astype(float)
    np.testing.assert_allclose(p, xgb_classes(Xfit, codes, Xte, rounds, **params), atol=1e-5)
    assert list(guest.classes_) == ["barbera", "barolo", "grignolino"]

    for name, est in models.items():
        est.save(tmp_path / name)
    loaded = {n: SecureBoostClassifier.load(tmp_path / n) for n in ("guest", "host1")}
    res = run_local(
        {
            "guest": lambda ctx: loaded["guest"].predict(ctx, Xte[:, :5]),
            "host1": lambda ctx: loaded["host1"].predict(ctx, Xte[:, 5:]),
        }
    )
    assert list(res["guest"]) == list(guest.classes_[p.argmax(axis=1)])
    assert loaded["guest"].get_params() == guest.get_params()
    assert "num_class" not in guest.get_params()  # from the label, as the objective

    with pytest.raises(InputError, match="row 2: the validation label has a class"):
        fit_classes_jointly(
            "plain",
            [Xfit[:, :5], Xfit[:, 5:]],
            nfit,
            [Xte[:, :5], Xte[:, 5:]],
            eval_set=([Xval[:, :5], Xval[:, 5:]], np.r_[nval[:1], ["merlot"], nval[2:]]),
            **params,
        )


def test_two_class_labels_of_any_kind():
    """Two labels other than 0/1 (here "no"/"yes") train the binary model of 0/1, and
    ``predict`` answers with the labels."""
    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=2)
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    p, _ = fit_jointly("plain", parts_tr, ytr, parts_te, **params)
    words = np.where(ytr == 1, "yes", "no")
    q, models = fit_classes_jointly("plain", parts_tr, words, parts_te, **params)
    np.testing.assert_allclose(q[:, 1], p)
    assert models["guest"].model_.params.objective == "binary:logistic"
    assert list(models["guest"].classes_) == ["no", "yes"]
    res = run_local(
        {
            "guest": lambda ctx: models["guest"].predict(ctx, Xte[:, :10]),
            "host1": lambda ctx: models["host1"].predict(ctx, Xte[:, 10:]),
        }
    )
    assert list(res["guest"]) == ["yes" if v >= 0.5 else "no" for v in p]
    gaps = words.astype(object)
    gaps[2] = None
    with pytest.raises(InputError, match="row 3: y has a missing value"):
        SecureBoostClassifier(mode="plain").fit(None, Xtr[:, :10], gaps)


def test_multiclass_parameters_and_labels_are_checked():
    from unseen.ml.sbt_protocol import BoostParams
    from unseen.ml.secureboost import check_label

    with pytest.raises(ConfigError, match=r"needs num_class \(--num-class\)"):
        BoostParams(objective="multi:softprob")
    with pytest.raises(ConfigError, match="num_class is for multi:softprob"):
        BoostParams(num_class=3)
    with pytest.raises(ConfigError, match="scale_pos_weight"):
        BoostParams(objective="multi:softprob", num_class=3, scale_pos_weight=2)
    assert BoostParams(objective="multi:softprob", num_class=3, n_estimators=5).max_trees == 15
    y = np.array([0, 1, 2, 1.5])
    with pytest.raises(InputError, match="row 4: y must be a class index 0 .. 2"):
        check_label(y, "multi:softprob", 4, num_class=3)
    with pytest.raises(InputError, match="row 3"):
        check_label(np.array([0, 1, 3]), "multi:softprob", 3, num_class=3)


def test_parameters_follow_scikit_learns_convention():
    """get_params gives the constructor's arguments (so clone works), set_params checks
    them as the constructor does and changes nothing when one is bad."""
    from sklearn.base import clone

    est = SecureBoostClassifier(
        n_estimators=3, goss=(0.2, 0.1), mode="he", he_options={"scheme": "ou"}
    )
    copy = clone(est)
    assert copy is not est and copy.get_params() == est.get_params()
    assert type(est)(**est.get_params()).get_params() == est.get_params()
    assert est.get_params()["objective"] == "binary:logistic"
    assert repr(est) == (
        "SecureBoostClassifier(n_estimators=3, goss=(0.2, 0.1), mode='he', "
        "he_options={'scheme': 'ou'})"
    )
    assert est.set_params(max_depth=4, mode="plain") is est
    assert est.params.max_depth == 4 and est.mode == "plain"
    before = est.get_params()
    with pytest.raises(ConfigError, match="max_depth"):
        est.set_params(max_depth=0)
    with pytest.raises(ConfigError, match="unknown mode"):
        est.set_params(learning_rate=0.1, mode="magic")
    with pytest.raises(ConfigError, match="unknown parameter.*depth"):
        est.set_params(depth=3)
    assert est.get_params() == before
    assert SecureBoostRegressor().params.objective == "reg:squarederror"
    assert repr(SecureBoostRegressor(max_bin=16)) == "SecureBoostRegressor(max_bin=16)"


def test_bad_inputs_fail_with_the_root_cause():
    Xtr, _, ytr, _ = breast_cancer()

    def run(y=ytr, mode="plain", host_X=None):
        roles = {
            "guest": lambda ctx: SecureBoostClassifier(mode=mode, n_estimators=2).fit(
                ctx, Xtr[:, :10], y
            ),
            "host1": lambda ctx: SecureBoostClassifier(mode=mode).fit(
                ctx, Xtr[:, 10:] if host_X is None else host_X
            ),
        }
        run_local(roles, timeout=60)

    with pytest.raises(InputError, match="row 5: y has a missing or infinite value"):
        run(y=np.where(np.arange(ytr.size) == 4, np.nan, ytr))
    with pytest.raises(InputError, match="only one class"):
        run(y=np.ones_like(ytr))
    with pytest.raises(InputError, match="not aligned"):
        run(host_X=Xtr[:-1, 10:])
    with pytest.raises(InputError, match="infinite"):
        run(host_X=np.where(np.arange(Xtr.shape[0])[:, None] == 3, np.inf, Xtr[:, 10:]))
    with pytest.raises(ConfigError, match="dealer"):
        run(mode="ss-dealer")
    with pytest.raises(ConfigError, match="max_depth"):
        SecureBoostClassifier(max_depth=0)


def test_an_infinite_feature_is_named_by_its_column():
    X = np.array([[1.0, 2.0], [3.0, -np.inf]])
    with pytest.raises(InputError, match="row 2, column 'income'"):
        check_features(X, names=["age", "income"])
    with pytest.raises(InputError, match="row 2, column '1'"):  # no names: the index
        check_features(X)
    assert check_features(np.zeros((3, 0)), no_columns=True).shape == (3, 0)
    with pytest.raises(InputError, match="non-empty"):
        check_features(np.zeros((3, 0)))


def test_every_party_must_agree_on_the_mode():
    Xtr, _, ytr, _ = breast_cancer()
    with pytest.raises(ConfigError, match="modes differ"):
        run_local(
            {
                "guest": lambda ctx: SecureBoostClassifier(mode="plain").fit(ctx, Xtr[:, :10], ytr),
                "host1": lambda ctx: SecureBoostClassifier(mode="he").fit(ctx, Xtr[:, 10:]),
            },
            timeout=60,
        )


def test_security_statements_name_what_leaks():
    for mode in ("ss-dealer", "ss-dealer-matrix", "he", "plain"):
        text = security_statement(mode)
        assert "instance space of every node" in text and "threshold" in text
        assert "he-hidden" in text  # where instance spaces stay hidden
        assert "never the\ncategories themselves" in text  # categorical features
    hidden = security_statement("he-hidden")
    assert "hidden from the hosts" in hidden and "instance space of every node" not in hidden
    assert "side every" in hidden and "threshold" in hidden
    assert "INSECURE" in security_statement("plain")
    assert "must not collude" in security_statement("ss-dealer")
    assert "per-bin sums and nothing else" in security_statement("ss-dealer-matrix")
    with pytest.raises(ConfigError):
        security_statement("magic")


def test_deep_trees_sum_more_than_255_nodes_a_depth(monkeypatch):
    """ss-dealer's node slots take 16 bits when a depth sums 256 nodes or more."""
    from unseen.ml import sbt_shuffle

    widest: list[int] = []
    real = sbt_shuffle.slot_bits
    monkeypatch.setattr(sbt_shuffle, "slot_bits", lambda k: (widest.append(k), real(k))[1])
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 6))
    y = X.sum(axis=1) + rng.normal(size=20_000)
    params = dict(n_estimators=1, max_depth=11, learning_rate=0.3, max_bin=32, min_child_weight=0.0)
    parts = [X[:, :3], X[:, 3:]]
    got, _ = fit_jointly("ss-dealer", parts, y, parts, estimator=SecureBoostRegressor, **params)
    assert max(widest) >= 256 and real(max(widest)) == 16
    # regression shares keep 40 fraction bits: the same tree as with plaintext gradients
    want, _ = fit_jointly("plain", parts, y, parts, estimator=SecureBoostRegressor, **params)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def _fit_on(mode, parts_tr, ytr, parts_te, init=None, estimator=SecureBoostClassifier, **params):
    """:func:`fit_jointly` where each party may continue its part of ``init`` (a dict of
    fitted estimators by party); returns the guest's test scores and the estimators."""
    names = ["guest"] + [f"host{i}" for i in range(1, len(parts_tr))]

    def party(i, name):
        def role(ctx):
            est = estimator(mode=mode, **params)
            start = None if init is None else init.get(name)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None, init_model=start)
            out = est.predict_proba(ctx, parts_te[i])
            return est, out

        return role

    roles = {name: party(i, name) for i, name in enumerate(names)}
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: estimator(mode=mode, **params).fit(ctx)
    res = run_local(roles, timeout=300)
    return res["guest"][1], {n: res[n][0] for n in names}


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_continued_training_equals_one_longer_run(mode, tmp_path):
    """init_model (XGBoost's xgb_model): 3 rounds, saved, then 2 more from the saved parts,
    give the model of 5 rounds in one run, tree for tree; the importance adds up."""
    Xtr, Xte, ytr, _ = breast_cancer()
    parts_tr, parts_te = [Xtr[:, :10], Xtr[:, 10:]], [Xte[:, :10], Xte[:, 10:]]
    params = dict(BREAST, max_depth=3)
    whole, full = _fit_on(mode, parts_tr, ytr, parts_te, **dict(params, n_estimators=5))
    _, first = _fit_on(mode, parts_tr, ytr, parts_te, **dict(params, n_estimators=3))
    for name, est in first.items():
        est.save(tmp_path / name)
    parts = {name: tmp_path / name for name in first}  # continued from the saved parts
    more, cont = _fit_on(mode, parts_tr, ytr, parts_te, init=parts, **dict(params, n_estimators=2))
    np.testing.assert_allclose(more, whole, atol=1e-9)
    guest, whole_guest = cont["guest"].model_, full["guest"].model_
    assert guest.n_trees == 5 and cont["host1"].model_.n_trees == 5
    assert guest.importance_split == whole_guest.importance_split
    assert guest.base_margin == whole_guest.base_margin
    pd.testing.assert_frame_equal(  # every node's record, old trees and new
        cont["guest"].trees_to_dataframe(), full["guest"].trees_to_dataframe(), atol=1e-9
    )
    assert guest.model_id != first["guest"].model_.model_id  # a new model
    assert cont["host1"].model_.model_id == guest.model_id


def test_continued_training_of_several_classes_and_its_errors():
    """Class labels continue as the model knows them; a party without its part, a part of
    another model, or an objective that differs fail with the reason."""
    Xtr, Xte, ytr, _ = wine()
    names = np.array(["barbera", "barolo", "grignolino"])[ytr.astype(int)]
    parts_tr, parts_te = [Xtr[:, :5], Xtr[:, 5:]], [Xte[:, :5], Xte[:, 5:]]
    params = dict(max_depth=3, learning_rate=0.3, max_bin=16)
    whole, _ = _fit_on("plain", parts_tr, names, parts_te, **dict(params, n_estimators=3))
    _, first = _fit_on("plain", parts_tr, names, parts_te, **dict(params, n_estimators=2))
    more, cont = _fit_on(
        "plain", parts_tr, names, parts_te, init=first, **dict(params, n_estimators=1)
    )
    np.testing.assert_allclose(more, whole, atol=1e-9)
    assert cont["guest"].n_trees_ == 9 and list(cont["guest"].classes_) == list(np.unique(names))
    table = cont["guest"].trees_to_dataframe()  # a tree per class and round
    assert sorted(set(zip(table["Tree"], table["Class"], strict=True)))[-3:] == [
        (6, 0),
        (7, 1),
        (8, 2),
    ]
    # two classes named "no" and "yes": continued with the same names
    Xb, Xbt, yb, _ = breast_cancer()
    words = np.where(yb == 1, "yes", "no")
    bparts, bte = [Xb[:, :10], Xb[:, 10:]], [Xbt[:, :10], Xbt[:, 10:]]
    two, _ = _fit_on("plain", bparts, words, bte, **dict(BREAST, n_estimators=2))
    _, one = _fit_on("plain", bparts, words, bte, **dict(BREAST, n_estimators=1))
    again, cont2 = _fit_on("plain", bparts, words, bte, init=one, **dict(BREAST, n_estimators=1))
    np.testing.assert_allclose(again, two, atol=1e-9)
    assert list(cont2["guest"].classes_) == ["no", "yes"]
    with pytest.raises(InputError, match="continues model .*--init-model"):
        _fit_on("plain", parts_tr, names, parts_te, init={"guest": first["guest"]}, **params)
    with pytest.raises(InputError, match="is another model's"):
        _fit_on("plain", parts_tr, names, parts_te, init={**first, "host1": cont["host1"]},
                **params)  # fmt: skip
    with pytest.raises(ConfigError, match="gave a model to continue, the guest did not"):
        _fit_on("plain", parts_tr, names, parts_te, init={"host1": first["host1"]}, **params)
    with pytest.raises(InputError, match="training label does not"):
        _fit_on("plain", parts_tr, np.where(names == "barolo", "merlot", names), parts_te,
                init=first, **params)  # fmt: skip
    with pytest.raises(InputError, match="model to continue has the features"):
        _fit_on("plain", [Xtr[:, :4], Xtr[:, 4:]], names, [Xte[:, :4], Xte[:, 4:]],
                init=first, **params)  # fmt: skip


def test_dataframes_name_the_features():
    """pandas in: a DataFrame's columns name the features, and prediction takes the
    model's columns by name (in any order); a missing one is named."""
    import pandas as pd

    Xtr, Xte, ytr, _ = breast_cancer()
    names = load_breast_cancer().feature_names
    frames = [pd.DataFrame(X, columns=list(names)) for X in (Xtr, Xte)]
    guest_cols, host_cols = list(names[:10]), list(names[10:])
    params = dict(BREAST, n_estimators=2)
    p, models = fit_jointly(
        "plain",
        [frames[0][guest_cols], frames[0][host_cols]],
        ytr,
        [frames[1][guest_cols[::-1]], frames[1][host_cols]],  # another order: taken by name
        **params,
    )
    q, _ = fit_jointly(
        "plain", [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]], **params
    )
    np.testing.assert_allclose(p, q)
    assert models["guest"].model_.features == guest_cols
    assert set(models["guest"].feature_importances_) <= {
        *guest_cols,
        *(f"host1:{c}" for c in host_cols),
    }
    with pytest.raises(InputError, match="no column 'mean radius'"):
        run_local(
            {
                "guest": lambda ctx: models["guest"].predict_proba(ctx, frames[1][guest_cols[1:]]),
                "host1": lambda ctx: models["host1"].predict_proba(ctx, frames[1][host_cols]),
            },
            timeout=60,
        )


def _categorical_split_data(n=900, seed=7):
    """A guest with a 3-category column (one-hot splits) and a host with a 12-category
    one with missing cells (partition splits), as DataFrames of text; the host's test
    rows hold a category unseen in training. Also the matrices XGBoost trains on: the
    numeric columns on SecureBoost's bins, the categorical ones as codes."""
    from unseen.ml.data import encode_categories
    from unseen.ml.secureboost import secureboost_bins

    rng = np.random.default_rng(seed)
    num = rng.standard_normal((n, 4))
    segment = rng.integers(0, 3, n)
    region = rng.integers(0, 12, n)
    logit = num[:, 0] - num[:, 2] + 1.2 * rng.standard_normal(12)[region] + 0.8 * (segment == 1)
    y = (logit + 0.5 * rng.standard_normal(n) > 0).astype(float)
    names = np.array([f"r{i}" for i in range(12)] + ["new"], dtype=object)
    region_text = names[region]
    region_text[rng.random(n) < 0.08] = None
    n_train = 2 * n // 3
    region_text[n_train : n_train + 20] = "new"  # only in the test rows
    seg_text = np.array(["x", "y", "z"], dtype=object)[segment]
    seg_text[rng.random(n) < 0.05] = "NA"  # missing, as a file would say it
    guest = pd.DataFrame({"a": num[:, 0], "segment": seg_text, "b": num[:, 1]})
    host = pd.DataFrame({"c": num[:, 2], "region": region_text, "d": num[:, 3]})
    tr, te = slice(0, n_train), slice(n_train, n)
    seg_codes, seg_cats = encode_categories(seg_text[tr])
    reg_codes, reg_cats = encode_categories(region_text[tr])
    btr, bte = secureboost_bins(num[tr], num[te], 16)

    def joined(b, rows, test):
        seg = encode_categories(seg_text[rows], seg_cats)[0] if test else seg_codes
        reg = encode_categories(region_text[rows], reg_cats)[0] if test else reg_codes
        reg = np.where(reg < 0, 99.0, reg)  # unseen: a code outside XGBoost's categories
        return np.column_stack([b[:, 0], seg, b[:, 1], b[:, 2], reg, b[:, 3]])

    return guest, host, y, (tr, te), joined(btr, tr, False), joined(bte, te, True)


def _xgb_categorical(Xtr, ytr, Xte, rounds, **params):
    import xgboost as xgb

    from unseen.ml.secureboost import xgboost_params

    par = xgboost_params(
        objective="binary:logistic",
        base_score=float(np.mean(ytr)),
        max_depth=params.pop("max_depth"),
        learning_rate=params.pop("learning_rate"),
        max_bin=256,
    )
    types = ["q", "c", "q", "q", "c", "q"]
    train = xgb.DMatrix(Xtr, label=ytr, feature_types=types, enable_categorical=True)
    booster = xgb.train({**par, **params}, train, rounds)
    return booster.predict(xgb.DMatrix(Xte, feature_types=types, enable_categorical=True))


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("plain", {}),
        ("plain", {"max_cat_to_onehot": 20}),  # every split one-hot
        ("plain", {"max_cat_threshold": 3}),  # short partition scans
        ("ss-dealer", {}),
        ("ss-dealer-matrix", {}),
        ("he", {"he_options": {"scheme": "ou"}}),
        ("he-hidden", {"he_options": {"scheme": "ou"}}),
    ],
)
def test_categorical_features_are_xgboosts(mode, extra):
    """Text columns of a DataFrame are categorical features at the guest and at a host:
    the model equals XGBoost's with ``enable_categorical`` (one-hot splits below
    ``max_cat_to_onehot`` categories, partitions above) on the same bins and codes,
    missing cells and a category unseen in training included (it goes left)."""
    guest, host, y, (tr, te), Xtr, Xte = _categorical_split_data()
    params = dict(n_estimators=5, max_depth=4, learning_rate=0.3, max_bin=16)
    p, models = fit_jointly(
        mode,
        [guest.iloc[tr], host.iloc[tr]],
        y[tr],
        [guest.iloc[te], host.iloc[te]],
        **params,
        **extra,
    )
    xgb_extra = {k: v for k, v in extra.items() if k.startswith("max_cat")}
    q = _xgb_categorical(Xtr, y[tr], Xte, params.pop("n_estimators"), **params, **xgb_extra)
    np.testing.assert_allclose(p, q, atol=1e-5)
    host_model = models["host1"].model_
    assert host_model.categories["region"][:3] == ["r0", "r1", "r10"]  # sorted, kept here
    cats = [c for s in host_model.trees.splits for c in s.categories if c is not None]
    assert cats, "no categorical split at the host"
    guest_model = models["guest"].model_
    assert "region" not in guest_model.categories and "segment" in guest_model.categories
    assert any(k.startswith("host1:region") for k in guest_model.importance_split)


def test_exact_contributions_with_categorical_features_are_xgboosts():
    """Exact SHAP values through categorical splits at the guest and a host (missing
    cells, a category unseen in training): XGBoost's pred_contribs with
    ``enable_categorical``."""
    import xgboost as xgb

    from unseen.ml.secureboost import xgboost_params

    guest, host, y, (tr, te), Xtr, Xte = _categorical_split_data()
    params = dict(n_estimators=5, max_depth=4, learning_rate=0.3, max_bin=16)

    def party(i, fit_on, explain):
        def role(ctx):
            est = SecureBoostClassifier(mode="plain", **params)
            est.fit(ctx, fit_on, y[tr] if i == 0 else None)
            return est.predict_contribs(ctx, explain, approx=False)

        return role

    ours = run_local(
        {
            "guest": party(0, guest.iloc[tr], guest.iloc[te]),
            "host1": party(1, host.iloc[tr], host.iloc[te]),
        }
    )["guest"]
    reference = xgboost_params(
        base_score=float(np.mean(y[tr])), max_depth=4, learning_rate=0.3, max_bin=256
    )
    types = ["q", "c", "q", "q", "c", "q"]
    train = xgb.DMatrix(Xtr, label=y[tr], feature_types=types, enable_categorical=True)
    booster = xgb.train(reference, train, 5)
    test = xgb.DMatrix(Xte, feature_types=types, enable_categorical=True)
    np.testing.assert_allclose(ours, booster.predict(test, pred_contribs=True), atol=2e-5)


def test_categorical_models_round_trip_and_show_their_categories(tmp_path):
    """A saved part keeps its categories and each split's set; ``trees_to_dataframe``
    names a split's categories going right (XGBoost's ``Category`` column) at the party
    that holds them, and nowhere else."""
    guest, host, y, (tr, te), _, _ = _categorical_split_data(600, seed=3)
    params = dict(n_estimators=3, max_depth=3, learning_rate=0.3, max_bin=16)
    p, models = fit_jointly(
        "plain", [guest.iloc[tr], host.iloc[tr]], y[tr], [guest.iloc[te], host.iloc[te]], **params
    )
    part = models["host1"].model_
    part.save(tmp_path / "host")
    again = PartyModel.load(tmp_path / "host")
    assert again.categories == part.categories
    assert [s.categories for s in again.trees.splits] == [s.categories for s in part.trees.splits]
    frame = part.trees_to_dataframe()
    shown = frame[frame["Feature"] == "region"]["Category"]
    assert len(shown) and all(set(c) <= set(part.categories["region"]) for c in shown)
    guest_frame = models["guest"].model_.trees_to_dataframe()
    on_region = guest_frame[guest_frame["Feature"] == "host1:region"]
    assert len(on_region) and on_region["Category"].isna().all()  # the host's alone
    # the guest's table is XGBoost's: a categorical split's Yes is where its set goes
    import xgboost as xgb

    _, _, _, _, Xtr, _ = _categorical_split_data(600, seed=3)
    types = ["q", "c", "q", "q", "c", "q"]
    from unseen.ml.secureboost import xgboost_params

    par = xgboost_params(
        max_depth=3, learning_rate=0.3, max_bin=256, base_score=float(y[tr].mean())
    )
    reference = xgb.train(
        par,
        xgb.DMatrix(Xtr, label=y[tr], feature_types=types, enable_categorical=True),
        3,
    ).trees_to_dataframe()
    assert guest_frame["ID"].tolist() == reference["ID"].tolist()
    for column in ("Yes", "No", "Missing"):
        assert guest_frame[column].fillna("").tolist() == reference[column].fillna("").tolist()
    np.testing.assert_allclose(guest_frame["Gain"], reference["Gain"], rtol=1e-5, atol=1e-6)
    segment = guest_frame["Feature"] == "segment"
    codes = reference.loc[segment, "Category"].tolist()
    names = models["guest"].model_.categories["segment"]
    assert guest_frame.loc[segment, "Category"].tolist() == [[names[c] for c in k] for k in codes]


def test_categorical_features_are_checked():
    """More categories than bins, codes that are no category, and a monotone constraint
    on a categorical feature: clear errors, named, before training."""
    from unseen.ml.secureboost import train

    guest, host, y, (tr, _), _, _ = _categorical_split_data(300, seed=1)
    est = dict(n_estimators=2, max_depth=2, max_bin=8)

    def run(host_part, **guest_kw):
        def g(ctx):
            SecureBoostClassifier(mode="plain", **est, **guest_kw).fit(ctx, guest.iloc[tr], y[tr])

        def h(ctx):
            SecureBoostClassifier(mode="plain", **est).fit(ctx, host_part)

        return run_local({"guest": g, "host1": h}, timeout=60)

    with pytest.raises(
        InputError, match=r"column 'region': 12 categories, more than max_bin \(8\)"
    ):
        run(host.iloc[tr])
    with pytest.raises(ConfigError, match="a monotone constraint on categorical feature 'segment'"):
        run(host.iloc[tr].drop(columns="region"), monotone_constraints={"a": 1, "segment": 1})

    def codes(ctx):  # a matrix of codes names its categories; 3 is none of two
        X = np.array([[0.0, 1.5], [1.0, 0.2], [3.0, 0.1]])
        train(ctx, mode="plain", X=X, features=["k", "v"], categories={"k": ["p", "q"]})

    def label(ctx):
        train(ctx, mode="plain", X=np.ones((3, 1)), y=np.array([0.0, 1.0, 1.0]))

    with pytest.raises(
        InputError, match=r"row 3, column 'k': a categorical feature's codes must be 0 \.\. 1"
    ):
        run_local({"guest": label, "host1": codes}, timeout=60)


def test_continued_training_codes_categories_as_the_model_did(tmp_path):
    """Continuing a model whose parts have categorical features: the new rows' categories
    are coded as the model's (here a pandas ``category`` column lists them in another
    order), so 2 + 2 rounds equal 4 in one run; a category the model never saw is
    refused by row and column, without showing it."""
    guest, host, y, (tr, te), _, _ = _categorical_split_data(600, seed=5)
    params = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16)
    parts_tr, parts_te = [guest.iloc[tr], host.iloc[tr]], [guest.iloc[te], host.iloc[te]]
    whole, _ = _fit_on("plain", parts_tr, y[tr], parts_te, **params)
    _, first = _fit_on("plain", parts_tr, y[tr], parts_te, **dict(params, n_estimators=2))
    shuffled = host.iloc[tr].copy()
    known = sorted(c for c in shuffled["region"].dropna().unique())
    shuffled["region"] = pd.Categorical(shuffled["region"], categories=known[::-1])
    more, cont = _fit_on(
        "plain",
        [guest.iloc[tr], shuffled],
        y[tr],
        parts_te,
        init=first,
        **dict(params, n_estimators=2),
    )
    np.testing.assert_allclose(more[:, 1], whole[:, 1], atol=1e-9)
    assert cont["host1"].model_.categories == first["host1"].model_.categories
    strange = host.iloc[tr].copy()
    strange.iloc[4, strange.columns.get_loc("region")] = "atlantis"
    with pytest.raises(InputError, match=r"row 5, column 'region': a category the model") as e:
        _fit_on("plain", [guest.iloc[tr], strange], y[tr], parts_te, init=first, **params)
    assert "atlantis" not in str(e.value)


def test_a_validation_set_with_categories_is_coded_as_the_training_rows():
    """Early stopping on validation rows whose categories are coded by the training
    rows' (one unseen in training among them): the history is XGBoost's evals_result."""
    import xgboost as xgb

    from unseen.ml.secureboost import xgboost_params

    guest, host, y, (tr, te), Xtr, Xte = _categorical_split_data(900, seed=9)
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    val = [guest.iloc[te], host.iloc[te]]
    _, models = fit_jointly(
        "plain",
        [guest.iloc[tr], host.iloc[tr]],
        y[tr],
        val,
        eval_set=(val, y[te]),
        early_stopping_rounds=10,
        **params,
    )
    types = ["q", "c", "q", "q", "c", "q"]
    matrix = functools.partial(xgb.DMatrix, feature_types=types, enable_categorical=True)
    history: dict = {}
    par = xgboost_params(
        max_depth=3, learning_rate=0.3, max_bin=256, base_score=float(y[tr].mean())
    )
    xgb.train(
        par,
        matrix(Xtr, label=y[tr]),
        6,
        evals=[(matrix(Xte, label=y[te]), "val")],
        evals_result=history,
        verbose_eval=False,
    )
    ours = models["guest"].model_.history
    np.testing.assert_allclose(ours, history["val"]["logloss"], rtol=1e-5)


def test_categorical_features_with_feature_sampling_and_several_classes():
    """Categorical features where a tree, depth or node samples its features, and in a
    tree per class: ss-dealer grows plain mode's trees, and the host's category sets are
    on its categorical feature alone, within its codes."""
    guest, host, y, (tr, te), _, _ = _categorical_split_data(600, seed=2)
    classes = (y + (guest["a"].to_numpy() > 0.5)).astype(float)  # 0, 1, 2
    parts_tr, parts_te = [guest.iloc[tr], host.iloc[tr]], [guest.iloc[te], host.iloc[te]]
    params = dict(n_estimators=3, max_depth=3, max_bin=16, random_state=4)
    params |= dict(colsample_bytree=0.8, colsample_bynode=0.7)
    for labels, extra in ((y[tr], {}), (classes[tr], {"all_classes": True})):
        p, models = fit_jointly("plain", parts_tr, labels, parts_te, **params, **extra)
        q, _ = fit_jointly("ss-dealer", parts_tr, labels, parts_te, **params, **extra)
        np.testing.assert_allclose(p, q, atol=1e-5)
        host_model = models["host1"].model_
        region = host_model.features.index("region")
        n = len(host_model.categories["region"])
        sets = [
            (f, c)
            for s in host_model.trees.splits
            for f, c in zip(s.feature, s.categories, strict=True)
        ]
        assert any(c is not None for _, c in sets)  # the host's categorical feature split
        for f, c in sets:
            assert (c is not None) == (f == region) and (c is None or max(c) < n)


def _cv_jointly(
    mode,
    parts,
    y,
    *,
    folds=None,
    nfold=None,
    stratified=False,
    estimator=SecureBoostClassifier,
    **params,
):
    """``cv`` at every party (and the dealer): the guest's table."""

    def party(i):
        def role(ctx):
            est = estimator(mode=mode, **params)
            guest = i == 0
            return est.cv(
                ctx,
                parts[i],
                y if guest else None,
                nfold=nfold,
                folds=folds,
                stratified=stratified and guest,
            )

        return role

    roles = {"guest": party(0), **{f"host{i}": party(i) for i in range(1, len(parts))}}
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: estimator(mode=mode, **params).cv(ctx)
    res = run_local(roles, timeout=300)
    assert all(res[name] is None for name in roles if name != "guest")
    return res["guest"]


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_cross_validation_is_xgboosts_cv(mode):
    """``cv``: fold by fold the parties train on the other folds and validate on the
    fold; the guest's table equals ``xgb.cv`` with the same folds, round by round (on
    features with few values, so that every fold's bins are XGBoost's)."""
    import xgboost as xgb

    from unseen.ml.secureboost import xgboost_params

    rng = np.random.default_rng(8)
    n = 480
    X = rng.integers(0, 6, size=(n, 5)).astype(float)
    y = (X[:, 0] - X[:, 3] + rng.normal(size=n) > 0).astype(float)
    folds = np.arange(n) % 3
    params = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16, base_score=0.5)
    table = _cv_jointly(mode, [X[:, :2], X[:, 2:]], y, folds=folds, **params)
    reference = xgb.cv(
        xgboost_params(max_depth=3, learning_rate=0.3, max_bin=256, base_score=0.5),
        xgb.DMatrix(X, label=y),
        4,
        folds=[(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(3)],
    )
    assert list(table.columns) == ["test-logloss-mean", "test-logloss-std"]
    assert table.attrs["fold_of"] == folds.tolist()
    with warnings.catch_warnings():  # the table's attrs go into Arrow's metadata
        warnings.simplefilter("error")
        pa.Table.from_pandas(table)
    np.testing.assert_allclose(
        table["test-logloss-mean"], reference["test-logloss-mean"], rtol=1e-6
    )
    np.testing.assert_allclose(table["test-logloss-std"], reference["test-logloss-std"], rtol=1e-4)
    assert len(table.attrs["folds"]) == 3
    # early stopping on the folds' mean, as xgb.cv's: the table ends at the best round
    params |= dict(n_estimators=30, learning_rate=1.0, max_depth=5, early_stopping_rounds=2)
    stopped = _cv_jointly(mode, [X[:, :2], X[:, 2:]], y, folds=folds, **params)
    reference = xgb.cv(
        xgboost_params(max_depth=5, learning_rate=1.0, max_bin=256, base_score=0.5),
        xgb.DMatrix(X, label=y),
        30,
        folds=[(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(3)],
        early_stopping_rounds=2,
    )
    assert 1 < len(stopped) == len(reference) < 30
    np.testing.assert_allclose(
        stopped["test-logloss-mean"], reference["test-logloss-mean"], rtol=1e-6
    )


def test_cross_validation_draws_folds_and_checks_them():
    """Without folds the guest draws ``nfold`` near-equal ones from ``random_state``
    (the same table twice); several classes and regression give their metrics; a host
    asking for another number of folds, early stopping and bad folds are refused."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + X[:, 2] > 0).astype(float)
    parts = [X[:, :2], X[:, 2:]]
    params = dict(n_estimators=3, max_depth=2, max_bin=16, random_state=5)
    first = _cv_jointly("plain", parts, y, nfold=4, **params)
    again = _cv_jointly("plain", parts, y, nfold=4, **params)
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 3 and len(first.attrs["folds"]) == 4
    classes = _cv_jointly("plain", parts, np.digitize(X[:, 0], [-0.5, 0.5]), nfold=3, **params)
    assert "test-mlogloss-mean" in classes.columns
    reg = _cv_jointly(
        "plain", parts, X[:, 1] * 2, estimator=SecureBoostRegressor, nfold=3, **params
    )
    assert "test-rmse-mean" in reg.columns

    def run(guest_kw, host_nfold=None, est=None):
        def g(ctx):
            SecureBoostClassifier(mode="plain", **params, **(est or {})).cv(
                ctx, parts[0], y, **guest_kw
            )

        def h(ctx):
            SecureBoostClassifier(mode="plain", **params).cv(ctx, parts[1], nfold=host_nfold)

        return run_local({"guest": g, "host1": h}, timeout=60)

    with pytest.raises(ConfigError, match="--cv differs from the guest's: 5 here, 4"):
        run({"nfold": 4}, host_nfold=5)
    with pytest.raises(InputError, match="folds must number the folds"):
        run({"folds": np.zeros(300, dtype=int)})


def test_stratified_folds_keep_each_class_share_and_are_xgboosts_cv():
    """``stratified``: every fold holds each class's rows to within one of an equal share
    (imbalanced labels, several classes), the folds differ from run to run whatever
    random_state (drawn from secrets), and the table is xgb.cv's on those folds."""
    import xgboost as xgb

    from unseen.ml.secureboost import xgboost_params

    rng = np.random.default_rng(21)
    n, k = 403, 4
    X = rng.integers(0, 6, size=(n, 4)).astype(float)
    y = (X[:, 0] + X[:, 2] + rng.normal(size=n) > 8.2).astype(float)  # about 1 in 10
    assert 0.05 < y.mean() < 0.2
    parts = [X[:, :2], X[:, 2:]]
    params = dict(n_estimators=3, max_depth=3, learning_rate=0.3, max_bin=16, base_score=0.5)
    params |= dict(random_state=4)
    # plain first: its sums are exact, so its table is xgb.cv's to rounding on any folds
    # (ss-dealer's fixed point can turn a near-tie of two splits the other way)
    tables = [_cv_jointly("plain", parts, y, nfold=k, stratified=True, **params)]
    tables.append(_cv_jointly("ss-dealer", parts, y, nfold=k, stratified=True, **params))
    for table in tables:
        fold_of = np.asarray(table.attrs["fold_of"])
        assert table.attrs["stratified"]
        for c in (0, 1):
            counts = np.bincount(fold_of[y == c], minlength=k)
            assert counts.max() - counts.min() <= 1, (c, counts)
    assert tables[0].attrs["fold_of"] != tables[1].attrs["fold_of"]
    fold_of = np.asarray(tables[0].attrs["fold_of"])
    reference = xgb.cv(
        xgboost_params(max_depth=3, learning_rate=0.3, max_bin=256, base_score=0.5),
        xgb.DMatrix(X, label=y),
        3,
        folds=[(np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f)) for f in range(k)],
    )
    np.testing.assert_allclose(
        tables[0]["test-logloss-mean"], reference["test-logloss-mean"], rtol=1e-6
    )
    # unstratified folds of these labels are uneven (the check can fail)
    plain = np.asarray(_cv_jointly("plain", parts, y, nfold=k, **params).attrs["fold_of"])
    assert np.ptp(np.bincount(plain[y == 1], minlength=k)) > 1
    # several classes
    three = np.digitize(X[:, 1] + X[:, 3], [3.5, 7.5])
    table = _cv_jointly("plain", parts, three, nfold=3, stratified=True, **params)
    for c in range(3):
        assert np.ptp(np.bincount(np.asarray(table.attrs["fold_of"])[three == c], minlength=3)) <= 1
    with pytest.raises(ConfigError, match="stratified folds need classes"):
        _cv_jointly(
            "plain", parts, X[:, 1], estimator=SecureBoostRegressor, stratified=True, **params
        )
    with pytest.raises(ConfigError, match="give folds or stratified"):
        _cv_jointly("plain", parts, y, folds=np.arange(n) % 3, stratified=True, **params)


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_monotone_constraints_beside_categorical_features_are_xgboosts(mode):
    """Monotone constraints on numeric features of both parties, with categorical features
    at both: every gain, categorical splits' too, is taken at weights within the nodes'
    bounds, as XGBoost's; the model equals XGBoost's with the same constraints."""
    guest, host, y, (tr, te), Xtr, Xte = _categorical_split_data(seed=12)
    params = dict(n_estimators=4, max_depth=4, learning_rate=0.3, max_bin=16)
    constraints = {"a": 1, "host1:c": -1}
    p, _ = fit_jointly(
        mode,
        [guest.iloc[tr], host.iloc[tr]],
        y[tr],
        [guest.iloc[te], host.iloc[te]],
        monotone_constraints=constraints,
        **params,
    )
    rounds = params.pop("n_estimators")
    q = _xgb_categorical(Xtr, y[tr], Xte, rounds, monotone_constraints="(1,0,0,-1,0,0)", **params)
    np.testing.assert_allclose(p, q, atol=1e-5)
    free = _xgb_categorical(Xtr, y[tr], Xte, rounds, **params)
    assert np.abs(free - q).max() > 1e-3  # the constraints bind here


@pytest.mark.parametrize("objective", ["survival:cox", "survival:aft"])
def test_survival_cross_validation_is_xgboosts_cv(objective):
    """``cv`` with survival:cox and survival:aft: the folds' cox-nloglik or aft-nloglik,
    round by round, as ``xgb.cv``'s (features with few values, so that every fold's
    bins are XGBoost's)."""
    import xgboost as xgb

    from unseen.ml.secureboost import xgboost_params

    rng = np.random.default_rng(9)
    n = 360
    X = rng.integers(0, 6, size=(n, 4)).astype(float)
    t = np.round(rng.exponential(np.exp(-0.4 * (X[:, 0] - X[:, 2]))), 1) + 0.1
    seen = rng.random(n) < 0.7
    y = np.where(seen, t, -t)
    if objective == "survival:aft":  # the censored rows' intervals open above
        y = np.column_stack([t, np.where(seen, t, np.inf)])
    folds = np.arange(n) % 3
    params = dict(n_estimators=4, max_depth=3, learning_rate=0.3, max_bin=16)
    table = _cv_jointly(
        "plain",
        [X[:, :2], X[:, 2:]],
        y,
        folds=folds,
        estimator=SecureBoostRegressor,
        objective=objective,
        **params,
    )
    base = 1.0 if objective == "survival:cox" else 0.5  # XGBoost's: not estimated for AFT
    reference = xgb.cv(
        xgboost_params(
            objective=objective, max_depth=3, learning_rate=0.3, max_bin=256, base_score=base
        ),
        _labelled(X, y),
        4,
        folds=[(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(3)],
    )
    metric = "cox-nloglik" if objective == "survival:cox" else "aft-nloglik"
    assert list(table.columns) == [f"test-{metric}-mean", f"test-{metric}-std"]
    np.testing.assert_allclose(
        table[f"test-{metric}-mean"], reference[f"test-{metric}-mean"], rtol=1e-6
    )


@pytest.mark.parametrize(
    "mode, objective, weighted",
    [
        ("plain", "reg:absoluteerror", False),
        ("plain", "reg:quantileerror", True),
        ("ss-dealer", "reg:absoluteerror", True),
        ("ss-dealer", "reg:quantileerror", False),
        ("ss-dealer-matrix", "reg:quantileerror", True),
        ("he", "reg:quantileerror", False),
        ("he-hidden", "reg:absoluteerror", False),
    ],
)
def test_absolute_and_quantile_losses_are_xgboosts(mode, objective, weighted):
    """reg:absoluteerror and reg:quantileerror (quantile_alpha 0.9), with row weights or
    without: the same predictions as XGBoost's on the same bins -- its base score (the
    label's quantile) and its adaptive leaves (each leaf a quantile of its rows'
    residuals, set by the guest once the tree is grown)."""
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr = X[:300], X[300:], y[:300]
    w = np.random.default_rng(2).uniform(0.3, 3.0, 300) if weighted else None
    alpha = 0.9 if objective == "reg:quantileerror" else 0.5
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    extra = {"quantile_alpha": alpha} if objective == "reg:quantileerror" else {}
    if mode.startswith("he"):
        extra["he_options"] = {"scheme": "ou"}
    p, model = _fit_validated(mode, Xtr, ytr, Xte, None, w, objective=objective, **params, **extra)
    xgb_extra = {"quantile_alpha": alpha} if objective == "reg:quantileerror" else {}
    reference, _ = xgb_loss(objective, Xtr, ytr, Xte, weights=w, xgb_extra=xgb_extra, **params)
    np.testing.assert_allclose(p, reference, rtol=1e-5)
    if objective == "reg:quantileerror":  # about 90% of the labels below the prediction
        assert 0.75 < np.mean(y[300:] <= p) <= 1.0
    assert model.get_params()["objective"] == objective


def test_adaptive_leaves_take_the_trees_rows_only(monkeypatch):
    """With subsample, a leaf's value is the quantile of the residuals of the rows the
    tree was grown on, not of every row reaching it (XGBoost's adaptive leaves); goss is
    refused with these losses."""
    from unseen.ml import sbt_protocol
    from unseen.ml.sbt_tree import quantile

    X, y = load_diabetes(return_X_y=True)
    taken = []
    real = sbt_protocol.Guest.sample_rows

    def spy(self, g, h):
        out = real(self, g, h)
        taken.append(out[0])
        return out

    monkeypatch.setattr(sbt_protocol.Guest, "sample_rows", spy)
    params = dict(n_estimators=1, max_depth=2, learning_rate=0.5, max_bin=16, subsample=0.5)
    params |= dict(random_state=4, quantile_alpha=0.7)
    p, model = _fit_validated("plain", X, y, X, None, objective="reg:quantileerror", **params)
    (rows,) = taken
    assert rows.size == y.size // 2
    base = quantile(y, 0.7)
    residual = y - base
    leaf_values = np.unique(p - base)
    assert 2 <= leaf_values.size <= 4
    for value in leaf_values:
        in_leaf = np.isclose(p - base, value)
        mine = in_leaf[rows]
        assert value == pytest.approx(0.5 * quantile(residual[rows][mine], 0.7))
        assert value != pytest.approx(0.5 * quantile(residual[in_leaf], 0.7))
    with pytest.raises(ConfigError, match="goss is not offered with reg:absoluteerror"):
        SecureBoostRegressor(objective="reg:absoluteerror", goss=(0.2, 0.3))
    with pytest.raises(ConfigError, match="quantile_alpha is for reg:quantileerror only"):
        SecureBoostRegressor(quantile_alpha=0.3)


@pytest.mark.parametrize("objective", ["reg:absoluteerror", "reg:quantileerror"])
def test_adaptive_losses_validation_metric_is_xgboosts(objective):
    """The default validation metric, round by round, as XGBoost's evals_result: mae for
    absolute error, quantile (the mean pinball loss at quantile_alpha) for quantiles."""

    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = X[:300], X[300:], y[:300], y[300:]
    params = dict(n_estimators=5, max_depth=3, learning_rate=0.3, max_bin=16)
    extra = {"quantile_alpha": 0.25} if objective == "reg:quantileerror" else {}
    _, models = fit_jointly(
        "plain",
        [Xtr[:, :4], Xtr[:, 4:]],
        ytr,
        [Xte[:, :4], Xte[:, 4:]],
        estimator=SecureBoostRegressor,
        eval_set=([Xte[:, :4], Xte[:, 4:]], yte),
        objective=objective,
        **params,
        **extra,
    )
    _, theirs = xgb_loss(objective, Xtr, ytr, Xte, (Xte, yte), xgb_extra=extra, **params)
    np.testing.assert_allclose(models["guest"].model_.history, theirs, rtol=2e-5)


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_interaction_values_are_xgboosts(mode):
    """predict_interactions at the guest: SHAP interaction values equal to XGBoost's
    pred_interactions on the same bins (missing cells included, and the trees of
    test_contributions_are_xgboosts, where a path splits twice on a feature); each row of
    a row's matrix adds up to that feature's exact SHAP value; the host allows them by
    calling predict_interactions too, gets None, and refuses them otherwise."""
    Xtr, Xte, ytr, parts_tr, parts_te = _explained_breast_cancer(rows=60)

    def explain(est, ctx, X, i, host_allows=True):
        if i and not host_allows:
            return est, est.predict_contribs(ctx, X)
        return est, est.predict_interactions(ctx, X), est.predict_contribs(ctx, X, approx=False)

    res = _explain_jointly(mode, parts_tr, ytr, parts_te, explain)
    _, ours, exact = res["guest"]
    assert res["host1"][1] is None
    booster, bte = _xgb_on_bins(Xtr, ytr, Xte, 6)
    theirs = booster.predict(bte, pred_interactions=True)
    assert ours.shape == theirs.shape == (60, 31, 31)
    np.testing.assert_allclose(ours, theirs, atol=2e-5)
    np.testing.assert_allclose(ours.sum(axis=2), exact, atol=1e-10)
    off = ours[:, :30, :30] - np.einsum("nii->ni", ours[:, :30, :30])[:, :, None] * np.eye(30)
    assert np.abs(off[:, :10, 10:]).max() > 1e-3  # a guest feature with a host feature
    if mode == "plain":
        refuses = functools.partial(explain, host_allows=False)
        with pytest.raises(ConfigError, match="has not allowed|guest asks for exact"):
            _explain_jointly(mode, parts_tr, ytr, parts_te, refuses)


def test_interaction_values_of_several_classes_are_xgboosts():
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    Xtr, Xte, ytr, _ = wine()
    parts_tr, parts_te = [Xtr[:, :5], Xtr[:, 5:]], [Xte[:, :5], Xte[:, 5:]]
    params = dict(n_estimators=3, max_depth=3, max_bin=16, learning_rate=0.3)

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode="plain", **params)
            est.fit(ctx, parts_tr[i], ytr if i == 0 else None)
            return est.predict_interactions(ctx, parts_te[i])

        return role

    ours = run_local({"guest": party(0), "host1": party(1)}, timeout=120)["guest"]
    btr, bte = secureboost_bins(Xtr, Xte, 16)
    reference = xgboost_params(max_depth=3, learning_rate=0.3, max_bin=256, base_score=0.5)
    del reference["base_score"]
    reference |= {"objective": "multi:softprob", "num_class": 3}
    booster = xgb.train(reference, xgb.DMatrix(btr, label=ytr), 3)
    theirs = booster.predict(xgb.DMatrix(bte), pred_interactions=True)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=2e-5)


def test_interaction_summary_is_the_mean_of_the_values_block_by_block(monkeypatch):
    """unseen predict's summary (one joint prediction, rows in blocks): the exact SHAP
    values and the mean absolute interaction values of the whole tensor."""
    import unseen.ml.sbt_predict as sbt_predict

    Xtr, Xte, ytr, _ = breast_cancer()
    params = dict(BREAST, n_estimators=3)
    monkeypatch.setattr(sbt_predict, "_INTERACTION_BLOCK", 31 * 31 * 40)  # 40 rows a block

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode="plain", **params)
            est.fit(ctx, Xtr[:, :10] if i == 0 else Xtr[:, 10:], ytr if i == 0 else None)
            X = Xte[:, :10] if i == 0 else Xte[:, 10:]
            whole = est.predict_interactions(ctx, X)
            if i == 0:
                return whole, sbt_predict.interaction_summary(
                    ctx, est.model_, X, est._predict_key()
                )
            est.predict_contribs(ctx, X, approx=False)  # the host's consent, again
            return None

        return role

    whole, (shares, mean_abs) = run_local({"guest": party(0), "host1": party(1)})["guest"]
    np.testing.assert_allclose(shares, whole.sum(axis=2), atol=1e-12)
    np.testing.assert_allclose(mean_abs, np.abs(whole).mean(axis=0), atol=1e-12)


@pytest.mark.parametrize(
    "mode, objective",
    [
        ("plain", "reg:logistic"),
        ("ss-dealer", "reg:logistic"),
        ("he", "reg:logistic"),
        ("plain", "reg:squaredlogerror"),
        ("ss-dealer", "reg:squaredlogerror"),
        ("he-hidden", "reg:squaredlogerror"),
        ("plain", "reg:pseudohubererror"),
        ("ss-dealer", "reg:pseudohubererror"),
        ("he", "reg:pseudohubererror"),
    ],
)
def test_logistic_squared_log_and_pseudo_huber_losses_are_xgboosts(mode, objective):
    """reg:logistic (diabetes' label scaled to [0, 1]; one share word a row, as the
    logistic loss), reg:squaredlogerror and reg:pseudohubererror (huber_slope 20, on the
    label of 25..346): XGBoost's predictions on the same bins from its own base score
    (for the last two a Newton step from 0), with row weights in plain mode, and its
    default metric (rmse, rmsle, mphe) per round on a validation set."""
    X, y = load_diabetes(return_X_y=True)
    if objective == "reg:logistic":
        y = (y - y.min()) / (y.max() - y.min())
    Xtr, Xte, ytr, yte = X[:300], X[300:], y[:300], y[300:]
    w = np.random.default_rng(6).uniform(0.3, 3.0, 300) if mode == "plain" else None
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    xgb_extra = {"huber_slope": 20.0} if objective == "reg:pseudohubererror" else {}
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    extra |= xgb_extra
    p, model = _fit_validated(mode, Xtr, ytr, Xte, yte, w, objective=objective, **params, **extra)
    history = model.model_.history
    reference, theirs = xgb_loss(
        objective, Xtr, ytr, Xte, (Xte, yte), weights=w, xgb_extra=xgb_extra, **params
    )
    np.testing.assert_allclose(p, reference, rtol=1e-5)
    np.testing.assert_allclose(history, theirs, rtol=2e-5)
    if objective == "reg:logistic":
        assert 0 < p.min() and p.max() < 1  # through the logistic link
    with pytest.raises(ConfigError, match="huber_slope is for reg:pseudohubererror only"):
        SecureBoostRegressor(huber_slope=2.0)


def _fate_objective(objective, c):
    """FATE's robust loss as an XGBoost custom objective, on the error z = m - y: fair
    (c z / (|z| + c), c^2 / (|z| + c)^2) or log-cosh (tanh z, 1 - tanh^2 z), written
    here from the formulas, apart from the code under test."""

    def obj(margin, dtrain):
        z = margin - dtrain.get_label()
        w = dtrain.get_weight() if dtrain.get_weight().size else 1.0  # not applied for us
        if objective == "reg:fair":
            return w * c * z / (np.abs(z) + c), w * c * c / (np.abs(z) + c) ** 2
        return w * np.tanh(z), w / np.cosh(z) ** 2

    return obj


@pytest.mark.parametrize(
    "mode, objective",
    [
        ("plain", "reg:fair"),
        ("ss-dealer", "reg:fair"),
        ("he", "reg:fair"),
        ("plain", "reg:logcosh"),
        ("ss-dealer-matrix", "reg:logcosh"),
        ("he-hidden", "reg:logcosh"),
    ],
)
def test_fates_fair_and_log_cosh_losses_are_xgboost_with_them(mode, objective):
    """FATE's reg:fair (fair_c 30, on diabetes' label of 25..346) and reg:logcosh (the
    label scaled down, so that both regimes occur): XGBoost's predictions on the same
    bins with the same loss as a custom objective, from the mean label (FATE's base
    score), weighted rows in plain mode; the validation metric per round is the mean
    loss of XGBoost's predictions round by round."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    X, y = load_diabetes(return_X_y=True)
    if objective == "reg:logcosh":
        y = y / 50.0
    Xtr, Xte, ytr, yte = X[:300], X[300:], y[:300], y[300:]
    w = np.random.default_rng(6).uniform(0.3, 3.0, 300) if mode == "plain" else None
    params = dict(n_estimators=6, max_depth=3, learning_rate=0.3, max_bin=16)
    own = {"fair_c": 30.0} if objective == "reg:fair" else {}
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}

    p, model = _fit_validated(
        mode, Xtr, ytr, Xte, yte, w, objective=objective, **params, **own, **extra
    )
    history = model.model_.history
    btr, bte = secureboost_bins(Xtr, Xte, 16)
    mean = float(np.average(ytr, weights=w))
    reference = xgboost_params(
        objective="reg:squarederror", max_depth=3, learning_rate=0.3, max_bin=256, base_score=mean
    )
    booster = xgb.train(
        reference,
        xgb.DMatrix(btr, label=ytr, weight=w),
        6,
        obj=_fate_objective(objective, own.get("fair_c", 1.0)),
    )
    dte = xgb.DMatrix(bte)
    np.testing.assert_allclose(p, booster.predict(dte), rtol=1e-5, atol=1e-6)
    z = np.abs([booster.predict(dte, iteration_range=(0, r + 1)) - yte for r in range(6)])
    if objective == "reg:fair":
        theirs = np.mean(30.0 * z - 900.0 * np.log1p(z / 30.0), axis=1)
    else:
        theirs = np.mean(np.log(np.cosh(z)), axis=1)
    np.testing.assert_allclose(history, theirs, rtol=2e-5)
    assert np.std(p) > 0.1 * np.std(yte)  # the trees learnt something
    with pytest.raises(ConfigError, match="fair_c is for reg:fair only"):
        SecureBoostRegressor(fair_c=2.0)


@pytest.mark.parametrize("early", [False, True])
def test_the_guest_keeps_its_training_scores_for_the_stability_index(early, tmp_path):
    """The guest's model part keeps the training rows' scores in ten bands -- those of the
    trees kept, after early stopping too: they are the bands of the model's predictions
    of the training rows, whose stability index is then 0; the test rows' is small, and
    scores from elsewhere are flagged. A host's part keeps none."""
    Xtr, Xte, ytr, yte = breast_cancer()
    fit_rows, val_rows = slice(0, 300), slice(300, None)
    params = dict(BREAST, n_estimators=30 if early else 6)
    if early:
        params |= dict(early_stopping_rounds=2, learning_rate=0.8)

    def party(i):
        cols = slice(0, 10) if i == 0 else slice(10, None)

        def role(ctx):
            est = SecureBoostClassifier(mode="plain", **params)
            ev = (Xtr[val_rows, cols], ytr[val_rows] if i == 0 else None) if early else None
            est.fit(ctx, Xtr[fit_rows, cols], ytr[fit_rows] if i == 0 else None, eval_set=ev)
            on_train = est.predict_proba(ctx, Xtr[fit_rows, cols])
            on_test = est.predict_proba(ctx, Xte[:, cols])
            return est, on_train, on_test

        return role

    res = run_local({"guest": party(0), "host1": party(1)}, timeout=120)
    est, on_train, on_test = res["guest"]
    assert res["host1"][0].model_.training_scores is None
    if early:
        assert est.n_trees_ < 30  # early stopping dropped trees
    from unseen.ml.metrics import score_bands

    kept = est.model_.training_scores
    edges, shares = score_bands(on_train[:, 1])
    np.testing.assert_allclose(kept["edges"], edges, rtol=1e-9)
    np.testing.assert_allclose(kept["shares"], shares)
    assert est.score_stability(on_train[:, 1]) == pytest.approx(0.0, abs=1e-9)
    assert est.score_stability(on_test[:, 1]) < 0.25
    assert est.score_stability(np.full(50, 0.5)) > 1  # every score in one band
    saved = PartyModel.load(est.save(tmp_path / "guest"))
    assert saved.training_scores == kept


def test_each_party_draws_its_own_view_of_a_tree(tmp_path):
    """plot_tree at the guest and at the host, each its own view (a PNG where matplotlib
    is installed); a tree the model does not have is refused."""
    from unseen.ml.report import matplotlib_available

    Xtr, Xte, ytr, _ = breast_cancer()
    _, models = fit_jointly(
        "plain", [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]], n_estimators=2
    )
    for name, est in models.items():
        drawn = est.plot_tree(tmp_path / f"{name}.png", tree=1)
        assert (drawn is not None) == matplotlib_available() == (tmp_path / f"{name}.png").exists()
        with pytest.raises(ConfigError, match="no tree 2: the model has 2"):
            est.plot_tree(tmp_path / "x.png", tree=2)


def _train_and_predict(mode, params, parts_tr, ytr, parts_te, eval_set=None, **extra):
    """``train`` and ``predict`` at a guest (the label) and one host, with a dealer in the
    ss-dealer modes: the guest's predictions and margins of ``parts_te``, and its model."""
    from unseen.ml.secureboost import predict, train

    def party(i):
        def role(ctx):
            ev = None if eval_set is None else (eval_set[0][i], eval_set[1] if i == 0 else None)
            y = ytr if i == 0 else None
            model = train(
                ctx,
                mode=mode,
                X=parts_tr[i],
                y=y,
                params=params if i == 0 else None,
                eval_set=ev,
                **extra,
            )
            scores = predict(ctx, model, parts_te[i], "sbt-predict")
            margins = predict(ctx, model, parts_te[i], "sbt-margins", output_margin=True)
            return scores, margins, model

        return role

    roles = {"guest": party(0), "host1": party(1)}
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: train(ctx, mode=mode, **extra)
    return run_local(roles, timeout=300)["guest"]


def _xgb_booster(objective, Xtr, ytr, Xte, rounds, max_bin, yte=None, **xgb_params):
    """XGBoost with ``objective`` on the joined data binned with SecureBoost's cut points:
    the booster, the binned test rows and, with their labels ``yte``, its validation
    metric on them per round."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins

    btr, bte = secureboost_bins(Xtr, Xte, max_bin)
    dte = xgb.DMatrix(bte, label=yte)
    reference = {"objective": objective, "max_bin": 256, "tree_method": "hist", "nthread": 1}
    history: dict = {}
    evals = [] if yte is None else [(dte, "test")]
    booster = xgb.train(
        reference | xgb_params,
        xgb.DMatrix(btr, label=ytr),
        rounds,
        evals=evals,
        evals_result=history,
        verbose_eval=False,
    )
    return booster, dte, history.get("test", {})


@pytest.mark.parametrize(
    "mode, extra",
    [
        ("plain", {}),
        ("ss-dealer", {}),
        ("he", {"he_options": {"scheme": "ou"}}),
        ("he-hidden", {"he_options": {"scheme": "ou"}}),
    ],
)
def test_binary_logitraw_is_xgboosts(mode, extra):
    """``binary:logitraw``: the logistic loss, XGBoost's estimate of the base margin (with
    scale_pos_weight its Newton step from 0, taken for a margin as XGBoost takes it), and
    the margins (log-odds) for predictions: equal to XGBoost's; packed into one share word
    as binary:logistic."""
    from unseen.ml.sbt_protocol import BoostParams

    Xtr, Xte, ytr, _ = breast_cancer()
    params = BoostParams(
        objective="binary:logitraw",
        n_estimators=4,
        max_depth=3,
        learning_rate=0.3,
        max_bin=16,
        scale_pos_weight=1.7,
    )
    scores, margins, model = _train_and_predict(
        mode, params, [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]], **extra
    )
    booster, dte, _ = _xgb_booster(
        "binary:logitraw", Xtr, ytr, Xte, 4, 16, max_depth=3, eta=0.3, scale_pos_weight=1.7
    )
    np.testing.assert_allclose(scores, booster.predict(dte), atol=1e-5)
    unweighted, dte, _ = _xgb_booster("binary:logitraw", Xtr, ytr, Xte, 4, 16, max_depth=3)
    assert np.abs(unweighted.predict(dte) - scores).max() > 1e-2
    np.testing.assert_array_equal(scores, margins)  # the predictions are the margins
    scaled = np.average(ytr, weights=np.where(ytr == 1, 1.7, 1.0))
    assert model.base_margin == pytest.approx(4 * (scaled - 0.5))  # XGBoost's Newton step
    assert scores.min() < 0 < scores.max()  # log-odds, not probabilities


@pytest.mark.parametrize("mode", ["plain", "ss-dealer"])
def test_multi_softmax_is_xgboosts(mode):
    """``multi:softmax``: multi:softprob's training, the likeliest class for predictions,
    as XGBoost's; early stopping on the same default metric (mlogloss)."""
    from unseen.ml.sbt_protocol import BoostParams

    Xtr, Xte, ytr, yte = wine()
    params = BoostParams(
        objective="multi:softmax", num_class=3, n_estimators=4, max_depth=3, max_bin=16
    )
    parts_te = [Xte[:, :5], Xte[:, 5:]]
    classes, margins, model = _train_and_predict(
        mode, params, [Xtr[:, :5], Xtr[:, 5:]], ytr, parts_te, eval_set=(parts_te, yte)
    )
    booster, dte, history = _xgb_booster(
        "multi:softmax", Xtr, ytr, Xte, 4, 16, yte, num_class=3, max_depth=3, eta=0.3
    )
    np.testing.assert_array_equal(classes, booster.predict(dte))
    np.testing.assert_allclose(margins, booster.predict(dte, output_margin=True), atol=1e-5)
    assert model.n_trees == 12 and model.params.trees_per_round == 3
    assert classes.ndim == 1 and set(np.unique(classes)) <= {0.0, 1.0, 2.0}
    np.testing.assert_allclose(model.history, history["mlogloss"], rtol=1e-5)


def test_new_classification_objectives_check_their_labels():
    """binary:logitraw takes 0/1 labels, multi:softmax class indices below num_class, and
    multi:softmax needs num_class, as multi:softprob."""
    from unseen.ml.sbt_protocol import BoostParams
    from unseen.ml.secureboost import check_label

    with pytest.raises(InputError, match="binary .0/1. for binary:logitraw"):
        check_label(np.array([0.0, 2.0]), "binary:logitraw", 2, "the label")
    with pytest.raises(InputError, match="class index 0 .. 2"):
        check_label(np.array([0.0, 3.0]), "multi:softmax", 2, "the label", num_class=3)
    with pytest.raises(ConfigError, match="multi:softmax needs num_class"):
        BoostParams(objective="multi:softmax")
    with pytest.raises(ConfigError, match="scale_pos_weight is for binary"):
        BoostParams(objective="multi:softmax", num_class=3, scale_pos_weight=2)
    with pytest.raises(ConfigError, match="scale_pos_weight is for binary"):
        BoostParams(objective="binary:hinge", scale_pos_weight=2)
    with pytest.raises(InputError, match="binary .0/1. for binary:hinge"):
        check_label(np.array([0.0, -1.0]), "binary:hinge", 2, "the label")
    # named by file, row and column, as every other label check
    with pytest.raises(InputError, match=r"g.csv, row 3, column 'bad': y must be binary"):
        check_label([0.0, 1.0, 2.0], "binary:logistic", 3, file="g.csv", column="bad")
    with pytest.raises(InputError, match=r"g.csv, column 'bad': y has only one class"):
        check_label([1.0, 1.0], "binary:logistic", 2, file="g.csv", column="bad")


def test_binary_logitraw_base_margin_is_xgboosts_estimate():
    """Unweighted and with no base_score, XGBoost starts binary:logitraw from the mean
    label itself (its estimate of a probability, taken for a margin); so does SecureBoost."""
    from unseen.ml.sbt_protocol import BoostParams

    Xtr, Xte, ytr, _ = breast_cancer()
    params = BoostParams(objective="binary:logitraw", n_estimators=2, max_depth=2, max_bin=16)
    scores, _, _ = _train_and_predict(
        "plain", params, [Xtr[:, :10], Xtr[:, 10:]], ytr, [Xte[:, :10], Xte[:, 10:]]
    )
    booster, dte, _ = _xgb_booster("binary:logitraw", Xtr, ytr, Xte, 2, 16, max_depth=2)
    np.testing.assert_allclose(scores, booster.predict(dte), atol=1e-5)


@pytest.mark.parametrize("objective", ["binary:logistic", "binary:logitraw", "reg:logistic"])
@pytest.mark.parametrize("weighted", [False, True])
def test_base_margin_with_scale_pos_weight_is_xgboosts_estimate(objective, weighted):
    """With scale_pos_weight and no base_score, XGBoost's intercept is no longer the mean
    label but one Newton step from 0 with the positive rows' weights scaled, 4 (m - 1/2);
    SecureBoost's too (its base margin against XGBoost's saved base score)."""
    import json

    import xgboost as xgb

    from unseen.ml.sbt_tree import base_margin

    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.3).astype(float)
    weights = rng.uniform(0.2, 3.0, 300) if weighted else None
    booster = xgb.train(
        {"objective": objective, "scale_pos_weight": 2.5},
        xgb.DMatrix(rng.normal(size=(300, 2)), label=y, weight=weights),
        1,
    )
    config = json.loads(booster.save_config())["learner"]["learner_model_param"]
    theirs = float(config["base_score"].strip("[]"))
    ours = base_margin(objective, y, None, weights, scale_pos_weight=2.5)
    if objective != "binary:logitraw":  # XGBoost keeps a probability: its margin's sigmoid
        ours = 1.0 / (1.0 + np.exp(-ours))
    assert ours == pytest.approx(theirs, rel=1e-6)
    plain = base_margin(objective, y, None, weights)  # scale_pos_weight 1: the mean label
    assert abs(plain - ours) > 0.05


@pytest.mark.parametrize(
    "mode, extra", [("plain", {}), ("ss-dealer", {}), ("he", {"he_options": {"scheme": "ou"}})]
)
def test_binary_hinge_is_xgboosts(mode, extra):
    """``binary:hinge``: the hinge loss's g and h (the smallest float32 for h outside the
    margin), XGBoost's base margin (its Newton step from 0, predicted: 1 here, where most
    labels are 1), its 0/1 predictions and its validation error per round; margins equal
    to XGBoost's."""
    from unseen.ml.sbt_protocol import BoostParams

    Xtr, Xte, ytr, yte = breast_cancer()
    params = BoostParams(objective="binary:hinge", n_estimators=4, max_depth=3, max_bin=16)
    parts_te = [Xte[:, :10], Xte[:, 10:]]
    classes, margins, model = _train_and_predict(
        mode, params, [Xtr[:, :10], Xtr[:, 10:]], ytr, parts_te, eval_set=(parts_te, yte), **extra
    )
    booster, dte, history = _xgb_booster(
        "binary:hinge", Xtr, ytr, Xte, 4, 16, yte, max_depth=3, eta=0.3
    )
    np.testing.assert_allclose(margins, booster.predict(dte, output_margin=True), atol=1e-5)
    np.testing.assert_array_equal(classes, booster.predict(dte))
    np.testing.assert_allclose(model.history, history["error"], atol=1e-12)
    assert model.base_margin == 1.0 and set(np.unique(classes)) == {0.0, 1.0}


def test_binary_hinge_base_margin_follows_the_labels_as_xgboosts():
    """Where most (weighted) labels are 0, XGBoost's estimate gives a base margin of 0;
    a base_score is the margin itself."""
    from unseen.ml.sbt_tree import base_margin

    y = np.array([0.0, 0.0, 1.0])
    assert base_margin("binary:hinge", y, None) == 0.0
    assert base_margin("binary:hinge", y, None, weights=np.array([1.0, 1.0, 3.0])) == 1.0
    assert base_margin("binary:hinge", np.array([0.0, 1.0]), None) == 0.0  # a tie: 0
    assert base_margin("binary:hinge", y, 0.25) == 0.25
    Xtr, Xte, ytr, _ = breast_cancer()
    flipped = 1.0 - ytr  # mostly 0 now
    from unseen.ml.sbt_protocol import BoostParams

    params = BoostParams(objective="binary:hinge", n_estimators=2, max_depth=2, max_bin=16)
    _, margins, model = _train_and_predict(
        "plain", params, [Xtr[:, :10], Xtr[:, 10:]], flipped, [Xte[:, :10], Xte[:, 10:]]
    )
    booster, dte, _ = _xgb_booster("binary:hinge", Xtr, flipped, Xte, 2, 16, max_depth=2)
    assert model.base_margin == 0.0
    np.testing.assert_allclose(margins, booster.predict(dte, output_margin=True), atol=1e-5)


def test_the_classifier_takes_the_other_binary_objectives():
    """SecureBoostClassifier(objective=...): binary:logitraw gives the same probabilities
    as binary:logistic (its log-odds through the sigmoid) where both start from the same
    base margin; binary:hinge predicts classes (the margin's side) and has no
    probabilities; both are for two classes."""
    Xtr, Xte, ytr, _ = breast_cancer()
    labels = np.where(ytr == 1, "good", "bad")
    common = dict(mode="plain", n_estimators=8, max_depth=3, max_bin=16)

    def party(i, objective, base_score=None):
        def role(ctx):
            est = SecureBoostClassifier(objective=objective, base_score=base_score, **common)
            est.fit(ctx, [Xtr[:, :10], Xtr[:, 10:]][i], labels if i == 0 else None)
            X = [Xte[:, :10], Xte[:, 10:]][i]
            if objective == "binary:hinge":
                with pytest.raises(ConfigError, match="no probabilities"):
                    est.predict_proba(ctx, X)
                return est.predict(ctx, X), None
            return est.predict(ctx, X), est.predict_proba(ctx, X)

        return role

    def job(objective, base_score=None):
        roles = {f"p{i}": party(i, objective, base_score) for i in range(2)}
        return run_local(roles, timeout=120)["p0"]

    # binary:logistic starts from logit(base_score), binary:logitraw from base_score: give
    # logitraw the margin logistic starts from and the models are the same
    mean = float(np.mean(ytr))
    logistic = job("binary:logistic", mean)
    raw = job("binary:logitraw", float(np.log(mean / (1 - mean))))
    np.testing.assert_allclose(raw[1], logistic[1], atol=1e-12)
    assert list(raw[0]) == list(logistic[0]) and set(raw[0]) == {"bad", "good"}
    classes, _ = job("binary:hinge")
    booster, dte, _ = _xgb_booster("binary:hinge", Xtr, ytr, Xte, 8, 16, max_depth=3)
    np.testing.assert_array_equal(classes, np.where(booster.predict(dte) == 1, "good", "bad"))
    assert set(classes) == {"bad", "good"}

    def three_classes(ctx):
        SecureBoostClassifier(objective="binary:hinge", mode="plain").fit(
            ctx, Xtr[:, :3], np.arange(len(ytr)) % 3
        )

    with pytest.raises(ConfigError, match="binary:hinge is for two classes; y has 3"):
        run_local({"p0": three_classes}, timeout=60)
