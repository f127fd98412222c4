"""Vertical LR with every party a separate process over mutual TLS, through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from unseen.runtime.launch import PartyProcess, make_parties
from vertical_jobs import predict_job, train_job, write_inputs


def test_three_processes_train_validate_and_predict(tmp_path):
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])
    procs = train_job(
        "lr",
        tmp_path,
        parties,
        "ss-dealer",
        f["bank_train"],
        f["telecom_train"],
        common=("--epochs", "30", "--l2", "0.002", "--batch-size", "100", "--random-state", "11"),
        bank_extra=("--validate", str(f["bank_test"])),
        tel_extra=("--validate", str(f["telecom_test"])),
        dealer=True,
    )
    for p in procs:
        assert p.returncode == 0, p.stderr()
        assert "Security statement -- vertical LR, mode ss-dealer" in p.stdout()
        assert "dealer 'dealer' must not collude" in p.stdout()
    bank_out = procs[0].stdout()
    assert "validation: AUC" in bank_out and "final Taylor loss" in bank_out
    metrics = json.loads((tmp_path / "bank_model" / "validation" / "metrics.json").read_text())
    assert metrics["auc"] > 0.98 and metrics["n"] == 114
    assert not (tmp_path / "tel_model" / "validation").exists()  # only the guest evaluates
    for model in ("bank_model", "tel_model"):
        assert (tmp_path / model / "coefficients.csv").exists()
    meta = json.loads((tmp_path / "tel_model" / "model.json").read_text())
    assert meta["role"] == "host" and meta["label"] is None and meta["history"] == []
    assert meta["params"]["random_state"] == 11 and meta["params"]["batch_size"] == 100

    # joint prediction with the saved parts, two processes (no dealer)
    pred = predict_job(tmp_path, parties, f["bank_test"], f["telecom_test"], quiet=False)
    for p in pred:
        assert p.returncode == 0, p.stderr()
    with (tmp_path / "scores.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    test = pd.read_csv(f["bank_test"])
    assert [r["phone"] for r in rows] == test["phone"].tolist()
    scores = np.array([float(r["score"]) for r in rows])
    assert roc_auc_score(test["default"], scores) == pytest.approx(metrics["auc"], abs=1e-9)
    assert "wrote 114 scores" in pred[0].stdout()
    assert "learns the scores" in pred[1].stdout()
    # each party's own features against its own training rows (CSI), as for SecureBoost
    assert "[bank] my features against my training rows (CSI): b" in pred[0].stdout()
    assert "[telecom] my features against my training rows (CSI): t" in pred[1].stdout()
    assert len(pd.read_csv(tmp_path / "scores_features.csv")) == 10
    assert (tmp_path / "scores_report" / "metrics.json").exists()


def test_two_processes_in_he_mode(tmp_path):
    f = write_inputs(tmp_path)
    # the parties file also lists a dealer, who is not in this job
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])
    procs = train_job(
        "lr",
        tmp_path,
        parties,
        "he",
        f["bank_train"],
        f["telecom_train"],
        common=(
            *("--epochs", "5", "--parties-in-job", "bank,telecom"),
            *("--key-bits", "1024", "--workers", "1"),  # test keys: pytest only
        ),
    )
    for p in procs:
        assert p.returncode == 0, p.stderr()
        assert "mode he (Paillier" in p.stdout()
        assert "TEST keys" in p.stdout()  # a 1024-bit key is announced as insecure
    assert "trained 5 epochs" in procs[0].stdout()


def _bad_job(tmp_path: Path, bank_input: Path, tel_input: Path) -> list[PartyProcess]:
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])
    procs = train_job(
        "lr", tmp_path, parties, "ss-dealer", bank_input, tel_input, dealer=True, timeout=120
    )
    for p in procs:
        assert p.returncode != 0, p.stdout()
    assert not (tmp_path / "bank_model").exists() and not (tmp_path / "tel_model").exists()
    return procs


def test_bad_input_at_one_party_fails_every_party_with_the_root_cause(tmp_path):
    f = write_inputs(tmp_path)
    tel = pd.read_csv(f["telecom_train"], dtype=str)
    tel.loc[41, "t7"] = "n/a"
    bad = tmp_path / "telecom_bad.csv"
    tel.to_csv(bad, index=False)
    procs = _bad_job(tmp_path, f["bank_train"], bad)
    for p in procs:
        assert f"{bad}, row 42, column 't7': not a number" in p.stderr(), p.stderr()
    # the offending cell is shown where it was read, never sent to the peers
    assert f"{bad}, row 42, column 't7': not a number: 'n/a'" in procs[1].stderr()
    assert "n/a" not in procs[0].stderr() and "n/a" not in procs[2].stderr()
    assert "party 'telecom' failed" in procs[0].stderr()


def _dealer_names_the_failure(err: str, root_cause: str) -> None:
    """The dealer exits with the root cause too (a failed peer's probe answer carries it)."""
    assert root_cause in err, err


def test_misaligned_rows_fail_every_party(tmp_path):
    f = write_inputs(tmp_path)
    tel = pd.read_csv(f["telecom_train"], dtype=str)
    shuffled = tmp_path / "telecom_shuffled.csv"
    tel.iloc[::-1].to_csv(shuffled, index=False)
    procs = _bad_job(tmp_path, f["bank_train"], shuffled)
    for p in procs[:2]:
        assert "not the same, in the same order" in p.stderr(), p.stderr()
    _dealer_names_the_failure(procs[2].stderr(), "not the same, in the same order")
