"""What every protocol command shares: the party flags, and running one party's job.

Conventions (see ../shared/ROADMAP.md): ``--as <party>``, ``--parties <file>``
(the party's key ``<party>.key`` lies beside it unless ``--key`` is given),
``--input``, ``--id``, ``--label``, ``--output``. Exit status 0 on success;
non-zero on any failure, with the root cause on stderr, at every party.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from unseen.runtime.context import Context, RuntimeConfig, run_role
from unseen.runtime.errors import UnseenError
from unseen.runtime.progress import TqdmProgress


def party_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--as``, ``--parties``, ``--key``, ``--job``, timeouts and verbosity."""
    options = [
        click.option("--as", "party", required=True, help="Who I am: my name in the parties file."),
        click.option(
            "--parties",
            "parties_file",
            required=True,
            type=click.Path(dir_okay=False, path_type=Path),
            help="Parties file (name -> address, certificate); see `unseen keygen`.",
        ),
        click.option(
            "--key",
            type=click.Path(dir_okay=False, path_type=Path),
            help="My private key [default: <party>.key beside the parties file].",
        ),
        click.option(
            "--job",
            "job_id",
            default=None,
            help="Job id; all parties must use the same one [default: the command's name].",
        ),
        click.option(
            "--connect-timeout",
            type=float,
            default=120.0,
            show_default=True,
            help="Seconds to wait for a peer to start.",
        ),
        click.option(
            "--timeout",
            "peer_timeout",
            type=float,
            default=15.0,
            show_default=True,
            help="Seconds a peer may stay unreachable once the job runs.",
        ),
        click.option(
            "--traffic",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="Write every kind of message this party sent and received to this CSV "
            "(peer, key, kind and dtype, count, bytes, largest shape; never contents), "
            "for an audit of what crossed the wire. Written also when the job fails.",
        ),
        click.option("--quiet", "-q", is_flag=True, help="No progress bars."),
        click.option("--verbose", "-v", is_flag=True, help="Debug logging on stderr."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def split_columns(value: str | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]`` (the comma-separated column flags)."""
    return [c.strip() for c in (value or "").split(",") if c.strip()]


def training_options(
    modes: list[str], mode_help: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The flags every vertical-learning command shares: input, label, IDs, mode, output."""
    options = [
        click.option(
            "--input",
            "input_path",
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            help="My aligned table (CSV or Parquet, the output of `unseen psi`). Omit it at the dealer.",
        ),
        click.option("--label", default=None, help="The label column: only at the guest."),
        click.option("--id", "id_columns", default="", help="ID column(s), checked for alignment."),
        click.option(
            "--exclude", default="", help="Columns that are not features, comma-separated."
        ),
        click.option("--mode", type=click.Choice(modes), required=True, help=mode_help),
        click.option(
            "--output",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Model directory for my part of the model (data parties).",
        ),
        click.option(
            "--parties-in-job",
            default=None,
            help="The job's parties, comma-separated [default: every party in the parties file].",
        ),
    ]

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(options):
            f = option(f)
        return f

    return deco


def fail(message: str) -> None:
    click.echo(f"unseen: error: {message}", err=True)
    sys.exit(1)


def run_party(
    role: Callable[..., Any],
    *,
    party: str,
    parties_file: Path,
    key: Path | None,
    job_id: str | None,
    default_job: str,
    connect_timeout: float,
    peer_timeout: float,
    quiet: bool,
    verbose: bool,
    job_parties: list[str] | None = None,
    traffic: Path | None = None,
    **role_kwargs: Any,
) -> Any:
    """Start this party's transport, run ``role(ctx, **role_kwargs)``, stop cleanly.

    Any failure (here or relayed from a peer) ends the process with status 1 and
    the root cause on stderr. ``traffic``: where to write the job's message ledger
    (:meth:`~unseen.runtime.context.TrafficStats.ledger_rows`), whatever the outcome.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format=f"[{party}] %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("grpc", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Imported here: the transport pulls in gRPC, which `unseen --help` does not need.
    from unseen.transport.grpc import GrpcTransport
    from unseen.transport.identity import load_parties, load_private_key

    transport = ctx = None
    before = _terminate_as_interrupt()
    try:
        parties = load_parties(parties_file)
        me = parties[party]
        key_pem = load_private_key(key or parties.key_path(me.name))
        names = job_parties or parties.names
        for name in names:
            parties[name]  # noqa: B018 - raises a clear error for an unknown name
        transport = GrpcTransport(parties, party, key_pem)
        ctx = Context(
            job_id or default_job,
            party,
            names,
            transport,
            config=RuntimeConfig(connect_timeout=connect_timeout, peer_timeout=peer_timeout),
            progress=TqdmProgress(prefix=f"[{party}] ", disable=True if quiet else None),
        )
        return run_role(ctx, role, **role_kwargs)
    except UnseenError as e:
        fail(f"[{party}] {e}")
    except KeyboardInterrupt as e:
        fail(f"[{party}] {e or 'interrupted'}")
    finally:
        if transport is not None:
            transport.close()
        if traffic is not None and ctx is not None:
            write_traffic(traffic, ctx)
        if before is not None:  # as it was (a caller in this process, tests)
            signal.signal(signal.SIGTERM, before)


def write_traffic(path: Path, ctx: Context) -> None:
    """The job's message ledger as a CSV at ``path`` (a failure to write it is reported,
    not raised: the job's own outcome stands)."""
    import csv

    rows = ctx.stats.ledger_rows()
    columns = ["direction", "peer", "message", "kind", "messages", "bytes", "largest_shape"]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
    except OSError as e:
        click.echo(f"[{ctx.party}] could not write the traffic ledger to {path}: {e}", err=True)


def _terminate_as_interrupt() -> Any:
    """SIGTERM (``kill``, a service manager stopping the party) ends the job as Ctrl-C
    does: the peers are told at once, instead of finding this party gone when their
    next wait runs out. Returns the handler it replaced (``None`` off the main thread,
    where none can be set)."""

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt("terminated (SIGTERM)")

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, stop)
