"""``unseen psi``: one party's side of ECDH-PSI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from unseen.cli.common import fail, party_options, run_party, split_columns


@click.command()
@party_options
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="My table: CSV (with a header) or Parquet.",
)
@click.option(
    "--id", "id_columns", required=True, help="ID column(s), comma-separated for a composite key."
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write my rows of the intersection (CSV or Parquet, by suffix).",
)
@click.option("--peer", help="The other party [default: the only other party in the parties file].")
@click.option(
    "--reveal-to",
    help="Only this party learns the intersection [default: both parties learn it].",
)
@click.option("--cardinality-only", is_flag=True, help="Learn only the intersection size.")
@click.option(
    "--normalize",
    default="",
    help="Normalise IDs before matching: any of trim,casefold,nfkc (both parties must agree).",
)
@click.option(
    "--workers", type=int, default=None, help="Processes for the crypto [default: all cores]."
)
@click.option("--batch-size", type=int, default=65536, show_default=True, help="IDs per message.")
def psi(
    input_path: Path,
    id_columns: str,
    output: Path | None,
    peer: str | None,
    reveal_to: str | None,
    cardinality_only: bool,
    normalize: str,
    workers: int | None,
    batch_size: int,
    **party: Any,
) -> None:
    """Private set intersection (ECDH-PSI over X25519) with one other party.

    Run it once per party, each with its own --as and --input. Each party that
    learns the intersection writes its own rows of it to --output, in the same
    order at both parties, so that row i is the same identifier everywhere.

    \b
    Example (two terminals):
      unseen psi --as bank    --parties keys/parties.toml --input bank.csv --id phone --output bank_aligned.csv
      unseen psi --as telecom --parties keys/parties.toml --input tel.csv  --id phone --output tel_aligned.csv
    """
    from unseen.data.io import read_table, write_table
    from unseen.protocols.psi import PsiOptions, psi_table
    from unseen.runtime.errors import UnseenError
    from unseen.transport.identity import load_parties

    ids = split_columns(id_columns)
    steps = tuple(s.strip() for s in normalize.split(",") if s.strip())
    me = party["party"]
    try:
        names = load_parties(party["parties_file"]).names
        options = PsiOptions(
            reveal_to=reveal_to,
            cardinality_only=cardinality_only,
            normalize=steps,
            batch_size=batch_size,
            workers=workers,
        )
    except (UnseenError, ValueError) as e:
        fail(f"[{me}] {e}")
    if peer is None:
        others = [n for n in names if n != me]
        if len(others) != 1:
            fail(
                f"[{me}] the parties file lists {len(others)} other parties; choose one with --peer"
            )
        peer = others[0]
    learns = reveal_to in (None, me) and not cardinality_only
    if learns and output is None:
        fail(f"[{me}] --output is required: this party learns the intersection")
    if reveal_to is not None and reveal_to not in (me, peer):
        fail(f"[{me}] --reveal-to {reveal_to!r} is neither {me!r} nor {peer!r}")

    def role(ctx):  # type: ignore[no-untyped-def]
        table = read_table(input_path)
        res = psi_table(ctx, table, ids, options, file=str(input_path))
        if res.table is not None and output is not None:
            write_table(res.table, output)
        return res

    res = run_party(role, default_job="psi", job_parties=sorted([me, peer]), **party)
    click.echo(res.summary(me))
    if res.keys.duplicate_rows:
        click.echo(
            f"[{me}] note: {res.keys.duplicate_rows} rows of {input_path} repeat an ID "
            f"(e.g. {', '.join(res.keys.examples)}); only the first row of each ID was used"
        )
    if res.table is not None and output is not None:
        click.echo(f"[{me}] wrote {res.table.num_rows} aligned rows to {output}")
