"""The multi-party runtime: one :class:`Context` per party per job."""

from unseen.runtime.context import Context, RuntimeConfig, run_role
from unseen.runtime.errors import (
    ConfigError,
    InputError,
    JobCancelled,
    PeerError,
    ProtocolError,
    RemoteError,
    UnseenError,
)

__all__ = [
    "Context",
    "RuntimeConfig",
    "run_role",
    "ConfigError",
    "InputError",
    "JobCancelled",
    "PeerError",
    "ProtocolError",
    "RemoteError",
    "UnseenError",
]
