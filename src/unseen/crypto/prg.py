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
# the plaintext that AES-CTR encrypts into keystream, made once: a fresh zero buffer
# per call costs more than the AES itself (its pages are faulted in at each first read)
_ZEROS = memoryview(bytes(_CHUNK))


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
        """Uniform ``uint64`` values (uniform over Z_2^64): the next ``8 * count`` bytes."""
        return self.fill_uint64(np.empty(shape, dtype=np.uint64))

    def fill_uint64(self, out: np.ndarray) -> np.ndarray:
        """Overwrite ``out`` (C-contiguous ``uint64``) with the stream's next words.

        The same words as ``uint64(out.shape)``, written in chunks straight into
        ``out``: no temporary and no copy.
        """
        if out.dtype != np.uint64 or not out.flags.c_contiguous:
            raise ValueError("fill_uint64 needs a C-contiguous uint64 array")
        view = out.reshape(-1).view(np.uint8)
        size = view.size
        # update_into wants 15 spare bytes past what it writes: all but the last 16
        # bytes are written in place, those through update()
        body = max(0, size - 16)
        target = view.data
        for start in range(0, body, _CHUNK):
            stop = min(start + _CHUNK, body)
            self._enc.update_into(_ZEROS[: stop - start], target[start : stop + 15])
        view[body:] = np.frombuffer(self._enc.update(bytes(size - body)), dtype=np.uint8)
        return out

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
