"""SecureBoost against XGBoost on the joined data, in one run.

Workloads (the issue's, and the data of the FATE / SecretFlow peer scripts in
``../shared/peers``):

- (a) breast cancer (sklearn), stratified 80/20 split (random_state 42),
  standardised; guest: label + first 10 columns, host: the other 20;
  10 trees, depth 5, 32 bins;
- (b) synthetic 100,000 train + 20,000 test rows, 10 guest + 30 host
  features, ``y ~ Bernoulli(sigmoid(X w + noise))`` (seed 0); 10 trees,
  depth 5, 32 bins.

Each SecureBoost party is a separate process (``unseen secureboost``) over
mutual TLS on loopback, as in production; the time per tree is the guest's
training time (handshake to last tree, data loading excluded) over the trees.
Test AUC comes from joint prediction with the saved model parts. XGBoost
(``tree_method="hist"``, same hyper-parameters, every core) trains on the
joined data; "xgboost, same bins" trains on the data binned with SecureBoost's
cut points, so it should match SecureBoost to rounding. Each party's CPU time
(every thread and crypto worker process, set-up included) and the bytes it sent
come from its own summary line and are printed after the table.

``--cores-per-party K`` models production, where every party has a machine of its
own: party i (guest, host, dealer) is pinned to cores [iK, (i+1)K) and XGBoost to
the K cores after them (where the machine has none, the guest's: XGBoost runs
before the parties), with K threads, so each party has what XGBoost has. On the
2-core development machine ``--cores-per-party 1`` places the two parties of the
``he`` modes a core each. By default every process shares every core (on the
2-core development machine, three parties on two cores).

    flock /tmp/unseen-bench.lock .venv/bin/python benchmarks/secureboost.py
    flock /tmp/unseen-bench.lock .venv/bin/python benchmarks/secureboost.py --workload b --modes he --he-trees 2
    flock /tmp/unseen-bench.lock .venv/bin/python benchmarks/secureboost.py --workload b --modes ss-dealer plain --repeat 5

``--categorical K`` turns the host's last K columns into categories (``--categories``
levels each, cut at the column's quantiles and coded in a random order), which the host
declares with ``--categorical`` and XGBoost takes with ``enable_categorical``: both then
split them by category sets.

``--repeat N`` runs every mode N times, timing XGBoost again beside each run, and prints
the minimum, median and maximum of the time per tree and of the ratio to XGBoost: on
shared cores one run varies by a fifth.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from machine import describe

RESULT_RE = re.compile(r"(\d+) trees in ([\d.]+) s")
TREES_RE = re.compile(r"trees alone: ([\d.]+) s for (\d+) trees")
COST_RE = re.compile(r"sent ([\d.]+) (kB|MB), received ([\d.]+) (kB|MB); CPU ([\d.]+) s")
_UNIT = {"kB": 1e-3, "MB": 1.0}


def breast_cancer() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=42)
    sc = StandardScaler().fit(Xtr)
    return sc.transform(Xtr), sc.transform(Xte), ytr, yte, 10


def synthetic(n_train: int = 100_000, n_test: int = 20_000, d: int = 40, guest: int = 10):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n_train + n_test, d)).astype(np.float32).astype(np.float64)
    w = rng.standard_normal(d) / np.sqrt(d) * 2.0
    logits = X @ w + 0.5 * rng.standard_normal(n_train + n_test)
    y = (rng.random(n_train + n_test) < 1 / (1 + np.exp(-logits))).astype(int)
    return X[:n_train], X[n_train:], y[:n_train], y[n_train:], guest


def write_parts(
    d: Path, name: str, X: np.ndarray, y: np.ndarray, n_guest: int, categorical: list[int] = ()
) -> None:
    """The guest's and the host's parquet files; ``categorical`` columns hold category
    codes, written as text (``k00``, ``k01``, ...: sorted, they give the codes back)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols: dict[str, Any] = {f"x{i}": X[:, i] for i in range(X.shape[1])}
    for i in categorical:
        cols[f"x{i}"] = [f"k{int(c):02d}" for c in X[:, i]]
    ids = [f"r{i}" for i in range(X.shape[0])]
    guest = {"id": ids, "y": y.astype(np.int64), **{k: cols[k] for k in list(cols)[:n_guest]}}
    host = {"id": ids, **{k: cols[k] for k in list(cols)[n_guest:]}}
    pq.write_table(pa.table(guest), d / f"{name}_guest.parquet")
    pq.write_table(pa.table(host), d / f"{name}_host.parquet")


def categorize(
    Xtr: np.ndarray, Xte: np.ndarray, columns: list[int], categories: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``columns`` as category codes ``0 .. categories - 1``: each column cut at its
    quantiles, the levels then given codes in a random order, so that only categorical
    splits (not cuts in code order) recover what the column says."""
    rng = np.random.default_rng(1)
    Xtr, Xte = Xtr.copy(), Xte.copy()
    for i in columns:
        cuts = np.quantile(Xtr[:, i], np.arange(1, categories) / categories)
        code = rng.permutation(categories)
        Xtr[:, i] = code[np.searchsorted(cuts, Xtr[:, i])]
        Xte[:, i] = code[np.searchsorted(cuts, Xte[:, i])]
    return Xtr, Xte


def party_cores(k: int | None, index: int) -> set[int] | None:
    """The cores of party ``index`` (XGBoost is index 3) with ``k`` cores each; None: all.

    XGBoost runs before the parties, never beside them: where the machine has no
    ``k`` cores after the parties' it takes the guest's ``k`` cores (the 2-core
    machine with ``--cores-per-party 1`` and the two parties of the ``he`` modes)."""
    if k is None:
        return None
    mine = set(range(index * k, (index + 1) * k))
    if not mine <= os.sched_getaffinity(0):
        if index == 3:
            return set(range(k))
        raise SystemExit(f"--cores-per-party {k} needs cores 0..{(index + 1) * k - 1}")
    return mine


def run_secureboost(
    d: Path,
    mode: str,
    trees: int,
    depth: int,
    max_bin: int,
    extra: list[str],
    timeout: float,
    cores_per_party: int | None = None,
    run: int = 0,
    host_categorical: list[str] = (),
    contribs: bool = False,
) -> dict[str, Any]:
    """Train with every party as a process; return the guest's timing and the test AUC.

    ``run``: the repeat this is (``--repeat``); each has its own keys, models and logs.
    ``host_categorical``: the host's columns of categories (``--categorical``).
    ``contribs``: also time the test rows' contributions, Saabas's and exact SHAP values,
    and their SHAP interaction values (joint prediction in-process, the host allowing them)."""
    from unseen.ml.metrics import auc
    from unseen.ml.secureboost import PartyModel, load_table, predict
    from unseen.runtime.launch import make_parties, start_party, wait_all_measured
    from unseen.runtime.local import run_local

    names = ["guest", "host", "dealer"] if mode.startswith("ss-dealer") else ["guest", "host"]
    run_dir = d / f"run{run}"  # keys, models and logs of this run
    keys = run_dir / f"keys-{mode}-{len(extra)}-{'_'.join(extra)}"
    keys.mkdir(parents=True, exist_ok=True)
    parties = make_parties(keys, names)
    common = [
        "secureboost",
        "--parties",
        str(parties),
        "--mode",
        mode,
        "--quiet",
        "--n-estimators",
        str(trees),
        "--max-depth",
        str(depth),
        "--max-bin",
        str(max_bin),
        "--learning-rate",
        "0.3",
        *extra,
    ]
    args = {
        "guest": [
            "--as",
            "guest",
            "--input",
            str(d / "train_guest.parquet"),
            "--label",
            "y",
            "--id",
            "id",
            "--output",
            str(run_dir / f"model-{mode}-guest"),
        ],
        "host": [
            "--as",
            "host",
            "--input",
            str(d / "train_host.parquet"),
            "--id",
            "id",
            "--output",
            str(run_dir / f"model-{mode}-host"),
            *(["--categorical", ",".join(host_categorical)] if host_categorical else []),
        ],
        "dealer": ["--as", "dealer"],
    }
    began = time.perf_counter()
    procs = []
    for i, n in enumerate(names):
        procs.append(start_party(n, [*common, *args[n]], run_dir / f"logs-{mode}"))
        # pinned before the interpreter has started a thread: all of them inherit it
        if (cores := party_cores(cores_per_party, i)) is not None:
            os.sched_setaffinity(procs[-1].popen.pid, cores)
    peak_kib = wait_all_measured(procs, timeout)
    wall = time.perf_counter() - began
    for p in procs:
        if p.returncode != 0:
            raise RuntimeError(f"{mode} {p.name} failed:\n{p.stderr()[-3000:]}")
    out = procs[0].stdout()
    m = RESULT_RE.search(out)
    if not m:
        raise RuntimeError(f"no timing in the guest's output:\n{out}")
    n_trees, seconds = int(m.group(1)), float(m.group(2))
    mt = TREES_RE.search(out)
    tree_seconds = float(mt.group(1)) / int(mt.group(2)) if mt else float("nan")
    # joint prediction on the test rows with the saved parts (in-process)
    g_model = PartyModel.load(run_dir / f"model-{mode}-guest")
    h_model = PartyModel.load(run_dir / f"model-{mode}-host")
    g_test = load_table(d / "test_guest.parquet", label="y", id_columns=["id"])
    h_test = load_table(
        d / "test_host.parquet", id_columns=["id"], categorical=dict(h_model.categories)
    )
    res = run_local(
        {
            "guest": lambda ctx: predict(ctx, g_model, g_test.X),
            "host": lambda ctx: predict(ctx, h_model, h_test.X),
        }
    )
    assert g_test.y is not None
    timed: dict[str, float] = {}
    for kind, approx in (("approx", True), ("exact", False)) if contribs else ():
        began = time.perf_counter()
        run_local(
            {
                "guest": lambda ctx, a=approx: predict(  # type: ignore[misc]
                    ctx, g_model, g_test.X, pred_contribs=True, approx_contribs=a
                ),
                "host": lambda ctx, a=approx: predict(  # type: ignore[misc]
                    ctx, h_model, h_test.X, pred_contribs=not a, approx_contribs=a
                ),
            }
        )
        timed[kind] = time.perf_counter() - began
    if contribs:  # SHAP interaction values, from the same split sides as exact contributions
        began = time.perf_counter()
        run_local(
            {
                "guest": lambda ctx: predict(ctx, g_model, g_test.X, pred_interactions=True),
                "host": lambda ctx: predict(
                    ctx, h_model, h_test.X, pred_contribs=True, approx_contribs=False
                ),
            }
        )
        timed["interactions"] = time.perf_counter() - began
    peak = {name: kib / 1024 for name, kib in peak_kib.items()}  # party and its workers
    # each party's own summary: what it sent and its CPU time (every thread, set-up included)
    cost = {p.name: COST_RE.search(p.stdout()) for p in procs}
    return {
        "cpu_s": {n: float(m.group(5)) for n, m in cost.items() if m},
        "sent_mb": {n: float(m.group(1)) * _UNIT[m.group(2)] for n, m in cost.items() if m},
        "mode": mode,
        "trees": n_trees,
        "fit_s": seconds,
        "s_per_tree": tree_seconds,
        "wall_s": wall,
        "auc": auc(g_test.y, res["guest"]),
        "peak_mib": peak,
        **({"contribs_s": timed} if contribs else {}),
    }


def run_xgboost(
    Xtr,
    Xte,
    ytr,
    yte,
    trees,
    depth,
    max_bin,
    same_bins=False,
    cores=None,
    colsample=1.0,
    categorical=(),
    contribs=False,
) -> dict[str, Any]:
    """``categorical``: columns of category codes (XGBoost's ``enable_categorical``).
    ``contribs``: also time ``pred_contribs`` (exact and approximate) and
    ``pred_interactions`` on the test rows."""
    import xgboost as xgb

    from unseen.ml.secureboost import secureboost_bins, xgboost_params

    if same_bins:  # SecureBoost's bins as features: one xgboost bin per value
        numeric = [i for i in range(Xtr.shape[1]) if i not in categorical]
        Xtr, Xte = Xtr.copy(), Xte.copy()
        Xtr[:, numeric], Xte[:, numeric] = secureboost_bins(
            Xtr[:, numeric], Xte[:, numeric], max_bin
        )
        max_bin = 256
    params = xgboost_params(
        max_depth=depth,
        learning_rate=0.3,
        max_bin=max_bin,
        base_score=float(np.mean(ytr)),
        # the cores this process may use (os.cpu_count() ignores taskset and pinning)
        nthread=len(cores or os.sched_getaffinity(0)),
    )
    if colsample < 1:  # XGBoost draws its own samples: same rate, not the same features
        params["colsample_bytree"] = colsample
    everywhere = os.sched_getaffinity(0)
    if cores is not None:
        os.sched_setaffinity(0, cores)
    matrix = xgb.DMatrix
    if categorical:
        types = ["c" if i in categorical else "q" for i in range(Xtr.shape[1])]
        matrix = functools.partial(xgb.DMatrix, feature_types=types, enable_categorical=True)
    try:
        return _train_xgboost(matrix, params, Xtr, Xte, ytr, yte, trees, contribs)
    finally:
        os.sched_setaffinity(0, everywhere)


def _train_xgboost(matrix, params, Xtr, Xte, ytr, yte, trees, contribs=False) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """``matrix``: how a DMatrix is made (``xgboost.DMatrix``, or with feature types)."""
    import xgboost as xgb

    from unseen.ml.metrics import auc

    # the whole fit, as a user runs it: matrix, quantile sketch (binning), trees
    began = time.perf_counter()
    booster = xgb.train(params, matrix(Xtr, label=ytr), trees)
    fit = time.perf_counter() - began
    # trees alone: the same matrix again, its bins already built by a one-tree warm-up;
    # the median of three fits (one fit of a few ms a tree varies by half from run to run)
    dtrain = matrix(Xtr, label=ytr)
    xgb.train(params, dtrain, 1)
    alone = []
    for _ in range(3):
        began = time.perf_counter()
        xgb.train(params, dtrain, trees)
        alone.append(time.perf_counter() - began)
    timed = {}
    if contribs:  # the test rows' contributions, on the matrix made once
        dtest = matrix(Xte)
        for kind, approx in (("approx", True), ("exact", False)):
            began = time.perf_counter()
            booster.predict(dtest, pred_contribs=True, approx_contribs=approx)
            timed[kind] = time.perf_counter() - began
        began = time.perf_counter()
        booster.predict(dtest, pred_interactions=True)
        timed["interactions"] = time.perf_counter() - began
    return {
        "trees": trees,
        "fit_s": fit,
        "s_per_tree": float(np.median(alone)) / trees,
        "auc": auc(yte, booster.predict(matrix(Xte))),
        **({"contribs_s": timed} if contribs else {}),
    }


def workload(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    if name == "a":
        Xtr, Xte, ytr, yte, n_guest = breast_cancer()
    else:  # --rows: (b) at another scale, a fifth as many test rows
        Xtr, Xte, ytr, yte, n_guest = synthetic(args.rows, args.rows // 5)
    trees, depth, max_bin = args.trees, args.depth, args.max_bin
    # --categorical K: the host's last K columns become categories (XGBoost's too)
    cat = list(range(Xtr.shape[1] - args.categorical, Xtr.shape[1]))
    if cat:
        Xtr, Xte = categorize(Xtr, Xte, cat, args.categories)
    rows: list[dict[str, Any]] = []
    k = args.cores_per_party
    cs = args.colsample_bytree

    def xgboost(same_bins: bool = False) -> dict[str, Any]:
        """XGBoost on the joined data (``same_bins``: binned as SecureBoost's parties do)."""
        cores = party_cores(k, 3)
        data = (Xtr, Xte, ytr, yte, trees, depth, max_bin)
        return run_xgboost(
            *data, same_bins, cores=cores, colsample=cs, categorical=cat, contribs=args.contribs
        )

    def joined_xgboost() -> dict[str, Any]:
        """XGBoost on the joined data, timed (again before each repeat: speeds drift)."""
        xg = xgboost()
        rows.append({"workload": name, "system": "xgboost (hist, joined data)", **xg})
        return xg

    xg = joined_xgboost()
    # each party bins its own columns; binning column by column is the same as binning jointly
    same = xgboost(same_bins=True)
    rows.append({"workload": name, "system": "xgboost, SecureBoost's bins", **same})
    with tempfile.TemporaryDirectory(prefix=f"sbt-bench-{name}-") as tmp:
        d = Path(tmp)
        write_parts(d, "train", Xtr, ytr, n_guest, cat)
        write_parts(d, "test", Xte, yte, n_guest, cat)
        for run in range(args.repeat):
            if run:
                xg = joined_xgboost()
            rows += _secureboost_modes(
                d, name, args, xg, trees, depth, max_bin, k, cs, run, [f"x{i}" for i in cat]
            )
    return rows


def _secureboost_modes(
    d: Path,
    name: str,
    args: argparse.Namespace,
    xg: dict[str, Any],
    trees: int,
    depth: int,
    max_bin: int,
    k: int | None,
    cs: float,
    run: int,
    categorical: list[str],
) -> list[dict[str, Any]]:
    """One run of every mode of ``args.modes``, each against the XGBoost timing ``xg``;
    ``categorical``: the host's columns of categories."""
    rows: list[dict[str, Any]] = []
    for name_mode in args.modes:
        mode = name_mode.removesuffix("-ou")  # he-ou: he with OU
        he = mode.startswith("he")
        t = args.he_trees if (he and args.he_trees) else trees
        scheme = "ou" if name_mode.endswith("-ou") else "paillier"
        extra = ["--he-scheme", scheme] if he else []
        if cs < 1:
            extra += ["--colsample-bytree", str(cs), "--random-state", "0"]
        if args.guest_only_rounds:
            extra += ["--guest-only-rounds", str(args.guest_only_rounds)]
        r = run_secureboost(
            d, mode, t, depth, max_bin, extra, args.timeout, k, run, categorical, args.contribs
        )
        r["mode"] = name_mode
        r["x_xgboost_per_tree"] = r["s_per_tree"] / xg["s_per_tree"]
        r["x_xgboost_fit"] = (r["fit_s"] / r["trees"]) / (xg["fit_s"] / xg["trees"])
        label = {
            "he": "he (Paillier)",
            "he-ou": "he (OU)",
            "he-hidden": "he-hidden (Paillier)",
            "he-hidden-ou": "he-hidden (OU)",
        }.get(name_mode, name_mode)
        rows.append({"workload": name, "system": f"unseen {label}", **r})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _spread(values: list[float], fmt: str) -> str:
    v = sorted(values)
    return " / ".join(fmt.format(x) for x in (v[0], float(np.median(v)), v[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workload", choices=["a", "b", "both"], default="both")
    ap.add_argument(
        "--modes",
        nargs="+",
        default=["ss-dealer", "ss-dealer-matrix", "he", "he-ou"],
        choices=[
            "ss-dealer",
            "ss-dealer-matrix",
            "he",
            "he-ou",
            "he-hidden",
            "he-hidden-ou",
            "plain",
        ],
        help="he: Paillier; he-ou: Okamoto-Uchiyama",
    )
    ap.add_argument("--trees", type=int, default=10)
    ap.add_argument(
        "--he-trees",
        type=int,
        default=None,
        help="fewer trees for he mode at (b) (time per tree is what is compared)",
    )
    ap.add_argument("--depth", type=int, default=5)
    ap.add_argument(
        "--rows",
        type=int,
        default=100_000,
        help="(b)'s training rows (and a fifth as many test rows)",
    )
    ap.add_argument("--max-bin", type=int, default=32)
    ap.add_argument(
        "--colsample-bytree",
        type=float,
        default=1.0,
        help="features per tree, at every system (XGBoost draws its own samples)",
    )
    ap.add_argument(
        "--guest-only-rounds",
        type=int,
        default=0,
        metavar="N",
        help="SecureBoost's first N rounds on the guest's features alone (its reduced-leakage "
        "variant); XGBoost still trains on every column, so the AUCs show what it costs",
    )
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run every mode N times, XGBoost timed again beside each run; the medians and "
        "ranges follow the table (one run of a few seconds varies by a fifth on shared cores)",
    )
    ap.add_argument(
        "--categorical",
        type=int,
        default=0,
        metavar="K",
        help="the host's last K columns as categories (its --categorical; XGBoost's "
        "enable_categorical), each cut at its quantiles into --categories levels coded in "
        "a random order",
    )
    ap.add_argument("--categories", type=int, default=24, help="levels of --categorical")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument(
        "--cores-per-party",
        type=int,
        default=None,
        metavar="K",
        help="pin each party, and XGBoost, to K cores of its own (production: a machine each)",
    )
    ap.add_argument(
        "--contribs",
        action="store_true",
        help="also time every system's per-feature contributions of the test rows: "
        "approximate (Saabas) and exact SHAP values, and SHAP interaction values; SecureBoost's by joint prediction "
        "in-process with the saved parts (the host allowing the exact ones)",
    )
    ap.add_argument("--json", type=Path, default=None, help="write the rows here as JSON")
    args = ap.parse_args()
    machine_line = describe()
    if args.cores_per_party:
        k = args.cores_per_party
        xgb = sorted(party_cores(k, 3) or [])
        machine_line += (
            f"\nplacement: {k} cores each, pinned: guest {0}-{k - 1}, host {k}-{2 * k - 1},"
            f" dealer {2 * k}-{3 * k - 1}, xgboost {xgb[0]}-{xgb[-1]} (before the parties)"
        )
    else:
        machine_line += f"\nplacement: every process on all {len(os.sched_getaffinity(0))} cores"
    print(machine_line, flush=True)
    rows: list[dict[str, Any]] = []
    for name in ["a", "b"] if args.workload == "both" else [args.workload]:
        he_trees = args.he_trees if name == "b" else None
        rows += workload(name, argparse.Namespace(**{**vars(args), "he_trees": he_trees}))
    print(
        "\nfit s: the whole fit (SecureBoost: handshake, alignment, binning, keys, trees;"
        " xgboost: DMatrix, sketch, trees)\ns/tree: the trees alone (set-up excluded on both"
        " sides; xgboost: the median of three fits); x xgb: the ratios to xgboost (hist,"
        " joined data)"
    )
    print(
        f"\n{'workload':8} {'system':30} {'trees':>5} {'fit s':>8} {'x xgb':>6} "
        f"{'s/tree':>8} {'x xgb':>6} {'AUC':>7}"
    )
    for r in rows:
        fr = f"{r['x_xgboost_fit']:.1f}" if "x_xgboost_fit" in r else ""
        tr = f"{r['x_xgboost_per_tree']:.1f}" if "x_xgboost_per_tree" in r else ""
        print(
            f"{r['workload']:8} {r['system']:30} {r['trees']:5d} {r['fit_s']:8.2f} {fr:>6} "
            f"{r['s_per_tree']:8.3f} {tr:>6} {r['auc']:7.4f}"
        )
    if args.repeat > 1:
        print(f"\nover {args.repeat} runs (min / median / max):")
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in rows:
            groups.setdefault((r["workload"], r["system"]), []).append(r)
        for (w, system), runs in groups.items():
            if len(runs) < 2:
                continue
            line = f"  {w} {system}: s/tree " + _spread([r["s_per_tree"] for r in runs], "{:.3f}")
            if "x_xgboost_per_tree" in runs[0]:
                line += ", x xgb " + _spread([r["x_xgboost_per_tree"] for r in runs], "{:.1f}")
            print(line)
    explained = [r for r in rows if r.get("contribs_s")]
    if explained:
        print(
            "\ncontributions of the test rows (s; x xgb: to XGBoost's pred_contribs and "
            "pred_interactions on joined data):"
        )
        base = {}
        for r in explained:
            c = r["contribs_s"]
            if r["system"].startswith("xgboost (hist"):
                base[r["workload"]] = c
            ref = base.get(r["workload"], c)
            print(
                f"  {r['workload']} {r['system']:30} approx {c['approx']:8.3f} "
                f"({c['approx'] / ref['approx']:6.1f}x)  exact {c['exact']:8.3f} "
                f"({c['exact'] / ref['exact']:6.1f}x)  interactions {c['interactions']:8.3f} "
                f"({c['interactions'] / ref['interactions']:6.1f}x)"
            )
    costs = [r for r in rows if r.get("cpu_s")]
    if costs:
        print(
            "\neach party's CPU (every thread and crypto worker process, set-up included)"
            ", what it sent, and its peak memory with its workers':"
        )
        for r in costs:
            cpu = ", ".join(f"{n} {v:.1f} s" for n, v in r["cpu_s"].items())
            sent = ", ".join(f"{n} {v:.2f} MB" for n, v in r["sent_mb"].items())
            peak = ", ".join(f"{n} {v:,.0f} MiB" for n, v in r["peak_mib"].items())
            print(f"  {r['workload']} {r['system']}: CPU {cpu}; sent {sent}; peak {peak}")
    print(f"\n{machine_line}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
