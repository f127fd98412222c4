"""The compiled loops of ss-dealer SecureBoost, against numpy on the same inputs."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter

import numpy as np
import pytest

from unseen.crypto.prg import AesCtrPrg
from unseen.ml import sbt_kernels as kernels

U64 = np.uint64
rng = np.random.default_rng(11)  # test data only


class _StubPrg:
    """A stream whose first block is all zeros (every draw rejected), then AES-CTR."""

    def __init__(self, zeros: bool = True) -> None:
        self.calls, self.sizes, self.zeros = 0, [], zeros
        self.real = AesCtrPrg(bytes(range(16)))

    def uint64(self, shape: int | tuple[int, ...]) -> np.ndarray:
        self.calls += 1
        out = self.real.uint64(shape)
        self.sizes.append(out.size)
        return np.zeros_like(out) if self.calls == 1 and self.zeros else out


def test_permutation_is_a_function_of_the_stream():
    p = kernels.permutation(AesCtrPrg(bytes(16)), 5000)
    assert p.dtype == np.int32 and np.array_equal(np.sort(p), np.arange(5000))
    assert np.array_equal(p, kernels.permutation(AesCtrPrg(bytes(16)), 5000))
    assert not np.array_equal(p, kernels.permutation(AesCtrPrg(bytes(15) + b"\x01"), 5000))
    assert kernels.permutation(AesCtrPrg(), 0).size == 0
    with pytest.raises(ValueError, match="cannot permute"):
        kernels.permutation(AesCtrPrg(), -1)


def test_permutation_written_into_a_row_is_the_same_permutation():
    stack = np.full((2, 300), -1, dtype=np.int32)
    got = kernels.permutation(AesCtrPrg(bytes(16)), 300, stack[1])
    assert got is stack[1] or np.shares_memory(got, stack)
    assert np.array_equal(stack[1], kernels.permutation(AesCtrPrg(bytes(16)), 300))
    assert (stack[0] == -1).all()  # the other row is untouched
    with pytest.raises(ValueError, match="contiguous int32"):
        kernels.permutation(AesCtrPrg(), 300, np.empty(300, dtype=np.int64))
    with pytest.raises(ValueError, match="contiguous int32"):
        kernels.permutation(AesCtrPrg(), 300, stack[:, 0])


def test_permutation_of_three_is_uniform():
    prg = AesCtrPrg(bytes(range(1, 17)))
    counts = Counter(tuple(kernels.permutation(prg, 3).tolist()) for _ in range(6000))
    assert set(counts) == set(itertools.permutations(range(3)))
    # each order has probability 1/6: 1000 expected, standard deviation ~29
    assert all(850 < c < 1150 for c in counts.values()), counts


def test_shuffle_rejects_biased_draws_and_draws_more_words_when_they_run_out():
    n = 1000  # not a power of two: a zero word is below the rejection threshold
    words = np.zeros(10, dtype=np.uint32)
    assert kernels._fisher_yates(words, np.empty(n, dtype=np.int32)) == -1
    stub = _StubPrg()
    p = kernels.permutation(stub, n)  # type: ignore[arg-type]
    assert stub.calls == 2 and np.array_equal(np.sort(p), np.arange(n))
    # the same as one shuffle over the whole stream: zeros, then the real words
    again = AesCtrPrg(bytes(range(16)))
    first = again.uint64(stub.sizes[0])
    stream = np.concatenate([np.zeros_like(first), again.uint64(first.size + 64)])
    q = np.empty(n, dtype=np.int32)
    used = kernels._fisher_yates(stream.view(np.uint32), q)
    assert used > 2 * first.size and np.array_equal(p, q)


def test_a_large_shuffle_draws_its_words_once():
    """Rejected draws grow as n^2 / 2^33 in a whole-array shuffle (about 1,000 at 3
    million rows): the words drawn first cover them, so a large shuffle does not run out
    and start again (a two-pass one draws its buckets first: one call more)."""
    for n, buckets in ((1_000_000, 1), (3_000_000, 1), (3_000_000, None)):
        stub = _StubPrg(zeros=False)
        p = kernels.permutation(stub, n, buckets=buckets)  # type: ignore[arg-type]
        assert stub.calls == (1 if buckets == 1 else 2), f"{n} rows: the words ran out"
        assert np.array_equal(np.bincount(p, minlength=n), np.ones(n))


@pytest.mark.parametrize(("n", "buckets"), [(4, 2), (3, 4)])
def test_two_pass_permutation_is_uniform(n, buckets):
    """Rows dealt to random buckets, each bucket shuffled: every order equally likely,
    also with buckets left empty (4 buckets for 3 rows)."""
    prg = AesCtrPrg(bytes(range(2, 18)))
    orders = list(itertools.permutations(range(n)))
    draws = 1000 * len(orders)
    counts = Counter(
        tuple(kernels.permutation(prg, n, buckets=buckets).tolist()) for _ in range(draws)
    )
    assert set(counts) == set(orders)
    # 1000 expected of each; standard deviation about 31
    assert all(860 < c < 1140 for c in counts.values()), counts


def test_two_pass_permutation_is_a_function_of_the_stream():
    n = 5000
    p = kernels.permutation(AesCtrPrg(bytes(16)), n, buckets=8)
    assert np.array_equal(np.sort(p), np.arange(n))
    assert np.array_equal(p, kernels.permutation(AesCtrPrg(bytes(16)), n, buckets=8))
    assert not np.array_equal(p, kernels.permutation(AesCtrPrg(bytes(16)), n))
    # the stream is drawn in this order: a bucket per row (16 bits each), then the words
    prg = AesCtrPrg(bytes(16))
    draws = prg.uint64((n + 3) // 4).view(np.uint16)[:n] & np.uint16(7)
    words = prg.uint64(n).view(np.uint32)
    q = np.empty(n, dtype=np.int32)
    assert kernels._bucket_shuffle(draws, 8, words, q) > 0 and np.array_equal(p, q)
    # each bucket's rows stay together, in bucket order: position ranges of the counts
    ends = np.cumsum(np.bincount(draws, minlength=8))
    for b in range(8):
        start = ends[b - 1] if b else 0
        assert set(q[start : ends[b]].tolist()) == set(np.flatnonzero(draws == b).tolist())
    assert kernels._bucket_shuffle(draws, 8, words[:10], q) == -1  # words ran out
    for bad in (0, 3, 2**17):
        with pytest.raises(ValueError, match="power of two"):
            kernels.permutation(prg, n, buckets=bad)
    assert kernels.bucket_count(kernels.TWO_PASS_ROWS) == 1
    assert kernels.bucket_count(3_000_000) == 128  # 23,438 rows a bucket on average


def _unpacked(packed: np.ndarray, bits: int, n: int) -> list[int]:
    """The labels of one packed row, read as the documented layout says."""
    if bits == 16:  # two bytes a label, little-endian
        return [int(packed[2 * i]) | int(packed[2 * i + 1]) << 8 for i in range(n)]
    per_byte = 8 // bits
    return [
        (int(packed[i // per_byte]) >> ((i % per_byte) * bits)) & (2**bits - 1) for i in range(n)
    ]


@pytest.mark.parametrize("bits", kernels.LABEL_BITS)
def test_labels_pack_through_permutations(bits):
    f_count, n = 3, 1001  # not a whole number of bytes for bits < 8
    prg = AesCtrPrg()
    perms = np.stack([kernels.permutation(prg, n) for _ in range(f_count)])
    table = rng.integers(0, 2**bits, size=(f_count, n)).astype(np.uint8 if bits <= 8 else np.uint16)
    packed = kernels.pack_gathered(table, perms, bits)
    assert packed.shape == (f_count, kernels.packed_size(n, bits)) and packed.dtype == np.uint8
    for f in range(f_count):
        assert _unpacked(packed[f], bits, n) == table[f][perms[f]].tolist()
    assert kernels.largest_label(packed, bits) == table.max()
    # one vector through every permutation, as uint16 (the node slots): the same either way
    vector = table[0].astype(np.uint16)
    every = kernels.pack_permuted(vector, perms, bits)
    assert _unpacked(every[2], bits, n) == vector[perms[2]].tolist()
    assert np.array_equal(
        every, kernels.pack_gathered(np.broadcast_to(vector, perms.shape), perms, bits)
    )


def test_labels_pack_only_in_whole_fractions_of_a_byte():
    perms = np.zeros((1, 4), dtype=np.int32)
    with pytest.raises(ValueError, match="1, 2, 4, 8 or 16 bits"):
        kernels.pack_gathered(np.zeros((1, 4), dtype=np.uint8), perms, 3)


@pytest.mark.parametrize(("n_slots", "bits", "words"), [(4, 4, 1), (4, 4, 2), (300, 16, 2)])
def test_label_sums_match_numpy_and_wrap_modulo_2_64(n_slots, bits, words):
    f_count, n, width = 3, 2001, 5
    shares = rng.integers(0, 2**64 - 1, size=(f_count, n, words), dtype=U64, endpoint=True)
    slots = rng.integers(0, n_slots + 1, size=(f_count, n)).astype(np.uint16)
    slots[:, 0] = n_slots  # row 0 not summed
    bins = rng.integers(0, width, size=(f_count, n)).astype(np.uint16)
    identity = np.broadcast_to(np.arange(n, dtype=np.int32), (f_count, n))
    packed = kernels.pack_gathered(slots, np.ascontiguousarray(identity), bits)
    got = kernels.label_sums(packed, bits, bins, shares, width, n_slots)
    assert got.shape == (f_count, n_slots * width, words) and got.dtype == U64
    assert kernels.largest_label(packed, bits) == n_slots
    for f in range(f_count):
        for code in range(n_slots * width):
            sel = (slots[f].astype(int) * width + bins[f] == code) & (slots[f] < n_slots)
            want = (
                [int(v) for v in shares[f, sel].astype(object).sum(axis=0)]
                if sel.any()
                else [0] * words
            )
            assert [int(x) for x in got[f, code]] == [w % 2**64 for w in want]
    # a slot beyond n_slots (up to 2^bits - 1) is summed where it is cut off, and seen
    slots[1, 0] = 2**bits - 1
    packed = kernels.pack_gathered(slots, np.ascontiguousarray(identity), bits)
    again = kernels.label_sums(packed, bits, bins, shares, width, n_slots)
    assert kernels.largest_label(packed, bits) == 2**bits - 1 and np.array_equal(again, got)


def test_bin_sums_of_shares_match_numpy_modulo_2_64():
    f_count, n, width, cols, n_slots = 4, 3000, 7, 6, 2
    codes = rng.integers(0, width, size=(f_count, n)).astype(np.uint8)
    values = rng.integers(0, 2**64 - 1, size=(n, cols), dtype=U64, endpoint=True)
    slot = rng.integers(-1, n_slots, size=n).astype(np.int32)  # -1: in no node summed
    got = kernels.bin_sums(codes, np.flatnonzero(slot >= 0), slot, values, n_slots, width)
    assert got.dtype == U64 and got.shape == (n_slots, f_count, width, cols)
    for s in range(n_slots):
        for f in range(f_count):
            for b in range(width):
                want = values[(codes[f] == b) & (slot == s)].astype(object).sum(axis=0)
                assert [int(x) for x in got[s, f, b]] == [int(w) % 2**64 for w in want]


@pytest.mark.parametrize("words", [1, 2])
def test_gathers_through_permutations_match_numpy(words):
    f_count, n = 3, 1000
    prg = AesCtrPrg()
    perms = np.stack([kernels.permutation(prg, n) for _ in range(f_count)])
    pairs = rng.integers(0, 2**64 - 1, size=(n, words), dtype=U64, endpoint=True)
    out = rng.integers(0, 2**64 - 1, size=(f_count, n, words), dtype=U64, endpoint=True)
    with np.errstate(over="ignore"):
        want_plus = out + pairs[perms]
        want_minus = pairs[perms] - out
    plus, minus = out.copy(), out.copy()
    kernels.add_permuted(pairs, perms, plus)
    kernels.permuted_minus(pairs, perms, minus)
    assert np.array_equal(plus, want_plus) and np.array_equal(minus, want_minus)


def test_plaintext_histograms_equal_bincount_to_the_bit():
    from unseen.ml.sbt_tree import Histograms

    n, f_count, width, n_slots = 5000, 4, 9, 3
    bins = np.asfortranarray(rng.integers(0, width, size=(n, f_count)).astype(np.uint8))
    slot = rng.integers(-1, n_slots, size=n).astype(np.int32)  # -1: in no node summed
    g, h = rng.normal(size=n), rng.uniform(0, 0.25, size=n)
    got_g, got_h = Histograms(bins, width, g, h)(slot, n_slots)
    rows = np.flatnonzero(slot >= 0)
    for f in range(f_count):
        code = slot[rows] * width + bins[rows, f]
        for got, w in ((got_g, g), (got_h, h)):
            want = np.bincount(code, weights=w[rows], minlength=n_slots * width)
            assert np.array_equal(got[:, f, :].ravel(), want)  # same order of additions
    with pytest.raises(ValueError, match="not below 9"):
        Histograms(bins + np.uint8(width), width, g, h)
    with pytest.raises(ValueError, match="slot is 3"):
        Histograms(bins, width, g, h)(np.full(n, n_slots, dtype=np.int32), n_slots)


def test_route_rows_decides_like_goes_left_and_reads_an_answer_back():
    from unseen.ml.sbt_tree import goes_left

    n = 1000
    X = np.asfortranarray(rng.normal(size=(n, 3)))
    X[rng.random(n) < 0.1, 1] = np.nan  # missing values take the default way
    node_of = rng.integers(0, 4, n).astype(np.int16)  # nodes 0..3; 1 and 3 split now
    left = np.array([-1, 4, -1, 6, -1, -1, -1, -1], dtype=np.int16)
    right = np.array([-1, 5, -1, 7, -1, -1, -1, -1], dtype=np.int16)
    children = np.stack([left, right], axis=1).reshape(-1)  # node v's at 2 v and 2 v + 1
    rules = {3: (1, 0.2, True), 1: (0, -0.5, False)}  # node -> (column, threshold, default left)
    order = [3, 1]  # the bits come node by node in this order
    counts = np.bincount(node_of, minlength=8)
    pos = np.full(8, -1, dtype=np.int64)
    pos[order] = np.cumsum(counts[order]) - counts[order]
    column, threshold = np.zeros(8, dtype=np.int64), np.zeros(8)
    default_left = np.zeros(8, dtype=np.bool_)
    for v, (f, thr, dl) in rules.items():
        column[v], threshold[v], default_left[v] = f, thr, dl
    bits = np.full(counts[order].sum(), 9, dtype=np.uint8)
    out = node_of.copy()
    no_cats = (np.full(8, -1, dtype=np.int64), np.zeros((1, 256), dtype=np.uint8))
    args = (column, threshold, default_left, *no_cats, X)
    mine, nothing = np.ones(8, dtype=np.bool_), np.zeros(0, dtype=np.uint8)
    kernels.route_rows(node_of, pos.copy(), *args, mine, bits, nothing, children, out)
    expected_bits, expected = [], node_of.copy()
    for v in order:
        at = np.flatnonzero(node_of == v)
        go = goes_left(X[at, rules[v][0]], rules[v][1], rules[v][2])
        expected_bits.append(go)
        expected[at] = np.where(go, left[v], right[v])
    assert np.array_equal(bits, np.concatenate(expected_bits).astype(np.uint8))
    assert np.array_equal(out, expected)
    # the other way: the same bits read back (as a peer's answer) route the rows alike
    again = node_of.copy()
    theirs = np.zeros(8, dtype=np.bool_)
    kernels.route_rows(node_of, pos.copy(), *args, theirs, nothing, bits, children, again)
    assert np.array_equal(again, expected)
    assert np.array_equal(again[np.isin(node_of, [0, 2])], node_of[np.isin(node_of, [0, 2])])
    # both in one pass: node 3 decided here, node 1 read from a peer's bits
    n3 = counts[3]
    split_pos = pos.copy()
    split_pos[1] = 0  # node 1's bits begin the peer's answer
    one_node = np.zeros(8, dtype=np.bool_)
    one_node[3] = True
    decided = np.full(n3, 9, dtype=np.uint8)
    both = node_of.copy()
    kernels.route_rows(node_of, split_pos, *args, one_node, decided, bits[n3:], children, both)
    assert np.array_equal(decided, bits[:n3]) and np.array_equal(both, expected)


def test_node_totals_equal_bincount_to_the_last_bit():
    rng = np.random.default_rng(5)
    for n, n_nodes in ((1, 1), (1000, 7), (20_001, 31)):
        node_rows = rng.integers(0, n_nodes, n).astype(np.int16)
        gh = rng.standard_normal((n, 2)) * 10.0 ** rng.integers(-8, 8, (n, 2))
        g, h = gh[:, 0], gh[:, 1]  # strided, as decoded shares come
        count, sum_g, sum_h = kernels.node_totals(node_rows, g, h, n_nodes)
        assert np.array_equal(count, np.bincount(node_rows, minlength=n_nodes))
        assert np.array_equal(sum_g, np.bincount(node_rows, weights=g, minlength=n_nodes))
        assert np.array_equal(sum_h, np.bincount(node_rows, weights=h, minlength=n_nodes))


@pytest.mark.parametrize("words", [1, 2])
def test_add_permuted_bin_sums_is_add_permuted_then_the_roots_label_sums(words):
    rng = np.random.default_rng(9)
    f_count, n, width = 3, 1001, 5
    perms = np.stack([rng.permutation(n) for _ in range(f_count)]).astype(np.int32)
    pairs = rng.integers(0, 2**64, (n, words), dtype=np.uint64)
    start = rng.integers(0, 2**64, (f_count, n, words), dtype=np.uint64)
    bins = rng.integers(0, width, (f_count, n)).astype(np.uint8)
    expected = start.copy()
    kernels.add_permuted(pairs, perms, expected)
    root = np.zeros((f_count, kernels.packed_size(n, 1)), dtype=np.uint8)  # every row in slot 0
    expected_sums = kernels.label_sums(root, 1, bins, expected, width, 1)
    got = start.copy()
    sums = kernels.add_permuted_bin_sums(pairs, perms, got, bins, width)
    assert np.array_equal(got, expected) and np.array_equal(sums, expected_sums)


def test_node_counts_take_and_slot_labels_match_numpy():
    rng = np.random.default_rng(5)
    node_rows = rng.integers(0, 31, 1000).astype(np.int16)
    assert np.array_equal(kernels.node_counts(node_rows, 40), np.bincount(node_rows, minlength=40))
    lut = np.full(40, -1, dtype=np.int32)
    lut[[3, 7, 30]] = [0, 1, 2]
    slot = kernels.take(lut, node_rows)
    assert slot.dtype == np.int32 and np.array_equal(slot, lut[node_rows])
    for label_type in (np.uint8, np.uint16):
        out = kernels.slot_labels(slot, 3, np.empty(slot.size, dtype=label_type))
        assert np.array_equal(out, np.where(slot < 0, 3, slot))


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_feature_threads_split_features_into_ordered_parts(threads):
    """Every feature in exactly one part, parts in order, the same sums as one call."""
    f_count, n = 5, 300
    pool = kernels.FeatureThreads(threads)
    try:
        spans = pool.map(f_count, lambda f: (f.start, f.stop))
        assert spans[0][0] == 0 and spans[-1][1] == f_count
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
        assert len(spans) == min(threads, f_count)
        slots = kernels.pack_gathered(
            rng.integers(0, 4, (f_count, n)).astype(np.uint8),
            np.stack([rng.permutation(n).astype(np.int32) for _ in range(f_count)]),
            2,
        )
        bins = rng.integers(0, 7, (f_count, n)).astype(np.uint8)
        shares = rng.integers(0, 2**63, (f_count, n, 1), dtype=np.uint64)
        whole = kernels.label_sums(slots, 2, bins, shares, 7, 3)
        parts = pool.concat(
            f_count, lambda f: kernels.label_sums(slots[f], 2, bins[f], shares[f], 7, 3)
        )
        assert np.array_equal(parts, whole)
        assert pool.map(0, lambda f: (f.start, f.stop)) == [(0, 0)]  # no features: one call
    finally:
        pool.close()


def test_a_warm_up_step_is_held_by_one_process_at_a_time():
    with kernels._step_lock("test-step", wait=False) as first:
        assert first
        # flock locks belong to the open file: a second open conflicts as another process's
        with kernels._step_lock("test-step", wait=False) as second:
            assert not second
    with kernels._step_lock("test-step", wait=False) as again:
        assert again


def test_warm_up_passes_over_a_step_another_process_compiles_then_loads_it():
    kernels.warm_up()  # compiled (or loaded) once, so the steps below are quick
    done = threading.Event()
    order: list[str] = []
    steps = [(name, lambda name=name: order.append(name)) for name, _ in kernels._WARM_STEPS]
    held = steps[0][0]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels, "_WARM_STEPS", tuple(steps))
        with kernels._step_lock(held, wait=False) as mine:
            assert mine
            worker = threading.Thread(target=lambda: (kernels.warm_up(), done.set()))
            worker.start()
            # every other step is done while the first is held elsewhere; not the first
            for _ in range(200):
                if len(order) == len(steps) - 1:
                    break
                time.sleep(0.05)
            assert order == [name for name, _ in steps[1:]]
            assert not done.wait(0.5)
        worker.join(timeout=30)
    assert done.is_set()
    assert order == [name for name, _ in steps[1:]] + [held]
