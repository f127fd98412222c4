"""Paillier (DJN randomness): correctness against plaintext arithmetic, python-paillier (phe)
as an independent oracle in both directions, serialisation, range checks, parallel paths."""

from __future__ import annotations

import json
import secrets

import gmpy2
import numpy as np
import phe
import pytest
from gmpy2 import mpz, powmod

from unseen.crypto import parallel
from unseen.crypto.he import (
    FixedBaseTable,
    exponent_digits,
    multiexp_pippenger,
    offset_exponents,
)
from unseen.crypto.paillier import (
    PaillierPrivateKey,
    PaillierPublicKey,
    generate_keypair,
)

RNG = np.random.default_rng(20240611)


@pytest.fixture(scope="session")
def sk() -> PaillierPrivateKey:
    return generate_keypair(2048)


@pytest.fixture(scope="session")
def pk(sk: PaillierPrivateKey) -> PaillierPublicKey:
    return sk.public_key


@pytest.fixture(scope="session")
def phe_keys(sk: PaillierPrivateKey) -> tuple[phe.PaillierPublicKey, phe.PaillierPrivateKey]:
    pub = phe.PaillierPublicKey(int(sk.public_key.n))
    return pub, phe.PaillierPrivateKey(pub, int(sk.p), int(sk.q))


def edge_values(pk: PaillierPublicKey) -> list[int]:
    return [0, 1, -1, 2, pk.max_int, -pk.max_int, 2**53, -(2**53), 2**64 + 3, -(2**100)]


def signed(vals: np.ndarray) -> list[int]:
    return [int(v) for v in vals]


# ----------------------------------------------------------------------------- keys


def test_key_generation_meets_the_stated_checks(sk: PaillierPrivateKey) -> None:
    pk = sk.public_key
    p, q, n = sk.p, sk.q, pk.n
    assert n.bit_length() == 2048 and p * q == n and p != q
    assert p.bit_length() == q.bit_length() == 1024
    assert gmpy2.is_prime(p) and gmpy2.is_prime(q)
    assert p % 4 == 3 and q % 4 == 3
    assert gmpy2.gcd(p - 1, q - 1) == 2
    assert gmpy2.gcd(n, (p - 1) * (q - 1)) == 1
    assert abs(p - q) > mpz(1) << (1024 - 100)
    # h_s is an n-th residue: h_s^lambda = 1 mod n^2
    lam = gmpy2.lcm(p - 1, q - 1)
    assert powmod(pk.h_s, lam, pk.n_square) == 1
    assert pk.r_bits == 256 and pk.security_bits == 112


def test_small_keys_and_short_exponents_are_refused(pk: PaillierPublicKey) -> None:
    with pytest.raises(ValueError, match="too small"):
        generate_keypair(1024)
    with pytest.raises(ValueError, match="r_bits"):
        PaillierPublicKey(pk.n, pk.h_s, r_bits=200)
    with pytest.raises(ValueError):
        PaillierPublicKey(pk.n, 0)
    small = generate_keypair(512, insecure_test_key=True)
    c = small.public_key.encrypt_raw([5, -7], n_jobs=1)
    assert signed(small.decrypt_signed(c, n_jobs=1)) == [5, -7]


# ----------------------------------------------------------------------------- encryption


def test_round_trip_on_edges_and_random_values(sk: PaillierPrivateKey, pk: PaillierPublicKey):
    n = int(pk.n)
    values = edge_values(pk) + [secrets.randbelow(n) for _ in range(6)]
    values += [int(v) for v in RNG.integers(-(2**62), 2**62, size=8)]
    c = pk.encrypt_raw(np.array(values, dtype=object), n_jobs=1)
    assert c.shape == (len(values),)
    assert all(0 < int(x) < n * n for x in c)
    assert signed(sk.decrypt_raw(c, n_jobs=1)) == [v % n for v in values]
    centred = [(v % n) - n if v % n > n // 2 else v % n for v in values]
    assert signed(sk.decrypt_signed(c, n_jobs=1)) == centred


def test_shapes_dtypes_and_scalars(sk: PaillierPrivateKey, pk: PaillierPublicKey) -> None:
    m = np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
    c = pk.encrypt_raw(m, n_jobs=1)
    assert c.shape == (2, 3) and c.dtype == object
    assert sk.decrypt_signed(c, n_jobs=1).tolist() == m.tolist()
    one = pk.encrypt_raw(42, n_jobs=1)
    assert one.shape == () and int(sk.decrypt_raw(one, n_jobs=1)) == 42
    assert pk.encrypt_raw(np.array([], dtype=np.int64), n_jobs=1).shape == (0,)


def test_out_of_range_and_non_integer_plaintexts_raise(pk: PaillierPublicKey) -> None:
    with pytest.raises(OverflowError):
        pk.encrypt_raw([int(pk.n)], n_jobs=1)
    with pytest.raises(OverflowError):
        pk.encrypt_raw([-pk.max_int - 1], n_jobs=1)
    with pytest.raises(TypeError):
        pk.encrypt_raw(np.array([1.5]), n_jobs=1)
    with pytest.raises(TypeError):
        pk.encrypt_raw(np.array([1.5], dtype=object), n_jobs=1)


def test_encryption_is_randomised(sk: PaillierPrivateKey, pk: PaillierPublicKey) -> None:
    c = pk.encrypt_raw([7, 7, 7], n_jobs=1)
    assert len({int(x) for x in c}) == 3
    c2 = sk.encrypt_raw([7, 7, 7], n_jobs=1)
    assert len({int(x) for x in c2} | {int(x) for x in c}) == 6
    r = pk.rerandomize(c, n_jobs=1)
    assert all(int(a) != int(b) for a, b in zip(r, c, strict=True))
    assert signed(sk.decrypt_raw(r, n_jobs=1)) == [7, 7, 7]


def test_crt_encryption_equals_public_encryption_for_the_same_r(
    sk: PaillierPrivateKey, pk: PaillierPublicKey
) -> None:
    residues = [mpz(v) % pk.n for v in edge_values(pk)]
    rs = [secrets.randbits(pk.r_bits) for _ in residues]
    public = pk._finish(residues, [powmod(pk.h_s, r, pk.n_square) for r in rs])
    crt = sk._finish_crt(
        residues,
        [powmod(pk.h_s, r, sk.p_square) for r in rs],
        [powmod(pk.h_s, r, sk.q_square) for r in rs],
    )
    assert public == crt
    # and the textbook form (1 + n)^m h_s^r
    for m, r, c in zip(residues, rs, public, strict=True):
        assert c == powmod(pk.n + 1, m, pk.n_square) * powmod(pk.h_s, r, pk.n_square) % pk.n_square
    c = sk.encrypt_raw(np.array(edge_values(pk), dtype=object), n_jobs=1)
    assert signed(sk.decrypt_raw(c, n_jobs=1)) == [int(v) for v in residues]


def test_fixed_base_table_matches_powmod(pk: PaillierPublicKey) -> None:
    table = pk.randomness_table()
    limit = table.window * table.windows
    exps = [0, 1, 2, (1 << limit) - 1] + [secrets.randbits(limit) for _ in range(5)]
    assert table.pow(exps) == [powmod(pk.h_s, e, pk.n_square) for e in exps]
    lazy = FixedBaseTable(3, pk.n_square, 300, 7, lazy=True)
    exps = [secrets.randbits(300) for _ in range(4)] + [5]
    assert lazy.pow(exps) == [powmod(3, e, pk.n_square) for e in exps]
    with pytest.raises(ValueError):
        table.pow([1 << limit])
    assert table.window * table.windows >= pk.r_bits


def test_digit_helpers() -> None:
    vals = [0, 1, 255, 256, 2**64 + 5, 2**130 - 1]
    d = exponent_digits(vals, 8, 17)
    assert [sum(int(x) << (8 * t) for t, x in enumerate(row)) for row in d] == vals
    u = np.array([[0, 5], [2**40, 2**62]], dtype=np.uint64)
    d = exponent_digits(u, 11, 6)
    back = (d * (1 << (11 * np.arange(6)))).sum(-1)
    assert back.tolist() == u.astype(object).tolist()
    e, offset, bits = offset_exponents(np.array([[-5, 3], [0, 7]]))
    assert offset == 8 and bits == 4 and (e.astype(np.int64) - 8).tolist() == [[-5, 3], [0, 7]]
    e, offset, bits = offset_exponents(np.array([[2**80, -1]], dtype=object))
    assert offset == 2**81 and bits == 82


# ----------------------------------------------------------------------------- homomorphism


def test_homomorphic_operations_match_plaintext(sk: PaillierPrivateKey, pk: PaillierPublicKey):
    a = [int(v) for v in RNG.integers(-(2**60), 2**60, size=10)] + [0, pk.max_int // 4]
    b = [int(v) for v in RNG.integers(-(2**60), 2**60, size=10)] + [-1, -(pk.max_int // 4)]
    k = [int(v) for v in RNG.integers(-(2**53), 2**53, size=10)] + [0, 1]
    ca, cb = pk.encrypt_raw(a, n_jobs=1), pk.encrypt_raw(b, n_jobs=1)

    def dec(c: np.ndarray) -> list[int]:
        return signed(sk.decrypt_signed(c, n_jobs=1))

    assert dec(pk.add(ca, cb)) == [x + y for x, y in zip(a, b, strict=True)]
    assert dec(pk.sub(ca, cb)) == [x - y for x, y in zip(a, b, strict=True)]
    assert dec(pk.neg(ca)) == [-x for x in a]
    assert dec(pk.add_plain(ca, b)) == [x + y for x, y in zip(a, b, strict=True)]
    assert dec(pk.sub_plain(ca, b)) == [x - y for x, y in zip(a, b, strict=True)]
    assert dec(pk.mul_plain(ca[:10], k[:10], n_jobs=1)) == [
        x * y for x, y in zip(a[:10], k[:10], strict=True)
    ]
    # broadcasting: a ciphertext array with one plaintext, and Z_n residues for -1
    assert dec(pk.add_plain(ca, 5)) == [x + 5 for x in a]
    assert dec(pk.mul_plain(ca, int(pk.n) - 1, n_jobs=1)) == [-x for x in a]
    assert int(sk.decrypt_signed(pk.sum(ca, n_jobs=1), n_jobs=1)) == sum(a)
    assert int(sk.decrypt_signed(pk.dot(ca[:10], k[:10], n_jobs=1))) == sum(
        x * y for x, y in zip(a[:10], k[:10], strict=True)
    )
    groups = np.array([0, 2, 2, 0, 1, 0, 2, 1, 0, 0, 1, 2])
    sums = dec(pk.group_sum(ca, groups, 4))
    assert sums == [sum(x for x, g in zip(a, groups, strict=True) if g == j) for j in range(4)]


@pytest.mark.parametrize("rows,cols,bits", [(1, 3, 20), (3, 2, 53), (40, 5, 53), (60, 3, 8)])
def test_matvec_and_vecmat_match_numpy(sk, pk, rows: int, cols: int, bits: int) -> None:
    x = RNG.integers(-(2**bits), 2**bits, size=(rows, cols), dtype=np.int64)
    v = RNG.integers(-(2**20), 2**20, size=cols)
    w = RNG.integers(-(2**20), 2**20, size=rows)
    out = sk.decrypt_signed(pk.matvec(x, pk.encrypt_raw(v, n_jobs=1), n_jobs=1), n_jobs=1)
    assert signed(out) == signed(x.astype(object) @ v.astype(object))
    out = sk.decrypt_signed(pk.vecmat(pk.encrypt_raw(w, n_jobs=1), x, n_jobs=1), n_jobs=1)
    assert signed(out) == signed(w.astype(object) @ x.astype(object))


def test_signed_multiexp_equals_plain_exponentiation(pk) -> None:
    """The signed-digit Pippenger path (int64 exponents) on skewed columns: mostly small
    values with a few large ones, all negative, zeros, one huge, a single row."""
    n2 = pk.ciphertext_modulus
    rows = 300
    bases = [mpz(secrets.randbelow(int(n2) - 2) + 2) for _ in range(rows)]
    small = np.rint(RNG.standard_normal(rows) * 256).astype(np.int64)
    skewed = small.copy()
    skewed[::37] = RNG.integers(-(2**40), 2**40, size=skewed[::37].size)
    x = np.stack(
        [
            small,
            skewed,
            -np.abs(small) - 1,
            np.zeros(rows, dtype=np.int64),
            np.where(np.arange(rows) == 5, 2**61, 0),
        ],
        axis=1,
    )

    def plain(bs, col):
        acc = mpz(1)
        for b, e in zip(bs, col, strict=True):
            acc = acc * powmod(b, int(e), n2) % n2
        return acc

    got = multiexp_pippenger(bases, x, n2)
    assert got == [plain(bases, x[:, j]) for j in range(x.shape[1])]
    assert multiexp_pippenger(bases[:1], x[:1], n2) == [
        plain(bases[:1], x[:1, j]) for j in range(5)
    ]


def test_matrix_products_take_zn_residues_and_big_entries(sk, pk) -> None:
    n = int(pk.n)
    x = np.array([[n - 1, 2**70, 0], [5, -(2**65), n - 2**66]], dtype=object)  # Z_n residues
    signed_x = np.array([[-1, 2**70, 0], [5, -(2**65), -(2**66)]], dtype=object)
    v = [3, -4, 11]
    out = sk.decrypt_signed(pk.matvec(x, pk.encrypt_raw(v, n_jobs=1), n_jobs=1), n_jobs=1)
    assert signed(out) == signed(signed_x @ np.array(v, dtype=object))
    out = sk.decrypt_signed(pk.vecmat(pk.encrypt_raw([2, -9], n_jobs=1), x, n_jobs=1))
    assert signed(out) == signed(np.array([2, -9], dtype=object) @ signed_x)
    zeros = pk.matvec(np.zeros((2, 3), dtype=np.int64), pk.encrypt_raw(v, n_jobs=1), n_jobs=1)
    assert signed(sk.decrypt_raw(zeros, n_jobs=1)) == [0, 0]
    with pytest.raises(ValueError):
        pk.matvec(np.zeros((2, 2), dtype=np.int64), pk.encrypt_raw(v, n_jobs=1))


# ----------------------------------------------------------------------------- encoded API


def test_fixed_point_api_and_overflow(sk: PaillierPrivateKey, pk: PaillierPublicKey) -> None:
    x = np.array([0.0, 1.5, -2.25, 1e6 + 0.125, -3e-5, 123456.789])
    y = np.array([2.0, -0.5, 4.0, -1.0, 1e5, 0.001])
    cx = pk.encrypt(x, frac_bits=24, n_jobs=1)
    np.testing.assert_allclose(sk.decrypt(cx, frac_bits=24, n_jobs=1), x, atol=2**-24)
    cy = sk.encrypt(y, frac_bits=24, n_jobs=1)  # CRT path
    np.testing.assert_allclose(
        sk.decrypt(pk.add(cx, cy), frac_bits=24, n_jobs=1), x + y, atol=2**-23
    )
    prod = pk.mul_plain(cx, pk.encode(y, 24), n_jobs=1)
    exact = [a * b / 2.0**48 for a, b in zip(pk.encode(x, 24), pk.encode(y, 24), strict=True)]
    assert sk.decrypt(prod, frac_bits=24, scale=2, n_jobs=1).tolist() == exact
    with pytest.raises(OverflowError):
        pk.encrypt([float(2**2040)], frac_bits=32)
    wrapped = pk.encrypt_raw([int(pk.n) // 2], n_jobs=1)  # lies in the overflow band
    with pytest.raises(OverflowError):
        sk.decrypt(wrapped, n_jobs=1)
    with pytest.raises(OverflowError):
        sk.decrypt_signed(pk.encrypt_raw([2**70], n_jobs=1), max_abs=2**64, n_jobs=1)


# ----------------------------------------------------------------------------- phe oracle


def test_phe_encrypts_unseen_decrypts(sk: PaillierPrivateKey, phe_keys) -> None:
    pub, _ = phe_keys
    values = edge_values(sk.public_key)[:8] + [int(v) for v in RNG.integers(-(2**60), 2**60, 4)]
    n = int(pub.n)
    cts = [pub.raw_encrypt(v % n) for v in values]
    assert signed(sk.decrypt_raw(np.array(cts, dtype=object), n_jobs=1)) == [v % n for v in values]
    floats = [0.5, -3.25, 1e9, -7.0]
    enc = [pub.encrypt(f) for f in floats]  # phe's own encoding: exponents differ, use raw
    raw = sk.decrypt_raw([e.ciphertext(be_secure=False) for e in enc], n_jobs=1)
    decoded = [
        phe.EncodedNumber(pub, int(r), e.exponent).decode() for r, e in zip(raw, enc, strict=True)
    ]
    assert decoded == floats


def test_unseen_encrypts_phe_decrypts(sk: PaillierPrivateKey, phe_keys) -> None:
    pub, priv = phe_keys
    pk = sk.public_key
    values = edge_values(pk) + [int(v) for v in RNG.integers(-(2**62), 2**62, 6)]
    n = int(pk.n)
    for c in (pk.encrypt_raw(values, n_jobs=1), sk.encrypt_raw(values, n_jobs=1)):
        assert [priv.raw_decrypt(int(x)) for x in c] == [v % n for v in values]


def test_mixed_homomorphic_operations(sk: PaillierPrivateKey, phe_keys) -> None:
    pub, priv = phe_keys
    pk = sk.public_key
    n = int(pk.n)
    a, b, k = 123456789, -987654321, -77
    ours = pk.encrypt_raw([a], n_jobs=1)[0]
    theirs = phe.EncryptedNumber(pub, pub.raw_encrypt(b % n))
    # our add on (ours, phe's) -> phe decrypts
    mixed = pk.add(np.array([ours], dtype=object), [mpz(theirs.ciphertext())])[0]
    assert priv.raw_decrypt(int(mixed)) == (a + b) % n
    # phe arithmetic on our ciphertext -> we decrypt
    wrapped = phe.EncryptedNumber(pub, int(ours))
    out = (wrapped * k) + theirs
    assert int(sk.decrypt_signed([out.ciphertext()], n_jobs=1)[0]) == a * k + b
    # our mul_plain on phe's ciphertext, phe decrypts
    scaled = pk.mul_plain([mpz(theirs.ciphertext())], [k], n_jobs=1)[0]
    assert priv.raw_decrypt(int(scaled)) == (b * k) % n


# ----------------------------------------------------------------------------- serialisation


def test_ciphertext_bytes_round_trip_and_validation(sk, pk) -> None:
    c = pk.encrypt_raw(np.arange(-2, 3), n_jobs=1)
    raw = pk.to_bytes(c)
    assert raw.dtype == np.uint8 and raw.shape == (5, 512) and pk.ciphertext_bytes == 512
    back = pk.from_bytes(raw)
    assert [int(x) for x in back] == [int(x) for x in c]
    assert signed(sk.decrypt_signed(back, n_jobs=1)) == [-2, -1, 0, 1, 2]
    two_d = pk.to_bytes(c[:4].reshape(2, 2))
    assert two_d.shape == (2, 2, 512) and pk.from_bytes(two_d).shape == (2, 2)
    bad = raw.copy()
    bad[0] = 0
    with pytest.raises(ValueError):
        pk.from_bytes(bad)
    bad[0] = 255  # >= n^2
    with pytest.raises(ValueError):
        pk.from_bytes(bad)
    with pytest.raises(ValueError):
        pk.from_bytes(raw[:, :-1])
    with pytest.raises(ValueError):
        sk.decrypt_raw([0], n_jobs=1)


def test_key_serialisation(sk: PaillierPrivateKey, pk: PaillierPublicKey) -> None:
    d = json.loads(json.dumps(pk.to_dict()))
    assert d["scheme"] == "paillier" and d["bits"] == 2048
    pk2 = PaillierPublicKey.from_dict(d)
    assert pk2 == pk and hash(pk2) == hash(pk)
    c = pk2.encrypt_raw([99], n_jobs=1)
    assert int(sk.decrypt_raw(c, n_jobs=1)[0]) == 99
    sk2 = PaillierPrivateKey.from_dict(json.loads(json.dumps(sk.to_dict())))
    assert int(sk2.decrypt_raw(c, n_jobs=1)[0]) == 99
    with pytest.raises(ValueError):
        PaillierPublicKey.from_dict({**d, "scheme": "ou"})
    with pytest.raises(ValueError):
        PaillierPrivateKey(pk, sk.p, sk.p)


# ----------------------------------------------------------------------------- parallel


def test_parallel_paths_match(sk, pk, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)
    try:
        m = [int(v) for v in RNG.integers(-(2**40), 2**40, size=8)]
        workers_before = parallel.worker_cpu_seconds()
        c = pk.encrypt_raw(m, n_jobs=2)
        if parallel.effective_jobs(2) > 1:  # the workers' CPU time is counted here
            assert parallel.worker_cpu_seconds() > workers_before
        assert signed(sk.decrypt_signed(c, n_jobs=2)) == m
        c2 = sk.encrypt_raw(m, n_jobs=2)
        assert signed(sk.decrypt_signed(c2, n_jobs=1)) == m
        k = [3, -2, 0, 1, 5, -7, 11, 2]
        assert signed(sk.decrypt_signed(pk.mul_plain(c, k, n_jobs=2))) == [
            x * y for x, y in zip(m, k, strict=True)
        ]
        x = RNG.integers(-1000, 1000, size=(8, 3))
        out = sk.decrypt_signed(pk.matvec(x, c[:3], n_jobs=2), n_jobs=1)
        assert signed(out) == signed(x.astype(object) @ np.array(m[:3], dtype=object))
        out = sk.decrypt_signed(pk.vecmat(c, x, n_jobs=2), n_jobs=1)
        assert signed(out) == signed(np.array(m, dtype=object) @ x.astype(object))
        # one column: fewer columns than workers, so row blocks
        out = sk.decrypt_signed(pk.matvec(x[:, :1], c[:1], n_jobs=2), n_jobs=1)
        assert signed(out) == signed(x[:, :1].astype(object) @ np.array(m[:1], dtype=object))
        out = sk.decrypt_signed(pk.vecmat(c, x[:, :1], n_jobs=2), n_jobs=1)
        assert signed(out) == signed(np.array(m, dtype=object) @ x[:, :1].astype(object))
        assert int(sk.decrypt_signed(pk.sum(c, n_jobs=2), n_jobs=1)) == sum(m)
    finally:
        parallel.shutdown()


def test_job_counts() -> None:
    cpus = parallel.usable_cpus()
    assert parallel.effective_jobs(1) == 1
    assert parallel.effective_jobs(10_000) == cpus
    assert parallel.effective_jobs(-1) == cpus
    assert parallel.worth_parallel(1000, 1e-9, 4) == 1
    assert [s.stop - s.start for s in parallel.split(10, 3)] == [4, 3, 3]
    with pytest.raises(ValueError):
        parallel.effective_jobs(0)


def test_python_int_lists_stay_exact(sk: PaillierPrivateKey, pk: PaillierPublicKey) -> None:
    # numpy reads [0, 2**63 + 1] as float64; the raw API must not lose the +1
    values = [0, 2**63 + 1, -(2**64) - 1]
    c = pk.encrypt_raw(values, n_jobs=1)
    assert signed(sk.decrypt_signed(c, n_jobs=1)) == values
    x = [[1, 2**63 + 1], [-1, 0]]
    out = sk.decrypt_signed(pk.matvec(x, pk.encrypt_raw([1, 1], n_jobs=1), n_jobs=1), n_jobs=1)
    assert signed(out) == [2**63 + 2, -1]


def test_precomputed_randomness_is_used_once(sk: PaillierPrivateKey) -> None:
    import pickle

    pk = PaillierPublicKey(sk.public_key.n, sk.public_key.h_s)  # a fresh object, empty pool
    pk.precompute_randomness(6, n_jobs=1)
    assert pk.precomputed == 6
    pool = [int(x) for x in pk._pool or []]
    c = pk.encrypt_raw([1, -2, 3, 0], n_jobs=1)
    assert pk.precomputed == 2
    assert int(c[3]) in pool  # Enc(0) is the precomputed factor itself
    assert signed(sk.decrypt_signed(c, n_jobs=1)) == [1, -2, 3, 0]
    c2 = pk.encrypt_raw([0, 0, 0], n_jobs=1)  # more than remain: those two, then fresh
    assert pk.precomputed == 0
    used = [int(x) for x in [*c[3:], *c2]]
    assert len(set(used)) == 4 and set(used[1:3]) <= set(pool) and used[3] not in pool
    assert signed(sk.decrypt_signed(c2, n_jobs=1)) == [0, 0, 0]
    clone = pickle.loads(pickle.dumps(pk))  # parameters only: no tables, no pool
    assert clone == pk and clone.precomputed == 0 and clone._table is None


def test_multiexp_takes_large_unsigned_exponents(pk) -> None:
    """uint64 exponents above 2^63 are exponents, not negative numbers."""
    n2 = pk.ciphertext_modulus
    bases = [mpz(secrets.randbelow(int(n2) - 2) + 2) for _ in range(3)]
    x = np.array([[2**64 - 5], [3], [7]], dtype=np.uint64)  # int64 would read -5
    want = mpz(1)
    for b, e in zip(bases, x[:, 0].tolist(), strict=True):
        want = want * powmod(b, int(e), n2) % n2
    assert multiexp_pippenger(bases, x, n2) == [want]
