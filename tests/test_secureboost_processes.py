"""SecureBoost with every party a separate process over mutual TLS, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from unseen.runtime.launch import make_parties, start_party, wait_all


def write_inputs(d: Path) -> dict[str, Path]:
    """bank: phone, default (label), first 10 columns; telecom: msisdn, other 20."""
    x, y = load_breast_cancer(return_X_y=True)
    ids = np.array([f"c{i:04d}" for i in range(len(y))])
    xtr, xte, ytr, yte, itr, ite = train_test_split(
        x, y, ids, test_size=0.2, random_state=0, stratify=y
    )
    out = {}
    for tag, xs, ys, idv in (("train", xtr, ytr, itr), ("test", xte, yte, ite)):
        bank = pd.DataFrame(xs[:, :10], columns=[f"b{i}" for i in range(10)])
        bank.insert(0, "phone", idv)
        bank["default"] = ys
        tel = pd.DataFrame(xs[:, 10:], columns=[f"t{i}" for i in range(20)])
        tel.insert(0, "msisdn", idv)
        out[f"bank_{tag}"], out[f"telecom_{tag}"] = d / f"bank_{tag}.csv", d / f"tel_{tag}.csv"
        bank.to_csv(out[f"bank_{tag}"], index=False)
        tel.to_csv(out[f"telecom_{tag}"], index=False)
    return out


def sbt(party: str, parties: Path, mode: str, *extra: str) -> list[str]:
    return [
        "secureboost",
        "--as",
        party,
        "--parties",
        str(parties),
        "--mode",
        mode,
        "--quiet",
        "--n-estimators",
        "5",
        "--max-depth",
        "3",
        *extra,
    ]


def test_three_processes_train_and_predict(tmp_path):
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom", "dealer"])
    procs = [
        start_party(
            "bank",
            sbt(
                "bank",
                parties,
                "ss-dealer",
                "--input",
                str(f["bank_train"]),
                "--id",
                "phone",
                "--label",
                "default",
                "--output",
                str(tmp_path / "bank_model"),
            ),
            tmp_path / "logs",
        ),
        start_party(
            "telecom",
            sbt(
                "telecom",
                parties,
                "ss-dealer",
                "--input",
                str(f["telecom_train"]),
                "--id",
                "msisdn",
                "--output",
                str(tmp_path / "tel_model"),
            ),
            tmp_path / "logs",
        ),
        start_party("dealer", sbt("dealer", parties, "ss-dealer"), tmp_path / "logs"),
    ]
    wait_all(procs, 180)
    for p in procs:
        assert p.returncode == 0, p.stderr()
    assert "guest: 5 trees" in procs[0].stdout() and "feature importance" in procs[0].stdout()
    assert "host: 5 trees" in procs[1].stdout()
    assert "saw no data" in procs[2].stdout()
    meta = json.loads((tmp_path / "tel_model" / "model.json").read_text())
    assert meta["role"] == "host" and meta["model"] == "secureboost" and "base_margin" not in meta
    guest_meta = json.loads((tmp_path / "bank_model" / "model.json").read_text())
    assert guest_meta["label"] == "default" and guest_meta["job_parties"] == ["bank", "telecom"]

    # `unseen predict` with the saved parts: two processes, no dealer
    pred = [
        start_party(
            "bank",
            [
                "predict",
                "--as",
                "bank",
                "--parties",
                str(parties),
                "--model",
                str(tmp_path / "bank_model"),
                "--input",
                str(f["bank_test"]),
                "--id",
                "phone",
                "--output",
                str(tmp_path / "scores.csv"),
                "--quiet",
            ],
            tmp_path / "plogs",
        ),
        start_party(
            "telecom",
            [
                "predict",
                "--as",
                "telecom",
                "--parties",
                str(parties),
                "--model",
                str(tmp_path / "tel_model"),
                "--input",
                str(f["telecom_test"]),
                "--id",
                "msisdn",
                "--quiet",
            ],
            tmp_path / "plogs",
        ),
    ]
    wait_all(pred, 120)
    for p in pred:
        assert p.returncode == 0, p.stderr()
    scores = pd.read_csv(tmp_path / "scores.csv")
    test = pd.read_csv(f["bank_test"])
    assert scores["phone"].tolist() == test["phone"].tolist()
    assert roc_auc_score(test["default"], scores["score"]) > 0.97


def test_bad_input_fails_every_party_with_the_root_cause(tmp_path):
    f = write_inputs(tmp_path)
    tel = pd.read_csv(f["telecom_train"]).astype({"t3": object})
    tel.loc[7, "t3"] = "n/a?"
    tel.to_csv(f["telecom_train"], index=False)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = [
        start_party(
            "bank",
            sbt(
                "bank",
                parties,
                "he",
                "--input",
                str(f["bank_train"]),
                "--id",
                "phone",
                "--label",
                "default",
                "--output",
                str(tmp_path / "bank_model"),
            ),
            tmp_path / "logs",
        ),
        start_party(
            "telecom",
            sbt(
                "telecom",
                parties,
                "he",
                "--input",
                str(f["telecom_train"]),
                "--id",
                "msisdn",
                "--output",
                str(tmp_path / "tel_model"),
            ),
            tmp_path / "logs",
        ),
    ]
    wait_all(procs, 120)
    for p in procs:
        assert p.returncode != 0
        err = p.stderr()
        assert "row 8" in err and "column 't3'" in err and "not a number" in err, err
    assert "party 'telecom' failed" in procs[0].stderr()
    assert not (tmp_path / "bank_model").exists() and not (tmp_path / "tel_model").exists()


def test_he_mode_two_processes(tmp_path):
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = [
        start_party(
            "bank",
            sbt(
                "bank",
                parties,
                "he",
                "--input",
                str(f["bank_train"]),
                "--id",
                "phone",
                "--label",
                "default",
                "--he-scheme",
                "ou",
                "--n-estimators",
                "2",
                "--output",
                str(tmp_path / "bank_model"),
            ),
            tmp_path / "logs",
        ),
        start_party(
            "telecom",
            sbt(
                "telecom",
                parties,
                "he",
                "--input",
                str(f["telecom_train"]),
                "--id",
                "msisdn",
                "--n-estimators",
                "2",
                "--output",
                str(tmp_path / "tel_model"),
            ),
            tmp_path / "logs",
        ),
    ]
    wait_all(procs, 180)
    for p in procs:
        assert p.returncode == 0, p.stderr()
    assert json.loads((tmp_path / "bank_model" / "model.json").read_text())["n_trees"] == 2


def test_hyper_parameters_must_agree(tmp_path):
    f = write_inputs(tmp_path)
    parties = make_parties(tmp_path / "keys", ["bank", "telecom"])
    procs = [
        start_party(
            "bank",
            sbt(
                "bank",
                parties,
                "plain",
                "--input",
                str(f["bank_train"]),
                "--id",
                "phone",
                "--label",
                "default",
                "--output",
                str(tmp_path / "b"),
            ),
            tmp_path / "logs",
        ),
        start_party(
            "telecom",
            sbt(
                "telecom",
                parties,
                "plain",
                "--input",
                str(f["telecom_train"]),
                "--id",
                "msisdn",
                "--max-bin",
                "64",
                "--output",
                str(tmp_path / "t"),
            ),
            tmp_path / "logs",
        ),
    ]
    wait_all(procs, 120)
    for p in procs:
        assert p.returncode != 0
        assert "max_bin=64 here, 32 at the guest" in p.stderr(), p.stderr()
