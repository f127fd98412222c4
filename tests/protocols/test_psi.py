"""ECDH-PSI in-process: correctness against Python sets, modes, inputs, transcript."""

import hashlib

import numpy as np
import pyarrow as pa
import pytest

from unseen.crypto.ecdh import HASH_DOMAIN
from unseen.protocols.psi import PsiOptions, prepare_keys, psi_table
from unseen.runtime.errors import InputError, ProtocolError
from unseen.runtime.local import Transcript, run_local

ALPHABET = list("abcxyz019") + ["é", "中", "文", "ß", "😀", " "]


def random_ids(rng, n):
    return ["".join(rng.choice(ALPHABET, rng.integers(1, 8))) for _ in range(n)]


def run_psi(a_ids, b_ids, opts=None, transcript=None):
    opts = opts or PsiOptions()
    ta = pa.table({"id": a_ids, "row": [f"a{i}" for i in range(len(a_ids))]})
    tb = pa.table({"id": b_ids, "row": [f"b{i}" for i in range(len(b_ids))]})
    return run_local(
        {"alice": psi_table, "bob": psi_table},
        args={"alice": (ta, ["id"], opts), "bob": (tb, ["id"], opts)},
        transcript=transcript,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_intersection_matches_python_sets_and_rows_align(seed):
    rng = np.random.default_rng(seed)
    common = random_ids(rng, 300)
    a = common + random_ids(rng, 400)
    b = random_ids(rng, 500) + common[:200]
    a += a[:10]  # duplicates
    rng.shuffle(a)
    rng.shuffle(b)
    out = run_psi(a, b, PsiOptions(batch_size=97))
    ra, rb = out["alice"], out["bob"]
    expected = set(a) & set(b)
    got_a = ra.table.column("id").to_pylist()
    got_b = rb.table.column("id").to_pylist()
    assert got_a == got_b  # same order on both sides
    assert set(got_a) == expected and len(got_a) == len(expected)
    # each output row is the first input row with that id
    first = {}
    for i, x in enumerate(a):
        first.setdefault(x, f"a{i}")
    assert ra.table.column("row").to_pylist() == [first[x] for x in got_a]
    assert ra.keys.duplicate_rows == len(a) - len(set(a))
    assert ra.result.peer_size == len(set(b))


def test_only_one_party_learns():
    out = run_psi(["1", "2", "3"], ["2", "3", "4"], PsiOptions(reveal_to="bob"))
    assert out["alice"].table is None and out["alice"].result.intersection_size is None
    assert sorted(out["bob"].table.column("id").to_pylist()) == ["2", "3"]
    assert out["alice"].result.peer_size == 3


def test_cardinality_only_reveals_the_size_alone():
    out = run_psi(["1", "2", "3", "9"], ["2", "3", "4"], PsiOptions(cardinality_only=True))
    for p in ("alice", "bob"):
        assert out[p].table is None
        assert out[p].result.intersection_size == 2


def test_cardinality_to_one_party():
    out = run_psi(["1", "2"], ["2", "5"], PsiOptions(cardinality_only=True, reveal_to="alice"))
    assert out["alice"].result.intersection_size == 1
    assert out["bob"].result.intersection_size is None


@pytest.mark.parametrize("a,b", [([], ["1", "2"]), (["1"], []), ([], []), (["x", "y"], ["z"])])
def test_empty_inputs_and_empty_intersections(a, b):
    out = run_psi(a, b, PsiOptions())
    assert out["alice"].table.num_rows == 0 and out["bob"].table.num_rows == 0


def test_composite_keys_are_unambiguous():
    # ("ab","c") and ("a","bc") must not match
    ta = pa.table({"k1": ["ab", "x"], "k2": ["c", "y"]})
    tb = pa.table({"k1": ["a", "x"], "k2": ["bc", "y"]})
    out = run_local(
        {"alice": psi_table, "bob": psi_table},
        args={"alice": (ta, ["k1", "k2"]), "bob": (tb, ["k1", "k2"])},
    )
    assert out["alice"].table.to_pylist() == [{"k1": "x", "k2": "y"}]


def test_normalisation_trim_and_casefold():
    out = run_psi(
        [" Alice@Example.com", "STRASSE"],
        ["alice@example.com ", "straße"],
        PsiOptions(normalize=("trim", "casefold")),
    )
    assert out["alice"].result.intersection_size == 2  # 'ß'.casefold() == 'ss'


def test_parties_must_agree_on_options():
    ta = pa.table({"id": ["1"]})
    with pytest.raises(ProtocolError, match="disagree on 'normalize'"):
        run_local(
            {"alice": psi_table, "bob": psi_table},
            args={
                "alice": (ta, ["id"], PsiOptions(normalize=("trim",))),
                "bob": (ta, ["id"], PsiOptions()),
            },
        )


def test_missing_column_and_empty_id_are_named():
    t = pa.table({"id": ["a", "", "c"]})
    with pytest.raises(InputError, match=r"f.csv, row 2, column 'id': empty ID"):
        prepare_keys(t, ["id"], file="f.csv")
    # bob's table is valid: alice's missing column is then the only root cause (with
    # bob also failing, on the empty ID, either error could be reported first)
    fine = pa.table({"id": ["a", "b", "c"]})
    with pytest.raises(InputError, match=r"no column 'phone'"):
        run_local(
            {"alice": psi_table, "bob": psi_table},
            args={"alice": (t, ["phone"]), "bob": (fine, ["id"])},
        )


def test_null_ids_in_parquet_style_columns():
    t = pa.table({"id": pa.array([1, None, 3], pa.int64())})
    with pytest.raises(InputError, match="row 2"):
        prepare_keys(t, ["id"], file="f.parquet")


def test_no_raw_id_nor_its_plain_hash_on_the_wire():
    ids = [f"secret-customer-{i:05d}" for i in range(200)]
    transcript = Transcript()
    run_psi(ids, ids[100:] + ["other"], PsiOptions(batch_size=64), transcript=transcript)
    wire = transcript.all_bytes() + b"".join(
        str(m[3]).encode() + m[2].encode() for m in transcript.messages
    )
    for x in ids[:50]:
        raw = x.encode()
        assert raw not in wire
        for h in (
            hashlib.sha256(raw).digest(),
            hashlib.sha256(HASH_DOMAIN + b"\x01" + raw).digest(),
        ):
            assert h not in wire and h[:16] not in wire
    # the blinded values look uniform: bit balance over all point bytes
    bits = np.unpackbits(np.frombuffer(transcript.all_bytes(), dtype=np.uint8))
    assert abs(bits.mean() - 0.5) < 0.01


def test_process_pool_gives_the_same_result():
    rng = np.random.default_rng(7)
    a = random_ids(rng, 3000)
    b = a[:1000] + random_ids(rng, 500)
    out = run_psi(a, b, PsiOptions(batch_size=500, workers=2))
    assert set(out["alice"].table.column("id").to_pylist()) == set(a) & set(b)
