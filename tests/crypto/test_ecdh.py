"""X25519 blinding (unseen.crypto.ecdh): RFC 7748 vector, commutativity, the public API's results."""

from __future__ import annotations

import os

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from unseen.crypto.ecdh import POINT_BYTES, Blinder, blind, hash_to_points


def test_rfc7748_vector():
    # RFC 7748, section 5.2, first X25519 test vector
    scalar = bytes.fromhex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    u = bytes.fromhex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    want = "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    assert blind(scalar, u).hex() == want


def test_blinding_commutes_and_matches_the_public_api():
    a, b = os.urandom(32), os.urandom(32)
    points = hash_to_points([f"id-{i}".encode() for i in range(50)])
    flat = points.tobytes()
    assert blind(a, blind(b, flat)) == blind(b, blind(a, flat))
    key = X25519PrivateKey.from_private_bytes(a)
    public = b"".join(
        key.exchange(X25519PublicKey.from_public_bytes(flat[i : i + POINT_BYTES]))
        for i in range(0, len(flat), POINT_BYTES)
    )
    assert blind(a, flat) == public


def test_small_order_points_are_refused():
    with pytest.raises(ValueError, match="small order"):
        blind(os.urandom(32), bytes(POINT_BYTES))  # u = 0


def test_blinder_stream_keeps_order():
    points = hash_to_points([str(i).encode() for i in range(300)])
    with Blinder(workers=1) as one:
        expected = one.blind(points)
        batches = [points[i : i + 64] for i in range(0, 300, 64)]
        got = np.concatenate(list(one.blind_stream(batches)))
    assert np.array_equal(got, expected)
