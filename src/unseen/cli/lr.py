"""``unseen lr``: one party's side of vertical logistic regression (guest, host or dealer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from unseen.cli.common import fail, party_options, run_party, split_columns, training_options
from unseen.ml.lr_common import OPTIMIZERS, SCHEDULES


@click.command()
@party_options
@training_options(
    ["ss-dealer", "he"],
    "ss-dealer: secret sharing with a dealer party; he: Paillier, two parties.",
)
@click.option("--epochs", type=int, default=50, show_default=True)
@click.option("--learning-rate", type=float, default=0.3, show_default=True)
@click.option(
    "--schedule",
    type=click.Choice(SCHEDULES),
    default="constant",
    show_default=True,
    help="inverse: lr/(1+decay*epoch); inverse-sqrt: lr/sqrt(1+decay*epoch).",
)
@click.option("--decay", type=float, default=0.0, show_default=True)
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="nesterov", show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option(
    "--batch-size",
    type=int,
    default=0,
    show_default=True,
    help="Rows per batch (0: every row in one batch).",
)
@click.option("--l2", type=float, default=0.0, show_default=True, help="L2 penalty.")
@click.option("--l1", type=float, default=0.0, show_default=True, help="L1 penalty.")
@click.option("--no-intercept", is_flag=True, help="No intercept.")
@click.option(
    "--tol",
    type=float,
    default=1e-6,
    show_default=True,
    help="Stop when the epoch loss changes by less (0: run every epoch).",
)
@click.option("--no-standardize", is_flag=True, help="Use my features as they are.")
@click.option("--no-shuffle", is_flag=True, help="Keep the input row order for batches.")
@click.option(
    "--random-state",
    type=int,
    default=None,
    help="Seed of the shared row order (the same at every data party): a run again takes "
    "the same batches [default: a fresh order per job].",
)
@click.option(
    "--key-bits", type=int, default=2048, show_default=True, help="he mode: Paillier key size."
)
@click.option(
    "--workers",
    type=int,
    default=None,
    help="he mode: processes for the encryption [default: all cores].",
)
@click.option(
    "--validate",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Aligned test table: after training, score it jointly; the guest reports metrics.",
)
@click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the guest writes the validation report [default: <output>/validation].",
)
def lr(
    input_path: Path | None,
    label: str | None,
    id_columns: str,
    exclude: str,
    mode: str,
    output: Path | None,
    parties_in_job: str | None,
    epochs: int,
    learning_rate: float,
    schedule: str,
    decay: float,
    optimizer: str,
    momentum: float,
    batch_size: int,
    l2: float,
    l1: float,
    no_intercept: bool,
    tol: float,
    no_standardize: bool,
    no_shuffle: bool,
    random_state: int | None,
    key_bits: int,
    workers: int | None,
    validate: Path | None,
    report: Path | None,
    **party: Any,
) -> None:
    """Vertical logistic regression: the guest (label + features), hosts (features), a dealer.

    Run it once per party with the same hyper-parameters. The party with --label
    is the guest; a party with no --input is the dealer (ss-dealer mode). Every
    job prints its security statement first. Each data party writes its own part
    of the model (weights, standardisation, coefficients.csv) to --output.

    \b
    Example (three terminals, ss-dealer):
      unseen lr --as bank    --parties keys/parties.toml --input bank_aligned.csv --id phone \\
                --label default --mode ss-dealer --output bank_model
      unseen lr --as telecom --parties keys/parties.toml --input tel_aligned.csv --id phone \\
                --mode ss-dealer --output tel_model
      unseen lr --as dealer  --parties keys/parties.toml --mode ss-dealer
    """
    from unseen.crypto import parallel
    from unseen.ml.data import load_party_data
    from unseen.ml.lr_common import LRParams
    from unseen.ml.report import cannot_report, write_report
    from unseen.ml.vertical_lr import VerticalLR
    from unseen.runtime.errors import UnseenError

    me = party["party"]
    ids = split_columns(id_columns)
    try:
        hyper = dict(
            epochs=epochs,
            learning_rate=learning_rate,
            schedule=schedule,
            decay=decay,
            optimizer=optimizer,
            momentum=momentum,
            batch_size=batch_size,
            l2=l2,
            l1=l1,
            fit_intercept=not no_intercept,
            tol=tol,
            standardize=not no_standardize,
            shuffle=not no_shuffle,
            random_state=random_state,
            key_bits=key_bits,
        )
        LRParams(mode=mode, **hyper)  # type: ignore[arg-type]  # check the flags before connecting
    except (UnseenError, TypeError) as e:
        fail(f"[{me}] {e}")
    if input_path is not None and output is None:
        fail(f"[{me}] --output is required: this party brings data and keeps its part of the model")
    if input_path is None and (label or validate):
        fail(f"[{me}] --label and --validate need --input (a party without input is the dealer)")
    if workers is not None:
        parallel.set_default_jobs(workers)
    job_parties = split_columns(parties_in_job) if parties_in_job else None

    def role(ctx):  # type: ignore[no-untyped-def]
        with ctx.step("load data"):
            data = None
            if input_path is not None:
                data = load_party_data(
                    input_path, label=label, id_columns=ids, exclude=split_columns(exclude)
                )
        model = VerticalLR(mode, **hyper)
        task = ctx.progress("epochs", total=epochs, unit="epoch")

        def on_epoch(epoch: int, loss: float | None) -> None:
            if loss is not None:
                task.set_postfix(loss=f"{loss:.6f}")
            task.update(1)

        with task:
            model.fit(ctx, data, label=label, announce=click.echo, on_epoch=on_epoch, copy=False)
        out: dict[str, Any] = {"model": model}
        if data is None:
            return out
        assert output is not None
        model.save(output)
        if validate is not None:
            with ctx.step("load validation data"):
                test = load_party_data(
                    validate,
                    label=label,
                    id_columns=ids,
                    features=model.feature_names_in_,
                    allow_constant=True,
                    allow_one_class=True,  # the label only serves the report
                )
            scores = model.predict_proba(ctx, test, namespace="lr-validate")
            if scores is not None and test.y is not None and (problem := cannot_report(test.y)):
                out["no_report"] = problem
            elif scores is not None and test.y is not None:
                where = report or output / "validation"
                out["report"], out["files"] = write_report(
                    where,
                    test.y,
                    scores,
                    title="validation",
                    extra={"mode": mode, "rows": test.n},
                )
                out["report_dir"] = where
        return out

    res = run_party(role, default_job="lr", job_parties=job_parties, **party)
    model = res["model"]
    if model.role_ == "dealer":
        click.echo(f"[{me}] dealer: done (dealt correlated randomness, saw no data)")
        return
    result = model.result_
    times = result.epoch_seconds if result else []
    per_epoch = sum(times) / len(times) if times else 0.0
    click.echo(
        f"[{me}] {model.role_}: trained {result.epochs_run if result else 0} epochs "
        f"({per_epoch:.3f} s/epoch, setup {result.setup_seconds if result else 0:.2f} s); "
        f"model part written to {output}"
    )
    if model.history_:
        click.echo(f"[{me}] final Taylor loss {model.history_[-1]:.6f}")
    if "report" in res:
        click.echo(f"[{me}] validation: {res['report'].line()}")
        click.echo(f"[{me}] report written to {res['report_dir']}")
    if "no_report" in res:
        click.echo(f"[{me}] no validation report: {res['no_report']}")
