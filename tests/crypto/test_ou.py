"""Okamoto–Uchiyama (CNP form): key structure, correctness against plaintext arithmetic,
the explicit plaintext range, the range check against crafted ciphertexts, serialisation."""

from __future__ import annotations

import json

import gmpy2
import numpy as np
import pytest
from gmpy2 import mpz, powmod

from unseen.crypto import parallel
from unseen.crypto.he import HEPrivateKey, HEPublicKey
from unseen.crypto.ou import OUPrivateKey, OUPublicKey, generate_keypair

RNG = np.random.default_rng(7)


@pytest.fixture(scope="session")
def sk() -> OUPrivateKey:
    return generate_keypair()  # 3072 bits


@pytest.fixture(scope="session")
def pk(sk: OUPrivateKey) -> OUPublicKey:
    return sk.public_key


def ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in a]


def test_key_structure(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    p, q, t, n = sk.p, sk.q, sk.t, pk.n
    assert isinstance(pk, HEPublicKey) and isinstance(sk, HEPrivateKey)
    assert n.bit_length() == 3072 and p * p * q == n
    assert p.bit_length() == 1024 and abs(q.bit_length() - 1024) <= 1
    assert gmpy2.is_prime(p) and gmpy2.is_prime(q) and gmpy2.is_prime(t)
    assert t.bit_length() == 256 and (p - 1) % t == 0
    assert powmod(pk.h, t, p * p) == 1  # H^t kills the randomness mod p^2
    assert powmod(pk.g, t, p * p) != 1
    assert pk.plaintext_bits == 1024 and pk.max_int == 2**1022 - 1
    assert pk.plaintext_modulus is None and sk.plaintext_modulus == int(p)
    assert pk.security_bits == 128 and pk.r_bits == 256


def test_2048_bit_keys_and_refusals() -> None:
    sk = generate_keypair(2048)
    assert sk.public_key.n.bit_length() == 2048 and sk.t.bit_length() == 224
    assert sk.public_key.security_bits == 112
    c = sk.public_key.encrypt_raw([-5, 2**600], n_jobs=1)
    assert ints(sk.decrypt_signed(c, n_jobs=1)) == [-5, 2**600]
    with pytest.raises(ValueError, match="too small"):
        generate_keypair(1536)
    with pytest.raises(ValueError, match="r_bits"):
        OUPublicKey(sk.public_key.n, sk.public_key.g, sk.public_key.h, 682, r_bits=64)


def test_round_trip_including_range_edges(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    values = [0, 1, -1, pk.max_int, -pk.max_int, 2**64, -(2**64), 2**900 + 17]
    values += [int(v) for v in RNG.integers(-(2**62), 2**62, size=8)]
    c = pk.encrypt_raw(np.array(values, dtype=object), n_jobs=1)
    assert all(0 < int(x) < pk.n for x in c)
    assert ints(sk.decrypt_signed(c, n_jobs=1)) == values
    p = int(sk.p)
    assert ints(sk.decrypt_raw(c, n_jobs=1)) == [v % p for v in values]
    with pytest.raises(OverflowError):
        pk.encrypt_raw([pk.max_int + 1], n_jobs=1)
    with pytest.raises(OverflowError):
        pk.encrypt_raw([-pk.max_int - 1], n_jobs=1)
    with pytest.raises(TypeError):
        pk.encrypt_raw(np.array([0.5]), n_jobs=1)
    again = pk.encrypt_raw(values[:3], n_jobs=1)
    assert all(int(a) != int(b) for a, b in zip(again, c[:3], strict=True))


def test_homomorphic_operations(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    a = [int(v) for v in RNG.integers(-(2**60), 2**60, size=8)]
    b = [int(v) for v in RNG.integers(-(2**60), 2**60, size=8)]
    k = [int(v) for v in RNG.integers(-(2**53), 2**53, size=8)]
    ca, cb = pk.encrypt_raw(a, n_jobs=1), pk.encrypt_raw(b, n_jobs=1)

    def dec(c: np.ndarray) -> list[int]:
        return ints(sk.decrypt_signed(c, n_jobs=1))

    assert dec(pk.add(ca, cb)) == [x + y for x, y in zip(a, b, strict=True)]
    assert dec(pk.sub(ca, cb)) == [x - y for x, y in zip(a, b, strict=True)]
    assert dec(pk.neg(ca)) == [-x for x in a]
    assert dec(pk.add_plain(ca, b)) == [x + y for x, y in zip(a, b, strict=True)]
    assert dec(pk.sub_plain(ca, 9)) == [x - 9 for x in a]
    assert dec(pk.mul_plain(ca, k, n_jobs=1)) == [x * y for x, y in zip(a, k, strict=True)]
    assert int(sk.decrypt_signed(pk.sum(ca, n_jobs=1))) == sum(a)
    assert int(sk.decrypt_signed(pk.dot(ca, k, n_jobs=1))) == sum(
        x * y for x, y in zip(a, k, strict=True)
    )
    rr = pk.rerandomize(ca, n_jobs=1)
    assert dec(rr) == a and int(rr[0]) != int(ca[0])


def test_matrix_products(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    x = RNG.integers(-(2**40), 2**40, size=(30, 4), dtype=np.int64)
    v = RNG.integers(-1000, 1000, size=4)
    w = RNG.integers(-1000, 1000, size=30)
    out = sk.decrypt_signed(pk.matvec(x, pk.encrypt_raw(v, n_jobs=1), n_jobs=1), n_jobs=1)
    assert ints(out) == ints(x.astype(object) @ v.astype(object))
    out = sk.decrypt_signed(pk.vecmat(pk.encrypt_raw(w, n_jobs=1), x, n_jobs=1), n_jobs=1)
    assert ints(out) == ints(w.astype(object) @ x.astype(object))


def test_fixed_point_api(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    x = np.array([0.0, -1.25, 3.5, 1e12 + 0.5, -7e-4])
    c = pk.encrypt(x, frac_bits=20, n_jobs=1)
    np.testing.assert_allclose(sk.decrypt(c, frac_bits=20, n_jobs=1), x, atol=2**-20)
    np.testing.assert_allclose(sk.decrypt(pk.add(c, c), frac_bits=20, n_jobs=1), 2 * x, atol=2**-19)
    with pytest.raises(OverflowError):
        pk.encrypt([2.0**1030], frac_bits=0)


def test_crafted_ciphertext_is_caught_by_the_range_check(sk: OUPrivateKey, pk: OUPublicKey):
    # Enc(m) for m >= p decrypts to m mod p, which would leak p; a range check stops it.
    crafted = powmod(pk.g, mpz(1) << 1030, pk.n)
    with pytest.raises(OverflowError):
        sk.decrypt_signed([crafted], max_abs=2**128, n_jobs=1)
    assert int(sk.decrypt_raw([crafted], n_jobs=1)[0]) == (1 << 1030) % int(sk.p)  # the leak
    with pytest.raises(ValueError):
        sk.decrypt_raw([pk.n], n_jobs=1)


def test_serialisation(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    d = json.loads(json.dumps(pk.to_dict()))
    pk2 = OUPublicKey.from_dict(d)
    assert pk2 == pk and d["plaintext_bits"] == 1024
    c = pk2.encrypt_raw([-31, 4], n_jobs=1)
    raw = pk.to_bytes(c)
    assert raw.shape == (2, 384)
    sk2 = OUPrivateKey.from_dict(json.loads(json.dumps(sk.to_dict())))
    assert ints(sk2.decrypt_signed(pk.from_bytes(raw), n_jobs=1)) == [-31, 4]
    with pytest.raises(ValueError):
        OUPublicKey.from_dict({**d, "scheme": "paillier"})
    with pytest.raises(ValueError):
        OUPrivateKey(pk, sk.p, sk.q, sk.t + 2)


def test_parallel_paths(sk: OUPrivateKey, pk: OUPublicKey, monkeypatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)
    try:
        m = [int(v) for v in RNG.integers(-(2**50), 2**50, size=6)]
        c = pk.encrypt_raw(m, n_jobs=2)
        assert ints(sk.decrypt_signed(c, n_jobs=2)) == m
    finally:
        parallel.shutdown()


def test_precomputed_randomness(sk: OUPrivateKey, pk: OUPublicKey) -> None:
    fresh = OUPublicKey.from_dict(pk.to_dict())
    fresh.precompute_randomness(3, n_jobs=1)
    fresh.precompute_randomness(2, n_jobs=1)  # refilling does not consume the pool
    assert fresh.precomputed == 5
    c = fresh.encrypt_raw([5, -6], n_jobs=1)
    assert fresh.precomputed == 3 and ints(sk.decrypt_signed(c, n_jobs=1)) == [5, -6]


def test_precomputed_randomness_partly_and_in_parallel(
    sk: OUPrivateKey, pk: OUPublicKey, monkeypatch
) -> None:
    """A pool shorter than the batch covers its first values; the rest get fresh randomness.
    Both halves also run in the worker pool, and the pool can be made in the background."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)
    fresh = OUPublicKey.from_dict(pk.to_dict())
    try:
        fresh.precompute_randomness(4, n_jobs=2, background=True)
        assert fresh.precomputed == 4
        pool = {int(x) for x in fresh._pool or []}
        m = [int(v) for v in RNG.integers(-(2**40), 2**40, size=7)]
        c = fresh.encrypt_raw(m, n_jobs=2)
        assert fresh.precomputed == 0 and ints(sk.decrypt_signed(c, n_jobs=2)) == m
        # the first four are G^m times a pooled value, each pooled value used once
        g = [fresh.g_pow([v])[0] for v in m]
        used = {int(x * gmpy2.invert(gm, fresh.n) % fresh.n) for x, gm in zip(c, g, strict=True)}
        assert len(used) == 7 and len(used & pool) == 4
    finally:
        parallel.shutdown()
