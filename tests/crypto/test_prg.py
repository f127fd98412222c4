"""AES-CTR PRG (unseen.crypto.prg): one deterministic stream, however it is drawn."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from unseen.crypto import prg
from unseen.crypto.prg import AesCtrPrg


def test_stream_is_aes_ctr_of_zeros():
    seed = bytes(range(16))
    enc = Cipher(algorithms.AES(seed), modes.CTR(bytes(16))).encryptor()
    assert AesCtrPrg(seed).bytes(100) == enc.update(bytes(100))


@pytest.mark.parametrize("shape", [1, 7, (3, 5), (1000, 2)])
def test_uint64_is_the_byte_stream_in_any_chunking(monkeypatch, shape):
    seed = bytes(16)
    monkeypatch.setattr(prg, "_CHUNK", 24)  # several chunks, the last one short
    got = AesCtrPrg(seed).uint64(shape)
    count = int(np.prod(shape))
    want = np.frombuffer(AesCtrPrg(seed).bytes(8 * count), dtype=np.uint64).reshape(shape)
    assert got.shape == np.empty(shape).shape and np.array_equal(got, want)
    got[...] = 0  # a writable array of its own


def test_fill_uint64_writes_in_place_and_touches_nothing_else(monkeypatch):
    monkeypatch.setattr(prg, "_CHUNK", 40)
    block = np.full((3, 9, 1), 7, dtype=np.uint64)
    AesCtrPrg(bytes(16)).fill_uint64(block[1])  # a feature's mask, between two others
    assert np.array_equal(block[1, :, 0], AesCtrPrg(bytes(16)).uint64(9))
    assert (block[0] == 7).all() and (block[2] == 7).all()
    with pytest.raises(ValueError, match="C-contiguous uint64"):
        AesCtrPrg().fill_uint64(np.zeros((4, 2), dtype=np.uint64)[:, 0])
    with pytest.raises(ValueError, match="C-contiguous uint64"):
        AesCtrPrg().fill_uint64(np.zeros(4, dtype=np.int64))


def test_draws_continue_the_stream_and_seeds_differ():
    a, b = AesCtrPrg(bytes(16)), AesCtrPrg(bytes(16))
    first = a.uint64(3)
    assert np.array_equal(np.concatenate([first, a.uint64(2)]), b.uint64(5))
    assert not np.array_equal(
        AesCtrPrg(bytes(15) + b"\x01").uint64(4), AesCtrPrg(bytes(16)).uint64(4)
    )
    assert AesCtrPrg().seed != AesCtrPrg().seed
    p = AesCtrPrg().permutation(50)
    assert sorted(p.tolist()) == list(range(50))
