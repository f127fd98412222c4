"""Helpers for the process tests of vertical learning: a bank (guest) and a telecom (host),
optionally a dealer, each started as its own `unseen` process over mutual TLS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

from party_zygote import start_party
from unseen.runtime.launch import PartyProcess, wait_all


def write_inputs(d: Path) -> dict[str, Path]:
    """Breast cancer, split vertically and 80/20: the bank has ``phone``, the first 10
    columns and the label ``default``; the telecom has ``msisdn`` and the other 20.
    Keys: ``bank_train``, ``telecom_train``, ``bank_test``, ``telecom_test``."""
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
        out[f"bank_{tag}"] = d / f"bank_{tag}.csv"
        out[f"telecom_{tag}"] = d / f"telecom_{tag}.csv"
        bank.to_csv(out[f"bank_{tag}"], index=False)
        tel.to_csv(out[f"telecom_{tag}"], index=False)
    return out


def train_job(
    command: str,
    d: Path,
    parties: Path,
    mode: str,
    bank_input: Path,
    tel_input: Path,
    *,
    common: Sequence[str] = (),
    bank_extra: Sequence[str] = (),
    tel_extra: Sequence[str] = (),
    dealer: bool = False,
    timeout: float = 180,
) -> list[PartyProcess]:
    """Run ``unseen <command>`` at the bank (guest, label ``default``), the telecom and,
    with ``dealer``, a dealer; models go to ``d/bank_model`` and ``d/tel_model``.
    Returns the finished processes, bank first."""

    def args(party: str, *extra: str) -> list[str]:
        return [command, "--as", party, "--parties", str(parties), "--mode", mode, "--quiet"] + [
            *common,
            *extra,
        ]

    procs = [
        start_party(
            "bank",
            args(
                "bank",
                *("--input", str(bank_input), "--id", "phone", "--label", "default"),
                *("--output", str(d / "bank_model"), *bank_extra),
            ),
            d / "logs",
        ),
        start_party(
            "telecom",
            args(
                "telecom",
                *("--input", str(tel_input), "--id", "msisdn"),
                *("--output", str(d / "tel_model"), *tel_extra),
            ),
            d / "logs",
        ),
    ]
    if dealer:
        procs.append(start_party("dealer", args("dealer"), d / "logs"))
    wait_all(procs, timeout)
    return procs


def predict_job(
    d: Path,
    parties: Path,
    bank_input: Path,
    tel_input: Path,
    *,
    quiet: bool = True,
    bank_extra: tuple[str, ...] = (),
    tel_extra: tuple[str, ...] = (),
) -> list[PartyProcess]:
    """``unseen predict`` with the models of :func:`train_job`; the bank writes
    ``d/scores.csv`` (``bank_extra``, ``tel_extra``: each one's further flags). Returns
    the finished processes, bank first."""
    flags = ["--quiet"] if quiet else []

    def args(party: str, model: str, inp: Path, idcol: str, *extra: str) -> list[str]:
        return [
            "predict",
            *("--as", party, "--parties", str(parties), "--model", str(d / model)),
            *("--input", str(inp), "--id", idcol, *extra, *flags),
        ]

    procs = [
        start_party(
            "bank",
            args(
                "bank",
                "bank_model",
                bank_input,
                "phone",
                *("--output", str(d / "scores.csv"), *bank_extra),
            ),
            d / "plogs",
        ),
        start_party(
            "telecom", args("telecom", "tel_model", tel_input, "msisdn", *tel_extra), d / "plogs"
        ),
    ]
    wait_all(procs, 120)
    return procs
