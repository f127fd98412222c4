"""Unseen: compute on data that no party reveals ("data usable but unseen").

Layers, bottom up (see ``docs/architecture.md``):

- :mod:`unseen.crypto`     -- primitives: ECDH group, PRG, Paillier, secret sharing
- :mod:`unseen.transport`  -- party identities, wire codec, gRPC over mutual TLS
- :mod:`unseen.runtime`    -- the per-party, per-job :class:`~unseen.runtime.Context`
- :mod:`unseen.protocols`  -- PSI and the other multi-party protocols
- :mod:`unseen.cli`        -- the ``unseen`` command
"""

__version__ = "0.1.0"
