"""The error types every party can raise, and how they travel between parties.

A job fails *everywhere* with the *root* cause: when protocol code raises in one
party, the runtime sends the error to every peer, whose pending ``recv`` raises
:class:`RemoteError` naming the party and the step where it started.
"""

from __future__ import annotations


class UnseenError(Exception):
    """Base class of all errors Unseen raises on purpose."""

    @property
    def shared_message(self) -> str:
        """What the peers are told of this error (the root cause they print)."""
        return str(self)


class InputError(UnseenError):
    """Bad user input: names the file and, where it applies, the row and column.

    ``value``: the offending cell, shown at this party only: the message the peers
    get (:attr:`shared_message`) leaves it out, as it is this party's data.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        self.file, self.row, self.column = file, row, column
        where = []
        if file is not None:
            where.append(str(file))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        self._shared = f"{', '.join(where)}: {message}" if where else message
        super().__init__(self._shared if value is None else f"{self._shared}: {value}")

    @property
    def shared_message(self) -> str:
        return self._shared


class ConfigError(UnseenError):
    """A bad parties file, key, certificate or option."""


class TrustError(ConfigError):
    """TLS refused the link to ``peer``: a certificate that is not the pinned one, or a
    peer that does not pin this party's. No message can cross that link, so the peer
    is not waited for to be told of the failure (it finds out itself)."""

    def __init__(self, peer: str, message: str) -> None:
        self.peer = peer
        super().__init__(message)


class ProtocolError(UnseenError):
    """The parties disagree on what they are running (options, versions, shapes)."""


class PeerError(UnseenError):
    """A peer is unreachable, too slow, or stopped without answering."""

    def __init__(self, peer: str, step: str | None, message: str) -> None:
        self.peer, self.step = peer, step
        at = f" at step {step!r}" if step else ""
        super().__init__(f"peer {peer!r}{at}: {message}")


class RemoteError(UnseenError):
    """A peer's protocol code failed; carries the root cause from that party."""

    def __init__(self, party: str, step: str | None, error_type: str, message: str) -> None:
        self.party, self.step, self.error_type, self.root_message = (
            party,
            step,
            error_type,
            message,
        )
        at = f" at step {step!r}" if step else ""
        super().__init__(f"party {party!r} failed{at}: {error_type}: {message}")


class JobCancelled(UnseenError):
    """The job was cancelled locally."""
