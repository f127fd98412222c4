"""Commutative blinding with X25519, the group operation of ECDH-PSI.

Each party holds a secret scalar ``a`` and "raises" points to it with the
X25519 function of RFC 7748: ``E_a(u) = X25519(a, u)``, the x-coordinate of
``[clamp(a)] P`` for the point ``P`` with x-coordinate ``u``. Because scalar
multiplication commutes, ``E_a(E_b(u)) = E_b(E_a(u))``: that is the whole of
what Diffie-Hellman PSI needs.

Why X25519 (and not ristretto255 or P-256):

- *speed*: OpenSSL's X25519 (through ``cryptography``) is the fastest vetted
  variable-base scalar multiplication reachable from Python here (about 41 us of
  which ~3 us Python overhead; libsodium's ristretto255 about 50 us; P-256
  slower);
- *hashing to the group is trivial and safe*: an item is hashed with SHA-256 under
  a domain tag to a 32-byte string used directly as the u-coordinate. Every
  u-coordinate is a point on Curve25519 or on its quadratic twist; both have
  a large prime-order subgroup (order 8*l and 4*l' with l, l' about 2^252 and
  2^253) and clamping (a multiple of 8) kills the small cofactor components, so
  the outputs live in the prime-order subgroups. Curve25519 is *twist-secure*
  (SafeCurves), so the discrete-log / Diffie-Hellman problems on the twist are as
  hard as on the curve: about 2^125 work, above NIST's 112-bit level for the
  lifetime of the data. The map is not uniform onto one group, but the PSI proof
  only needs the hashed points to be unpredictable and the DDH-style assumption
  to hold in the group they land in (as in SecretFlow's and the PPCA
  specification's Curve25519 ECDH-PSI).
- *x-coordinates only*: ``P`` and ``-P`` share a u-coordinate; this merges
  ``H(x)`` and ``-H(x)``, which for hashed inputs happens with probability about
  2^-252, so it does not affect correctness.

Assumption: the Decisional Diffie-Hellman problem is hard in the prime-order
subgroups of Curve25519 and its twist, and SHA-256 behaves as a random oracle.
Reference: D. J. Bernstein, "Curve25519: new Diffie-Hellman speed records", PKC
2006; RFC 7748; Huberman, Franklin, Hogg, "Enhancing privacy and trust in
electronic communities", EC 1999 (the DH-based PSI); Meadows 1986.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor

import numpy as np
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from unseen.crypto.parallel import usable_cpus

try:
    # The binding that X25519PublicKey.from_public_bytes wraps. The public classmethod
    # re-imports the backend and re-checks X25519 support on every call, about 5 us,
    # a tenth of a blinding here; the check is done once, below, instead.
    from cryptography.hazmat.bindings._rust import openssl as _rust_openssl

    _load_point = _rust_openssl.x25519.from_public_bytes
except (ImportError, AttributeError):  # another cryptography layout: the public API
    _load_point = X25519PublicKey.from_public_bytes
else:
    from cryptography.hazmat.backends.openssl.backend import backend as _backend

    if not _backend.x25519_supported():
        _load_point = X25519PublicKey.from_public_bytes  # raises UnsupportedAlgorithm

POINT_BYTES = 32
HASH_DOMAIN = b"unseen/psi/x25519-sha256/v1\x00"


def hash_to_points(items: Sequence[bytes], domain: bytes = HASH_DOMAIN) -> np.ndarray:
    """SHA-256(domain || item) for each item, as an ``(n, 32)`` uint8 array of u-coordinates."""
    out = bytearray(POINT_BYTES * len(items))
    base = hashlib.sha256(domain)
    for i, item in enumerate(items):
        h = base.copy()
        h.update(item)
        out[i * POINT_BYTES : (i + 1) * POINT_BYTES] = h.digest()
    return np.frombuffer(out, dtype=np.uint8).reshape(len(items), POINT_BYTES)


def new_secret() -> bytes:
    """A fresh 32-byte X25519 scalar from the OS."""
    return os.urandom(32)


def blind(secret: bytes, points: bytes) -> bytes:
    """``X25519(secret, u)`` for each 32-byte u-coordinate packed in ``points``.

    A module-level function so that worker processes can run it. Raises
    ``ValueError`` if a point has small order (the result would be zero), which
    only a dishonest peer can cause.
    """
    key = X25519PrivateKey.from_private_bytes(secret)
    exchange = key.exchange
    from_bytes = _load_point
    try:
        return b"".join(
            [
                exchange(from_bytes(points[i : i + POINT_BYTES]))
                for i in range(0, len(points), POINT_BYTES)
            ]
        )
    except ValueError:
        raise ValueError(
            "a received point has small order (a malformed or hostile input)"
        ) from None


class Blinder:
    """Raises batches of points to one secret scalar, on a pool of worker processes.

    ``workers=1`` computes in-process. The pool uses at most the cores this process may
    run on (its affinity: a party pinned with taskset uses only its own).
    """

    def __init__(self, secret: bytes | None = None, workers: int | None = None) -> None:
        self._secret = secret if secret is not None else new_secret()
        cores = usable_cpus()
        self.workers = max(1, min(workers or cores, cores))
        self._pool: Executor | None = None

    def __enter__(self) -> Blinder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def blind(self, points: np.ndarray) -> np.ndarray:
        """One batch, in this process."""
        flat = np.ascontiguousarray(points, dtype=np.uint8)
        out = blind(self._secret, flat.tobytes())
        return np.frombuffer(out, dtype=np.uint8).reshape(-1, POINT_BYTES)

    def blind_stream(self, batches: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Blind a stream of batches, in order, keeping every worker busy."""
        if self.workers == 1:
            for b in batches:
                yield self.blind(b)
            return
        if self._pool is None:
            # spawn, not fork: the parent runs gRPC threads, which fork would break
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn")
            )
        pending = []
        for b in batches:
            data = np.ascontiguousarray(b, dtype=np.uint8).tobytes()
            pending.append(self._pool.submit(blind, self._secret, data))
            # keep a bounded number of batches in flight
            while len(pending) > 2 * self.workers:
                yield _as_points(pending.pop(0).result())
        for f in pending:
            yield _as_points(f.result())


def _as_points(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, POINT_BYTES)
