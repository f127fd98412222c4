"""Packing: the slot layout (pure integer round trips, property-tested), packed plaintexts
through encryption and additions, homomorphic packing of ciphertexts, decrypt-packed."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unseen.crypto import parallel
from unseen.crypto.ou import OUPrivateKey
from unseen.crypto.ou import generate_keypair as ou_keypair
from unseen.crypto.packing import SlotLayout, decrypt_packed, pack_ciphertexts
from unseen.crypto.paillier import PaillierPrivateKey, generate_keypair

RNG = np.random.default_rng(99)


@pytest.fixture(scope="session")
def psk() -> PaillierPrivateKey:
    return generate_keypair(2048)


@pytest.fixture(scope="session")
def osk() -> OUPrivateKey:
    return ou_keypair(3072)


def ints(a: np.ndarray) -> list[int]:
    return [int(v) for v in a]


@st.composite
def layout_and_values(draw: st.DrawFn) -> tuple[SlotLayout, list[int]]:
    layout = SlotLayout(draw(st.integers(2, 90)), draw(st.integers(1, 12)))
    m = layout.max_value
    values = draw(st.lists(st.integers(-m, m), max_size=40))
    return layout, values


@settings(max_examples=200, deadline=None)
@given(layout_and_values())
def test_pack_unpack_round_trip(case: tuple[SlotLayout, list[int]]) -> None:
    layout, values = case
    packed = layout.pack(values)
    assert len(packed) == layout.packed_count(len(values))
    assert all(abs(int(p)) < 2 ** (layout.total_bits - 1) for p in packed)
    assert ints(layout.unpack(packed, len(values))) == values


@settings(max_examples=100, deadline=None)
@given(layout_and_values(), st.integers(1, 6))
def test_packed_sums_add_slot_by_slot(case: tuple[SlotLayout, list[int]], k: int) -> None:
    layout, values = case
    # shrink values (towards zero) so that k-fold sums still fit every slot
    vals = [v // k if v >= 0 else -(-v // k) for v in values]
    summed = [sum(x) for x in zip(*[layout.pack(vals)] * k, strict=True)]
    assert ints(layout.unpack(summed, len(vals))) == [v * k for v in vals]


def test_layout_sizes_and_overflow(psk: PaillierPrivateKey, osk: OUPrivateKey) -> None:
    lay = SlotLayout.for_key(psk, value_bits=53, max_additions=2**20)
    assert lay.slot_bits == 74 and lay.n_slots == 27 and lay.fits(psk)
    lay_ou = SlotLayout.for_key(osk.public_key, value_bits=53, max_additions=2**20)
    assert lay_ou.slot_bits == 74 and lay_ou.n_slots == 13
    assert SlotLayout.for_key(psk, 10, max_additions=1).slot_bits == 11
    assert SlotLayout.for_key(psk, 10, max_additions=3).slot_bits == 13
    with pytest.raises(ValueError):
        SlotLayout.for_key(psk, 53, 2**20, n_slots=28)
    with pytest.raises(ValueError):
        SlotLayout.for_key(psk, 5000)
    with pytest.raises(OverflowError):
        SlotLayout(8, 2).pack([128])
    with pytest.raises(OverflowError):
        SlotLayout(8, 2).pack([-128])
    with pytest.raises(OverflowError):  # a value that no longer fits its layout
        SlotLayout(8, 2).unpack([1 << 20])
    with pytest.raises(ValueError):
        SlotLayout(8, 2).unpack([1], count=3)
    with pytest.raises(ValueError):
        SlotLayout(1, 2)
    too_big = SlotLayout(100, 30)
    assert not too_big.fits(psk)
    with pytest.raises(ValueError):
        pack_ciphertexts(psk.public_key, [1], too_big)


@pytest.mark.parametrize("scheme", ["paillier", "ou"])
def test_packed_plaintexts_survive_encryption_and_bucket_sums(scheme, psk, osk) -> None:
    sk = psk if scheme == "paillier" else osk
    pk = sk.public_key
    rows = 40
    g = RNG.integers(-(2**52), 2**52, size=rows)
    h = RNG.integers(0, 2**52, size=rows)
    lay = SlotLayout.for_key(pk, value_bits=53, max_additions=rows, n_slots=2)
    packed = lay.pack(np.column_stack([g, h]).ravel())  # one plaintext per (g, h) pair
    c = pk.encrypt_raw(packed, n_jobs=1)
    bins = RNG.integers(0, 5, size=rows)
    sums = pk.group_sum(c, bins, 5)
    out = decrypt_packed(sk, sums, lay, n_jobs=1).reshape(5, 2)
    for b in range(5):
        assert int(out[b, 0]) == int(g[bins == b].sum()) and int(out[b, 1]) == int(
            h[bins == b].sum()
        )


@pytest.mark.parametrize("scheme", ["paillier", "ou"])
def test_pack_ciphertexts_then_decrypt_packed(scheme, psk, osk) -> None:
    sk = psk if scheme == "paillier" else osk
    pk = sk.public_key
    values = [int(v) for v in RNG.integers(-(2**53), 2**53, size=30)] + [0, 2**53 - 1, -(2**53)]
    c = pk.encrypt_raw(values, n_jobs=1)
    lay = SlotLayout.for_key(pk, value_bits=54, max_additions=2)
    doubled = pk.add(c, c)  # slots must hold the sums too
    packed = pack_ciphertexts(pk, doubled, lay, n_jobs=1)
    assert len(packed) == lay.packed_count(len(values))
    assert ints(decrypt_packed(sk, packed, lay, len(values), n_jobs=1)) == [2 * v for v in values]


def test_fixed_point_packing_and_parallel_packing(psk: PaillierPrivateKey, monkeypatch) -> None:
    pk = psk.public_key
    x = np.array([0.5, -1.25, 3.0, -1e6, 2.0**-16])
    lay = SlotLayout.for_key(pk, value_bits=40, max_additions=4)
    packed = lay.pack_fixed(x, frac_bits=16)
    assert lay.unpack_fixed(packed, 16, count=len(x)).tolist() == x.tolist()
    c = pk.encrypt_raw(pk.encode(x, 16), n_jobs=1)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)
    try:
        packed_c = pack_ciphertexts(pk, c, SlotLayout(41, 2), n_jobs=2)
    finally:
        parallel.shutdown()
    got = SlotLayout(41, 2).unpack_fixed(psk.decrypt_signed(packed_c, n_jobs=1), 16, len(x))
    assert got.tolist() == x.tolist()
