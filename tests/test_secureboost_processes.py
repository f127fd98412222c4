"""SecureBoost with every party a separate process over mutual TLS, through the CLI."""

from __future__ import annotations

import importlib.util
import json
import re
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from party_zygote import start_party
from unseen.ml.report import matplotlib_available
from unseen.runtime.launch import make_parties, wait_all
from vertical_jobs import predict_job, train_job, write_inputs

TREES = ("--n-estimators", "5", "--max-depth", "3")


def _traffic(stdout: str) -> dict[str, float]:
    """Bytes sent and received, read back from a party's summary line."""
    scale = {"kB": 1e3, "MB": 1e6}
    found = re.search(r"sent ([\d.]+) (kB|MB), received ([\d.]+) (kB|MB)", stdout)
    assert found, stdout
    return {
        "sent": float(found[1]) * scale[found[2]],
        "received": float(found[3]) * scale[found[4]],
    }


def _predict_test_rows(tmp_path, parties, f, tel_extra=()):
    """`unseen predict` of the bank's and the telecom's saved parts on the test rows: the
    scores come in the rows' order, with a test AUC above 0.97. The bank's test table."""
    pred = predict_job(tmp_path, parties, f["bank_test"], f["telecom_test"], tel_extra=tel_extra)
    for p in pred:
        assert p.returncode == 0, p.stderr()
    scores = pd.read_csv(tmp_path / "scores.csv")
    test = pd.read_csv(f["bank_test"])
    assert scores["phone"].tolist() == test["phone"].tolist()
    assert roc_auc_score(test["default"], scores["score"]) > 0.97
    return test


@pytest.mark.parametrize("mode", ["ss-dealer", "ss-dealer-matrix"])
def test_three_processes_train_and_predict(tmp_path, mode):
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])
    procs = train_job(
        "secureboost",
        tmp_path,
        parties,
        mode,
        f["bank_train"],
        f["telecom_train"],
        common=TREES,
        tel_extra=["--traffic", str(tmp_path / "tel_traffic.csv")],
        dealer=True,
    )
    for p in procs:
        assert p.returncode == 0, p.stderr()
    assert "guest: 5 trees" in procs[0].stdout() and "feature importance" in procs[0].stdout()
    assert "host: 5 trees" in procs[1].stdout()
    assert "saw no data" in procs[2].stdout()
    assert f"mode {mode}:" in procs[0].stdout()  # the security statement of the mode
    # each party's summary says what it sent and received: the dealer's correlations
    # go to the host (and the guest), the dealer itself receives only small requests
    dealer, host = _traffic(procs[2].stdout()), _traffic(procs[1].stdout())
    assert dealer["sent"] > 10_000 and dealer["received"] < dealer["sent"] / 10
    assert host["received"] > 0 and "CPU" in procs[1].stdout()
    if mode == "ss-dealer":  # every correction goes to the host
        assert host["received"] >= dealer["sent"]
    # the telecom's ledger of what crossed (--traffic): shares and small integers from
    # the bank, never a floating-point array; every message it sent, counted
    ledger = pd.read_csv(tmp_path / "tel_traffic.csv")
    assert list(ledger.columns) == [
        "direction", "peer", "message", "kind", "messages", "bytes", "largest_shape"
    ]  # fmt: skip
    from_bank = ledger[(ledger["direction"] == "received") & (ledger["peer"] == "bank")]
    assert len(from_bank) and not from_bank["kind"].str.startswith("array float").any()
    sent = ledger[ledger["direction"] == "sent"]
    assert sent["bytes"].astype(int).sum() > 0 and set(sent["peer"]) <= {"bank", "dealer"}
    meta = json.loads((tmp_path / "tel_model" / "model.json").read_text())
    assert meta["role"] == "host" and meta["model"] == "secureboost" and "base_margin" not in meta
    assert meta["mode"] == mode
    guest_meta = json.loads((tmp_path / "bank_model" / "model.json").read_text())
    assert guest_meta["label"] == "default" and guest_meta["job_parties"] == ["bank", "telecom"]
    # the guest's feature importance beside its model, every kind of XGBoost's get_score
    importance = pd.read_csv(tmp_path / "bank_model" / "importance.csv")
    assert list(importance.columns) == [
        "feature", "total_gain", "weight", "gain", "total_cover", "cover"
    ]  # fmt: skip
    assert importance["total_gain"].is_monotonic_decreasing and len(importance) > 0
    assert set(importance["feature"]) == set(guest_meta["importance"]["weight"])
    np.testing.assert_allclose(
        importance["gain"] * importance["weight"], importance["total_gain"], rtol=1e-9
    )
    assert not (tmp_path / "tel_model" / "importance.csv").exists()  # hosts: no importance
    for part in ("bank_model", "tel_model"):  # each party's view of the first tree, drawn
        assert (tmp_path / part / "tree_0.png").exists() == matplotlib_available()
    assert ("the first tree drawn" in procs[1].stdout()) == matplotlib_available()
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "bank_model" / "importance.png").stat().st_size > 0

    # `unseen predict` with the saved parts: two processes, no dealer; the scores'
    # stability against the training rows' (the guest's model keeps them in ten bands)
    drift = tmp_path / "tel_features.csv"
    test = _predict_test_rows(tmp_path, parties, f, ("--feature-stability", str(drift)))
    bands = guest_meta["training_scores"]
    assert len(bands["shares"]) == len(bands["edges"]) + 1 and sum(bands["shares"]) == 1.0
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    from unseen.ml.metrics import stability_index

    scores = pd.read_csv(tmp_path / "scores.csv")["score"]
    psi = stability_index(np.array(bands["edges"]), np.array(bands["shares"]), scores)
    assert saved["psi"] == pytest.approx(psi) and 0 <= psi < 0.25  # same population
    out = (tmp_path / "plogs" / "bank.out").read_text()
    assert "score stability against the training rows: PSI" in out, out
    # each party's own features against its own training rows (CSI), computed where the
    # data is: the bank's in a file beside the scores, the telecom's top three printed
    assert "[bank] my features against my training rows (CSI): b" in out, out
    mine = pd.read_csv(tmp_path / "scores_features.csv")
    assert sorted(mine["feature"]) == sorted(guest_meta["features"])
    assert list(mine.columns) == ["feature", "csi", "reading"] and mine["csi"].max() < 0.25
    tel_out = (tmp_path / "plogs" / "telecom.out").read_text()
    assert "[telecom] my features against my training rows (CSI): t" in tel_out, tel_out
    assert f"every feature in {drift}" in tel_out and len(pd.read_csv(drift)) == 20
    assert set(meta["feature_bands"]) == set(meta["features"])  # the telecom's own

    # rows of one class only, and a missing value: scored all the same (the missing value
    # goes where its split learned), with no report (AUC and KS need both classes); with
    # --leaves, each row's leaf in every tree beside its score
    one = test["default"] == 1
    with_gap = test[one].copy()
    with_gap.iloc[0, 1] = None
    with_gap.to_csv(tmp_path / "bank_one.csv", index=False)
    pd.read_csv(f["telecom_test"])[one.to_numpy()].to_csv(tmp_path / "tel_one.csv", index=False)
    first = pd.read_csv(tmp_path / "scores.csv")[one.to_numpy()]
    (tmp_path / "scores.csv").unlink()
    pred = predict_job(
        tmp_path, parties, tmp_path / "bank_one.csv", tmp_path / "tel_one.csv",
        bank_extra=("--leaves",),
    )  # fmt: skip
    assert [p.returncode for p in pred] == [0, 0], [p.stderr() for p in pred]
    scored = pd.read_csv(tmp_path / "scores.csv")
    assert len(scored) == int(one.sum())
    np.testing.assert_allclose(scored["score"].iloc[1:], first["score"].iloc[1:], rtol=1e-12)
    assert "no report: the label has only one class" in pred[0].stdout()
    assert [c for c in scored.columns if c.startswith("leaf_")] == [f"leaf_{t}" for t in range(5)]
    nodes = pd.read_csv(tmp_path / "bank_model" / "trees.csv")
    at_leaf = nodes[nodes["Feature"] == "Leaf"]
    leaves = set(zip(at_leaf["Tree"], at_leaf["Node"], strict=True))
    assert all((t, v) in leaves for t in range(5) for v in scored[f"leaf_{t}"])
    assert "leaf in 5 trees" in pred[0].stdout(), pred[0].stdout()


def test_bad_input_fails_every_party_with_the_root_cause(tmp_path):
    f = write_inputs(tmp_path)
    tel = pd.read_csv(f["telecom_train"]).astype({"t3": object})
    tel.loc[7, "t3"] = "n/a?"
    tel.to_csv(f["telecom_train"], index=False)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = train_job(
        "secureboost",
        tmp_path,
        parties,
        "he",
        f["bank_train"],
        f["telecom_train"],
        common=TREES,
        timeout=120,
    )
    for p in procs:
        assert p.returncode != 0
        err = p.stderr()
        assert "row 8" in err and "column 't3'" in err and "not a number" in err, err
    assert "party 'telecom' failed" in procs[0].stderr()
    # the offending cell is shown at the telecom only, never sent to the bank
    assert "'n/a?'" in procs[1].stderr() and "n/a" not in procs[0].stderr()
    assert not (tmp_path / "bank_model").exists() and not (tmp_path / "tel_model").exists()


@pytest.mark.parametrize(
    "mode, objective",
    [("he", "binary:logistic"), ("he-hidden", "binary:logitraw"), ("he", "binary:hinge")],
)
def test_he_modes_two_processes(tmp_path, mode, objective):
    """he and he-hidden through the CLI: two processes, no third party; the statement
    says whether instance spaces are hidden, and `unseen predict` scores with the parts
    (binary:logitraw: log-odds, which the report reads as the probabilities they give;
    binary:hinge: margins, whose side is the class, and no log-loss)."""
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = train_job(
        "secureboost",
        tmp_path,
        parties,
        mode,
        f["bank_train"],
        f["telecom_train"],
        common=(*TREES, "--n-estimators", "2", "--objective", objective),
        bank_extra=("--he-scheme", "ou"),
    )
    for p in procs:
        assert p.returncode == 0, p.stderr()
        assert f"mode {mode}:" in p.stdout()
        assert ("hidden from the hosts" in p.stdout()) == (mode == "he-hidden")
    assert json.loads((tmp_path / "bank_model" / "model.json").read_text())["n_trees"] == 2
    assert json.loads((tmp_path / "tel_model" / "model.json").read_text())["mode"] == mode
    if objective == "binary:hinge":  # no probabilities: no scorecard, at either party
        pred = predict_job(
            tmp_path, parties, f["bank_test"], f["telecom_test"], bank_extra=("--scorecard",)
        )
        for p in pred:
            assert p.returncode != 0 and "--scorecard needs a model of the bad" in p.stderr()
    scorecard = () if objective == "binary:hinge" else ("--scorecard", "--scorecard-pdo", "40")
    pred = predict_job(tmp_path, parties, f["bank_test"], f["telecom_test"], bank_extra=scorecard)
    assert [p.returncode for p in pred] == [0, 0], [p.stderr() for p in pred]
    written = pd.read_csv(tmp_path / "scores.csv")
    scores = written["score"].to_numpy()
    labels = pd.read_csv(f["bank_test"])["default"].to_numpy()
    assert roc_auc_score(labels, scores) > 0.95
    assert (scores.min() < 0) == (objective == "binary:logitraw")  # log-odds or not
    assert np.unique(scores).size > 2  # hinge's too are margins, not its 0/1 classes
    report = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    assert report["auc"] == pytest.approx(roc_auc_score(labels, scores))
    if objective == "binary:hinge":
        assert (written["predicted_class"] == (scores > 0)).all()
        assert np.isnan(report["log_loss"])
        assert report["accuracy"] == pytest.approx(np.mean((scores > 0) == labels))
    else:
        p = 1 / (1 + np.exp(-scores)) if objective == "binary:logitraw" else scores
        assert report["log_loss"] == pytest.approx(log_loss(labels, p), rel=1e-6)
        # the scorecard's points: 600 at 50:1, 40 more each time the good odds double
        expected = 600 + 40 / np.log(2) * np.log((1 - p) / p / 50)
        np.testing.assert_allclose(written["points"], expected, rtol=1e-6)
        assert "with scorecard points (600 at 50:1, 40 to double" in pred[0].stdout()


def test_a_guest_with_the_label_alone_through_the_cli(tmp_path):
    """The bank brings its IDs and the label only, the telecom every feature: training,
    the model parts, and `unseen predict` with the bank's IDs and labels alone."""
    f = write_inputs(tmp_path)
    for tag in ("train", "test"):
        bank, tel = pd.read_csv(f[f"bank_{tag}"]), pd.read_csv(f[f"telecom_{tag}"])
        features = [c for c in bank.columns if c not in ("phone", "default")]
        pd.concat([tel, bank[features]], axis=1).to_csv(f[f"telecom_{tag}"], index=False)
        bank[["phone", "default"]].to_csv(f[f"bank_{tag}"], index=False)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])

    def train(where):
        return train_job(
            "secureboost",
            where,
            parties,
            "ss-dealer",
            f["bank_train"],
            f["telecom_train"],
            common=TREES,
            dealer=True,
        )

    procs = train(tmp_path)
    for p in procs:
        assert p.returncode == 0, p.stderr()
    assert "guest: 5 trees" in procs[0].stdout()
    guest_meta = json.loads((tmp_path / "bank_model" / "model.json").read_text())
    assert guest_meta["features"] == []
    importance = pd.read_csv(tmp_path / "bank_model" / "importance.csv")
    assert len(importance) > 0 and importance["feature"].str.startswith("telecom:").all()
    trees = pd.read_csv(tmp_path / "tel_model" / "trees.csv")
    assert trees["Split"].notna().any()  # the thresholds: the telecom's, at the telecom

    _predict_test_rows(tmp_path, parties, f)

    # a host still needs a feature: the telecom's IDs alone stop every party
    pd.read_csv(f["telecom_train"])[["msisdn"]].to_csv(f["telecom_train"], index=False)
    procs = train(tmp_path / "again")
    for p in procs:
        assert p.returncode != 0
    assert "no feature columns left" in procs[1].stderr(), procs[1].stderr()
    assert "party 'telecom' failed" in procs[0].stderr()


def test_exact_contributions_through_the_cli_need_the_hosts_consent(tmp_path):
    """`unseen predict --exact-contribs --interactions`: at the guest, SHAP values that add
    up to the margins, and every pair of features' mean SHAP interaction; a host without
    --exact-contribs refuses, at both parties, naming the flag."""
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = train_job(
        "secureboost", tmp_path, parties, "plain", f["bank_train"], f["telecom_train"],
        common=TREES,
    )  # fmt: skip
    assert [p.returncode for p in procs] == [0, 0], [p.stderr() for p in procs]

    def predict(tel_extra):
        flags = ["--parties", str(parties), "--quiet"]
        out = tmp_path / "scores.csv"
        bank = ["--model", str(tmp_path / "bank_model"), "--input", str(f["bank_test"])]
        bank += ["--id", "phone", "--output", str(out), "--exact-contribs", "--interactions"]
        tel = ["--model", str(tmp_path / "tel_model"), "--input", str(f["telecom_test"])]
        tel += ["--id", "msisdn", *tel_extra]
        pred = [
            start_party("bank", ["predict", "--as", "bank", *flags, *bank], tmp_path / "plogs"),
            start_party("telecom", ["predict", "--as", "telecom", *flags, *tel], tmp_path / "p2"),
        ]
        wait_all(pred, 120)
        return pred

    refused = predict([])
    assert [p.returncode for p in refused] == [1, 1]
    assert "--exact-contribs" in refused[0].stderr() and "'telecom'" in refused[0].stderr()
    assert "guest asks for exact contributions" in refused[1].stderr(), refused[1].stderr()
    assert not (tmp_path / "scores.csv").exists()

    allowed = predict(["--exact-contribs"])
    assert [p.returncode for p in allowed] == [0, 0], [p.stderr() for p in allowed]
    table = pd.read_csv(tmp_path / "scores.csv")
    shares = table[[c for c in table.columns if c.startswith("contrib:")]]
    assert shares.columns[-1] == "contrib:bias" and "contrib:telecom:t0" in shares.columns
    p = table["score"].to_numpy()
    np.testing.assert_allclose(shares.sum(axis=1), np.log(p / (1 - p)), atol=1e-9)
    # the guest's summary: the features that move the scores most, largest first
    out = allowed[0].stdout()
    assert "features by mean |contribution| to the margin (exact SHAP values):" in out, out
    listed = re.findall(r"^\s+(\S+)\s+([\d.]+)$", out, flags=re.M)
    sizes = shares.drop(columns="contrib:bias").abs().mean()
    assert [n for n, _ in listed] == [c.removeprefix("contrib:") for c in sizes.nlargest(10).index]
    chart = tmp_path / "scores_contribs.png"  # the top 20 as a bar chart, with matplotlib
    assert chart.exists() == matplotlib_available() == (str(chart) in out)
    # --interactions: every pair of features by mean |SHAP interaction|, strongest first
    pairs = pd.read_csv(tmp_path / "scores_interactions.csv")
    n_features = shares.shape[1] - 1
    assert len(pairs) == n_features * (n_features - 1) // 2
    assert pairs["mean_abs_interaction"].is_monotonic_decreasing
    assert pairs["mean_abs_interaction"].iloc[0] > 0
    assert "feature pairs by mean |SHAP interaction|" in out, out


def test_hyper_parameters_must_agree(tmp_path):
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = train_job(
        "secureboost",
        tmp_path,
        parties,
        "plain",
        f["bank_train"],
        f["telecom_train"],
        common=TREES,
        tel_extra=("--max-bin", "64"),
        timeout=120,
    )
    for p in procs:
        assert p.returncode != 0
        assert "max_bin=64 here, 32 at the guest" in p.stderr(), p.stderr()


def test_guest_only_rounds_through_the_cli(tmp_path):
    """--guest-only-rounds: the first trees have no host split, at either party (trees.csv),
    the security statement says so, and the saved parts predict as before."""
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = train_job(
        "secureboost",
        tmp_path,
        parties,
        "plain",
        f["bank_train"],
        f["telecom_train"],
        common=(*TREES, "--guest-only-rounds", "2"),
        timeout=120,
    )
    for p in procs:
        assert p.returncode == 0, p.stderr()
    assert "--guest-only-rounds N" in procs[0].stdout()  # the security statement
    guest = pd.read_csv(tmp_path / "bank_model" / "trees.csv")
    host = pd.read_csv(tmp_path / "tel_model" / "trees.csv")
    inner = guest[guest["Feature"] != "Leaf"]
    assert set(inner[inner["Tree"] < 2]["Party"]) == {"bank"}
    assert "telecom" in set(inner[inner["Tree"] >= 2]["Party"])
    # the host's part: the same shapes, none of its own splits in the first two trees
    assert len(host) == len(guest)
    assert host[(host["Tree"] < 2) & (host["Party"] == "telecom")].empty
    pred = predict_job(tmp_path, parties, f["bank_test"], f["telecom_test"])
    assert [p.returncode for p in pred] == [0, 0], [p.stderr() for p in pred]
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert roc_auc_score(pd.read_csv(f["bank_test"])["default"], scores["score"]) > 0.95


@pytest.mark.parametrize("how", ["kill", "terminate"])
def test_a_dealer_that_dies_mid_training_fails_every_party(tmp_path, how):
    """The dealer is killed while the trees grow: guest and host stop within the peer
    timeout, and the guest (where the job is watched) names the dealer as the cause.
    Stopped by SIGTERM instead (``kill``, a service manager), the dealer tells them so
    itself before it goes."""
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])
    # many trees, so that training is still running when the dealer dies
    common = ["--parties", str(parties), "--mode", "ss-dealer", "--quiet", "--timeout", "3"]
    common += ["--n-estimators", "5000", "--max-depth", "3"]
    bank = start_party(
        "bank",
        ["secureboost", "--as", "bank", *common, "--input", str(f["bank_train"]), "--id", "phone"]
        + ["--label", "default", "--output", str(tmp_path / "bank_model"), "-v"],
        tmp_path / "logs",
    )
    tel = start_party(
        "telecom",
        ["secureboost", "--as", "telecom", *common, "--input", str(f["telecom_train"])]
        + ["--id", "msisdn", "--output", str(tmp_path / "tel_model")],
        tmp_path / "logs",
    )
    dealer = start_party("dealer", ["secureboost", "--as", "dealer", *common], tmp_path / "logs")
    procs = [bank, tel, dealer]
    try:
        deadline = time.monotonic() + 120
        while "tree 3: gradients handed over" not in bank.stderr():
            assert time.monotonic() < deadline and bank.popen.poll() is None, bank.stderr()
            time.sleep(0.05)
        getattr(dealer.popen, how)()
        killed = time.monotonic()
        wait_all([bank, tel], 60)
    finally:
        for p in procs:
            if p.popen.poll() is None:
                p.popen.kill()
    assert time.monotonic() - killed < 45  # the peer timeout (3 s) and its probes, not more
    assert bank.returncode == 1 and tel.returncode == 1, (bank.stderr(), tel.stderr())
    error = bank.stderr().strip().splitlines()[-1]
    assert error.startswith("unseen: error: [bank]") and "'dealer'" in error, error
    if how == "terminate":
        assert "party 'dealer' failed" in error and "terminated (SIGTERM)" in error, error
        assert "[dealer] terminated (SIGTERM)" in dealer.stderr()
    assert not (tmp_path / "bank_model").exists() and not (tmp_path / "tel_model").exists()


def _write_split(tmp_path, guest, host, n_train):
    """The guest's and host's tables as CSV files, the first ``n_train`` rows for
    training: ``files[party, "train" or "test"]``, party g or h."""
    files = {}
    for tag, rows in (("train", slice(0, n_train)), ("test", slice(n_train, None))):
        for name, frame in (("g", guest), ("h", host)):
            files[name, tag] = tmp_path / f"{name}_{tag}.csv"
            frame[rows].to_csv(files[name, tag], index=False)
    return files


def _diabetes_split(tmp_path, label, y, n_train, **extra):
    """Diabetes' features split between g (4 columns, the label ``y`` named ``label``,
    and ``extra`` columns) and h (6 columns), as CSV files (:func:`_write_split`)."""
    from sklearn.datasets import load_diabetes

    x, _ = load_diabetes(return_X_y=True)
    ids = [f"p{i}" for i in range(len(y))]
    guest = pd.DataFrame(x[:, :4], columns=[f"g{i}" for i in range(4)])
    guest.insert(0, "id", ids)
    guest[label] = y
    for name, values in extra.items():
        guest[name] = values
    host = pd.DataFrame(x[:, 4:], columns=[f"h{i}" for i in range(6)])
    host.insert(0, "id", ids)
    return _write_split(tmp_path, guest, host, n_train)


def _train_g_h(
    tmp_path, common, guest_input, host_input, label, dealer=False, g_extra=(), h_extra=()
):
    """`unseen secureboost` at g (with ``label``; and ``g_extra`` flags) and h (with
    ``h_extra``) and a dealer if asked: models gm and hm under tmp_path; the finished
    processes."""
    procs = [
        start_party(
            "g",
            ["secureboost", "--as", "g", *common, "--input", str(guest_input)]
            + ["--id", "id", "--label", label, "--output", str(tmp_path / "gm")]
            + list(g_extra),
            tmp_path / "logs",
        ),
        start_party(
            "h",
            ["secureboost", "--as", "h", *common, "--input", str(host_input)]
            + ["--id", "id", "--output", str(tmp_path / "hm")]
            + list(h_extra),
            tmp_path / "logs",
        ),
    ]
    if dealer:
        procs.append(
            start_party("dealer", ["secureboost", "--as", "dealer", *common], tmp_path / "logs")
        )
    wait_all(procs, 180)
    return procs


def _predict_g_h(tmp_path, parties, files, g_extra=()):
    """`unseen predict` at parties g (learns the scores: tmp_path/scores.csv; and
    ``g_extra`` flags) and h, with their models gm and hm, on files[g/h, "test"]; both
    finished and succeeded."""
    flags = ["--parties", str(parties), "--id", "id", "--quiet"]
    pred = [
        start_party(
            name,
            ["predict", "--as", name, *flags, "--model", str(tmp_path / f"{name}m")]
            + ["--input", str(files[name, "test"])]
            + (["--output", str(tmp_path / "scores.csv"), *g_extra] if name == "g" else []),
            tmp_path / "plogs",
        )
        for name in ("g", "h")
    ]
    wait_all(pred, 120)
    assert [p.returncode for p in pred] == [0, 0], [p.stderr() for p in pred]
    return pred


def test_regression_trains_and_predict_reports_rmse(tmp_path):
    """A regression model through the CLI: `unseen predict` with the label column
    writes a regression report (RMSE, MAE, R²), not a binary one."""
    from sklearn.datasets import load_diabetes

    _, y = load_diabetes(return_X_y=True)
    weights = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))  # row weights
    files = _diabetes_split(tmp_path, "target", y, 350, w=weights)
    parties = make_parties(tmp_path / "keys", ["g", "h"])
    common = ["--parties", str(parties), "--mode", "plain", "--quiet"]
    common += ["--objective", "reg:squarederror", "--n-estimators", "5", "--max-depth", "3"]
    procs = [
        start_party(
            "g",
            ["secureboost", "--as", "g", *common, "--input", str(files["g", "train"])]
            + ["--id", "id", "--label", "target", "--output", str(tmp_path / "gm")]
            + ["--colsample-bytree", "0.5", "--random-state", "3", "--weight", "w"]
            + ["--colsample-bylevel", "0.9", "--colsample-bynode", "0.7"]
            + ["--monotone-constraints", "g0:1, h:h2:-1"]
            + ["--interaction-constraints", "g0,g1,h:h2; g2,h:h0"],
            tmp_path / "logs",
        ),
        start_party(
            "h",
            ["secureboost", "--as", "h", *common, "--input", str(files["h", "train"])]
            + ["--id", "id", "--output", str(tmp_path / "hm")],
            tmp_path / "logs",
        ),
    ]
    wait_all(procs, 120)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr() for p in procs]
    meta = json.loads((tmp_path / "gm" / "model.json").read_text())
    assert meta["params"]["colsample_bytree"] == 0.5 and meta["params"]["random_state"] == 3
    assert meta["params"]["colsample_bynode"] == 0.7
    assert meta["params"]["colsample_bylevel"] == 0.9
    assert meta["monotone_constraints"] == {"g0": 1, "h:h2": -1}
    assert meta["interaction_constraints"] == [["g0", "g1", "h:h2"], ["g2", "h:h0"]]
    assert "monotone constraints kept: g0 rising, h:h2 falling" in procs[0].stdout()
    assert meta["features"] == ["g0", "g1", "g2", "g3"]  # the weight column is no feature
    # every node as each party sees it: the guest all of them, the host its thresholds
    g_nodes, h_nodes = (pd.read_csv(tmp_path / m / "trees.csv") for m in ("gm", "hm"))
    assert g_nodes["ID"].tolist() == h_nodes["ID"].tolist() and g_nodes["Tree"].max() == 4
    assert g_nodes["Cover"].notna().all() and h_nodes["Cover"].isna().all()
    at_host = h_nodes["Party"] == "h"
    assert at_host.any() and h_nodes.loc[at_host, "Split"].notna().all()
    assert g_nodes.loc[at_host, "Split"].isna().all()
    assert g_nodes.loc[at_host, "Feature"].str.startswith("h:h").all()
    # continued: two more trees on the saved parts, as a new model beside the first
    more = ["--n-estimators", "2", "--colsample-bytree", "0.5", "--random-state", "3"]
    procs = [
        start_party(
            name,
            ["secureboost", "--as", name, *common, "--input", str(files[name, "train"])]
            + ["--id", "id", "--output", str(tmp_path / f"{name}m2")]
            + ["--init-model", str(tmp_path / f"{name}m"), *more]
            + (["--label", "target", "--weight", "w"] if name == "g" else []),
            tmp_path / "logs2",
        )
        for name in ("g", "h")
    ]
    wait_all(procs, 120)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr() for p in procs]
    assert "guest: 7 trees" in procs[0].stdout()
    assert json.loads((tmp_path / "hm2" / "model.json").read_text())["n_trees"] == 7
    pred = _predict_g_h(tmp_path, parties, files)
    scores = pd.read_csv(tmp_path / "scores.csv")["score"].to_numpy()
    labels = pd.read_csv(files["g", "test"])["target"].to_numpy()
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    assert saved["rmse"] == pytest.approx(float(np.sqrt(np.mean((scores - labels) ** 2))))
    assert "auc" not in saved and saved["n"] == len(labels)
    assert "RMSE" in pred[0].stdout()


@pytest.mark.parametrize("objective", ["multi:softprob", "multi:softmax"])
def test_multiclass_trains_and_predict_reports_accuracy(tmp_path, objective):
    """Three classes through the CLI, with a dealer: a tree per class each round, and
    `unseen predict` writes each class's probability, the likeliest class and a
    multi-class report (multi:softmax predicts the class: the same columns). A label
    outside 0 .. num_class - 1 is refused by file, row and column at every party first."""
    from sklearn.datasets import load_wine

    x, y = load_wine(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    x, y = x[order], y[order]
    ids = [f"w{i}" for i in range(len(y))]
    guest = pd.DataFrame(x[:, :5], columns=[f"g{i}" for i in range(5)])
    guest.insert(0, "id", ids)
    guest["kind"] = y
    host = pd.DataFrame(x[:, 5:], columns=[f"h{i}" for i in range(8)])
    host.insert(0, "id", ids)
    files = _write_split(tmp_path, guest, host, 130)
    bad = pd.read_csv(files["g", "train"])
    bad.loc[6, "kind"] = 3
    bad.to_csv(tmp_path / "g_bad.csv", index=False)
    parties = make_parties(tmp_path / "keys", ["g", "h", "dealer"])
    common = ["--parties", str(parties), "--mode", "ss-dealer", "--quiet"]
    common += ["--objective", objective, "--num-class", "3"]
    common += ["--n-estimators", "4", "--max-depth", "3"]

    def train(guest_input):
        return _train_g_h(tmp_path, common, guest_input, files["h", "train"], "kind", dealer=True)

    procs = train(tmp_path / "g_bad.csv")
    assert all(p.returncode != 0 for p in procs), [p.stderr() for p in procs]
    err = procs[0].stderr()
    assert "g_bad.csv" in err and "row 7" in err and "column 'kind'" in err, err
    assert "num_class (3)" in err
    assert "party 'g' failed" in procs[1].stderr(), procs[1].stderr()
    assert not (tmp_path / "gm").exists() and not (tmp_path / "hm").exists()

    procs = train(files["g", "train"])
    assert [p.returncode for p in procs] == [0, 0, 0], [p.stderr() for p in procs]
    assert "guest: 12 trees (4 rounds x 3 classes)" in procs[0].stdout()
    meta = json.loads((tmp_path / "gm" / "model.json").read_text())
    assert meta["objective"] == objective and len(meta["base_margin"]) == 3
    pred = _predict_g_h(tmp_path, parties, files)
    scores = pd.read_csv(tmp_path / "scores.csv")
    proba = scores[["score_0", "score_1", "score_2"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (scores["predicted_class"].to_numpy() == proba.argmax(axis=1)).all()
    labels = pd.read_csv(files["g", "test"])["kind"].to_numpy()
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    assert saved["n"] == len(labels) and saved["classes"] == 3 and "auc" not in saved
    assert saved["accuracy"] == pytest.approx(float(np.mean(proba.argmax(axis=1) == labels)))
    assert saved["accuracy"] > 0.85
    assert (tmp_path / "scores_report" / "confusion.csv").exists()
    assert "accuracy" in pred[0].stdout()
    # each class's probability and the likeliest class against the training rows'
    from unseen.ml.metrics import class_stability

    drift = class_stability(meta["training_scores"], proba)
    assert saved["psi_per_class"] == pytest.approx(drift["per_class"])
    assert saved["psi_predicted_class"] == pytest.approx(drift["predicted"])
    assert "PSI of each class's probability 0: " in pred[0].stdout()


def test_tweedie_claims_train_and_predict_reports_deviance(tmp_path):
    """Insurance-style amounts with zeros (reg:tweedie) through the CLI: a negative
    amount is refused by file, row and column at every party first; then `unseen
    predict` writes predicted means and a report with the mean Tweedie deviance."""
    from sklearn.datasets import load_diabetes

    x, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(0)
    mu = np.exp(0.5 + x[:, :6] @ rng.normal(0, 6, 6))
    y = np.where(rng.random(mu.size) < 0.4, 0.0, rng.gamma(2.0, mu / 2.0))
    files = _diabetes_split(tmp_path, "claims", y, 340)
    bad = pd.read_csv(files["g", "train"])
    bad.loc[6, "claims"] = -5.0
    bad.to_csv(tmp_path / "g_bad.csv", index=False)
    parties = make_parties(tmp_path / "keys", ["g", "h"])
    common = ["--parties", str(parties), "--mode", "plain", "--quiet"]
    common += ["--objective", "reg:tweedie", "--tweedie-variance-power", "1.4"]
    common += ["--n-estimators", "5", "--max-depth", "3"]

    def train(guest_input, g_extra=(), h_extra=()):
        return _train_g_h(
            tmp_path, common, guest_input, files["h", "train"], "claims", False, g_extra, h_extra
        )

    procs = train(tmp_path / "g_bad.csv")
    assert all(p.returncode != 0 for p in procs), [p.stderr() for p in procs]
    err = procs[0].stderr()
    assert "g_bad.csv" in err and "row 7" in err and "column 'claims'" in err, err
    assert "non-negative for reg:tweedie" in err
    assert "party 'g' failed" in procs[1].stderr(), procs[1].stderr()
    assert not (tmp_path / "gm").exists() and not (tmp_path / "hm").exists()

    # early stopping on the validation rows' RMSE (each party gives its columns of them)
    stop = ["--eval-metric", "rmse", "--early-stopping-rounds", "2"]
    procs = train(
        files["g", "train"],
        ["--eval-input", str(files["g", "test"]), *stop],
        ["--eval-input", str(files["h", "test"])],
    )
    assert [p.returncode for p in procs] == [0, 0], [p.stderr() for p in procs]
    assert "validation rmse: best" in procs[0].stdout()
    curve = tmp_path / "gm" / "validation.png"  # the guest's validation curve
    assert curve.exists() == matplotlib_available()
    assert ("curve in" in procs[0].stdout()) == matplotlib_available()
    assert not (tmp_path / "hm" / "validation.png").exists()
    meta = json.loads((tmp_path / "gm" / "model.json").read_text())
    assert meta["objective"] == "reg:tweedie" and meta["params"]["eval_metric"] == "rmse"
    history = meta["validation_history"]
    assert meta["n_trees"] == int(np.argmin(history)) + 1 and len(history) >= 1
    grown = f"{len(history)} trees grown (early stopping kept {meta['n_trees']})"
    assert (grown in procs[0].stdout()) == (meta["n_trees"] < len(history)), procs[0].stdout()
    assert meta["params"]["tweedie_variance_power"] == 1.4
    pred = _predict_g_h(tmp_path, parties, files, ["--contribs"])
    table = pd.read_csv(tmp_path / "scores.csv")
    scores = table["score"].to_numpy()
    assert scores.min() > 0  # predicted means
    # each row's margin (the log of its mean) split per feature of both parties and a bias
    shares = table[[c for c in table.columns if c.startswith("contrib:")]]
    assert shares.columns[0] == "contrib:g0" and "contrib:h:h0" in shares.columns
    assert shares.columns[-1] == "contrib:bias"
    np.testing.assert_allclose(shares.sum(axis=1), np.log(scores), atol=1e-9)
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    labels = pd.read_csv(files["g", "test"])["claims"].to_numpy()
    rho = 1.4
    deviance = 2 * np.mean(
        labels ** (2 - rho) / ((1 - rho) * (2 - rho))
        - labels * scores ** (1 - rho) / (1 - rho)
        + scores ** (2 - rho) / (2 - rho)
    )
    assert saved["mean_tweedie_deviance"] == pytest.approx(deviance)
    assert "tweedie (power 1.4) deviance" in pred[0].stdout()


def test_constraints_are_the_guests_and_are_parsed(tmp_path):
    """--monotone-constraints and --interaction-constraints: a host may not pass them; a
    malformed monotone item is named."""
    import subprocess
    import sys

    parties = make_parties(tmp_path / "keys", ["g", "h"])
    base = [sys.executable, "-m", "unseen", "secureboost", "--parties", str(parties)]
    base += ["--mode", "plain", "--input", "x.csv", "--output", str(tmp_path / "m")]
    host = subprocess.run(
        [*base, "--as", "h", "--monotone-constraints", "a:1"], capture_output=True, text=True
    )
    assert host.returncode != 0 and "--monotone-constraints is the guest's" in host.stderr
    host = subprocess.run(
        [*base, "--as", "h", "--interaction-constraints", "a,b"], capture_output=True, text=True
    )
    assert host.returncode != 0 and "--interaction-constraints is the guest's" in host.stderr
    guest = subprocess.run(
        [*base, "--as", "g", "--label", "y", "--monotone-constraints", "a:1,b:up"],
        capture_output=True,
        text=True,
    )
    assert guest.returncode != 0 and "'b:up' is not 'feature:1'" in guest.stderr


def test_survival_trains_and_predict_reports_the_c_index(tmp_path):
    """survival:cox through the CLI: times with the censored ones negative; a time of 0
    is refused by file, row and column; early stopping on the validation rows'
    cox-nloglik; `unseen predict` writes hazard ratios and a report with Harrell's C
    (and Kaplan-Meier curves per third of risk, with matplotlib)."""
    from sklearn.datasets import load_diabetes

    from unseen.ml.metrics import concordance_index

    x, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(1)
    hazard = np.exp(x[:, :6] @ rng.normal(0, 8, 6))
    event, censor = rng.exponential(1.0 / hazard), rng.exponential(2.0, hazard.size)
    t = np.round(np.minimum(event, censor), 2) + 0.01
    y = np.where(event <= censor, t, -t)
    files = _diabetes_split(tmp_path, "time", y, 340)
    bad = pd.read_csv(files["g", "train"])
    bad.loc[4, "time"] = 0.0
    bad.to_csv(tmp_path / "g_bad.csv", index=False)
    parties = make_parties(tmp_path / "keys", ["g", "h"])
    common = ["--parties", str(parties), "--mode", "plain", "--quiet"]
    common += ["--objective", "survival:cox", "--n-estimators", "8", "--max-depth", "3"]

    def train(guest_input, g_extra=(), h_extra=()):
        return _train_g_h(
            tmp_path, common, guest_input, files["h", "train"], "time", False, g_extra, h_extra
        )

    procs = train(tmp_path / "g_bad.csv")
    assert all(p.returncode != 0 for p in procs), [p.stderr() for p in procs]
    err = procs[0].stderr()
    assert "g_bad.csv" in err and "row 5" in err and "column 'time'" in err, err
    assert "survival time" in err and "0 is neither" in err, err
    assert "party 'g' failed" in procs[1].stderr(), procs[1].stderr()

    procs = train(
        files["g", "train"],
        ["--eval-input", str(files["g", "test"]), "--early-stopping-rounds", "3"],
        ["--eval-input", str(files["h", "test"])],
    )
    assert [p.returncode for p in procs] == [0, 0], [p.stderr() for p in procs]
    assert "validation cox-nloglik: best" in procs[0].stdout(), procs[0].stdout()
    meta = json.loads((tmp_path / "gm" / "model.json").read_text())
    assert meta["objective"] == "survival:cox"
    pred = _predict_g_h(tmp_path, parties, files)
    scores = pd.read_csv(tmp_path / "scores.csv")["score"].to_numpy()
    assert scores.min() > 0  # hazard ratios
    labels = pd.read_csv(files["g", "test"])["time"].to_numpy()
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    assert saved["concordance"] == pytest.approx(concordance_index(labels, scores))
    # the true hazards order these rows at C = 0.70; no skill is 0.5
    assert saved["concordance"] > 0.6 and saved["events"] == int((labels > 0).sum())
    assert "C-index" in pred[0].stdout() and "cox-nloglik" in pred[0].stdout()
    plot = tmp_path / "scores_report" / "survival.png"
    assert plot.exists() == matplotlib_available()


def test_aft_survival_trains_and_predict_reports_the_c_index(tmp_path):
    """survival:aft through the CLI: each row's time an interval, --label its lower
    bound and --label-upper its upper (an empty cell: censored on the right), logistic
    noise at a scale of 1.2, early stopping on the validation rows' aft-nloglik;
    `unseen predict` writes predicted times and a report with Harrell's C, aft-nloglik
    and the share of times within their interval, each as computed from the scores."""
    from sklearn.datasets import load_diabetes

    from unseen.ml.aft import AftLoss, interval_accuracy
    from unseen.ml.metrics import concordance_index, intervals_as_times

    x, _ = load_diabetes(return_X_y=True)
    rng = np.random.default_rng(1)
    t = np.exp(x[:, :6] @ rng.normal(0, 5, 6) + rng.normal(0, 0.3, len(x)))
    censor = rng.exponential(2 * np.median(t), len(x))
    lower, upper = np.minimum(t, censor), np.where(t <= censor, t, np.nan)  # nan: empty cell
    files = _diabetes_split(tmp_path, "lo", lower, 340, hi=upper)
    parties = make_parties(tmp_path / "keys", ["g", "h"])
    common = ["--parties", str(parties), "--mode", "plain", "--quiet"]
    common += ["--objective", "survival:aft", "--n-estimators", "12", "--max-depth", "3"]
    common += ["--aft-loss-distribution", "logistic", "--aft-loss-distribution-scale", "1.2"]
    procs = _train_g_h(
        tmp_path,
        common,
        files["g", "train"],
        files["h", "train"],
        "lo",
        g_extra=["--label-upper", "hi", "--eval-input", str(files["g", "test"])]
        + ["--early-stopping-rounds", "3"],
        h_extra=["--eval-input", str(files["h", "test"])],
    )
    assert [p.returncode for p in procs] == [0, 0], [p.stderr() for p in procs]
    assert "validation aft-nloglik: best" in procs[0].stdout(), procs[0].stdout()
    meta = json.loads((tmp_path / "gm" / "model.json").read_text())
    assert meta["label_upper"] == "hi" and meta["params"]["aft_loss_distribution"] == "logistic"
    pred = _predict_g_h(tmp_path, parties, files)
    times = pd.read_csv(tmp_path / "scores.csv")["score"].to_numpy()
    test = pd.read_csv(files["g", "test"])
    y = np.column_stack([test["lo"], test["hi"].fillna(np.inf)])
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    signed = intervals_as_times(y)
    assert saved["concordance"] == pytest.approx(concordance_index(signed, 1 / times))
    assert saved["concordance"] > 0.65  # no skill is 0.5
    assert saved["aft_nloglik"] == pytest.approx(AftLoss("logistic", 1.2).nloglik(y, np.log(times)))
    assert saved["interval_accuracy"] == pytest.approx(interval_accuracy(y, np.log(times)))
    assert saved["right_censored"] == int(np.isinf(y[:, 1]).sum()) > 0
    assert "C-index" in pred[0].stdout() and "within the interval" in pred[0].stdout()
    plot = tmp_path / "scores_report" / "survival.png"
    assert plot.exists() == matplotlib_available()
    # the lower bounds without the upper ones are no intervals: the same times, no report
    test.drop(columns=["hi"]).to_csv(tmp_path / "g_no_upper.csv", index=False)
    (tmp_path / "scores_report" / "metrics.json").unlink()
    pred = _predict_g_h(tmp_path, parties, {**files, ("g", "test"): tmp_path / "g_no_upper.csv"})
    again = pd.read_csv(tmp_path / "scores.csv")["score"].to_numpy()
    np.testing.assert_array_equal(again, times)
    assert "no report: no column 'hi' of the intervals' upper bounds" in pred[0].stdout()
    assert not (tmp_path / "scores_report" / "metrics.json").exists()


def test_quantile_regression_trains_and_predict_reports_the_coverage(tmp_path):
    """reg:quantileerror with --quantile-alpha 0.9 through the CLI (ss-dealer): `unseen
    predict` writes predicted 90% quantiles, and its report the mean pinball loss and
    the share of labels at or below them."""
    from sklearn.datasets import load_diabetes

    _, y = load_diabetes(return_X_y=True)
    files = _diabetes_split(tmp_path, "progression", y, 340)
    parties = make_parties(tmp_path / "keys", ["g", "h", "dealer"])
    common = ["--parties", str(parties), "--mode", "ss-dealer", "--quiet", *TREES]
    common += ["--objective", "reg:quantileerror", "--quantile-alpha", "0.9"]
    procs = _train_g_h(
        tmp_path, common, files["g", "train"], files["h", "train"], "progression", dealer=True
    )
    assert [p.returncode for p in procs] == [0, 0, 0], [p.stderr() for p in procs]
    meta = json.loads((tmp_path / "gm" / "model.json").read_text())
    assert meta["params"]["quantile_alpha"] == 0.9
    pred = _predict_g_h(tmp_path, parties, files)
    scores = pd.read_csv(tmp_path / "scores.csv")["score"].to_numpy()
    labels = y[340:]
    saved = json.loads((tmp_path / "scores_report" / "metrics.json").read_text())
    assert saved["quantile_alpha"] == 0.9
    assert saved["coverage"] == pytest.approx(np.mean(labels <= scores))
    assert 0.75 < saved["coverage"] <= 1.0  # about 90% below the predicted quantile
    assert "quantile 0.9: pinball loss" in pred[0].stdout(), pred[0].stdout()


def test_categorical_columns_through_the_cli(tmp_path):
    """Text columns named by --categorical at the guest and at a host train with a
    dealer; `unseen predict` codes new rows by each party's own categories (one unseen
    in training goes left) and scores them; the categories stay in their party's model
    part. A text column not named is refused by file, row and column. The host's -1 cells
    are missing (--missing -1), kept in its part for `unseen predict`."""
    rng = np.random.default_rng(4)
    n = 700
    region = rng.integers(0, 9, n)
    segment = rng.integers(0, 3, n)
    x, z = rng.normal(size=n), rng.normal(size=n)
    z[rng.random(n) < 0.1] = -1.0  # the host's code for a missing value
    effect = np.array([1.5, -1.0, 0.3, -1.6, 0.9, 1.1, -0.4, -1.2, 0.6])
    y = (effect[region] + 0.8 * (segment == 2) + x + 0.4 * rng.normal(size=n) > 0).astype(int)
    ids = [f"p{i}" for i in range(n)]
    regions = np.array([f"province {c}" for c in "ABCDEFGHI"], dtype=object)[region]
    regions[rng.random(n) < 0.05] = ""  # missing
    regions[600:610] = "province Z"  # only in the rows scored later
    guest = pd.DataFrame({"id": ids, "x": x, "segment": np.array(["s", "m", "l"])[segment]})
    guest["default"] = y
    host = pd.DataFrame({"id": ids, "z": z, "region": regions})
    files = _write_split(tmp_path, guest, host, 500)
    parties = make_parties(tmp_path / "keys", ["g", "h", "dealer"])
    common = ["--parties", str(parties), "--mode", "ss-dealer", "--quiet", *TREES]

    began = time.monotonic()
    procs = _train_g_h(
        tmp_path, common, files["g", "train"], files["h", "train"], "default", dealer=True
    )
    assert all(p.returncode != 0 for p in procs)
    # g and h each fail on their own input; neither waits to tell the other, which
    # has failed (and may have exited) already: before the peer timeout (15 s)
    assert time.monotonic() - began < 13
    err = procs[0].stderr()
    assert "g_train.csv" in err and "row 1" in err and "column 'segment'" in err, err
    assert "not a number (a column of categories? name it in --categorical)" in err, err

    procs = _train_g_h(
        tmp_path,
        common,
        files["g", "train"],
        files["h", "train"],
        "default",
        dealer=True,
        g_extra=["--categorical", "segment"],
        h_extra=["--categorical", "region", "--missing", "-1"],
    )
    assert [p.returncode for p in procs] == [0, 0, 0], [p.stderr() for p in procs]
    host_meta = json.loads((tmp_path / "hm" / "model.json").read_text())
    assert host_meta["categories"]["region"][0] == "province A"
    assert host_meta["missing"] == -1.0
    assert json.loads((tmp_path / "gm" / "model.json").read_text())["missing"] is None
    guest_files = b"".join(f.read_bytes() for f in (tmp_path / "gm").rglob("*") if f.is_file())
    assert b"province" not in guest_files  # the host's categories stay there
    trees = pd.read_csv(tmp_path / "hm" / "trees.csv")
    assert trees["Category"].dropna().str.contains("province").any()
    _predict_g_h(tmp_path, parties, files)
    scores = pd.read_csv(tmp_path / "scores.csv")["score"].to_numpy()
    assert roc_auc_score(y[500:], scores) > 0.8


def test_cross_validation_through_the_cli(tmp_path):
    """`--cv 3` at every party (the guest's folds stratified): the guest prints the
    validation log-loss per round over three folds and writes cv.csv; nobody writes a
    model. A host with another --cv makes every party stop with the difference;
    --stratified without --cv is refused."""
    rng = np.random.default_rng(6)
    n = 450
    x = rng.normal(size=(n, 4))
    y = (x[:, 0] + x[:, 2] + 0.5 * rng.normal(size=n) > 0).astype(int)
    ids = [f"q{i}" for i in range(n)]
    guest = pd.DataFrame({"id": ids, "a": x[:, 0], "b": x[:, 1], "y": y})
    host = pd.DataFrame({"id": ids, "c": x[:, 2], "d": x[:, 3]})
    files = _write_split(tmp_path, guest, host, n)
    parties = make_parties(tmp_path / "keys", ["g", "h", "dealer"])
    common = ["--parties", str(parties), "--mode", "ss-dealer", "--quiet", *TREES]
    common += ["--random-state", "1"]

    def run(g_cv, h_cv):
        out = tmp_path / f"cv-{g_cv}-{h_cv}"
        procs = [
            start_party(
                "g",
                ["secureboost", "--as", "g", *common, "--input", str(files["g", "train"])]
                + ["--id", "id", "--label", "y", "--cv", g_cv, "--output", str(out)]
                + ["--stratified"],
                tmp_path / "logs",
            ),
            start_party(
                "h",
                ["secureboost", "--as", "h", *common, "--input", str(files["h", "train"])]
                + ["--id", "id"]
                + (["--cv", h_cv] if h_cv else ["--output", str(tmp_path / "hm")]),
                tmp_path / "logs",
            ),
            start_party(
                "dealer",
                ["secureboost", "--as", "dealer", *common, "--cv", g_cv],
                tmp_path / "logs",
            ),
        ]
        wait_all(procs, 180)
        return procs, out

    procs, out = run("3", "3")
    assert [p.returncode for p in procs] == [0, 0, 0], [p.stderr() for p in procs]
    said = procs[0].stdout()
    assert "cross-validation: 3 stratified folds" in said, said
    assert "Warning" not in procs[0].stderr(), procs[0].stderr()
    assert "validation logloss per round" in said, said
    assert said.count("rounds ") >= 5 and "<- best" in said
    table = pd.read_csv(out / "cv.csv")
    assert list(table.columns) == ["rounds", "test-logloss-mean", "test-logloss-std"]
    assert (out / "cv.png").exists() == matplotlib_available()
    assert table["rounds"].tolist() == [1, 2, 3, 4, 5]
    assert table["test-logloss-mean"].iloc[-1] < table["test-logloss-mean"].iloc[0] < 0.7
    assert "cross-validation: 3 folds done" in procs[1].stdout()
    assert not list(out.glob("*.json")) and not (tmp_path / "hm").exists()

    procs, _ = run("3", "4")
    assert all(p.returncode != 0 for p in procs), [p.stderr() for p in procs]
    err = procs[0].stderr()
    assert "tasks differ" in err and "3-fold cross-validation" in err, err
    assert "4-fold cross-validation" in err and "--cv K at every party" in err, err
    import subprocess
    import sys

    alone = subprocess.run(
        [sys.executable, "-m", "unseen", "secureboost", "--as", "g", *common, "--stratified"]
        + ["--input", str(files["g", "train"]), "--label", "y", "--output", str(out)],
        capture_output=True,
        text=True,
    )
    assert alone.returncode != 0 and "--stratified is for cross-validation" in alone.stderr
    began = time.monotonic()  # a host that trains instead: every party stops at once
    procs, _ = run("3", None)
    assert all(p.returncode != 0 for p in procs), [p.stderr() for p in procs]
    assert "runs a training" in procs[0].stderr(), procs[0].stderr()
    assert time.monotonic() - began < 60
