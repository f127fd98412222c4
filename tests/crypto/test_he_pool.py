"""Encryption randomness made ahead: the background pool, the filler thread."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from unseen.crypto import he_pool, parallel
from unseen.crypto.ou import OUPublicKey
from unseen.crypto.ou import generate_keypair as ou_keypair
from unseen.crypto.paillier import PaillierPublicKey
from unseen.crypto.paillier import generate_keypair as paillier_keypair


def _wait_for(pk, count: int, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while pk.precomputed < count and time.monotonic() < deadline:
        time.sleep(0.01)


@pytest.mark.parametrize("scheme", ["ou", "paillier"])
def test_filler_tops_up_and_encryptions_use_its_values(scheme: str) -> None:
    sk = (ou_keypair if scheme == "ou" else paillier_keypair)(2048)
    pk_type = OUPublicKey if scheme == "ou" else PaillierPublicKey
    pk = pk_type.from_dict(sk.public_key.to_dict())  # a fresh object, empty pool
    using = sk if hasattr(sk, "encrypt_raw") else None  # Paillier: through CRT
    filler = he_pool.RandomnessFiller(pk, using=using, part=5)
    try:
        filler.fill_to(12)
        _wait_for(pk, 12)
        time.sleep(0.05)
        assert pk.precomputed == 12  # topped up to the target, in parts, no further
        m = np.arange(-10, 10, dtype=np.int64)
        c = pk.encrypt_raw(m, n_jobs=1)  # 12 from the pool, 8 fresh
        assert pk.precomputed == 0
        assert [int(v) for v in sk.decrypt_signed(c, n_jobs=1)] == m.tolist()
        assert len({int(x) for x in c}) == m.size
        filler.fill_to(3)  # refills after use
        _wait_for(pk, 3)
        assert pk.precomputed == 3
    finally:
        filler.stop()
        filler._thread.join(timeout=60)
        parallel.shutdown()
    assert not filler._thread.is_alive()


def test_pool_is_capped_by_memory(monkeypatch) -> None:
    pk = ou_keypair(2048).public_key
    assert he_pool.pool_capacity(pk, 10 * (pk.ciphertext_bytes + 40)) == 10
    monkeypatch.setattr(he_pool, "POOL_BUDGET_BYTES", 3 * (pk.ciphertext_bytes + 40))
    filler = he_pool.RandomnessFiller(pk, part=2)
    try:
        filler.fill_to(100)
        _wait_for(pk, 3)
        time.sleep(0.1)
        assert pk.precomputed == 3
    finally:
        filler.stop()
        filler._thread.join(timeout=60)
        parallel.shutdown()


def test_filler_ends_with_its_job() -> None:
    pk = ou_keypair(2048).public_key
    over = threading.Event()
    filler = he_pool.RandomnessFiller(pk, part=2, ended=over.is_set)
    over.set()
    filler._thread.join(timeout=10)
    assert not filler._thread.is_alive()
    filler.fill_to(5)  # nothing made once the job is over
    time.sleep(0.1)
    assert pk.precomputed == 0
