"""Pseudo-random generator: AES-128 in counter mode, seeded from the OS.

Secret randomness in Unseen comes from here (or straight from ``secrets``). The
keystream of AES-CTR under a uniformly random 128-bit key is indistinguishable
from random as long as AES is a pseudo-random permutation (NIST SP 800-90A's
CTR_DRBG rests on the same assumption); 128-bit security. Two parties holding
the same seed draw the same stream, which is how secret sharing sends only one
share of a random value.

``numpy.random`` and ``random`` are never used for anything secret.
"""

from __future__ import annotations

import secrets

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SEED_BYTES = 16
_CHUNK = 1 << 22  # keystream bytes generated at a time by uint64()


class AesCtrPrg:
    """Deterministic stream of random bytes from a 16-byte seed.

    ``AesCtrPrg()`` draws a fresh seed with :func:`secrets.token_bytes`.
    """

    def __init__(self, seed: bytes | None = None) -> None:
        if seed is None:
            seed = secrets.token_bytes(SEED_BYTES)
        if len(seed) != SEED_BYTES:
            raise ValueError(f"PRG seed must be {SEED_BYTES} bytes, got {len(seed)}")
        self.seed = bytes(seed)
        self._enc = Cipher(algorithms.AES(self.seed), modes.CTR(b"\x00" * 16)).encryptor()

    def bytes(self, n: int) -> bytes:
        """The next ``n`` bytes of the stream."""
        return self._enc.update(b"\x00" * n)

    def uint64(self, shape: int | tuple[int, ...]) -> np.ndarray:
        """Uniform ``uint64`` values (uniform over Z_2^64).

        The keystream is written in chunks straight into the result, so a large
        array costs its own size in memory and no more (the same stream as
        ``bytes(8 * count)``).
        """
        count = int(np.prod(shape))
        size = 8 * count
        # update_into writes the keystream in place; it wants 15 spare bytes past the end
        raw = np.empty(size + 16, dtype=np.uint8)
        target = raw.data  # a memoryview of the array
        chunk = max(1, min(size, _CHUNK))
        zeros = bytes(chunk)
        for start in range(0, size, chunk):
            stop = min(start + chunk, size)
            self._enc.update_into(zeros[: stop - start], target[start : stop + 15])
        return raw[:size].view(np.uint64).reshape(shape)

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` (rejection sampling, no modulo bias)."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        nbits = bound.bit_length()
        nbytes = (nbits + 7) // 8
        mask = (1 << nbits) - 1
        while True:
            x = int.from_bytes(self.bytes(nbytes), "little") & mask
            if x < bound:
                return x

    def permutation(self, n: int) -> np.ndarray:
        """A uniformly random permutation of ``range(n)`` (int64).

        Sorting by independent uniform 128-bit keys gives every order with equal
        probability up to ties, whose probability is below n^2 / 2^129.
        """
        keys = self.uint64((n, 2))
        return np.lexsort((keys[:, 1], keys[:, 0])).astype(np.int64)


class SecureRandom(AesCtrPrg):
    """A party's secret randomness for one job: a PRG seeded from the OS."""

    def token(self, n: int) -> bytes:
        """``n`` bytes straight from the OS, for long-term secrets (keys, seeds)."""
        return secrets.token_bytes(n)
