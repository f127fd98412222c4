"""A random search of hyper-parameters and data against XGBoost on the same bins.

Each case draws a data set (some cells missing, a feature with few values), an objective,
hyper-parameters (depth, bins, lambda, alpha, gamma, min_child_weight, max_delta_step,
scale_pos_weight), and sometimes monotone constraints, a categorical column, row
weights, interaction constraints, another of XGBoost's objectives (Cox's too), the
default base score and early stopping; trains SecureBoost with a guest (with features,
or the label alone) and one host or two; and checks its predictions (and in some cases
each row's exact SHAP values, XGBoost's pred_contribs) against XGBoost's
(``tree_method="hist"``) on the joined data binned with SecureBoost's cut points. A few
cases run in CI; ``-m slow`` runs a few hundred (``UNSEEN_SEARCH_CASES``): every fourth
in ``ss-dealer``, some in ``he`` (OU), ``ss-dealer-matrix`` and ``he-hidden``, the others
in ``plain``.

Excluded: lambda 0. A pure node (every row the same g/h, as in a first tree's nodes of
one label) then has splits of true gain 0, which XGBoost's float32 arithmetic turns into
1e-6 or more where the node's gains are large, above its threshold: XGBoost splits where
SecureBoost (float64) does not (docs/secureboost.md). And reg:squaredlogerror with a
learning rate above 0.3: a margin driven near -1 makes hessians of 1e15, where XGBoost's
float32 gradients and SecureBoost's float64 ones part; likewise survival:cox with
min_child_weight below 1 or a learning rate above 0.5, where a leaf of tiny hessian gets a
weight of 10 or more and the risk sets' sums of exp(margin) part the same way.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pytest

from unseen.ml.data import encode_categories
from unseen.ml.secureboost import SecureBoostClassifier, SecureBoostRegressor, secureboost_bins
from unseen.runtime.local import run_local

OBJECTIVES = ("binary:logistic", "reg:squarederror", "multi:softprob", "count:poisson")


def draw_case(seed: int) -> dict[str, Any]:
    """One random case: the data, the split between the parties and the hyper-parameters."""
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(80, 600)), int(rng.integers(3, 12))
    X = rng.normal(size=(n + 100, d))
    if rng.random() < 0.3:
        X[:, 0] = np.round(X[:, 0])  # few distinct values: bins empty in many nodes
    if rng.random() < 0.5:
        X[rng.random(X.shape) < rng.uniform(0, 0.3)] = np.nan
    z = np.nan_to_num(X) @ rng.normal(size=d) + rng.normal(size=n + 100)
    objective = str(rng.choice(OBJECTIVES))
    if objective == "reg:squarederror":
        y = z
    elif objective == "binary:logistic":
        y = (z > np.median(z)).astype(float)
    elif objective == "multi:softprob":
        y = np.digitize(z, np.quantile(z, [0.33, 0.66])).astype(float)
    else:
        y = rng.poisson(np.exp(0.3 * np.clip(z, -5, 5))).astype(float)
    params: dict[str, Any] = dict(
        n_estimators=int(rng.integers(1, 5)),
        max_depth=int(rng.integers(1, 7)),
        learning_rate=float(rng.uniform(0.05, 1.0)),
        max_bin=int(rng.integers(2, 65)),
        reg_lambda=float(rng.choice([0.1, 0.5, 1.0, 3.0])),
        reg_alpha=float(rng.choice([0.0, 0.0, 0.3, 2.0])),
        gamma=float(rng.choice([0.0, 0.0, 0.1, 1.0])),
        min_child_weight=float(rng.choice([0.0, 1.0, 3.0, 10.0])),
    )
    if objective == "binary:logistic":
        params["scale_pos_weight"] = float(rng.choice([1.0, 1.0, 2.5]))
    if objective in ("binary:logistic", "reg:squarederror") and rng.random() < 0.3:
        params["max_delta_step"] = float(rng.choice([0.5, 0.7]))
    guest = int(rng.integers(1, d))
    signs = np.zeros(d, dtype=int)
    if objective != "multi:softprob" and rng.random() < 0.3:
        for j in rng.choice(d, size=min(d, 3), replace=False):
            signs[j] = int(rng.choice([-1, 1]))
    # sometimes a categorical column (text, some cells missing) at the guest or the host,
    # its categories' effect mixed into the label; never a constrained one
    categorical = None
    if rng.random() < 0.3:
        categorical = int(rng.choice([0, guest]))
        signs[categorical] = 0
        k = int(rng.integers(2, 16))
        k = min(k, params["max_bin"])  # more categories than bins are refused
        codes = rng.integers(0, k, n + 100)
        X[:, categorical] = codes
        X[rng.random(n + 100) < 0.1, categorical] = np.nan
        effect = rng.normal(size=k)[codes]
        y = y + effect if objective == "reg:squarederror" else y
        if objective == "binary:logistic":
            y = ((z + 2 * effect) > np.median(z + 2 * effect)).astype(float)
        params["max_cat_to_onehot"] = int(rng.choice([4, 20]))
        params["max_cat_threshold"] = int(rng.choice([64, 3]))
    # drawn last, so that the cases above keep their draws: sometimes another of
    # XGBoost's objectives (Cox's too), row weights, interaction constraints
    if rng.random() < 0.4:
        objective = str(rng.choice(MORE_OBJECTIVES))
        y = _label(objective, z, rng)
        params.pop("scale_pos_weight", None)
        params.pop("max_delta_step", None)
        params.update(MORE_PARAMS.get(objective, {}))
        if objective == "binary:logitraw":
            params["scale_pos_weight"] = float(rng.choice([1.0, 2.5]))
        if objective == "reg:squaredlogerror":  # left out: margins near -1 (module docstring)
            params["learning_rate"] = min(params["learning_rate"], 0.3)
    weights = rng.uniform(0.2, 3.0, n) if rng.random() < 0.3 else None
    interactions = None
    if d >= 3 and rng.random() < 0.25:
        shuffled = rng.permutation(d)
        cut = int(rng.integers(1, d - 1))
        interactions = [sorted(shuffled[:cut].tolist()), sorted(shuffled[cut:].tolist())]
    # sometimes no base_score: each side estimates its own (XGBoost's intercept)
    default_base = bool(rng.random() < 0.4)
    # sometimes a second host: the host's columns split where host2's begin
    second_host = None
    if d - guest >= 2 and rng.random() < 0.3:
        second_host = int(rng.integers(guest + 1, d))
    if rng.random() < 0.06:  # Cox's proportional hazards: times, negative where censored
        objective = "survival:cox"
        y = _label(objective, z, rng)
        for name in ("scale_pos_weight", "max_delta_step", *SPECIFIC):
            params.pop(name, None)
        # left out: leaves of tiny hessian (module docstring)
        params["min_child_weight"] = max(params["min_child_weight"], 1.0)
        params["learning_rate"] = min(params["learning_rate"], 0.5)
    # early stopping on the test rows' default metric (not for binary:logitraw, whose
    # logloss SecureBoost takes on probabilities, XGBoost on the raw margin: documented)
    if rng.random() < 0.25 and objective != "binary:logitraw":
        params["n_estimators"] = int(rng.integers(5, 15))
        params["early_stopping_rounds"] = int(rng.integers(1, 3))
    contribs = bool(rng.random() < 0.3)  # also each row's exact SHAP values
    if rng.random() < 0.08:  # sometimes a guest with the label alone, no feature
        guest = 0
    return dict(
        contribs=contribs,
        X=X,
        y=y,
        n=n,
        guest=guest,
        objective=objective,
        params=params,
        signs=signs,
        categorical=categorical,
        weights=weights,
        interactions=interactions,
        default_base=default_base,
        second_host=second_host,
    )


#: objectives drawn in some cases, with their own parameters
MORE_OBJECTIVES = (
    "binary:logitraw",
    "binary:hinge",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:pseudohubererror",
    "reg:gamma",
    "reg:tweedie",
    "reg:logistic",
    "reg:squaredlogerror",
)
MORE_PARAMS: dict[str, dict[str, Any]] = {
    "reg:quantileerror": {"quantile_alpha": 0.3},
    "reg:pseudohubererror": {"huber_slope": 2.0},
    "reg:tweedie": {"tweedie_variance_power": 1.3},
}
#: the objectives' own parameters, by name
SPECIFIC = ("quantile_alpha", "huber_slope", "tweedie_variance_power")
#: objectives whose predictions are classes' probabilities (a classifier's predict_proba)
PROBABILITIES = ("binary:logistic", "binary:logitraw", "multi:softprob")


def _label(objective: str, z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A label for ``objective`` from the linear score ``z``."""
    if objective in ("binary:logitraw", "binary:hinge"):
        return (z > np.median(z)).astype(float)
    if objective in ("reg:gamma",):
        return rng.gamma(2.0, np.exp(0.3 * np.clip(z, -5, 5)) / 2.0)
    if objective == "reg:tweedie":
        mu = np.exp(0.3 * np.clip(z, -5, 5))
        return np.where(rng.random(z.size) < 0.3, 0.0, rng.gamma(2.0, mu / 2.0))
    if objective == "reg:logistic":
        return 1.0 / (1.0 + np.exp(-0.5 * z))
    if objective == "reg:squaredlogerror":
        return np.exp(0.3 * np.clip(z, -5, 5))
    if objective == "survival:cox":  # times with ties, 30% censored (negative)
        t = np.round(rng.exponential(np.exp(-0.3 * np.clip(z, -5, 5))), 2) + 0.01
        return np.where(rng.random(z.size) < 0.3, -t, t)
    return z  # absolute, quantile, pseudo-Huber errors


def _text(column: np.ndarray) -> np.ndarray:
    """Category codes as text (``c0``, ``c1``...), missing cells ``None``."""
    out = np.array([f"c{int(v)}" if v == v else None for v in column], dtype=object)
    return out


def secureboost_predictions(
    case: dict[str, Any], mode: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """The guest's predictions of the test rows, and their exact SHAP values if the case
    asks for them."""
    X, y, n, g = case["X"], case["y"], case["n"], case["guest"]
    objective, signs = case["objective"], case["signs"]
    d, cut = X.shape[1], case["second_host"]
    cols = (range(g), range(g, d)) if cut is None else (range(g), range(g, cut), range(cut, d))
    parties = ["guest"] + [f"host{i}" for i in range(1, len(cols))]
    names = [
        f"x{j}" if i == 0 else f"{parties[i]}:x{j}"
        for i, part in enumerate(cols)
        for j in range(len(part))
    ]
    kw = dict(case["params"])
    if objective not in ("multi:softprob", "binary:hinge") and not case["default_base"]:
        kw["base_score"] = float(np.mean(y[:n]))
    classes = objective.startswith(("binary:", "multi:"))
    if objective not in ("binary:logistic", "multi:softprob"):
        kw["objective"] = objective
    if signs.any():
        kw["monotone_constraints"] = {names[j]: int(s) for j, s in enumerate(signs) if s}
    if case["interactions"]:
        kw["interaction_constraints"] = [[names[j] for j in g] for g in case["interactions"]]
    estimator = SecureBoostClassifier if classes else SecureBoostRegressor

    def frame(i: int, rows: slice) -> pd.DataFrame:
        """Party ``i``'s columns of ``rows``, named as the party names its features."""
        index = range(X.shape[0])[rows]
        out = pd.DataFrame({f"x{j}": X[rows, c] for j, c in enumerate(cols[i])}, index=index)
        if case["categorical"] in cols[i]:
            name = f"x{cols[i].index(case['categorical'])}"
            out[name] = _text(X[rows, case["categorical"]])
        return out

    if mode.startswith("he"):
        kw["he_options"] = {"scheme": "ou"}

    def party(i: int):  # type: ignore[no-untyped-def]
        def role(ctx):  # type: ignore[no-untyped-def]
            est = estimator(mode=mode, **kw)
            weights = case["weights"] if i == 0 else None
            test = frame(i, slice(n, None))
            evals = None
            if "early_stopping_rounds" in kw:
                evals = (test, y[n:] if i == 0 else None)
            train, label = frame(i, slice(0, n)), y[:n] if i == 0 else None
            est.fit(ctx, train, label, sample_weight=weights, eval_set=evals)
            shap = est.predict_contribs(ctx, test, approx=False) if case["contribs"] else None
            if objective in PROBABILITIES:
                return est.predict_proba(ctx, test), shap
            return est.predict(ctx, test), shap

        return role

    roles = {name: party(i) for i, name in enumerate(parties)}
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: estimator(mode=mode, **kw).fit(ctx)
    got, shap = run_local(roles, timeout=300)["guest"]
    got = np.asarray(got[:, 1] if objective.startswith("binary:") and got.ndim == 2 else got)
    return got, shap


def xgboost_predictions(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None]:
    import xgboost as xgb

    X, y, n, p = case["X"], case["y"], case["n"], case["params"]
    train, test = secureboost_bins(X[:n], X[n:], p["max_bin"])
    types = ["q"] * X.shape[1]
    c = case["categorical"]
    if c is not None:  # its codes as SecureBoost gives them; unseen: outside XGBoost's
        codes, categories = encode_categories(_text(X[:n, c]))
        train[:, c] = codes
        unseen = encode_categories(_text(X[n:, c]), categories)[0]
        test[:, c] = np.where(unseen < 0, 99.0, unseen)
        types[c] = "c"
    reference = {
        "objective": case["objective"],
        "tree_method": "hist",
        "eta": p["learning_rate"],
        "nthread": 1,
        **{k: v for k, v in p.items() if k not in ("n_estimators", "learning_rate")},
        "max_bin": 256,  # one bin per SecureBoost bin
    }
    if case["objective"] == "multi:softprob":
        reference["num_class"] = 3
    elif case["objective"] != "binary:hinge" and not case["default_base"]:
        reference["base_score"] = float(np.mean(y[:n]))
    if case["signs"].any():
        reference["monotone_constraints"] = "(" + ",".join(map(str, case["signs"])) + ")"
    if case["interactions"]:
        reference["interaction_constraints"] = str(case["interactions"])
    matrix = {"feature_types": types, "enable_categorical": c is not None}
    data = xgb.DMatrix(train, label=y[:n], weight=case["weights"], **matrix)
    rounds, stop = p["n_estimators"], reference.pop("early_stopping_rounds", None)
    if stop is None:
        booster = xgb.train(reference, data, rounds)
        upto = rounds
    else:  # on the test rows, as SecureBoost's eval_set; its model keeps the best rounds
        evals = [(xgb.DMatrix(test, label=y[n:], **matrix), "test")]
        booster = xgb.train(
            reference, data, rounds, evals=evals, early_stopping_rounds=stop, verbose_eval=False
        )
        upto = booster.best_iteration + 1
    dtest = xgb.DMatrix(test, **matrix)
    out = np.asarray(booster.predict(dtest, iteration_range=(0, upto)))
    if case["objective"] == "binary:logitraw":  # log-odds; SecureBoost's: probabilities
        out = 1.0 / (1.0 + np.exp(-out.astype(np.float64)))
    shap = None
    if case["contribs"]:
        shap = np.asarray(booster.predict(dtest, iteration_range=(0, upto), pred_contribs=True))
    return out, shap


def check_case(seed: int, mode: str) -> None:
    case = draw_case(seed)
    (got, shap), (want, want_shap) = secureboost_predictions(case, mode), xgboost_predictions(case)
    regression = not case["objective"].startswith(("binary:", "multi:"))
    assert np.isfinite(want).all(), ("XGBoost's predictions overflow", case["objective"])
    tol = 1e-4 * (1 + np.abs(want).max()) if regression else 1e-5
    assert np.abs(got - want).max() <= tol, {k: case[k] for k in ("objective", "params")}
    if shap is not None:  # on the margin: the same tolerance as regression's
        assert want_shap is not None
        tol = 1e-4 * (1 + np.abs(want_shap).max())
        assert np.abs(shap - want_shap).max() <= tol, ("SHAP", case["objective"], case["params"])


@pytest.mark.parametrize("seed", [6006, 6015, 6024, 6079, 6100])
def test_random_cases_equal_xgboost(seed):
    """A few cases in CI, each of which an earlier split search got wrong: ties between
    cuts out of XGBoost's order (two classes; absolute error; gamma with a categorical
    column), XGBoost's mirrored "missing left" candidate under monotone constraints
    (6100: gamma, row weights), ties between a categorical feature's forward and backward
    scans (6079: Poisson, row weights, interaction constraints)."""
    check_case(seed, "plain")


def test_a_random_case_in_ss_dealer_mode_equals_xgboost():
    check_case(6005, "ss-dealer")  # three classes


def test_a_random_case_in_he_mode_equals_xgboost():
    check_case(6015, "he")  # absolute error (its leaves refreshed by quantiles)


def _mode_of(seed: int) -> str:
    """The slow search's mode for a case: mostly plain (fast), the others now and then."""
    if seed % 4 == 0:
        return "ss-dealer"
    for every, mode in ((25, "he"), (35, "ss-dealer-matrix"), (45, "he-hidden")):
        if seed % every == 1:
            return mode
    return "plain"


@pytest.mark.slow
def test_many_random_cases_equal_xgboost():
    cases = int(os.environ.get("UNSEEN_SEARCH_CASES", "300"))
    failed = []
    for seed in range(7000, 7000 + cases):
        try:
            check_case(seed, _mode_of(seed))
        except AssertionError as e:
            failed.append((seed, str(e)))
    assert not failed, failed
