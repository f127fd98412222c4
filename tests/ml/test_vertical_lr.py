"""Vertical LR in-process (every party a thread): lossless against scikit-learn, the same
numbers as the plaintext reference, roles and hyper-parameter checks, prediction, models."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from unseen.ml.lr_common import LRParams, batch_bounds, row_order_seed
from unseen.ml.lr_plain import fit_plain
from unseen.ml.vertical_lr import VerticalLR
from unseen.runtime.errors import ConfigError, InputError
from unseen.runtime.local import run_local

# he mode: results do not depend on the key size (exact integer arithmetic), so most tests
# use 1024-bit test keys (allowed under pytest only); one test runs a real 2048-bit key.
TEST_KEY = 1024


def breast_cancer(seed: int = 0):
    """Standardised train/test split of sklearn's breast-cancer data (joined)."""
    x, y = load_breast_cancer(return_X_y=True)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
    scaler = StandardScaler().fit(xtr)
    return scaler.transform(xtr), scaler.transform(xte), ytr.astype(float), yte.astype(float)


def frames(x: np.ndarray, splits: Sequence[tuple[int, int]], y: np.ndarray | None = None):
    """One DataFrame per party: columns [a, b) of ``x``; the first gets the label."""
    out = []
    for i, (a, b) in enumerate(splits):
        df = pd.DataFrame(x[:, a:b], columns=[f"f{j}" for j in range(a, b)])
        if i == 0 and y is not None:
            df["label"] = y
        out.append(df)
    return out


def train(
    mode: str,
    parts: Sequence[pd.DataFrame],
    tests: Sequence[pd.DataFrame] | None = None,
    names: Sequence[str] = ("guest", "host"),
    to: str | None = None,
    **hyper: Any,
) -> dict[str, Any]:
    """Train (and score ``tests``) with one party per frame, plus a dealer in ss-dealer mode."""
    if mode == "he":
        hyper.setdefault("key_bits", TEST_KEY)

    def role(i: int) -> Callable[..., Any]:
        def run(ctx: Any) -> Any:
            label = "label" if i == 0 else None
            model = VerticalLR(mode, **hyper).fit(ctx, parts[i], label=label)
            scores = model.predict_proba(ctx, tests[i], to=to) if tests is not None else None
            return model, scores

        return run

    roles = {name: role(i) for i, name in enumerate(names)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: VerticalLR(mode, **hyper).fit(ctx, None)
    return run_local(roles, timeout=300)


SPLIT2 = [(0, 10), (10, 30)]
SPLIT3 = [(0, 10), (10, 20), (20, 30)]


def sklearn_auc(xtr, ytr, xte, yte, c: float = 1.0) -> float:
    model = LogisticRegression(C=c, max_iter=5000).fit(xtr, ytr)
    return float(roc_auc_score(yte, model.predict_proba(xte)[:, 1]))


# -- lossless -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mode,split,names",
    [
        ("ss-dealer", SPLIT2, ("guest", "host")),
        ("ss-dealer", SPLIT3, ("guest", "host1", "host2")),
        ("he", SPLIT2, ("guest", "host")),
    ],
)
def test_lossless_on_breast_cancer(mode, split, names):
    """Guest: label + first 10 columns; hosts: the rest. AUC within 0.005 of sklearn (C=1,
    which is l2 = 1 / (C n) in our per-row objective)."""
    xtr, xte, ytr, yte = breast_cancer()
    res = train(
        mode, frames(xtr, split, ytr), frames(xte, split), names=names, epochs=50, l2=1.0 / len(ytr)
    )
    model, scores = res["guest"]
    for other in names[1:]:
        assert res[other][1] is None  # only the guest learns the scores
    auc = roc_auc_score(yte, scores)
    reference = sklearn_auc(xtr, ytr, xte, yte)
    assert auc > reference - 0.005, (auc, reference)
    assert len(model.history_) == 50 and model.history_[-1] < model.history_[0]


# -- the same numbers as the plaintext reference -----------------------------------------------
CASES = [
    dict(epochs=8, optimizer="sgd", learning_rate=0.5),
    dict(
        epochs=5,
        batch_size=91,
        optimizer="nesterov",
        l1=0.01,
        l2=0.01,
        schedule="inverse",
        decay=0.5,
    ),
    dict(
        epochs=4,
        batch_size=128,
        optimizer="adam",
        learning_rate=0.05,
        fit_intercept=False,
        schedule="inverse-sqrt",
        decay=1.0,
    ),
]


@pytest.mark.parametrize("mode", ["ss-dealer", "he"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_matches_the_plaintext_reference(mode, case):
    hyper = dict(CASES[case], shuffle=False, tol=0.0)
    if mode == "he" and case == 0:
        hyper["epochs"] = 4
    xtr, xte, ytr, _ = breast_cancer(seed=3)
    ref = fit_plain(xtr, ytr, LRParams(mode=mode, **hyper))
    res = train(mode, frames(xtr, SPLIT2, ytr), frames(xte, SPLIT2), **hyper)
    guest, host = res["guest"][0], res["host"][0]
    # weights on the standardised features, per party
    tol = 2e-3 if mode == "ss-dealer" else 5e-3  # fixed point: 12 (ss) or 8 (he) fraction bits
    np.testing.assert_allclose(guest.coef_, ref.weights[:10], atol=tol)
    np.testing.assert_allclose(host.coef_, ref.weights[10:], atol=tol)
    assert guest.intercept_ == pytest.approx(ref.intercept, abs=tol)
    assert host.intercept_ is None
    np.testing.assert_allclose(guest.history_, ref.history, rtol=1e-3)
    assert host.history_ == []  # hosts never see the loss
    if hyper.get("l1"):
        assert np.count_nonzero(ref.weights == 0) == np.count_nonzero(
            np.r_[guest.coef_, host.coef_] == 0
        )
    # and the guest's scores are the reference's scores
    ref_scores = ref.predict_proba(xte)
    np.testing.assert_allclose(res["guest"][1], ref_scores, atol=5e-3)


def test_three_parties_match_the_reference():
    xtr, xte, ytr, _ = breast_cancer(seed=5)
    hyper = dict(epochs=6, batch_size=100, shuffle=False, tol=0.0, l2=0.001)
    ref = fit_plain(xtr, ytr, LRParams(**hyper))
    res = train(
        "ss-dealer",
        frames(xtr, SPLIT3, ytr),
        frames(xte, SPLIT3),
        names=("guest", "h1", "h2"),
        **hyper,
    )
    got = np.r_[res["guest"][0].coef_, res["h1"][0].coef_, res["h2"][0].coef_]
    np.testing.assert_allclose(got, ref.weights, atol=2e-3)
    np.testing.assert_allclose(res["guest"][0].history_, ref.history, rtol=1e-3)


def test_early_stopping_stops_every_party_at_the_same_epoch():
    xtr, _, ytr, _ = breast_cancer()
    hyper = dict(epochs=200, tol=1e-4)
    res = train("ss-dealer", frames(xtr, SPLIT2, ytr), **hyper)
    guest, host = res["guest"][0], res["host"][0]
    ref = fit_plain(xtr, ytr, LRParams(**hyper))
    assert 2 < guest.result_.epochs_run < 200
    assert guest.result_.epochs_run == host.result_.epochs_run == len(guest.history_)
    # the loss is computed in fixed point: the threshold may be crossed an epoch apart
    assert abs(guest.result_.epochs_run - len(ref.history)) <= 2


def test_shuffled_minibatches_agree_between_parties_and_learn():
    xtr, xte, ytr, yte = breast_cancer()
    res = train(
        "ss-dealer",
        frames(xtr, SPLIT2, ytr),
        frames(xte, SPLIT2),
        epochs=10,
        batch_size=64,
        learning_rate=0.05,
    )
    assert roc_auc_score(yte, res["guest"][1]) > 0.98


def test_random_state_fixes_the_row_order():
    """Two jobs with one random_state take the same batches (the same weights, those of the
    plaintext reference on that order); another random_state takes others."""
    xtr, _, ytr, _ = breast_cancer()
    hyper = dict(epochs=3, batch_size=100, tol=0.0)

    def weights(**more: Any) -> np.ndarray:
        res = train("ss-dealer", frames(xtr, SPLIT2, ytr), **hyper, **more)
        return np.r_[res["guest"][0].coef_, res["host"][0].coef_]

    first, again, other = weights(random_state=7), weights(random_state=7), weights(random_state=8)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3
    ref = fit_plain(xtr, ytr, LRParams(**hyper), seed=row_order_seed(7))
    np.testing.assert_allclose(first, ref.weights, atol=2e-3)


def test_a_real_2048_bit_key_gives_the_same_result():
    xtr, _, ytr, _ = breast_cancer()
    hyper = dict(epochs=2, shuffle=False, tol=0.0, key_bits=2048)
    ref = fit_plain(xtr, ytr, LRParams(mode="he", **hyper))
    res = train("he", frames(xtr, SPLIT2, ytr), **hyper)
    np.testing.assert_allclose(res["host"][0].coef_, ref.weights[10:], atol=5e-3)


# -- prediction and models ---------------------------------------------------------------------
def test_scores_go_to_the_named_party_only():
    xtr, xte, ytr, _ = breast_cancer()
    res = train("ss-dealer", frames(xtr, SPLIT2, ytr), frames(xte, SPLIT2), epochs=5, to="host")
    assert res["guest"][1] is None
    assert res["host"][1].shape == (len(xte),)


def test_saved_parts_predict_jointly_and_coefficients_score_raw_data(tmp_path):
    x, y = load_breast_cancer(return_X_y=True)  # raw (unstandardised) features
    parts = frames(x, SPLIT2, y.astype(float))
    res = train("ss-dealer", parts, epochs=30)
    for name in ("guest", "host"):
        res[name][0].save(tmp_path / name)
    loaded = {name: VerticalLR.load(tmp_path / name) for name in ("guest", "host")}
    assert loaded["guest"].role_ == "guest" and loaded["host"].intercept_ is None
    tests = frames(x[:50], SPLIT2)

    def score(name: str, i: int) -> Callable[..., Any]:
        return lambda ctx: loaded[name].predict_proba(ctx, tests[i])

    out = run_local({"guest": score("guest", 0), "host": score("host", 1)})
    assert out["host"] is None
    # the scorecard view: sum over parties of (constant + weight * raw value)
    z = np.zeros(50)
    for name, i in (("guest", 0), ("host", 1)):
        rows = pd.read_csv(tmp_path / name / "coefficients.csv")
        feats = rows[~rows.feature.str.startswith("(")]
        z += tests[i][feats.feature].to_numpy() @ feats.weight.to_numpy()
        z += rows[rows.feature.str.startswith("(")].weight.iloc[0]
    np.testing.assert_allclose(out["guest"], 1 / (1 + np.exp(-z)), atol=1e-3)


def test_parts_of_different_models_refuse_to_predict():
    xtr, xte, ytr, _ = breast_cancer()
    a = train("ss-dealer", frames(xtr, SPLIT2, ytr), epochs=2)
    b = train("ss-dealer", frames(xtr, SPLIT2, ytr), epochs=2)
    tests = frames(xte, SPLIT2)
    with pytest.raises(ConfigError, match="different model"):
        run_local(
            {
                "guest": lambda ctx: a["guest"][0].predict_proba(ctx, tests[0]),
                "host": lambda ctx: b["host"][0].predict_proba(ctx, tests[1]),
            }
        )


# -- roles and hyper-parameters --------------------------------------------------------------
def _job(roles: dict[str, tuple[str, Any, dict]]) -> None:
    def make(mode: str, data: Any, hyper: dict) -> Callable[..., Any]:
        label = "label" if data is not None and "label" in data.columns else None
        return lambda ctx: VerticalLR(mode, **hyper).fit(ctx, data, label=label)

    run_local({p: make(*spec) for p, spec in roles.items()}, timeout=60)


@pytest.fixture(scope="module")
def parts():
    xtr, _, ytr, _ = breast_cancer()
    return frames(xtr, SPLIT3, ytr)


def test_roles_must_make_sense(parts):
    g, h1, h2 = parts
    with pytest.raises(ConfigError, match="no party has a label"):
        _job({"a": ("ss-dealer", h1, {}), "b": ("ss-dealer", h2, {}), "d": ("ss-dealer", None, {})})
    both = h1.assign(label=g["label"])
    with pytest.raises(ConfigError, match="all have a label"):
        _job(
            {"a": ("ss-dealer", g, {}), "b": ("ss-dealer", both, {}), "d": ("ss-dealer", None, {})}
        )
    with pytest.raises(ConfigError, match="exactly one dealer"):
        _job({"a": ("ss-dealer", g, {}), "b": ("ss-dealer", h1, {})})
    with pytest.raises(ConfigError, match="no third party"):
        _job({"a": ("he", g, {}), "b": ("he", h1, {}), "d": ("he", None, {})})
    with pytest.raises(ConfigError, match="two parties"):
        _job({"a": ("he", g, {}), "b": ("he", h1, {}), "c": ("he", h2, {})})
    with pytest.raises(ConfigError, match="different modes"):
        _job({"a": ("he", g, {}), "b": ("ss-dealer", h1, {})})


def test_hyper_parameters_must_agree(parts):
    g, h1, _ = parts
    with pytest.raises(ConfigError, match=r"learning_rate \(0.3 vs 0.1\)"):
        _job(
            {
                "a": ("ss-dealer", g, {}),
                "b": ("ss-dealer", h1, {"learning_rate": 0.1}),
                "d": ("ss-dealer", None, {}),
            }
        )


def test_tiny_batches_are_refused(parts):
    g, h1, _ = parts
    with pytest.raises(ConfigError, match="could solve its gradient"):
        _job(
            {
                "a": ("ss-dealer", g, {"batch_size": 8}),
                "b": ("ss-dealer", h1, {"batch_size": 8}),
                "d": ("ss-dealer", None, {"batch_size": 8}),
            }
        )


@pytest.mark.parametrize("n", [1, 63, 64, 65, 127, 128, 129, 455, 1000])
@pytest.mark.parametrize("size", [0, 1, 64, 100, 2000])
def test_no_batch_is_shorter_than_the_batch_size(n, size):
    """The rows after the last full batch join it: a short tail batch would reveal a
    gradient over fewer rows than check_batch_size allows (455 rows in 64s: 7 rows)."""
    bounds = batch_bounds(n, size)
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(b == c for (_, b), (c, _) in zip(bounds, bounds[1:], strict=False))
    want = n if size <= 0 or size >= n else size
    assert all(want <= b - a < 2 * want for a, b in bounds)
    assert len(bounds) == max(1, n // want)


def test_bad_hyper_parameters_are_named():
    with pytest.raises(ConfigError, match="unknown mode"):
        VerticalLR("plain")
    with pytest.raises(ConfigError, match="learning rate"):
        VerticalLR(learning_rate=0)
    with pytest.raises(ConfigError, match="optimizer"):
        VerticalLR(optimizer="lbfgs")


def test_bad_input_names_the_column(parts):
    g, h1, _ = parts
    bad = h1.copy()
    bad.iloc[7, 3] = np.nan
    with pytest.raises(InputError, match="row 8, column 'f13'"):
        _job({"a": ("ss-dealer", g, {}), "b": ("ss-dealer", bad, {}), "d": ("ss-dealer", None, {})})
    with pytest.raises(InputError, match="rows here but"):
        _job(
            {
                "a": ("ss-dealer", g, {}),
                "b": ("ss-dealer", h1.iloc[:-1], {}),
                "d": ("ss-dealer", None, {}),
            }
        )


def test_the_security_statement_names_the_parties():
    xtr, _, ytr, _ = breast_cancer()
    parts = frames(xtr, SPLIT2, ytr)
    said: dict[str, str] = {}

    def run(name: str, data: Any, label: str | None) -> Callable[..., Any]:
        def role(ctx: Any) -> None:
            VerticalLR("ss-dealer", epochs=1).fit(
                ctx, data, label=label, announce=lambda t: said.__setitem__(name, t)
            )

        return role

    run_local(
        {
            "bank": run("bank", parts[0], "label"),
            "tel": run("tel", parts[1], None),
            "arbiter": run("arbiter", None, None),
        }
    )
    assert set(said) == {"bank", "tel", "arbiter"}
    assert len(set(said.values())) == 1
    text = said["bank"]
    assert "dealer 'arbiter' must not collude" in text and "guest 'bank'" in text


def test_masked_matrices_in_row_chunks_give_the_same_result(monkeypatch):
    from unseen.ml import lr_ss

    monkeypatch.setattr(lr_ss, "CHUNK_BYTES", 8 * 20 * 70)  # 70-row chunks (64 at least)
    xtr, _, ytr, _ = breast_cancer(seed=2)
    hyper = dict(epochs=3, batch_size=150, shuffle=False, tol=0.0)
    ref = fit_plain(xtr, ytr, LRParams(**hyper))
    res = train("ss-dealer", frames(xtr, SPLIT2, ytr), **hyper)
    np.testing.assert_allclose(res["host"][0].coef_, ref.weights[10:], atol=2e-3)
    np.testing.assert_allclose(res["guest"][0].history_, ref.history, rtol=1e-3)


def test_early_stop_with_chunks_and_batches_keeps_the_dealer_in_sync(monkeypatch):
    from unseen.ml import lr_ss

    monkeypatch.setattr(lr_ss, "CHUNK_BYTES", 8 * 20 * 70)
    xtr, _, ytr, _ = breast_cancer()
    res = train(
        "ss-dealer",
        frames(xtr, SPLIT2, ytr),
        epochs=100,
        batch_size=200,
        tol=1e-3,
        learning_rate=0.05,
    )
    assert res["guest"][0].result_.epochs_run < 100  # stopped early; the dealer agreed at close


def test_large_products_send_masked_and_product_shares_apart(monkeypatch):
    from unseen.ml import lr_ss

    monkeypatch.setattr(lr_ss, "MERGE_ELEMENTS", 100)  # every product takes two messages
    xtr, _, ytr, _ = breast_cancer(seed=4)
    hyper = dict(epochs=3, shuffle=False, tol=0.0)
    ref = fit_plain(xtr, ytr, LRParams(**hyper))
    res = train("ss-dealer", frames(xtr, SPLIT3, ytr), names=("guest", "h1", "h2"), **hyper)
    np.testing.assert_allclose(res["h2"][0].coef_, ref.weights[20:], atol=2e-3)


@pytest.mark.slow
def test_he_mode_is_lossless_with_a_real_2048_bit_key():
    xtr, xte, ytr, yte = breast_cancer()
    res = train(
        "he",
        frames(xtr, SPLIT2, ytr),
        frames(xte, SPLIT2),
        epochs=50,
        l2=1.0 / len(ytr),
        key_bits=2048,
    )
    auc = roc_auc_score(yte, res["guest"][1])
    assert auc > sklearn_auc(xtr, ytr, xte, yte) - 0.005
