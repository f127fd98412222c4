"""Run every role of a protocol as threads of this process: for unit tests.

    results = run_local({"alice": role_a, "bob": role_b}, args={"alice": (x,), "bob": (y,)})

Each party gets its own Context over an in-memory network. If any role fails,
the root cause is raised here (a party's :class:`RemoteError` that only echoes
another party's failure is not the root cause).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from unseen.runtime.context import Context, RuntimeConfig, SendRecorder, run_role
from unseen.runtime.errors import RemoteError
from unseen.transport.codec import Encoded
from unseen.transport.memory import MemoryNetwork


class Transcript:
    """Every message each party sent: ``(sender, receiver, key, header, payload bytes)``."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, str, dict[str, Any], bytes]] = []
        self._lock = threading.Lock()

    def recorder(self, party: str) -> SendRecorder:
        def record(peer: str, key: str, message: Encoded) -> None:
            with self._lock:
                self.messages.append((party, peer, key, message.header(), bytes(message.payload)))

        return record

    def bytes_sent_by(self, party: str) -> bytes:
        return b"".join(m[4] for m in self.messages if m[0] == party)

    def all_bytes(self) -> bytes:
        return b"".join(m[4] for m in self.messages)


def run_local(
    roles: Mapping[str, Callable[..., Any]],
    args: Mapping[str, tuple[Any, ...]] | None = None,
    kwargs: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    config: RuntimeConfig | None = None,
    transcript: Transcript | None = None,
    network: MemoryNetwork | None = None,
    job_id: str | None = None,
    timeout: float = 600.0,
) -> dict[str, Any]:
    parties = list(roles)
    network = network or MemoryNetwork(parties)
    job_id = job_id or f"local-{uuid.uuid4().hex[:8]}"
    config = config or RuntimeConfig(connect_timeout=30.0, peer_timeout=5.0, heartbeat=0.2)
    results: dict[str, Any] = {}
    errors: dict[str, BaseException] = {}

    def main(party: str) -> None:
        ctx = Context(
            job_id,
            party,
            parties,
            network.transport(party),
            config=config,
            recorder=transcript.recorder(party) if transcript else None,
        )
        try:
            results[party] = run_role(
                ctx, roles[party], *(args or {}).get(party, ()), **(kwargs or {}).get(party, {})
            )
        except BaseException as e:  # noqa: BLE001 - reported below
            errors[party] = e

    threads = [threading.Thread(target=main, args=(p,), name=f"party-{p}") for p in parties]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        if t.is_alive():
            raise TimeoutError(f"{t.name} still running after {timeout} s")
    if errors:
        roots = [e for e in errors.values() if not isinstance(e, RemoteError)]
        raise (roots or list(errors.values()))[0]
    return results
