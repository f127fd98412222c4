"""``unseen predict``: joint batch prediction with a saved federated model (any model type).

Each party loads its own part of the model (``--model``), the command finds the
predictor registered for the model's type (:data:`unseen.ml.model_io.PREDICTORS`)
and runs this party's side of joint prediction. Only the learner (the guest,
or ``--to``) learns and writes the scores, plus an evaluation report when its
input holds the label column.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

import click

from unseen.cli.common import fail, party_options, run_party, split_columns
from unseen.ml.objectives import LOGISTIC_BINARY, label_kind

#: the scores' stability against the training rows, as the report's metrics.json keeps it
_STABILITY = ("psi", "psi_per_class", "psi_predicted_class")


def _feature_drift(meta: dict[str, Any], data: Any) -> dict[str, float]:
    """Each of my features' stability index against my training rows (the bands in my
    model part), the largest first."""
    import numpy as np

    from unseen.ml.metrics import feature_stability

    names = list(data.features)
    X = np.asarray(data.X, dtype=np.float64)
    if meta.get("missing") is not None:  # SecureBoost's own code for a missing cell
        from unseen.ml.sbt_model import mark_missing

        X = mark_missing(X, float(meta["missing"]), names, meta.get("categories") or {})
    return feature_stability(meta["feature_bands"], X, names)


def _report_drift(me: str, drift: dict[str, float], path: Path | None) -> None:
    """Print my three least stable features; write them all to ``path`` if given."""
    from unseen.ml.metrics import stability_reading

    top = ", ".join(
        f"{name} {v:.3f} ({stability_reading(v)})" for name, v in list(drift.items())[:3]
    )
    where = ""
    if path is not None:
        import pyarrow as pa

        from unseen.data.io import write_table

        write_table(
            pa.table(
                {
                    "feature": list(drift),
                    "csi": list(drift.values()),
                    "reading": [stability_reading(v) for v in drift.values()],
                }
            ),
            path,
        )
        where = f"; every feature in {path}"
    click.echo(f"[{me}] my features against my training rows (CSI): {top}{where}")


def _saved_aft_loss(saved: dict[str, Any]) -> Any:
    """A survival:aft model's loss, from its saved hyper-parameters (as training made it)."""
    from unseen.ml.sbt_protocol import BoostParams

    return BoostParams.from_json(saved).loss_params.aft


def find_predictor(model_type: str) -> Any:
    """The predictor for ``model_type``, importing the ``unseen.ml`` modules until one registers."""
    from unseen import ml
    from unseen.ml.model_io import PREDICTORS

    if model_type in PREDICTORS:
        return PREDICTORS[model_type]
    for info in pkgutil.iter_modules(ml.__path__):
        importlib.import_module(f"{ml.__name__}.{info.name}")
        if model_type in PREDICTORS:
            return PREDICTORS[model_type]
    return None


@click.command()
@party_options
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="My part of the model (the --output of training).",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="My aligned rows to score (CSV or Parquet), with the model's feature columns.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where the learner writes the scores (CSV or Parquet, by suffix).",
)
@click.option(
    "--id", "id_columns", default="", help="ID column(s): checked, and copied to the scores."
)
@click.option("--to", "learner", default=None, help="Who learns the scores [default: the guest].")
@click.option(
    "--label",
    default=None,
    help="Label column for the report [default: the training label, if the input has it].",
)
@click.option(
    "--label-upper",
    default=None,
    help="survival:aft: the column of the intervals' upper bounds, --label the lower "
    "[default: the training's, if the input has it].",
)
@click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the learner writes the report [default: beside --output, <name>_report].",
)
@click.option(
    "--contribs",
    is_flag=True,
    help="Guest, SecureBoost: also each row's margin split per feature of every party and "
    "a bias (XGBoost's approx_contribs), as contrib:<feature> columns.",
)
@click.option(
    "--exact-contribs",
    is_flag=True,
    help="SecureBoost. Guest: the contributions as exact SHAP values (XGBoost's default "
    "pred_contribs) instead. Host: allow that, which shows the guest the side every row "
    "takes at every split of mine, also off its path; without it a host refuses.",
)
@click.option(
    "--interactions",
    is_flag=True,
    help="Guest, SecureBoost: also the SHAP interaction values (XGBoost's pred_interactions) "
    "of every pair of features, averaged over the rows (absolute values), to "
    "<output>_interactions.csv; every host passes --exact-contribs to allow it.",
)
@click.option(
    "--leaves",
    is_flag=True,
    help="Guest, SecureBoost: also each row's leaf in every tree, as its node id (XGBoost's "
    "pred_leaf), in columns leaf_0, leaf_1, ...: one-hot, the features of GBDT + LR. The "
    "hosts run as usual and learn nothing more.",
)
@click.option(
    "--feature-stability",
    "stability_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Any party: where I write my own features' stability against my "
    "training rows (CSI per feature) [default at the learner: beside --output, "
    "<name>_features.csv; a host prints its top three].",
)
@click.option(
    "--scorecard",
    is_flag=True,
    help="Learner, binary models: also each row's credit score as a scorecard's points "
    "(a column 'points'; class 1 the bad outcome, higher points lower risk), scaled by "
    "--scorecard-points, --scorecard-odds and --scorecard-pdo.",
)
@click.option(
    "--scorecard-points",
    type=float,
    default=600.0,
    show_default=True,
    help="The points at the odds --scorecard-odds.",
)
@click.option(
    "--scorecard-odds",
    type=float,
    default=50.0,
    show_default=True,
    help="The good:bad odds (to 1) that score --scorecard-points.",
)
@click.option(
    "--scorecard-pdo",
    type=float,
    default=20.0,
    show_default=True,
    help="Points to double the odds.",
)
def predict(
    model_dir: Path,
    input_path: Path,
    output: Path | None,
    id_columns: str,
    learner: str | None,
    label: str | None,
    label_upper: str | None,
    report: Path | None,
    contribs: bool,
    exact_contribs: bool,
    interactions: bool,
    leaves: bool,
    stability_path: Path | None,
    scorecard: bool,
    scorecard_points: float,
    scorecard_odds: float,
    scorecard_pdo: float,
    **party: Any,
) -> None:
    """Score aligned rows jointly; only the guest (or --to) learns the scores.

    Every party of the model runs it with its own --model and --input (rows
    aligned as in training, e.g. by `unseen psi`). No dealer is needed.

    \b
    Example (two terminals):
      unseen predict --as bank    --parties keys/parties.toml --model bank_model \\
                     --input bank_new.csv --id phone --output scores.csv
      unseen predict --as telecom --parties keys/parties.toml --model tel_model \\
                     --input tel_new.csv --id phone
    """
    import numpy as np
    import pyarrow as pa

    from unseen.data.io import read_table, write_table
    from unseen.ml.data import party_data_from_table
    from unseen.ml.model_io import load_model_part
    from unseen.ml.report import cannot_report, write_report
    from unseen.runtime.errors import UnseenError

    me = party["party"]
    ids = split_columns(id_columns)
    try:
        meta, arrays = load_model_part(model_dir)
    except UnseenError as e:
        fail(f"[{me}] {e}")
    if meta.get("party") != me:
        fail(f"[{me}] {model_dir} holds the part of {meta.get('party')!r}, not of {me!r}")
    predictor = find_predictor(str(meta.get("model")))
    if predictor is None:
        fail(f"[{me}] no predictor for model type {meta.get('model')!r}")
    to = learner or meta.get("guest")
    if (contribs or exact_contribs or interactions or leaves) and meta.get(
        "model"
    ) != "secureboost":
        flag = (
            "--interactions"
            if interactions
            else "--exact-contribs"
            if exact_contribs
            else "--contribs"
            if contribs
            else "--leaves"
        )
        fail(f"[{me}] {flag} is for SecureBoost models, not {meta.get('model')!r}")
    if leaves and me != meta.get("guest"):
        fail(f"[{me}] --leaves is the guest's: it alone learns scores (a host runs as usual)")
    if leaves and (contribs or exact_contribs or interactions):
        fail(f"[{me}] --leaves goes alone: contributions take a prediction of their own")
    if interactions and me != meta.get("guest"):
        fail(f"[{me}] --interactions is the guest's: a host allows it with --exact-contribs")
    contribs = contribs or (exact_contribs and me == meta.get("guest"))
    if contribs and me != meta.get("guest"):
        fail(f"[{me}] --contribs is the guest's: it alone learns scores (a host runs as usual)")
    objective = str(meta.get("objective", "binary:logistic"))  # LR models: binary
    job_parties = meta.get("job_parties")

    # my features' stability against my training rows: computed here, from my own data
    # and my own model part; nothing about it is sent
    drift: dict[str, float] = {}

    def role(ctx):  # type: ignore[no-untyped-def]
        scaling = None
        if scorecard and me == to:  # checked where it applies: the failure reaches all
            from unseen.ml.scorecard import Scaling
            from unseen.runtime.errors import ConfigError

            if objective not in LOGISTIC_BINARY:
                raise ConfigError(
                    f"--scorecard needs a model of the bad outcome's probability "
                    f"(binary:logistic or binary:logitraw), not {objective}"
                )
            scaling = Scaling(scorecard_points, scorecard_odds, scorecard_pdo)
        with ctx.step("load data"):
            table = read_table(input_path)
            label_col = label or (meta.get("label") if me == to else None)
            if label_col is not None and label_col not in table.column_names:
                if label is not None:
                    from unseen.runtime.errors import InputError

                    raise InputError(f"no label column {label!r}", file=str(input_path))
                label_col = None
            upper_col = no_upper = None
            if label_col is not None and objective == "survival:aft":
                upper_col = label_upper or meta.get("label_upper")
                if upper_col not in table.column_names:
                    from unseen.runtime.errors import InputError

                    if label_upper is not None:
                        raise InputError(f"no column {label_upper!r}", file=str(input_path))
                    no_upper = f"no column {upper_col!r} of the intervals' upper bounds"
                    label_col = upper_col = None  # one bound alone is no interval
            data = party_data_from_table(
                table,
                file=str(input_path),
                label=label_col,
                id_columns=ids,
                features=list(meta["features"]),
                allow_constant=True,
                allow_missing=bool(meta.get("missing_values", False)),
                label_kind=label_kind(objective),
                allow_one_class=True,  # the label only serves the report
                # a model's categorical features, coded by the categories it was trained on
                categorical=meta.get("categories") or None,
                label_upper=upper_col,
            )
            if upper_col is not None and data.y is not None:
                from unseen.ml.secureboost import check_intervals

                check_intervals(
                    data.y,
                    data.n,
                    "the label",
                    file=str(input_path),
                    columns=(label_col, upper_col),
                )
            if me == to and output is None:
                from unseen.runtime.errors import ConfigError

                raise ConfigError(f"{me!r} learns the scores: give --output")
            if meta.get("feature_bands"):
                drift.update(_feature_drift(meta, data))
        shares: Any = None
        names: list[str] = []
        pairs: Any = None
        nodes: Any = None
        if leaves:  # with the scores: one joint prediction
            out = predictor(ctx, meta, arrays, data, to=to, leaves=True)
            scores, nodes = out if out is not None else (None, None)
        elif interactions:  # with the exact contributions where asked: one joint prediction
            out = predictor(ctx, meta, arrays, data, to=to, contribs=contribs, interactions=True)
            scores, shares, names, pairs = out
        elif contribs:
            out = predictor(ctx, meta, arrays, data, to=to, contribs=True, exact=exact_contribs)
            scores, shares, names = out if out is not None else (None, None, [])
        elif exact_contribs:  # a host that allows the guest's exact contributions
            scores = predictor(ctx, meta, arrays, data, to=to, exact=True)
        else:
            scores = predictor(ctx, meta, arrays, data, to=to)
        if scores is None:
            return None
        columns: dict[str, Any] = {c: table.column(c) for c in ids}
        scores = np.asarray(scores, dtype=np.float64)
        if scores.ndim == 2:  # several classes: each one's probability, and the likeliest
            for k in range(scores.shape[1]):
                columns[f"score_{k}"] = pa.array(scores[:, k])
            columns["predicted_class"] = pa.array(scores.argmax(axis=1))
        else:
            columns["score"] = pa.array(scores)
            if objective == "binary:hinge":  # the margin: the class is its side
                columns["predicted_class"] = pa.array((scores > 0).astype(np.int64))
        if scaling is not None:  # log-odds (logitraw) or probabilities of class 1
            raw = objective == "binary:logitraw"
            points = scaling.of_log_odds(scores) if raw else scaling.of_probabilities(scores)
            columns["points"] = pa.array(points)
        if shares is not None:  # per feature of every party, and the bias, on the margin
            for k in range(shares.shape[1] if shares.ndim == 3 else 1):
                block = shares[:, k] if shares.ndim == 3 else shares
                tag = f"contrib_{k}" if shares.ndim == 3 else "contrib"
                for j, name in enumerate(names):
                    columns[f"{tag}:{name}"] = pa.array(block[:, j])
        if nodes is not None:  # each tree's leaf, by node id
            for t in range(nodes.shape[1]):
                columns[f"leaf_{t}"] = pa.array(nodes[:, t])
        assert output is not None
        write_table(pa.table(columns), output)
        result: dict[str, Any] = {"n": len(scores)}
        if scaling is not None:  # the points written above
            result["points"] = (scaling, *np.percentile(points, [0, 50, 100]).tolist())
        reference = meta.get("training_scores")
        if reference is not None and scores.ndim == 1 and "edges" in reference:  # no label
            from unseen.ml.metrics import stability_index

            edges, expected = np.asarray(reference["edges"]), np.asarray(reference["shares"])
            result["psi"] = stability_index(edges, expected, scores)
        elif reference is not None and scores.ndim == 2 and "classes" in reference:
            from unseen.ml.metrics import class_stability

            drift_of = class_stability(reference, scores)
            result["psi_per_class"] = drift_of["per_class"]
            result["psi_predicted_class"] = drift_of["predicted"]
        if nodes is not None:
            result["leaves"] = (nodes.shape[1], int(sum(np.unique(c).size for c in nodes.T)))
        if pairs is not None:  # every pair of features, the strongest first
            n_all = len(names) - 1  # the bias interacts with nothing
            a, b = np.triu_indices(n_all, k=1)
            order = np.argsort(-pairs[a, b], kind="stable")
            a, b = a[order], b[order]
            path = output.with_name(f"{output.stem}_interactions.csv")
            table_out = pa.table(
                {
                    "feature_a": [names[i] for i in a],
                    "feature_b": [names[j] for j in b],
                    "mean_abs_interaction": pairs[a, b],
                }
            )
            write_table(table_out, path)
            result["interactions"] = path
            result["top_pairs"] = [
                (names[i], names[j], float(pairs[i, j]))
                for i, j in zip(a[:10], b[:10], strict=True)
            ]
        if shares is not None:  # which features move the scores most, over these rows
            size = np.abs(shares[..., :-1]).mean(axis=tuple(range(shares.ndim - 1)))
            top = np.argsort(-size, kind="stable")[:10]
            result["contribs"] = [(names[j], float(size[j])) for j in top]
            from unseen.ml.report import write_contribution_chart

            chart = output.with_name(f"{output.stem}_contribs.png")
            result["contribs_chart"] = write_contribution_chart(chart, names[:-1], size)
        problem = None if data.y is None else cannot_report(data.y, objective)
        if data.y is not None and scores.ndim == 2 and data.y.max(initial=0) >= scores.shape[1]:
            problem = f"the label has a class the model does not know (it has {scores.shape[1]})"
        if problem or no_upper:
            result["no_report"] = problem or no_upper
        elif data.y is not None:
            where = report or output.with_name(f"{output.stem}_report")
            saved = meta.get("params", {})
            result["report"], _ = write_report(
                where,
                data.y,
                scores,
                title="prediction",
                objective=objective,
                tweedie_power=float(saved.get("tweedie_variance_power", 1.5)),
                quantile_alpha=float(saved.get("quantile_alpha", 0.5)),
                aft=_saved_aft_loss(saved) if objective == "survival:aft" else None,
                extra={k: result[k] for k in _STABILITY if k in result} or None,
            )
            result["report_dir"] = where
        return result

    res = run_party(role, default_job="predict", job_parties=job_parties, **party)
    if drift:  # the job succeeded: my features' stability, printed and written
        if stability_path is None and res is not None and output is not None:
            stability_path = output.with_name(f"{output.stem}_features.csv")
        _report_drift(me, drift, stability_path)
    if res is None:
        click.echo(f"[{me}] done: my part of the scores was sent; {to!r} learns the scores")
        return
    click.echo(f"[{me}] wrote {res['n']} scores to {output}")
    if "points" in res:
        s, low, median, high = res["points"]
        click.echo(
            f"[{me}] with scorecard points ({s.points:g} at {s.odds:g}:1, {s.pdo:g} to double "
            f"the odds): median {median:.0f}, from {low:.0f} to {high:.0f}"
        )
    if "leaves" in res:
        trees, reached = res["leaves"]
        click.echo(
            f"[{me}] with each row's leaf in {trees} trees (columns leaf_0 .. leaf_{trees - 1}; "
            f"{reached} leaves reached: one-hot, the features of GBDT + LR)"
        )
    if "contribs" in res:
        kind = "exact SHAP values" if exact_contribs or interactions else "Saabas's attributions"
        click.echo(f"[{me}] features by mean |contribution| to the margin ({kind}):")
        for name, size in res["contribs"]:
            click.echo(f"    {name:32} {size:.4f}")
        if res.get("contribs_chart"):
            click.echo(f"[{me}] chart of the top 20 in {res['contribs_chart']}")
    if "interactions" in res:
        click.echo(
            f"[{me}] feature pairs by mean |SHAP interaction| (every pair in "
            f"{res['interactions']}):"
        )
        for a, b, size in res["top_pairs"]:
            click.echo(f"    {a:24} x {b:24} {size:.4f}")
    if "psi" in res:
        from unseen.ml.metrics import stability_reading

        click.echo(
            f"[{me}] score stability against the training rows: PSI {res['psi']:.4f} "
            f"({stability_reading(res['psi'])})"
        )
    if "psi_per_class" in res:
        from unseen.ml.metrics import stability_reading

        each = ", ".join(f"{k}: {v:.4f}" for k, v in enumerate(res["psi_per_class"]))
        worst = max(res["psi_per_class"] + [res["psi_predicted_class"]])
        click.echo(
            f"[{me}] score stability against the training rows: PSI of each class's "
            f"probability {each}; of the likeliest class {res['psi_predicted_class']:.4f} "
            f"({stability_reading(worst)})"
        )
    if "report" in res:
        click.echo(f"[{me}] {res['report'].line()}")
        click.echo(f"[{me}] report written to {res['report_dir']}")
    if "no_report" in res:
        click.echo(f"[{me}] no report: {res['no_report']}")
