"""All parties in one process, linked in memory: for unit tests only.

Messages still go through the wire codec (encode, then decode at the peer), so
a protocol that sends something the real transport could not carry fails here
too, and a test can record every byte a party sends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from unseen.runtime.mailbox import Failure, Mailbox
from unseen.transport.base import PeerUnreachable, Transport
from unseen.transport.codec import Encoded, decode


class MemoryNetwork:
    """The shared medium: one mailbox per party; parties can be taken down."""

    def __init__(self, parties: list[str] | tuple[str, ...]) -> None:
        self.mailboxes = {p: Mailbox() for p in parties}
        self.down: set[str] = set()
        self._lock = threading.Lock()

    def transport(self, party: str) -> MemoryTransport:
        return MemoryTransport(self, party)

    def take_down(self, party: str) -> None:
        """Simulate a crashed party: it no longer accepts or answers anything."""
        with self._lock:
            self.down.add(party)

    def _target(self, peer: str) -> Mailbox:
        with self._lock:
            if peer in self.down or peer not in self.mailboxes:
                raise PeerUnreachable(f"{peer} is down")
            return self.mailboxes[peer]


class MemoryTransport(Transport):
    def __init__(self, network: MemoryNetwork, party: str) -> None:
        self.network = network
        self.party = party
        self.mailbox = network.mailboxes[party]

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
        target = self.network._target(peer)
        header = message.header()
        # A copy, as the wire would make: the sender may reuse its buffer.
        payload = bytearray(message.payload)
        target.put(job, self.party, key, decode(header, payload), nbytes=len(payload))
        return len(payload) + len(json.dumps(header))

    def notify_failure(self, job: str, peer: str, failure: Failure, *, wait: float) -> None:
        self.network._target(peer).put_failure(job, failure, self.party)

    def probe(self, peer: str, job: str) -> tuple[str, Failure | None]:
        return self.network._target(peer).status(job)
