"""``unseen secureboost``: one party's side of vertical SecureBoost (guest, host or dealer)."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import click

from unseen.cli.common import fail, party_options, run_party, split_columns, training_options
from unseen.ml.objectives import OBJECTIVES

# flag name -> BoostParams field, for the hyper-parameters every party may pass
HYPER = (
    "objective",
    "n_estimators",
    "max_depth",
    "learning_rate",
    "max_bin",
    "reg_lambda",
    "reg_alpha",
    "gamma",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "colsample_bylevel",
    "colsample_bynode",
    "scale_pos_weight",
    "max_delta_step",
    "base_score",
    "early_stopping_rounds",
    "random_state",
    "num_class",
    "tweedie_variance_power",
    "quantile_alpha",
    "huber_slope",
    "fair_c",
    "aft_loss_distribution",
    "aft_loss_distribution_scale",
    "eval_metric",
    "guest_only_rounds",
    "max_cat_to_onehot",
    "max_cat_threshold",
)


@click.command()
@party_options
@training_options(
    ["ss-dealer", "ss-dealer-matrix", "he", "he-hidden", "plain"],
    "ss-dealer: secret sharing with a dealer party (fast; the guest also learns per-bin row "
    "counts); ss-dealer-matrix: matrix triples from the dealer (the guest learns the per-bin "
    "sums only; slower); he: Paillier or OU, no third party; he-hidden: he with the instance "
    "spaces hidden from the hosts (slower); plain: INSECURE, development only.",
)
@click.option(
    "--objective",
    type=click.Choice(OBJECTIVES),
    default=None,
    help="binary:logitraw: as binary:logistic, scores are log-odds (a scorecard's "
    "points); binary:hinge: the hinge loss (a support vector machine's), scores are "
    "margins, the class their side; multi:softprob: several classes, labels 0 .. K-1, "
    "give --num-class (multi:softmax: the same, and predict's scores name the likeliest "
    "class too); "
    "count:poisson (counts), reg:gamma (positive amounts), reg:tweedie (amounts with "
    "zeros, e.g. claims): log link, scores are means; survival:cox (Cox's proportional "
    "hazards: the label a time, -t where censored at t; scores are hazard ratios); "
    "reg:absoluteerror (the median) and reg:quantileerror (the --quantile-alpha quantile: "
    "prediction intervals, risk quantiles); reg:pseudohubererror (robust: squared error "
    "near the label, absolute far out, --huber-slope); reg:logistic (labels in [0, 1]); "
    "reg:squaredlogerror (errors of log(1 + y)); survival:aft (accelerated failure time: "
    "each row's time an interval, --label its lower bound and --label-upper its upper; "
    "scores are times); reg:fair (--fair-c) and reg:logcosh, FATE's robust losses "
    "[default: binary:logistic]",
)
@click.option(
    "--fair-c",
    type=float,
    default=None,
    help="reg:fair's c: errors well beyond it count about linearly [default: 1].",
)
@click.option(
    "--label-upper",
    default=None,
    help="survival:aft, guest: the column of each row's upper bound of the time (--label: "
    "the lower bound). Equal bounds: the event was seen then; an empty cell or inf: "
    "censored on the right (no event yet); a lower bound of 0: censored on the left.",
)
@click.option(
    "--aft-loss-distribution",
    type=click.Choice(["normal", "logistic", "extreme"]),
    default=None,
    help="survival:aft's noise distribution of the log time [default: normal].",
)
@click.option(
    "--aft-loss-distribution-scale",
    type=float,
    default=None,
    help="survival:aft's scale of that noise, > 0 [default: 1].",
)
@click.option(
    "--huber-slope",
    type=float,
    default=None,
    help="reg:pseudohubererror's slope (delta): errors beyond it count linearly [default: 1].",
)
@click.option(
    "--quantile-alpha",
    type=float,
    default=None,
    help="reg:quantileerror's quantile, in (0, 1) [default: 0.5].",
)
@click.option(
    "--tweedie-variance-power",
    type=float,
    default=None,
    help="reg:tweedie's variance power, in (1, 2) [default: 1.5].",
)
@click.option(
    "--num-class",
    type=int,
    default=None,
    help="multi:softprob, multi:softmax: the number of classes K (a tree per class each round).",
)
@click.option(
    "--n-estimators",
    type=int,
    default=None,
    help="Boosting rounds: trees, or K trees each with --num-class K [default: 100].",
)
@click.option("--max-depth", type=int, default=None, help="[default: 6]")
@click.option("--learning-rate", type=float, default=None, help="[default: 0.3]")
@click.option("--max-bin", type=int, default=None, help="Bins per feature, 2..255 [default: 32].")
@click.option("--reg-lambda", type=float, default=None, help="L2 on leaf weights [default: 1].")
@click.option("--reg-alpha", type=float, default=None, help="L1 on leaf weights [default: 0].")
@click.option("--gamma", type=float, default=None, help="Minimum split gain [default: 0].")
@click.option(
    "--min-child-weight",
    type=float,
    default=None,
    help="Minimum hessian sum in a child [default: 1].",
)
@click.option("--subsample", type=float, default=None, help="Rows per tree, (0, 1] [default: 1].")
@click.option(
    "--colsample-bytree",
    type=float,
    default=None,
    help="Features per tree (all parties' together), (0, 1] [default: 1].",
)
@click.option(
    "--colsample-bylevel",
    type=float,
    default=None,
    help="Features per depth, of the tree's, (0, 1] [default: 1].",
)
@click.option(
    "--colsample-bynode",
    type=float,
    default=None,
    help="Features per node, of the depth's, (0, 1] [default: 1].",
)
@click.option(
    "--scale-pos-weight",
    type=float,
    default=None,
    help="Weight of the positive rows' gradients, e.g. negatives / positives [default: 1].",
)
@click.option(
    "--max-delta-step",
    type=float,
    default=None,
    help="Largest leaf weight, 0: none [default: 0; count:poisson 0.7] (helps very "
    "unbalanced labels).",
)
@click.option(
    "--base-score",
    type=float,
    default=None,
    help="Initial prediction [default: XGBoost's estimate: the mean label for most "
    "losses; with --scale-pos-weight, its Newton step from 0].",
)
@click.option(
    "--weight",
    "weight_column",
    default=None,
    help="Guest: a column of row weights (non-negative; not a feature) [default: none].",
)
@click.option(
    "--monotone-constraints",
    "monotone",
    default=None,
    help="Guest: features whose effect must only rise (1) or fall (-1), by name, "
    "comma-separated; a host's as host:feature, e.g. 'income:1,telecom:overdue:-1' "
    "[default: none].",
)
@click.option(
    "--interaction-constraints",
    "interactions",
    default=None,
    help="Guest: groups of features that may interact on a tree's paths, groups split by "
    "';', features by ',' (a host's as host:feature), e.g. "
    "'income,utilization;telecom:tenure,age' [default: none].",
)
@click.option(
    "--random-state",
    type=int,
    default=None,
    help="Seed of the row and feature sampling and of --cv's folds (the guest's; the hosts "
    "are not told it).",
)
@click.option(
    "--goss", default=None, help="GOSS sampling 'top,other', e.g. 0.2,0.1 (instead of --subsample)."
)
@click.option(
    "--eval-input",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Aligned validation table for early stopping (every data party gives one).",
)
@click.option(
    "--early-stopping-rounds",
    type=int,
    default=None,
    help="Stop when the validation metric has not improved for this many rounds (trees).",
)
@click.option(
    "--eval-metric",
    default=None,
    help="Early stopping's validation metric, as XGBoost names it: logloss, auc or error "
    "(binary); rmse or mae (regression); mlogloss or merror (classes); poisson-nloglik, "
    "gamma-deviance, tweedie-nloglik; cox-nloglik; quantile (the mean pinball loss); "
    "mphe (pseudo-Huber); rmsle "
    "[default: the objective's first].",
)
@click.option(
    "--guest-only-rounds",
    type=int,
    default=None,
    help="Grow the first rounds' trees on the guest's features alone: the hosts learn "
    "nothing of them but their shape, not even which rows reach a node, where the first "
    "trees' instance spaces say the most about the label (SecureBoost's reduced-leakage "
    "variant; FATE's complete_secure) [default: 0].",
)
@click.option(
    "--categorical",
    "categorical",
    default="",
    help="My columns that are categories (any text: a region, an occupation), comma-"
    "separated: each category is a bin, and a split sends a set of them right (XGBoost's "
    "categorical splits). The categories stay here; their count must not exceed --max-bin.",
)
@click.option(
    "--missing",
    "missing_value",
    type=float,
    default=None,
    metavar="VALUE",
    help="This party's numeric cells equal to VALUE are missing, besides empty and NA "
    "cells (XGBoost's missing, e.g. -999); each party its own, kept in its model for "
    "`unseen predict`.",
)
@click.option(
    "--max-cat-to-onehot",
    type=int,
    default=None,
    help="A categorical feature with fewer categories is split one category against the "
    "rest, a larger one by a partition of its categories (XGBoost's) [default: 4].",
)
@click.option(
    "--max-cat-threshold",
    type=int,
    default=None,
    help="A partition split scans at most this many categories from either end "
    "(XGBoost's) [default: 64].",
)
@click.option(
    "--cv",
    "cv",
    type=int,
    default=None,
    metavar="K",
    help="Cross-validate instead of training (XGBoost's xgb.cv), every party with the same "
    "K: the guest splits the rows into K random folds (seeded by --random-state) and tells "
    "the hosts; fold by fold the parties train on the other folds and validate on it, "
    "every round. The guest prints the validation metric per round, mean and standard "
    "deviation over the folds, and writes it to --output/cv.csv if given; no model is kept.",
)
@click.option(
    "--stratified",
    is_flag=True,
    default=False,
    help="With --cv, at the guest: folds that keep each class's share of the rows (xgb.cv's "
    "stratified=True), drawn from secrets (--random-state does not repeat them); the hosts "
    "learn that every fold holds the same share of each class.",
)
@click.option(
    "--init-model",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Continue this model (my part of it): --n-estimators more rounds are added. "
    "Every data party gives its part of the same model.",
)
@click.option("--key-bits", type=int, default=2048, show_default=True, help="he modes: key size.")
@click.option(
    "--he-scheme",
    type=click.Choice(["paillier", "ou"]),
    default="paillier",
    show_default=True,
    help="he modes: Paillier, or Okamoto-Uchiyama (faster).",
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="he modes: processes for the ciphertext work [default: all cores].",
)
def secureboost(
    input_path: Path | None,
    label: str | None,
    id_columns: str,
    exclude: str,
    mode: str,
    output: Path | None,
    parties_in_job: str | None,
    goss: str | None,
    eval_input: Path | None,
    key_bits: int,
    he_scheme: str,
    workers: int | None,
    weight_column: str | None,
    monotone: str | None,
    interactions: str | None,
    init_model: Path | None,
    categorical: str,
    cv: int | None,
    stratified: bool,
    missing_value: float | None,
    label_upper: str | None,
    **flags: Any,
) -> None:
    """Vertical SecureBoost: the guest (label, features or none), hosts (features), a dealer.

    Run it once per party. The party with --label is the guest; a party with
    no --input is the dealer (ss-dealer modes). Hyper-parameters are the
    guest's; a host that passes one must agree. Every job prints its security
    statement first. Each data party writes its own part of the model to
    --output (a host keeps its split thresholds; only the guest has leaf
    weights); `unseen predict` scores new rows with these parts.

    \b
    Example (three terminals, ss-dealer):
      unseen secureboost --as bank    --parties keys/parties.toml --input bank_aligned.csv \\
             --id phone --label default --mode ss-dealer --output bank_sbt --n-estimators 10
      unseen secureboost --as telecom --parties keys/parties.toml --input tel_aligned.csv \\
             --id phone --mode ss-dealer --output tel_sbt
      unseen secureboost --as dealer  --parties keys/parties.toml --mode ss-dealer
    """
    from unseen.crypto import parallel
    from unseen.ml.sbt_protocol import BoostParams
    from unseen.ml.secureboost import security_statement
    from unseen.runtime.errors import UnseenError

    party = {k: flags.pop(k) for k in list(flags) if k not in HYPER}
    me = party["party"]
    given = {k: v for k, v in flags.items() if v is not None}
    try:
        if goss is not None:
            parts = [float(x) for x in goss.split(",")]
            if len(parts) != 2:
                raise ValueError("--goss takes two rates, 'top,other'")
            given["goss"] = [parts[0], parts[1]]
        params = BoostParams.from_json(
            {**given, "goss": tuple(given["goss"]) if "goss" in given else None}
        )
    except (UnseenError, ValueError) as e:
        fail(f"[{me}] {e}")
    if input_path is not None and output is None and cv is None:
        fail(f"[{me}] --output is required: this party brings data and keeps its part of the model")
    if stratified and cv is None:
        fail(f"[{me}] --stratified is for cross-validation: give --cv K")
    if cv is not None and (init_model is not None or eval_input is not None):
        fail(f"[{me}] --cv validates on its own folds: drop --init-model and --eval-input")
    if input_path is None and categorical:
        fail(f"[{me}] --categorical needs --input: the dealer has no columns")
    if input_path is None and missing_value is not None:
        fail(f"[{me}] --missing needs --input: the dealer has no columns")
    if missing_value is not None and not math.isfinite(missing_value):
        fail(f"[{me}] --missing takes a finite number: empty and NA cells are always missing")
    if input_path is None and (label or eval_input):
        fail(f"[{me}] --label and --eval-input need --input (a party without input is the dealer)")
    if init_model is not None and input_path is None:
        fail(f"[{me}] --init-model is a data party's: the dealer holds no part of a model")
    if label_upper is not None and label is None:
        fail(f"[{me}] --label-upper is the guest's, beside its --label (the lower bound)")
    if weight_column is not None and label is None:
        fail(f"[{me}] --weight is the guest's: only the party with --label weighs rows")
    if monotone is not None and label is None:
        fail(f"[{me}] --monotone-constraints is the guest's: it chooses every split")
    constraints = parse_monotone(monotone, me) if monotone is not None else None
    if interactions is not None and label is None:
        fail(f"[{me}] --interaction-constraints is the guest's: it chooses every split")
    groups = None
    if interactions is not None:
        groups = [
            [name.strip() for name in group.split(",") if name.strip()]
            for group in interactions.split(";")
            if group.strip()
        ]
    if workers is not None:
        parallel.set_default_jobs(workers)
    ids = split_columns(id_columns)
    job_parties = split_columns(parties_in_job) if parties_in_job else None
    he_options = {"key_bits": key_bits, "scheme": he_scheme}
    click.echo(security_statement(mode))  # always: --quiet only drops the progress bars

    def role(ctx):  # type: ignore[no-untyped-def]
        from unseen.ml.sbt_protocol import handshake
        from unseen.ml.secureboost import load_table, train

        # shake hands first: once every party is connected, a bad input anywhere
        # reaches every party as the root cause
        who = "dealer" if input_path is None else "guest" if label is not None else "host"
        cpu_began = time.process_time() + parallel.worker_cpu_seconds()
        roles = handshake(ctx, who, mode, "train" if cv is None else f"cv {cv}")
        table = evals = None
        with ctx.step("load data"):
            if input_path is not None:
                table = load_table(
                    input_path,
                    label=label,
                    id_columns=ids,
                    exclude=split_columns(exclude),
                    objective=params.objective,
                    weight=weight_column,
                    num_class=params.num_class,
                    categorical=dict.fromkeys(split_columns(categorical)),
                    label_upper=label_upper,
                )
            if eval_input is not None and table is not None:
                evals = load_table(
                    eval_input,
                    label=label,
                    id_columns=ids,
                    features=table.features,
                    objective=params.objective,
                    num_class=params.num_class,
                    categorical=dict(table.categories),
                    label_upper=label_upper,
                )
        from unseen.ml.secureboost import PartyModel

        init = None if init_model is None else PartyModel.load(init_model)
        # what training and cross-validation take alike: this party's data and options
        mine: dict[str, Any] = dict(
            mode=mode,
            X=None if table is None else table.X,
            y=None if table is None else table.y,
            features=None if table is None else table.features,
            params=params if label is not None else None,
            expect=None if label is not None else {k: params.to_json()[k] for k in given},
            ids=None if table is None else table.ids,
            file=str(input_path),
            label=label,
            label_upper=label_upper,
            he_options=he_options,
            roles=roles,
            sample_weight=None if table is None else table.w,
            monotone_constraints=constraints,
            interaction_constraints=groups,
            categories=None if table is None else table.categories,
            missing=missing_value,
        )
        began = time.perf_counter()
        if cv is not None:
            return _cross_validate(ctx, mine, began, cpu_began)
        eval_set = None if evals is None else (evals.X, evals.y)
        model = train(ctx, **mine, eval_set=eval_set, init_model=init)
        seconds = time.perf_counter() - began
        with ctx.step("finish"):  # every party trained: only now does anyone write its model
            ctx.broadcast("sbt/trained", "ok")
            for peer in ctx.peers:
                ctx.recv(peer, "sbt/trained")
            if model is not None and output is not None:
                model.save(output)
                # every node as this party sees it (XGBoost's trees_to_dataframe columns)
                model.trees_to_dataframe().to_csv(Path(output) / "trees.csv", index=False)
                if model.n_trees:  # and the first tree drawn, where matplotlib is installed
                    model.plot_tree(Path(output) / "tree_0.png", 0)
                if model.role == "guest" and model.importance_cover is not None:
                    from unseen.ml.report import write_importance

                    kinds = ("total_gain", "weight", "gain", "total_cover", "cover")
                    write_importance(output, {k: model.feature_importance(k) for k in kinds})
                if model.role == "guest" and model.history:
                    _plot_validation(model, Path(output))
        return model, seconds, _cost(ctx, cpu_began)

    def _cross_validate(
        ctx: Any, mine: dict[str, Any], began: float, cpu_began: float
    ) -> tuple[Any, float, str]:
        from unseen.ml.secureboost import cross_validate

        scores = cross_validate(ctx, **mine, nfold=cv, stratified=stratified)
        seconds = time.perf_counter() - began
        with ctx.step("finish"):  # every fold of every party done: only then is anything written
            ctx.broadcast("sbt-cv/done", "ok")
            for peer in ctx.peers:
                ctx.recv(peer, "sbt-cv/done")
            if scores is not None and output is not None:
                import pyarrow as pa

                from unseen.data.io import write_table

                frame = scores.reset_index()
                frame.attrs = {}  # the folds' histories and each row's fold: not the file's
                table = pa.Table.from_pandas(frame, preserve_index=False)
                write_table(table, Path(output) / "cv.csv")
                _plot_cv(scores, Path(output))
        return scores, seconds, _cost(ctx, cpu_began)

    def _cost(ctx: Any, cpu_began: float) -> str:
        """What this party's part cost: the traffic it sent and received, its CPU time
        (every thread and the crypto worker processes, set-up included)."""
        from unseen.runtime.context import megabytes

        cpu = time.process_time() + parallel.worker_cpu_seconds() - cpu_began
        return (
            f"sent {megabytes(ctx.stats.bytes_sent)}, received "
            f"{megabytes(ctx.bytes_received)}; CPU {cpu:.1f} s"
        )

    model, seconds, cost = run_party(
        role, default_job="secureboost", job_parties=job_parties, **party
    )
    if cv is not None:
        _print_cv(me, model, cv, seconds, cost, output)
        return
    if model is None:
        click.echo(
            f"[{me}] dealer: done (dealt correlated randomness, saw no data) in {seconds:.1f} s; "
            f"{cost}"
        )
        return
    per_round = model.params.trees_per_round
    rounds = (
        f" ({model.n_trees // per_round} rounds x {per_round} classes)" if per_round > 1 else ""
    )
    drawn = output is not None and (Path(output) / "tree_0.png").exists()
    click.echo(
        f"[{me}] {model.role}: {model.n_trees} trees{rounds} in {seconds:.2f} s; {cost}; "
        f"model part written to {output} (every node as this party sees it: trees.csv"
        + ("; the first tree drawn: tree_0.png)" if drawn else ")")
    )
    if model.tree_seconds:
        grown = model.tree_seconds
        click.echo(
            f"[{me}] trees alone: {sum(grown):.2f} s for {len(grown)} trees"
            + (
                f" grown (early stopping kept {model.n_trees})"
                if init_model is None and model.n_trees < len(grown)
                else ""
            )
            + " "
            f"({sum(grown) / len(grown):.3f} s/tree; the rest is set-up: handshake, "
            "alignment, binning, keys)"
        )
    if model.role == "guest":
        kept = {k: v for k, v in model.monotone_constraints.items() if v}
        if kept:
            shown = ", ".join(f"{k} {'rising' if v > 0 else 'falling'}" for k, v in kept.items())
            click.echo(f"[{me}] monotone constraints kept: {shown}")
        if model.history:
            metric, best = _best_round(model)
            plot = Path(str(output)) / "validation.png"  # a data party always has --output
            click.echo(
                f"[{me}] validation {metric}: best {model.history[best - 1]:.5f} after "
                f"{model.n_trees} trees{rounds}" + (f"; curve in {plot}" if plot.exists() else "")
            )
        top = sorted(model.importance_gain.items(), key=lambda kv: -kv[1])[:10]
        if top:
            click.echo(
                f"[{me}] feature importance (total gain, split count; every kind in "
                f"{output}/importance.csv):"
            )
            for name, gain in top:
                click.echo(f"    {name:30s} {gain:12.4f}  {model.importance_split[name]}")


def _best_round(model: Any) -> tuple[str, int]:
    """The guest's validation metric and its best round (from 1)."""
    from unseen.ml.sbt_tree import EVAL_METRICS, MAXIMIZE

    metric = model.params.eval_metric or EVAL_METRICS[model.params.objective][0]
    history = model.history
    pick = max if metric in MAXIMIZE else min
    return metric, history.index(pick(history)) + 1


def _plot_validation(model: Any, output: Path) -> None:
    """``validation.png``: the guest's validation metric per round (with matplotlib)."""
    from unseen.ml.report import write_learning_curve

    metric, best = _best_round(model)
    write_learning_curve(output / "validation.png", metric, model.history, best=best)


def _cv_best(scores: Any) -> tuple[str, str, str, int]:
    """A cross-validation table's mean and std columns, its metric and its best round."""
    from unseen.ml.sbt_tree import MAXIMIZE

    mean, std = scores.columns[0], scores.columns[1]
    metric = mean.removeprefix("test-").removesuffix("-mean")
    best = scores[mean].idxmax() if metric in MAXIMIZE else scores[mean].idxmin()
    return mean, std, metric, int(best)


def _plot_cv(scores: Any, output: Path) -> None:
    """``cv.png``: cross-validation's mean metric per round, with the folds' spread (an
    older one is removed where matplotlib is missing: it would be another run's)."""
    from unseen.ml.report import write_learning_curve

    mean, std, metric, best = _cv_best(scores)
    path = output / "cv.png"
    if write_learning_curve(path, metric, scores[mean], scores[std], best, "cross-validation"):
        return
    path.unlink(missing_ok=True)


def _print_cv(me: str, scores: Any, k: int, seconds: float, cost: str, output: Path | None) -> None:
    """The summary of a cross-validation: the guest's table and its best round."""
    if scores is None:
        click.echo(f"[{me}] cross-validation: {k} folds done in {seconds:.1f} s; {cost}")
        return
    mean, std, metric, best = _cv_best(scores)
    where = f"; written to {output}/cv.csv" if output is not None else ""
    if output is not None and (Path(output) / "cv.png").exists():
        where += " (curve in cv.png)"
    kind = "stratified folds" if scores.attrs.get("stratified") else "folds"
    click.echo(f"[{me}] cross-validation: {k} {kind} in {seconds:.1f} s; {cost}{where}")
    click.echo(
        f"[{me}] validation {metric} per round, mean ± std over the folds "
        f"(best after {best} rounds, {scores[mean][best]:.5f}):"
    )
    for r, m, s in zip(scores.index, scores[mean], scores[std], strict=True):
        click.echo(f"    rounds {r:4d}  {m:.5f} ± {s:.5f}{'  <- best' if r == best else ''}")


def parse_monotone(text: str, me: str) -> dict[str, int]:
    """``'income:1,telecom:overdue:-1'`` as ``{"income": 1, "telecom:overdue": -1}``
    (the direction after the last colon); exits naming a malformed item."""
    out: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        name, _, sign = item.rpartition(":")
        if not name or sign.strip() not in ("1", "-1", "+1", "0"):
            fail(
                f"[{me}] --monotone-constraints: {item!r} is not 'feature:1' or 'feature:-1' "
                "(a host's feature as host:feature:1)"
            )
        out[name.strip()] = int(sign)
    return out
