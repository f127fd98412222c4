"""``unseen demo``: a bank and a telecom build a joint credit model without pooling data.

Every step runs each party as a separate ``unseen`` process, talking over
mutual TLS on loopback, exactly as on separate hosts:

1. set-up: keys, pinned certificates and a parties file for the bank, the
   telecom and a dealer (the semi-honest third party of ``ss-dealer`` mode);
2. ``unseen psi``: the bank and the telecom find their common customers; each
   writes its own rows of them, in the same order;
3. each party splits its aligned rows the same way: the first 70 % for
   training, the rest for testing (PSI's order is pseudo-random, so this is a
   random split);
4. ``unseen lr`` (vertical logistic regression, ``ss-dealer``) with joint
   evaluation on the test rows, the telecom's ledger of what it received summed up;
5. ``unseen secureboost`` (``ss-dealer``) and ``unseen predict`` on the test rows; the
   telecom's ledger of what it received from the bank (``--traffic``) is summed up;
6. a summary: the federated models' AUC and KS next to plaintext baselines
   trained on the joined data (which no real party could hold), and next to
   the bank's own features alone.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv

from unseen.runtime.launch import PartyProcess, make_parties, start_party, wait_all

BANK, TELECOM, DEALER = "bank", "telecom", "dealer"
SAMPLES = {BANK: ("bank_customers.csv", "phone"), TELECOM: ("telecom_subscribers.csv", "msisdn")}
LABEL = "default"
TRAIN_SHARE = 0.7
LR_FLAGS = ["--epochs", "30", "--learning-rate", "0.3", "--l2", "0.01"]
SBT_FLAGS = [
    "--n-estimators",
    "20",
    "--max-depth",
    "3",
    "--learning-rate",
    "0.3",
    "--max-bin",
    "32",
]


def sample_path(name: str) -> Path:
    return Path(str(resources.files("unseen.demo").joinpath("sample", name)))


def _say(msg: str = "") -> None:
    print(msg, flush=True)


class DemoFailed(Exception):
    pass


def run_demo(workdir: Path | None = None, timeout: float = 600.0) -> int:
    keep = workdir is not None
    root = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="unseen-demo-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return Demo(root, timeout).run()
    except DemoFailed as e:
        _say(f"\ndemo failed: {e}")
        return 1
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


class Demo:
    def __init__(self, root: Path, timeout: float) -> None:
        self.root = root
        self.timeout = timeout
        self.parties = root / "keys" / "parties.toml"

    def dir(self, party: str) -> Path:
        return self.root / party

    def run_parties(self, step: str, commands: dict[str, list[str]]) -> list[PartyProcess]:
        """Start one ``unseen`` process per party, wait for all, fail loudly."""
        procs = []
        for party, args in commands.items():
            full = [*args[:1], "--as", party, "--parties", str(self.parties), *args[1:], "--quiet"]
            _say(f"     $ unseen {' '.join(_short(a, self.root) for a in full)}")
            procs.append(start_party(party, full, self.root / "logs" / step))
        began = time.perf_counter()
        wait_all(procs, self.timeout)
        failed = [p for p in procs if p.returncode != 0]
        if failed:
            raise DemoFailed(
                "; ".join(
                    f"{p.name} exit {p.returncode}: {p.stderr().strip()[-500:]}" for p in failed
                )
            )
        _say(f"     all parties done in {time.perf_counter() - began:.1f} s")
        return procs

    # -- the steps ------------------------------------------------------------
    def run(self) -> int:
        _say(
            "Unseen demo: a bank and a telecom build a joint credit model; neither sees the other's data."
        )
        _say(f"Working directory: {self.root}\n")
        self.setup()
        self.psi()
        self.split()
        lr = self.vertical_lr()
        sbt = self.secureboost()
        return self.summary(lr, sbt)

    def setup(self) -> None:
        _say("1. Set-up: keys, pinned self-signed certificates and a parties file")
        make_parties(self.root / "keys", [BANK, TELECOM, DEALER])
        for party, (fname, _) in SAMPLES.items():
            self.dir(party).mkdir(parents=True, exist_ok=True)
            shutil.copy(sample_path(fname), self.dir(party) / fname)
        self.dir(DEALER).mkdir(exist_ok=True)
        _say(f"     bank: {SAMPLES[BANK][0]}, telecom: {SAMPLES[TELECOM][0]}, dealer: no data\n")

    def psi(self) -> None:
        _say("2. Private set intersection (ECDH-PSI over X25519): who are our common customers?")
        commands = {
            party: [
                "psi",
                "--peer",
                TELECOM if party == BANK else BANK,
                "--input",
                str(self.dir(party) / fname),
                "--id",
                id_col,
                "--normalize",
                "trim",
                "--output",
                str(self.dir(party) / "aligned.csv"),
            ]
            for party, (fname, id_col) in SAMPLES.items()
        }
        for p in self.run_parties("psi", commands):
            for line in p.stdout().splitlines():
                if "PSI done" in line:
                    _say(f"     {line}")
        bank = pacsv.read_csv(self.dir(BANK) / "aligned.csv").to_pandas()
        tel = pacsv.read_csv(self.dir(TELECOM) / "aligned.csv").to_pandas()
        _say("     first aligned rows, side by side (the two files never left their owners):")
        view = bank[["phone", "name", LABEL]].head(3).copy()
        view["| telecom: msisdn"] = tel["msisdn"].head(3).values
        view["tenure_months"] = tel["tenure_months"].head(3).values
        for line in view.to_string(index=False).splitlines():
            _say(f"       {line}")
        same = (
            bank["phone"].astype(str).str.strip() == tel["msisdn"].astype(str).str.strip()
        ).all()
        if not same:
            raise DemoFailed("the aligned rows differ between the parties")
        _say(f"     rows aligned at both parties: yes ({len(bank)} common customers)\n")

    def split(self) -> None:
        _say(f"3. Each party splits its aligned rows: first {TRAIN_SHARE:.0%} train, the rest test")
        for party in (BANK, TELECOM):
            table = pacsv.read_csv(
                self.dir(party) / "aligned.csv",
                convert_options=pacsv.ConvertOptions(strings_can_be_null=False),
            )
            cut = int(table.num_rows * TRAIN_SHARE)
            pacsv.write_csv(table.slice(0, cut), self.dir(party) / "train.csv")
            pacsv.write_csv(table.slice(cut), self.dir(party) / "test.csv")
        _say(f"     {cut} training rows, {table.num_rows - cut} test rows at each party\n")

    def _data_args(self, party: str, split: str) -> list[str]:
        fname, id_col = SAMPLES[party]
        args = ["--input", str(self.dir(party) / f"{split}.csv"), "--id", id_col]
        if party == BANK:
            args += ["--label", LABEL, "--exclude", "name"]
        return args

    def vertical_lr(self) -> dict[str, Any]:
        _say("4. Vertical logistic regression, ss-dealer mode (secret sharing + a dealer)")
        commands = {
            party: [
                "lr",
                *self._data_args(party, "train"),
                "--mode",
                "ss-dealer",
                "--output",
                str(self.dir(party) / "lr_model"),
                "--validate",
                str(self.dir(party) / "test.csv"),
                *LR_FLAGS,
            ]
            for party in (BANK, TELECOM)
        }
        ledger = self.dir(TELECOM) / "lr_traffic.csv"  # what crossed, as the telecom saw it
        commands[TELECOM] += ["--traffic", str(ledger)]
        commands[DEALER] = ["lr", "--mode", "ss-dealer", *LR_FLAGS]
        procs = self.run_parties("lr", commands)
        _show_statement(procs[0])
        _say(_ledger_line(ledger, BANK, TELECOM))
        metrics = _read_json(self.dir(BANK) / "lr_model" / "validation" / "metrics.json")
        _say(
            f"     bank (guest) evaluated the test rows: AUC {metrics['auc']:.4f}, KS {metrics['ks']:.4f}\n"
        )
        return metrics

    def secureboost(self) -> dict[str, Any]:
        _say("5. SecureBoost, ss-dealer mode, then joint prediction on the test rows")
        commands = {
            party: [
                "secureboost",
                *self._data_args(party, "train"),
                "--mode",
                "ss-dealer",
                "--output",
                str(self.dir(party) / "sbt_model"),
                *SBT_FLAGS,
            ]
            for party in (BANK, TELECOM)
        }
        ledger = self.dir(TELECOM) / "sbt_traffic.csv"  # what crossed, as the telecom saw it
        commands[TELECOM] += ["--traffic", str(ledger)]
        commands[DEALER] = ["secureboost", "--mode", "ss-dealer", *SBT_FLAGS]
        procs = self.run_parties("secureboost", commands)
        _show_statement(procs[0])
        _say(_ledger_line(ledger, BANK, TELECOM))
        predict = {}
        for party in (BANK, TELECOM):
            _, id_col = SAMPLES[party]
            predict[party] = [
                "predict",
                "--model",
                str(self.dir(party) / "sbt_model"),
                "--input",
                str(self.dir(party) / "test.csv"),
                "--id",
                id_col,
            ]
        scores = self.dir(BANK) / "sbt_scores.csv"
        predict[BANK] += ["--output", str(scores), "--scorecard"]  # and the credit scores
        self.run_parties("predict", predict)
        metrics = _read_json(self.dir(BANK) / "sbt_scores_report" / "metrics.json")
        _say(
            f"     bank (guest) learned the test scores: AUC {metrics['auc']:.4f}, KS {metrics['ks']:.4f}"
        )
        _say(_scorecard_line(scores, self.dir(BANK) / "test.csv") + "\n")
        return metrics

    def summary(self, lr: dict[str, Any], sbt: dict[str, Any]) -> int:
        _say("6. Summary on the test rows (AUC / KS)")
        base = baselines(self.dir(BANK), self.dir(TELECOM))
        rows = [
            ("vertical LR, federated (ss-dealer)", lr),
            ("  same algorithm, plaintext on joined data", base.get("lr_joined")),
            ("  bank's own features only (plaintext)", base.get("lr_bank_only")),
            ("SecureBoost, federated (ss-dealer)", sbt),
            ("  XGBoost, plaintext, joined data, same bins", base.get("xgb_same_bins")),
            ("  XGBoost, plaintext, joined data, own bins", base.get("xgb_joined")),
        ]
        for name, m in rows:
            if m is None:
                _say(f"     {name:44s}  (not available: {base.get('note', '')})")
            else:
                _say(f"     {name:44s}  AUC {m['auc']:.4f}  KS {m['ks']:.4f}")
        ok = abs(lr["auc"] - base["lr_joined"]["auc"]) <= 0.005
        if "xgb_same_bins" in base:
            ok = ok and abs(sbt["auc"] - base["xgb_same_bins"]["auc"]) <= 0.005
        _say(f"\n   Federated models match their plaintext baselines: {'yes' if ok else 'NO'}")
        for line in (
            "   What each party learned beyond its own data: the common customers and the other's",
            "   set size (PSI); the bank alone learned the scores and metrics. The telecom's",
            "   features, the bank's labels and the gradients crossed the wire only blinded,",
            "   secret-shared or masked; each job printed its security statement (docs/security.md).",
        ):
            _say(line)
        return 0 if ok else 1


def _ledger_line(path: Path, sender: str, receiver: str) -> str:
    """What ``receiver``'s ledger (``--traffic``) says it received from ``sender``: how
    many messages, how many bytes, of which kinds, and whether any array was of floats."""
    import csv

    with path.open(newline="", encoding="utf-8") as f:
        rows = [
            r for r in csv.DictReader(f) if r["direction"] == "received" and r["peer"] == sender
        ]
    count = sum(int(r["messages"]) for r in rows)
    size = sum(int(r["bytes"]) for r in rows if r["bytes"])
    kinds = sorted({r["kind"] for r in rows})
    floats = any(k.startswith("array float") for k in kinds)
    return (
        f"     {receiver}'s ledger (--traffic {path.name}): from the {sender}, {count} messages "
        f"({size / 1e6:.1f} MB in arrays), of kinds {', '.join(kinds)}: "
        + ("a floating-point array among them" if floats else "no floating-point array")
    )


def _show_statement(proc: PartyProcess, lines: int = 3) -> None:
    """The first lines of the security statement a party printed at the start of its job."""
    out = proc.stdout().splitlines()
    start = next((i for i, line in enumerate(out) if line.startswith("Security statement")), None)
    if start is None:
        return
    for line in out[start : start + lines]:
        _say(f"     | {line}")


def _scorecard_line(scores: Path, test: Path) -> str:
    """What the bank's scorecard points say: their spread, and how often the lowest-scored
    tenth of the test customers defaulted against all of them."""
    points = pacsv.read_csv(scores).column("points").to_numpy()
    default = pacsv.read_csv(test).column(LABEL).to_numpy().astype(np.float64)
    lowest = points <= np.quantile(points, 0.1)
    return (
        f"     and their credit scores (--scorecard: 600 points at 50:1 odds, 20 to double "
        f"them): median {np.median(points):.0f}, from {points.min():.0f} to "
        f"{points.max():.0f};\n     the lowest-scored tenth defaulted at "
        f"{default[lowest].mean():.0%}, all test customers at {default.mean():.0%}"
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return doc
    except FileNotFoundError:
        raise DemoFailed(f"{path} was not written") from None


def _short(arg: str, root: Path) -> str:
    return arg.replace(str(root) + "/", "")


def baselines(bank_dir: Path, tel_dir: Path) -> dict[str, Any]:
    """Plaintext models on the joined data: what federation should match (demo only)."""
    from unseen.ml.lr_common import LRParams
    from unseen.ml.lr_plain import fit_plain
    from unseen.ml.metrics import evaluate

    def load(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b = pacsv.read_csv(bank_dir / f"{split}.csv").to_pandas()
        t = pacsv.read_csv(tel_dir / f"{split}.csv").to_pandas()
        y = b[LABEL].to_numpy(np.float64)
        xb = b.drop(columns=["phone", "name", LABEL]).to_numpy(np.float64)
        xt = t.drop(columns=["msisdn"]).to_numpy(np.float64)
        return xb, xt, y

    xb, xt, y = load("train")
    xb_test, xt_test, y_test = load("test")
    params = LRParams(
        epochs=int(LR_FLAGS[1]), learning_rate=float(LR_FLAGS[3]), l2=float(LR_FLAGS[5])
    )
    out: dict[str, Any] = {}
    joined = fit_plain(np.hstack([xb, xt]), y, params, seed=None)
    out["lr_joined"] = evaluate(
        y_test, joined.predict_proba(np.hstack([xb_test, xt_test]))
    ).to_json()
    alone = fit_plain(xb, y, params, seed=None)
    out["lr_bank_only"] = evaluate(y_test, alone.predict_proba(xb_test)).to_json()
    try:
        import xgboost  # noqa: F401 - only whether it is installed
    except ImportError:
        out["note"] = "pip install xgboost"
        return out
    from unseen.ml.secureboost import xgboost_reference

    x_train, x_test = np.hstack([xb, xt]), np.hstack([xb_test, xt_test])
    sbt: dict[str, Any] = dict(
        n_estimators=int(SBT_FLAGS[1]),
        max_depth=int(SBT_FLAGS[3]),
        learning_rate=float(SBT_FLAGS[5]),
        max_bin=int(SBT_FLAGS[7]),
    )
    p = xgboost_reference(x_train, y, x_test, **sbt)
    # on SecureBoost's own bins (each party's cut points): the model SecureBoost must equal
    binned = xgboost_reference(x_train, y, x_test, same_bins=True, **sbt)
    out["xgb_same_bins"] = evaluate(y_test, binned).to_json()
    out["xgb_joined"] = evaluate(y_test, p).to_json()
    return out
