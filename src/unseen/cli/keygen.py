"""``unseen keygen``: a party's key, certificate and parties-file entry."""

from __future__ import annotations

from pathlib import Path

import click

from unseen.cli.common import fail


@click.command()
@click.argument("party")
@click.option(
    "--address", required=True, help="host:port where the other parties reach this party."
)
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for <party>.key, <party>.crt and parties.toml.",
)
@click.option("--listen", help="host:port to bind, if not --address (e.g. 0.0.0.0:7001).")
@click.option("--force", is_flag=True, help="Replace an existing key.")
def keygen(party: str, address: str, directory: Path, listen: str | None, force: bool) -> None:
    """Create PARTY's private key and self-signed certificate; add it to parties.toml.

    The certificate is pinned by the other parties: send them <party>.crt and
    this party's [parties.<party>] entry; add theirs to your parties.toml. Keep
    <party>.key private (it is written with mode 0600).
    """
    from unseen.runtime.errors import ConfigError
    from unseen.transport.identity import cert_fingerprint
    from unseen.transport.identity import keygen as make

    try:
        key, cert, parties = make(party, address, directory, listen=listen, force=force)
    except ConfigError as e:
        fail(str(e))
    click.echo(f"wrote {key} (private, keep it here)")
    click.echo(f"wrote {cert} (give it to the other parties)")
    click.echo(f"added {party!r} at {address} to {parties}")
    click.echo(f"certificate SHA-256 fingerprint: {cert_fingerprint(cert.read_bytes())}")
