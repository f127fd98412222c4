"""``unseen demo``."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep keys, inputs, outputs and logs here [default: a temporary directory, removed].",
)
@click.option(
    "--timeout", type=float, default=600.0, show_default=True, help="Seconds before giving up."
)
def demo(workdir: Path | None, timeout: float) -> None:
    """Run the whole flow between a bank and a telecom, as separate processes over TLS."""
    from unseen.demo.run import run_demo

    sys.exit(run_demo(workdir, timeout))
