"""What a Context needs from a transport: deliver, report failure, probe.

Two transports implement it: :mod:`unseen.transport.memory` (all parties in one
process, for unit tests) and :mod:`unseen.transport.grpc` (mutual TLS between
processes or hosts). Protocol code never sees which one runs under it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from unseen.runtime.mailbox import Failure, Mailbox
from unseen.transport.codec import Encoded


class PeerUnreachable(Exception):
    """The peer did not answer (not started yet, crashed, or network down)."""


class Transport(ABC):
    """One party's link to its peers; shared by every job at that party."""

    party: str
    mailbox: Mailbox

    @abstractmethod
    def deliver(
        self,
        job: str,
        peer: str,
        key: str,
        message: Encoded,
        *,
        wait: float,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """Hand ``message`` to ``peer``'s mailbox; block until it is there.

        ``wait`` bounds how long to wait for the peer to accept a connection;
        ``stop()`` turning true (the job failed elsewhere, or was cancelled) ends
        that wait early with :class:`PeerUnreachable`.
        Returns the number of bytes put on the wire. Raises
        :class:`PeerUnreachable` if the peer cannot be reached in time.
        """

    @abstractmethod
    def notify_failure(self, job: str, peer: str, failure: Failure, *, wait: float) -> None:
        """Tell ``peer`` that ``job`` failed; ``wait`` bounds the wait for it to be reachable.

        Raises :class:`PeerUnreachable` if it could not be told.
        """

    @abstractmethod
    def probe(self, peer: str, job: str) -> tuple[str, Failure | None]:
        """The state of ``job`` at ``peer`` and, if it failed there, the root cause.

        Raises :class:`PeerUnreachable`.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sockets and threads."""
