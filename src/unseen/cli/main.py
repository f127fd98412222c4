"""The ``unseen`` command."""

from __future__ import annotations

import click

from unseen import __version__
from unseen.cli.demo import demo
from unseen.cli.keygen import keygen
from unseen.cli.lr import lr
from unseen.cli.predict import predict
from unseen.cli.psi import psi
from unseen.cli.secureboost import secureboost


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="unseen")
def cli() -> None:
    """Unseen: compute across organisations on data none of them reveals.

    Every protocol command runs once per party, each party in its own terminal
    or host, with the same flags: --as <party> --parties <file> --input <file>.
    Start with `unseen demo`.
    """


cli.add_command(keygen)
cli.add_command(psi)
cli.add_command(demo)
cli.add_command(secureboost)
cli.add_command(lr)
cli.add_command(predict)


def main() -> None:
    cli()
