"""The Context: everything one party's protocol code may use during one job.

A protocol is written once, one function per role, against this class::

    def sender(ctx: Context, items): ...
    def receiver(ctx: Context, items): ...

The same code runs with all parties as threads of one process (in-memory
transport, unit tests), as separate processes or hosts (gRPC over mutual TLS),
or inside a long-running node. A Context holds no global state: several jobs,
each with its own Context, can share one transport.

Failure semantics, which every protocol inherits:

- every ``recv`` is bounded: it fails if the peer is unreachable for longer than
  ``peer_timeout`` (``connect_timeout`` before the peer was first seen), if the
  peer reports the job finished or failed without sending, or after
  ``recv_timeout``; the error names the peer and the step;
- when role code raises, :meth:`Context.fail` sends the root cause to every
  peer, whose pending or next ``recv`` raises :class:`RemoteError` with it.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unseen.crypto.prg import SecureRandom
from unseen.runtime import mailbox as mb
from unseen.runtime.errors import (
    JobCancelled,
    PeerError,
    ProtocolError,
    RemoteError,
    TrustError,
    UnseenError,
)
from unseen.runtime.progress import NullProgress, ProgressReporter, ProgressTask
from unseen.transport.base import PeerUnreachable, Transport
from unseen.transport.codec import Encoded, encode

# (peer, key, encoded message) for every message this party sends
SendRecorder = Callable[[str, str, Encoded], None]


@dataclass(frozen=True)
class RuntimeConfig:
    """Time bounds, in seconds, that keep a job from ever hanging."""

    connect_timeout: float = 120.0
    """How long to wait for a peer that has not yet been seen (it may not have started)."""
    peer_timeout: float = 15.0
    """How long a peer that was seen may stay unreachable before the job fails."""
    recv_timeout: float = 3600.0
    """The longest wait for one message from a live peer."""
    heartbeat: float = 1.0
    """How often a waiting party probes the peer it waits for."""


def megabytes(n: int) -> str:
    """A byte count as people read traffic: ``"24.0 MB"``, or ``"3.2 kB"`` below 0.1 MB."""
    return f"{n / 1e6:.1f} MB" if n >= 1e5 else f"{n / 1e3:.1f} kB"


#: a number between slashes in a message key (a tree, a depth, a fold): one pattern for all
_KEY_NUMBER = re.compile(r"(?<=/)\d+(?=/|$)")


def key_pattern(key: str) -> str:
    """A message key with its numbers as ``*``: ``"sbt/3/2/left"`` -> ``"sbt/*/*/left"``."""
    return _KEY_NUMBER.sub("*", key)


def describe(value: Any) -> tuple[str, int | None, tuple[int, ...] | None]:
    """What a received value is, never what it holds: its kind (``array <dtype>``,
    ``bytes`` or ``json``, as the sender's codec names them), its size in bytes where it
    has one (not a decoded JSON value's), its shape."""
    if hasattr(value, "dtype") and hasattr(value, "shape"):
        return f"array {value.dtype}", int(value.nbytes), tuple(value.shape)
    if isinstance(value, bytes | bytearray | memoryview):
        return "bytes", len(value), None
    return "json", None, None


@dataclass
class TrafficStats:
    """What this party sent and received in a job: totals, and a ledger of every kind
    of message (:meth:`ledger_rows`), never a message's content."""

    bytes_sent: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    per_peer_sent: dict[str, int] = field(default_factory=dict)
    # (direction, peer, key pattern, kind) -> [messages, bytes, largest shape]
    ledger: dict[tuple[str, str, str, str], list[Any]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note(
        self,
        direction: str,
        peer: str,
        key: str,
        kind: str,
        nbytes: int | None,
        shape: tuple[int, ...] | None,
    ) -> None:
        """Count one message in the ledger (``nbytes`` ``None``: not known here)."""
        entry = (direction, peer, key_pattern(key), kind)
        with self._lock:
            row = self.ledger.setdefault(entry, [0, 0, None])
            row[0] += 1
            row[1] = None if nbytes is None or row[1] is None else row[1] + nbytes
            if shape is not None and (row[2] is None or math.prod(shape) > math.prod(row[2])):
                row[2] = shape

    def ledger_rows(self) -> list[dict[str, Any]]:
        """The ledger as rows (sent first, then by peer and key): ``direction``,
        ``peer``, ``message`` (the key, numbers as ``*``), ``kind`` (``array <dtype>``,
        ``bytes`` or ``json``), ``messages``, ``bytes`` (empty where the receiver cannot
        tell: a decoded JSON value) and ``largest_shape``."""
        with self._lock:
            items = sorted(self.ledger.items(), key=lambda kv: (kv[0][0] != "sent", kv[0]))
            return [
                {
                    "direction": direction,
                    "peer": peer,
                    "message": pattern,
                    "kind": kind,
                    "messages": row[0],
                    "bytes": "" if row[1] is None else row[1],
                    "largest_shape": "" if row[2] is None else "x".join(map(str, row[2])),
                }
                for (direction, peer, pattern, kind), row in items
            ]


class Context:
    """One party's view of one job."""

    def __init__(
        self,
        job_id: str,
        party: str,
        parties: Sequence[str],
        transport: Transport,
        *,
        config: RuntimeConfig | None = None,
        progress: ProgressReporter | None = None,
        logger: logging.Logger | None = None,
        recorder: SendRecorder | None = None,
    ) -> None:
        if party not in parties:
            raise ValueError(f"party {party!r} is not among the job's parties {list(parties)}")
        if transport.party != party:
            raise ValueError(f"transport belongs to {transport.party!r}, not {party!r}")
        self.job_id = job_id
        self.party = party
        self.parties: tuple[str, ...] = tuple(parties)
        self.peers: tuple[str, ...] = tuple(p for p in parties if p != party)
        self.transport = transport
        self.config = config or RuntimeConfig()
        self.rng = SecureRandom()
        self.log = logging.LoggerAdapter(
            logger or logging.getLogger(f"unseen.{party}"), {"party": party, "job": job_id}
        )
        self.stats = TrafficStats()
        self._progress = progress or NullProgress()
        self._recorder = recorder
        self._cancel = threading.Event()
        self._step: str | None = None
        self._failed_step: str | None = None
        self._seen: dict[str, float] = {}  # peer -> last time it answered
        self._started = time.monotonic()
        self._finished = False
        self._key_prefix = ""  # see scope()
        self.transport.mailbox.set_state(job_id, mb.RUNNING)

    @property
    def bytes_received(self) -> int:
        """Bytes this party received in this job, as counted by the transport."""
        return self.transport.mailbox.bytes_received(self.job_id)

    # -- steps and progress -------------------------------------------------
    @property
    def current_step(self) -> str | None:
        return self._step

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Label the work inside, so errors say where the job was."""
        outer, self._step = self._step, name
        try:
            yield
        except BaseException:
            # remember the innermost step that failed, for the error report
            if self._failed_step is None:
                self._failed_step = name
            raise
        finally:
            self._step = outer

    @contextmanager
    def scope(self, prefix: str) -> Iterator[None]:
        """Within the block every message key this party sends or waits for starts with
        ``prefix``: one protocol run several times in one job (cross-validation folds)
        keeps each run's keys apart. Every party must enter the same scopes in the same
        order; scopes nest."""
        outer = self._key_prefix
        self._key_prefix = outer + prefix
        try:
            yield
        finally:
            self._key_prefix = outer

    def progress(
        self, description: str, total: int | None = None, unit: str = "it"
    ) -> ProgressTask:
        return self._progress.task(description, total=total, unit=unit)

    # -- cancellation ---------------------------------------------------------
    def cancel(self) -> None:
        self._cancel.set()
        self.transport.mailbox.wake()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def _stopped(self) -> bool:
        """True once the job was cancelled here or failed at a peer."""
        return self._cancel.is_set() or self.transport.mailbox.failure(self.job_id) is not None

    @property
    def ended(self) -> bool:
        """True once the job finished here, was cancelled, or failed here or at a peer
        (for helper threads that must not outlive it)."""
        return self._finished or self._stopped()

    def check_cancelled(self) -> None:
        """Raise :class:`JobCancelled` if the job was cancelled, or a peer failed."""
        if self._cancel.is_set():
            raise JobCancelled(f"job {self.job_id!r} was cancelled at {self.party!r}")
        failure = self.transport.mailbox.failure(self.job_id)
        if failure is not None:
            raise _remote(failure)

    # -- messaging ------------------------------------------------------------
    def _check_peer(self, peer: str) -> None:
        if peer not in self.peers:
            raise ValueError(f"{peer!r} is not a peer of {self.party!r} in this job")

    def _wait_budget(self, peer: str) -> float:
        """How long ``peer`` may stay unreachable from now on."""
        if peer in self._seen:
            return self.config.peer_timeout
        return max(1.0, self.config.connect_timeout - (time.monotonic() - self._started))

    def send(self, peer: str, key: str, value: Any) -> None:
        """Send ``value`` (bytes, numpy array or JSON-able object) to ``peer``.

        Returns once the peer holds the message, so ``value`` may be changed
        afterwards. Keys must be unique per job and direction.
        """
        self._check_peer(peer)
        self.check_cancelled()
        key = self._key_prefix + key
        message = encode(value)
        if self._recorder is not None:
            self._recorder(peer, key, message)
        try:
            wire = self.transport.deliver(
                self.job_id, peer, key, message, wait=self._wait_budget(peer), stop=self._stopped
            )
        except PeerUnreachable as e:
            self.check_cancelled()  # a peer's own failure explains it better
            raise PeerError(peer, self._step or key, f"could not deliver {key!r}: {e}") from None
        except ProtocolError:
            # A peer that fails closes its server, cancelling what is in flight
            # to it; the failure notice it sent first is the better explanation.
            self.check_cancelled()
            raise
        self._seen[peer] = time.monotonic()
        self.stats.bytes_sent += wire
        self.stats.messages_sent += 1
        self.stats.per_peer_sent[peer] = self.stats.per_peer_sent.get(peer, 0) + wire
        kind = message.kind if message.kind != "array" else f"array {np.dtype(message.dtype).name}"
        self.stats.note("sent", peer, key, kind, message.nbytes, message.shape)

    def broadcast(self, key: str, value: Any) -> None:
        for peer in self.peers:
            self.send(peer, key, value)

    def recv(self, peer: str, key: str, timeout: float | None = None) -> Any:
        """Wait for ``peer``'s message under ``key``; every wait is bounded."""
        self._check_peer(peer)
        key = self._key_prefix + key
        cfg = self.config
        step = self._step or key
        began = time.monotonic()
        limit = began + (timeout if timeout is not None else cfg.recv_timeout)
        mailbox = self.transport.mailbox
        last_probe = 0.0
        unreachable_since: float | None = None
        while True:
            value = mailbox.take(self.job_id, peer, key, timeout=min(cfg.heartbeat, 0.25))
            if value is not mb.MISSING:
                self._seen[peer] = time.monotonic()
                self.stats.messages_received += 1
                self.stats.note("received", peer, key, *describe(value))
                return value
            self.check_cancelled()
            now = time.monotonic()
            if now >= limit:
                raise PeerError(peer, step, f"no message {key!r} after {now - began:.0f} s")
            if now - last_probe < cfg.heartbeat:
                continue
            last_probe = now
            try:
                state, failure = self.transport.probe(peer, self.job_id)
            except PeerUnreachable as e:
                if unreachable_since is None:
                    unreachable_since = now
                budget = cfg.peer_timeout if peer in self._seen else cfg.connect_timeout
                start = unreachable_since if peer in self._seen else self._started
                if now - start >= budget:
                    what = "stopped answering" if peer in self._seen else "never came up"
                    raise PeerError(
                        peer, step, f"{what} ({e}); waited {now - start:.0f} s for {key!r}"
                    ) from None
                continue
            unreachable_since = None
            self._seen[peer] = now
            if failure is not None:  # the peer failed and we missed its notice
                mailbox.put_failure(self.job_id, failure)
                self.check_cancelled()
            if state in (mb.DONE, mb.FAILED):
                # One more look: the message may have landed just before the probe.
                value = mailbox.take(self.job_id, peer, key, timeout=0.5)
                if value is not mb.MISSING:
                    self.stats.messages_received += 1
                    self.stats.note("received", peer, key, *describe(value))
                    return value
                self.check_cancelled()
                how = "finished" if state == mb.DONE else "failed"
                raise PeerError(peer, step, f"{how} the job without sending {key!r}")

    # -- end of the job -------------------------------------------------------
    def finish(self) -> None:
        """Mark the job done at this party (peers' probes see it)."""
        self._finished = True
        self.transport.mailbox.set_state(self.job_id, mb.DONE)
        self.transport.mailbox.forget(self.job_id)

    def fail(self, error: BaseException) -> None:
        """Mark the job failed here and send the root cause to every peer.

        Where the failure started here, peers not yet seen may still be starting:
        each is waited for as long as a send would wait (bounded by the connect
        timeout), all in parallel. A failure relayed from another party is passed
        on with a short wait only: its origin waits for the late peers itself. A
        peer that is itself the cause (it stopped answering), or that told this
        party it failed, is not waited for; one whose link TLS refused is given a
        few seconds to find that out itself.
        Probes of this party answer with the root cause too.
        """
        if isinstance(error, RemoteError):
            failure = mb.Failure(error.party, error.step, error.error_type, error.root_message)
        else:
            step = self._failed_step or self._step
            # peers get the shared message: an input error's offending cell stays here
            message = error.shared_message if isinstance(error, UnseenError) else str(error)
            if isinstance(error, KeyboardInterrupt):  # Ctrl-C, or SIGTERM (the CLI's)
                message = str(error) or "interrupted (Ctrl-C or SIGINT)"
            failure = mb.Failure(self.party, step, type(error).__name__, message)
        self.transport.mailbox.set_failed(self.job_id, failure)
        skip = {failure.party} | ({error.peer} if isinstance(error, PeerError) else set())
        # a peer that told this party it failed has stopped: it need not be told (nor
        # waited for, when it has exited already)
        skip |= self.transport.mailbox.failed_peers(self.job_id)
        refused = error.peer if isinstance(error, TrustError) else None

        relayed = isinstance(error, RemoteError)

        def tell(peer: str) -> None:
            wait = min(2.0, self._wait_budget(peer)) if relayed else self._wait_budget(peer)
            if peer == refused:
                # TLS refuses the link both ways: no notice can cross it. Stay up a
                # moment, so that the peer's own dial finds the refusal too, instead of
                # taking this party for one that has not started (its connect timeout).
                time.sleep(min(TRUST_LINGER_S, wait))
                return
            try:
                self.transport.notify_failure(self.job_id, peer, failure, wait=wait)
            except Exception as e:  # best effort: the peer may be down for good
                self.log.debug("could not tell %s about the failure: %s", peer, e)

        threads = [
            threading.Thread(target=tell, args=(p,), daemon=True)
            for p in self.peers
            if p not in skip
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def __enter__(self) -> Context:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self.fail(exc)
        elif not self._finished:
            self.finish()


TRUST_LINGER_S = 3.0
"""How long a party that found a peer's TLS link refused stays up before it exits: a
peer dials again within a second or two, and must find the refusal, not a closed port."""


def _remote(failure: mb.Failure) -> RemoteError:
    return RemoteError(failure.party, failure.step, failure.error_type, failure.message)


def run_role(ctx: Context, role: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run one party's role in ``ctx``; on error, tell every peer, then re-raise."""
    with ctx:
        try:
            return role(ctx, *args, **kwargs)
        except SystemError as e:
            # Ctrl-C inside a compiled (Numba) loop reaches Python as a SystemError
            # ("returned a result with an exception set") caused by the KeyboardInterrupt:
            # the interrupt is the root cause, here and at the peers
            if _interrupted(e):
                raise KeyboardInterrupt from e
            raise


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` was caused, directly or through others, by a KeyboardInterrupt."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


__all__ = [
    "Context",
    "RuntimeConfig",
    "TrafficStats",
    "run_role",
    "UnseenError",
    "ProtocolError",
]
