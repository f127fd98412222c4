"""A party's incoming messages, keyed by (job, sender, key).

One Mailbox serves every job running at a party, so several jobs can run
concurrently in one process without mixing messages. The transport puts what
arrives; a job's Context takes what it waits for. The mailbox also keeps each
job's state, which peers ask for when they check that this party is alive.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from unseen.runtime.errors import ProtocolError

# A job's life at this party, as answered to a peer's probe.
UNKNOWN, RUNNING, DONE, FAILED = "unknown", "running", "done", "failed"


@dataclass
class Failure:
    """A failure that started at ``party``: travels to every peer of the job."""

    party: str
    step: str | None
    error_type: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "step": self.step,
            "error_type": self.error_type,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Failure:
        return cls(
            party=str(d["party"]),
            step=d.get("step"),
            error_type=str(d["error_type"]),
            message=str(d["message"]),
        )


@dataclass
class _Job:
    messages: dict[tuple[str, str], Any] = field(default_factory=dict)
    taken: set[tuple[str, str]] = field(default_factory=set)
    failure: Failure | None = None  # a failure reported by a peer
    failed_peers: set[str] = field(default_factory=set)  # peers that told us they failed
    own_failure: Failure | None = None  # the root cause this party reported, for probes
    state: str = UNKNOWN
    bytes_in: int = 0
    touched: float = field(default_factory=time.monotonic)


_MISSING = object()


class Mailbox:
    def __init__(self) -> None:
        self._jobs: dict[str, _Job] = defaultdict(_Job)
        self._cond = threading.Condition()

    # -- transport side ---------------------------------------------------
    def put(self, job: str, sender: str, key: str, value: Any, nbytes: int = 0) -> None:
        with self._cond:
            j = self._jobs[job]
            j.bytes_in += nbytes
            slot = (sender, key)
            if slot in j.messages or slot in j.taken:
                raise ProtocolError(f"job {job!r}: {sender!r} sent key {key!r} twice")
            j.messages[slot] = value
            j.touched = time.monotonic()
            self._cond.notify_all()

    def put_failure(self, job: str, failure: Failure, sender: str | None = None) -> None:
        """``sender`` told this party that the job failed (``failure`` is the root cause,
        which started at ``failure.party``): both have failed."""
        with self._cond:
            j = self._jobs[job]
            if j.failure is None:
                j.failure = failure
            j.failed_peers.add(failure.party)
            if sender is not None:
                j.failed_peers.add(sender)
            self._cond.notify_all()

    def status(self, job: str) -> tuple[str, Failure | None]:
        """The job's state here and, if it failed, the root cause (answered to probes)."""
        with self._cond:
            j = self._jobs.get(job)
            if j is None:
                return UNKNOWN, None
            return j.state, j.own_failure

    # -- context side -----------------------------------------------------
    def set_state(self, job: str, state: str) -> None:
        with self._cond:
            self._jobs[job].state = state
            self._cond.notify_all()

    def bytes_received(self, job: str) -> int:
        with self._cond:
            j = self._jobs.get(job)
            return j.bytes_in if j is not None else 0

    def set_failed(self, job: str, failure: Failure) -> None:
        """This party's job failed with ``failure`` (its own or relayed root cause)."""
        with self._cond:
            j = self._jobs[job]
            j.state = FAILED
            j.own_failure = failure
            self._cond.notify_all()

    def failed_peers(self, job: str) -> set[str]:
        """The peers known here to have failed the job (they need not be told)."""
        with self._cond:
            j = self._jobs.get(job)
            return set(j.failed_peers) if j is not None else set()

    def failure(self, job: str) -> Failure | None:
        with self._cond:
            j = self._jobs.get(job)
            return j.failure if j is not None else None

    def take(self, job: str, sender: str, key: str, timeout: float) -> Any:
        """The message, or ``_MISSING`` after ``timeout`` s or when the job failed."""
        deadline = time.monotonic() + timeout
        slot = (sender, key)
        with self._cond:
            j = self._jobs[job]
            while True:
                if slot in j.messages:
                    j.taken.add(slot)
                    return j.messages.pop(slot)
                if j.failure is not None:
                    return _MISSING
                left = deadline - time.monotonic()
                if left <= 0:
                    return _MISSING
                self._cond.wait(left)

    def wake(self) -> None:
        """Wake every waiter (used on cancellation)."""
        with self._cond:
            self._cond.notify_all()

    def forget(self, job: str) -> None:
        """Drop a finished job's leftovers, keeping its final state for probes."""
        with self._cond:
            j = self._jobs.get(job)
            if j is not None:
                j.messages.clear()
                j.taken.clear()


MISSING = _MISSING
