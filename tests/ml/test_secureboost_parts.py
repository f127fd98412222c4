"""SecureBoost's building blocks: quantile binning, XGBoost's split search, the share ring."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unseen.ml import sbt_binning
from unseen.ml.sbt_binning import BinMapper, QuantileSketch, bin_mask
from unseen.ml.sbt_kernels import label_sums, pack_gathered
from unseen.ml.sbt_protocol import RowSampler
from unseen.ml.sbt_shuffle import (
    FixedPointGH,
    PackedGH,
    _permutation,
    checked_slots,
    slot_bits,
)
from unseen.ml.sbt_tree import (
    CategoricalSplits,
    Histograms,
    SplitRule,
    TreeLayout,
    find_splits,
    smaller_children,
)
from unseen.runtime.errors import ConfigError, ProtocolError


def test_few_distinct_values_get_one_bin_each():
    x = np.array([[3.0], [1.0], [2.0], [1.0], [np.nan], [3.0]])
    bm = BinMapper.fit(x, max_bin=8)
    assert bm.cuts[0].tolist() == [2.0, 3.0]
    assert bm.transform(x)[:, 0].tolist() == [2, 0, 1, 0, bm.missing_bin, 2]
    assert bm.n_bins().tolist() == [3]


def test_quantile_bins_hold_equal_shares():
    x = np.random.default_rng(0).standard_normal((20_000, 1))
    bm = BinMapper.fit(x, max_bin=32)
    counts = np.bincount(bm.transform(x)[:, 0], minlength=32)
    assert bm.n_bins()[0] == 32
    assert counts.min() >= 20_000 / 32 - 2 and counts.max() <= 20_000 / 32 + 2


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=300), st.integers(2, 40)
)
def test_threshold_is_xgboost_rule(values, max_bin):
    """Bins 0..k go left exactly when x < threshold(k)."""
    x = np.array(values)[:, None]
    bm = BinMapper.fit(x, max_bin)
    b = bm.transform(x)[:, 0]
    for k in range(int(bm.n_bins()[0])):
        assert np.array_equal(b <= k, x[:, 0] < bm.threshold(0, k))


def test_sketch_of_chunks_keeps_ranks_within_eps(monkeypatch):
    monkeypatch.setattr(sbt_binning, "EXACT_ROWS", 1000)
    monkeypatch.setattr(sbt_binning, "CHUNK_ROWS", 2000)
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.exponential(size=15_000), np.round(rng.normal(size=5000), 1)])
    rng.shuffle(x)
    max_bin = 16
    sketch = sbt_binning.sketch_column(x, max_bin)
    assert not sketch.exact and sketch.total == x.size
    cuts = sketch.cuts(max_bin)
    ranks = np.searchsorted(np.sort(x), cuts, side="left")  # items below each cut
    eps = sketch.error + x.size / max_bin  # step error plus the distance between targets
    targets = np.arange(1, max_bin) * x.size / max_bin
    for r in ranks:
        assert np.min(np.abs(targets - r)) <= eps
    exact = QuantileSketch.from_values(x).cuts(max_bin)
    assert (
        np.abs(np.searchsorted(np.sort(x), exact) - targets[: len(exact)]).max()
        <= 2 * x.size / max_bin
    )


def test_bin_mask_marks_cells_that_can_hold_rows():
    m = bin_mask(np.array([2, 4]), np.array([True, False]), 5)
    assert m.tolist() == [[True, True, False, False, True], [True, True, True, True, False]]


def brute_force(hg, hh, tg, th, n_bins, rule):
    """XGBoost's enumeration, written as loops."""
    best = (-np.inf, 0, 0, False)
    k, f, w = hg.shape
    out = []
    for node in range(k):
        best = (-np.inf, 0, 0, False)
        parent = float(rule.score(np.array(tg[node]), np.array(th[node])))
        for feat in range(f):
            miss = (hg[node, feat, -1], hh[node, feat, -1])
            for j in range(n_bins[feat]):
                gl, hl = hg[node, feat, : j + 1].sum(), hh[node, feat, : j + 1].sum()
                for left_missing in (False, True):
                    if left_missing and (miss[1] <= 0 or j == n_bins[feat] - 1):
                        continue
                    if not left_missing and j == n_bins[feat] - 1 and miss[1] <= 0:
                        continue
                    a, b = (gl + miss[0], hl + miss[1]) if left_missing else (gl, hl)
                    if b < rule.min_child_weight or th[node] - b < rule.min_child_weight:
                        continue
                    gain = float(
                        rule.score(np.array(a), np.array(b))
                        + rule.score(np.array(tg[node] - a), np.array(th[node] - b))
                    )
                    gain -= parent
                    if gain > best[0] + 1e-12:
                        best = (gain, feat, j, left_missing)
        out.append(best)
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_split_search_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n, f, w = 40, 3, 6
    n_bins = rng.integers(1, w, size=f)
    bins = np.stack([rng.integers(0, nb, size=n) for nb in n_bins], axis=1)
    bins[rng.random((n, f)) < 0.15] = w - 1  # missing values
    slot = rng.integers(0, 2, size=n).astype(np.int32)
    g, h = np.round(rng.normal(size=n), 3), np.round(rng.random(n), 3)
    hg, hh = Histograms(bins.astype(np.uint8), w, g, h)(slot, 2)
    tg = np.bincount(slot, weights=g, minlength=2)
    th = np.bincount(slot, weights=h, minlength=2)
    rule = SplitRule(reg_lambda=1.0, gamma=0.0, min_child_weight=1.0)
    got = find_splits(hg, hh, tg, th, n_bins, rule)
    for node, (gain, _f, _j, _dl) in enumerate(brute_force(hg, hh, tg, th, n_bins, rule)):
        if not np.isfinite(gain):
            assert not np.isfinite(got.gain[node])
            continue
        assert got.gain[node] == pytest.approx(gain, abs=1e-9)


def _find_splits_numpy(hist_g, hist_h, total_g, total_h, n_bins, rule):
    """The split search in numpy array operations (the code before it was compiled)."""
    from unseen.ml.sbt_tree import first_best

    k, f, w = hist_g.shape
    values = w - 1
    gl = np.cumsum(hist_g[:, :, :values], axis=2)
    hl = np.cumsum(hist_h[:, :, :values], axis=2)
    gm, hm = hist_g[:, :, values:], hist_h[:, :, values:]
    tg, th = total_g[:, None, None], total_h[:, None, None]
    parent = rule.score(total_g, total_h)[:, None, None]
    has_missing = hm[:, :, 0] > 0
    j = np.arange(values)[None, None, :]
    cut = j < (n_bins[None, :, None] - 1)
    all_values = (j == n_bins[None, :, None] - 1) & has_missing[:, :, None]

    def gains(gl_, hl_, valid):
        gr_, hr_ = tg - gl_, th - hl_
        ok = valid & (hl_ >= rule.min_child_weight) & (hr_ >= rule.min_child_weight)
        return np.where(ok, rule.score(gl_, hl_) + rule.score(gr_, hr_) - parent, -np.inf)

    right = gains(gl, hl, cut | all_values)
    left = np.where(has_missing[:, :, None], gains(gl + gm, hl + hm, cut), -np.inf)
    # XGBoost's order: per feature, missing right bin by bin up, then missing left from
    # the top bin down; the first of the best gains wins
    flat = np.concatenate([right, left[:, :, ::-1]], axis=2).reshape(k, -1)
    arg = first_best(flat)
    feature, slot = np.divmod(arg, 2 * values)
    backward = slot >= values
    cut_bin = np.where(backward, 2 * values - 1 - slot, slot)
    return flat[np.arange(k), arg], feature, cut_bin, backward


@pytest.mark.parametrize("seed", range(0, 60, 6))
def test_compiled_split_search_equals_the_array_version_to_the_bit(seed):
    for rng in map(np.random.default_rng, range(seed, seed + 6)):
        _compare_split_searches(rng, *rng.integers([1, 1, 2], [6, 8, 9]))


def _compare_split_searches(rng: np.random.Generator, k: int, f: int, w: int) -> None:
    n_bins = rng.integers(1, w, size=f)
    hg = np.round(rng.normal(size=(k, f, w)), 2)
    hh = np.round(rng.random((k, f, w)) * rng.integers(0, 2, size=(k, f, w)), 2)  # empty bins
    hh[:, :, -1] *= rng.integers(0, 2, size=(k, f))  # features without missing values
    hg[:, -1] = hg[:, 0]  # ties between features: the first one wins
    hh[:, -1] = hh[:, 0]
    tg, th = hg.sum(axis=2)[:, 0], hh.sum(axis=2)[:, 0]
    rule = SplitRule(
        reg_lambda=float(rng.choice([0.0, 1.0])),
        min_child_weight=0.5,
        reg_alpha=float(rng.choice([0.0, 0.3])),  # L1: G shrunk towards 0
        max_delta_step=float(rng.choice([0.0, 0.4])),  # weights clipped, gains at them
    )
    got = find_splits(hg, hh, tg, th, n_bins, rule)
    gain, feature, cut_bin, dleft = _find_splits_numpy(hg, hh, tg, th, n_bins, rule)
    assert np.array_equal(got.gain, gain)  # the same floats, -inf where nothing splits
    assert np.array_equal(got.feature, feature) and np.array_equal(got.bin, cut_bin)
    assert np.array_equal(got.default_left, dleft)


def test_histograms_and_subtraction():
    rng = np.random.default_rng(2)
    bins = rng.integers(0, 5, size=(100, 3)).astype(np.uint8)
    g, h = rng.normal(size=100), rng.random(100)
    slot = rng.integers(-1, 2, size=100).astype(np.int32)
    hg, hh = Histograms(bins, 6, g, h)(slot, 2)
    for s in range(2):
        for f in range(3):
            for b in range(6):
                sel = (slot == s) & (bins[:, f] == b)
                assert hg[s, f, b] == pytest.approx(g[sel].sum())
                assert hh[s, f, b] == pytest.approx(h[sel].sum())
    assert smaller_children(np.array([5, 3, 2, 2])).tolist() == [False, True, True, False]
    lay = TreeLayout()
    assert lay.split(0, 1) == (1, 2) and lay.leaves().tolist() == [1, 2]


@pytest.mark.parametrize("packed", [True, False])
def test_shares_sum_to_the_fixed_point_sums(packed):
    """Two additive shares of the encoded (g, h), summed by label, decode to the label sums."""
    rng = np.random.default_rng(4)
    n = 5000
    g, h = rng.uniform(-1, 1, n), rng.uniform(0, 0.25, n)
    fxp = PackedGH.for_gradients(g, h) if packed else FixedPointGH.for_gradients(g, h)
    y = fxp.encode(g, h)
    assert y.shape == (n, fxp.lanes) and y.dtype == np.uint64
    rg, rh = fxp.rounded(y)
    step = 2.0 ** -(fxp.g_frac if packed else fxp.frac_bits)
    assert np.abs(rg - g).max() <= step / 2 and np.abs(rh - h).max() <= step / 2
    share = rng.integers(0, 2**64 - 1, size=(1, n, fxp.lanes), dtype=np.uint64, endpoint=True)
    with np.errstate(over="ignore"):
        other = y[None] - share
    slots = rng.integers(0, 3, size=(1, n)).astype(np.uint8)  # slot 2: not summed
    bins = rng.integers(0, 3, size=(1, n)).astype(np.uint8)
    identity = np.arange(n, dtype=np.int32)[None]
    labels = pack_gathered(slots, identity, 2)
    with np.errstate(over="ignore"):
        total = label_sums(labels, 2, bins, share, 3, 2) + label_sums(labels, 2, bins, other, 3, 2)
    got = fxp.decode(total)[0]
    codes = slots[0].astype(np.int64) * 3 + bins[0]
    for c in range(6):
        sel = (codes == c) & (slots[0] < 2)
        # exactly the sums of the rounded values, in float64 too
        assert got[c, 0] == rg[sel].sum() and got[c, 1] == rh[sel].sum()


def test_one_word_holds_g_and_h_sums_at_their_extremes():
    n = 100_000
    fxp = PackedGH(n, 1.0, 0.25)
    assert (fxp.g_frac, fxp.h_frac) == (14, 15)  # at 100,000 logistic rows
    for g_val, h_val in ((-1.0, 0.25), (1.0, 0.25), (-1.0, 0.0), (0.5, 0.125)):
        g, h = np.full(n, g_val), np.full(n, h_val)
        y = fxp.encode(g, h)
        total = np.array([[int(y[:, 0].astype(object).sum()) % 2**64]], dtype=np.uint64)
        assert fxp.decode(total)[0].tolist() == [g_val * n, h_val * n]
    with pytest.raises(ConfigError, match="do not fit one share word"):
        PackedGH(n, 2.0**30, 0.25)


@pytest.mark.parametrize("packed", [True, False])
def test_encode_rounded_is_encode_and_rounded_to_the_bit(packed):
    """The guest's one-pass encoding (compiled for PackedGH) equals the numpy definition."""
    rng = np.random.default_rng(9)
    g = np.concatenate([rng.uniform(-1, 1, 999), [-1.0, 1.0, 0.0, -1e-12, 0.5 / 2**14]])
    h = np.concatenate([rng.uniform(0, 0.25, 999), [0.25, 0.0, 0.25, 1e-12, 0.5 / 2**15]])
    fxp = PackedGH.for_gradients(g, h) if packed else FixedPointGH.for_gradients(g, h)
    y, rg, rh = fxp.encode_rounded(g, h)
    want = fxp.encode(g, h)
    assert y.dtype == want.dtype and np.array_equal(y, want)
    wg, wh = fxp.rounded(want)
    assert np.array_equal(rg, wg) and np.array_equal(rh, wh)


def test_node_slots_pack_in_few_bits_and_a_peers_are_checked():
    assert [slot_bits(k) for k in (1, 2, 3, 4, 7, 8, 15, 16, 255, 256, 4096)] == [
        1,
        2,
        2,
        4,
        4,
        4,
        4,
        8,
        8,
        16,
        16,
    ]
    n, f_count, n_slots = 101, 2, 4  # slot 4: not summed; 4 bits a row
    identity = np.broadcast_to(np.arange(n, dtype=np.int32), (f_count, n)).copy()
    slots = np.full((f_count, n), n_slots, dtype=np.uint8)
    packed = pack_gathered(slots, identity, slot_bits(n_slots))
    assert checked_slots(packed, (f_count, n), n_slots, "h") is packed
    slots[1, 50] = n_slots + 1  # a node slot not in use
    bad = pack_gathered(slots, identity, slot_bits(n_slots))
    with pytest.raises(ProtocolError, match="'h' put a row in node slot 5 of 4"):
        checked_slots(bad, (f_count, n), n_slots, "h")
    for wrong in (packed[:, :-1], packed.astype(np.uint16), packed.tolist()):
        with pytest.raises(ProtocolError, match="'h' sent malformed labels"):
            checked_slots(wrong, (f_count, n), n_slots, "h")


def test_dealt_permutations_are_permutations_and_deterministic():
    seed = bytes(range(16))
    p = _permutation(seed, 3, 1, 1000)
    assert sorted(p.tolist()) == list(range(1000))
    assert np.array_equal(p, _permutation(seed, 3, 1, 1000))
    assert not np.array_equal(p, _permutation(seed, 3, 2, 1000))
    assert not np.array_equal(p, _permutation(seed, 4, 1, 1000))
    for n in (0, 1, 2, 100_000):
        q = _permutation(seed, 0, 0, n)
        assert q.dtype == np.int32 and np.array_equal(np.sort(q), np.arange(n))


def test_row_samples_come_from_an_aes_stream_and_are_uniform(monkeypatch):
    # numpy's generator is never asked (the sample is secret in he-hidden)
    def no_numpy(*_a: object, **_k: object) -> None:
        raise AssertionError("row sampling used numpy.random")

    monkeypatch.setattr(np.random, "default_rng", no_numpy)
    draws = [RowSampler().choice(10, 3) for _ in range(6000)]
    assert all(d.size == 3 and np.unique(d).size == 3 for d in draws)
    # every item as often (chi-square, 9 degrees of freedom: 27.9 is p = 0.001)
    counts = np.bincount(np.concatenate(draws), minlength=10)
    assert ((counts - 1800) ** 2 / 1800).sum() < 27.9
    # random_state: reproducible; otherwise fresh
    assert np.array_equal(RowSampler(5).choice(1000, 50), RowSampler(5).choice(1000, 50))
    assert not np.array_equal(RowSampler(5).choice(1000, 50), RowSampler(6).choice(1000, 50))
    assert not np.array_equal(RowSampler().choice(1000, 50), RowSampler().choice(1000, 50))
    items = np.arange(100, 200)
    assert set(RowSampler(1).choice(items, 100).tolist()) == set(items.tolist())
    with pytest.raises(ValueError, match="cannot draw 11 of 10"):
        RowSampler().choice(10, 11)


def test_split_decisions_carry_the_guests_routing_bits_and_are_checked():
    import base64

    from unseen.ml.sbt_protocol import _decisions

    bits = np.packbits([True, False, True])
    msg = {
        "splits": [[0, False, -1, -1, False, True, None], [2, True, 1, -1, True, False, [0, 3]]],
        "routes": base64.b64encode(bits).decode(),
    }
    splits, routes = _decisions(msg)
    assert splits == msg["splits"] and np.array_equal(routes, bits)
    for bad in (
        [[0, False, -1, -1, False, True, None]],  # the old form: a bare list
        {"splits": [[0, False]], "routes": ""},
        {"splits": [[0, False, -1, -1, False, True]], "routes": ""},  # no categories field
        {"splits": [], "routes": "not base64!"},
        {"splits": []},
    ):
        with pytest.raises(ProtocolError, match="malformed split decisions"):
            _decisions(bad)


def test_a_feature_sample_is_checked_and_sums_land_on_their_features():
    from unseen.ml.sbt_protocol import _features, _over_all_features

    assert _features(None, 5) is None
    assert np.array_equal(_features([0, 3], 5), [0, 3])
    assert _features([], 5).size == 0  # no feature of this host in the tree
    for bad in ([3, 0], [1, 1], [-1], [5], [1.0], "0,1", {"f": 1}):
        with pytest.raises(ProtocolError, match="malformed feature sample"):
            _features(bad, 5)
    g, h = np.ones((2, 2, 4)), 2 * np.ones((2, 2, 4))
    full_g, full_h = _over_all_features((g, h), np.array([1, 3]), (2, 5, 4))
    assert full_g[:, [1, 3]].min() == 1 and full_g[:, [0, 2, 4]].max() == 0
    assert full_h.sum() == 2 * g.size
    wrong = (np.ones((2, 3, 4)), np.ones((2, 3, 4)))
    assert _over_all_features(wrong, np.array([1, 3]), (2, 5, 4)) is wrong  # left to the check


def test_a_routing_answer_is_checked_against_the_rows_of_its_nodes():
    from unseen.ml.sbt_protocol import _route
    from unseen.ml.sbt_tree import TreeLayout

    layout = TreeLayout()
    layout.split(0, 1)  # nodes 1, 2
    node_of = np.array([0, 0, 0, 0, 0], dtype=np.int16)
    out = node_of.copy()
    good = np.packbits([1, 0, 0, 1, 1]).astype(np.uint8)
    decided = _route(node_of, out, layout, read=([0], good, "h"))
    assert decided.size == 0 and out.tolist() == [1, 2, 2, 1, 1]
    for bad in (np.zeros(2, dtype=np.uint8), good.astype(np.int8), [1, 0, 0, 1, 1], None):
        with pytest.raises(ProtocolError, match="'h' sent a malformed routing answer"):
            _route(node_of, node_of.copy(), layout, read=([0], bad, "h"))


def test_one_pass_routes_a_partys_own_splits_and_a_peers():
    """A host's own split and the guest's at the same depth, routed in one pass."""
    from unseen.ml.sbt_protocol import _route
    from unseen.ml.sbt_tree import TreeLayout

    layout = TreeLayout()
    layout.split(0, 1)  # nodes 1, 2
    layout.split(1, 1)  # nodes 3, 4 (this party's)
    layout.split(2, 0)  # nodes 5, 6 (the guest's)
    node_of = np.array([1, 2, 1, 2, 2, 1], dtype=np.int16)
    X = np.asfortranarray([[0.1], [9.0], [0.9], [9.0], [9.0], [np.nan]])
    out = node_of.copy()
    answer = np.packbits([0, 1, 1]).astype(np.uint8)  # the guest's rows 1, 3, 4
    decided = _route(
        node_of, out, layout, [1], X=X, rules=[(0, 0.5, True, None)], read=([2], answer, "guest")
    )
    assert decided.tolist() == [1, 0, 1]  # rows 0, 2, 5: 0.1 < 0.5, 0.9 not, NaN by default
    assert out.tolist() == [3, 6, 4, 5, 5, 3]


def test_a_categorical_split_routes_its_categories_right_and_the_rest_left():
    """Codes in the split's set go right, every other code left (-1, a category unseen in
    training, too), missing values the default way: in the compiled routing as in
    :func:`goes_left`, which prediction uses."""
    from unseen.ml.sbt_protocol import _route
    from unseen.ml.sbt_tree import TreeLayout, goes_left

    layout = TreeLayout()
    layout.split(0, 1)  # nodes 1, 2
    layout.split(1, 1)  # nodes 3, 4: categorical feature 1, codes {0, 2} right
    layout.split(2, 1)  # nodes 5, 6: numeric feature 0
    X = np.asfortranarray(
        [[0.1, 0], [0.1, 1], [0.1, 2], [0.1, np.nan], [0.1, 3], [0.9, 2], [0.2, 1]]
    )
    node_of = np.array([1, 1, 1, 1, 1, 2, 2], dtype=np.int16)
    out = node_of.copy()
    rules = [(1, float("nan"), False, (0, 2)), (0, 0.5, True, None)]
    decided = _route(node_of, out, layout, [1, 2], X=X, rules=rules)
    assert decided.tolist() == [0, 1, 0, 0, 1, 0, 1]  # node 1's rows, then node 2's
    assert out.tolist() == [4, 3, 4, 4, 3, 6, 5]
    codes = np.array([0, 1, 2, np.nan, 3, -1])
    assert goes_left(codes, np.nan, False, (0, 2)).tolist() == [0, 1, 0, 0, 1, 1]
    assert goes_left(codes, np.nan, True, (1,)).tolist() == [1, 0, 1, 1, 1, 1]


def test_categorical_splits_are_one_hot_below_max_cat_to_onehot_and_partitions_above():
    """XGBoost's two categorical split searches on one node's histogram: one category
    against the rest while there are fewer than ``max_cat_to_onehot``, else the
    categories sorted by weight and cut once, from either end, at most
    ``max_cat_threshold`` deep; a categorical feature and a numeric one compete by gain."""

    rule = SplitRule(reg_lambda=1.0, gamma=0.0, min_child_weight=0.5)
    w = 9  # 8 value bins and the missing bin
    # four categories with gradient sums -6, 5, 4, -5 (hessian 4 each): the best
    # partition sends {1, 2} (positive g) one way and {0, 3} the other
    hg = np.zeros((1, 2, w))
    hh = np.zeros((1, 2, w))
    hg[0, 0, :4], hh[0, 0, :4] = [-6, 5, 4, -5], 4
    hg[0, 1, :2], hh[0, 1, :2] = [-1, 1], 8  # a numeric feature: a weak cut
    tg, th = hg[:, 0].sum(axis=1), hh[:, 0].sum(axis=1)
    n_bins, cat = np.array([4, 2]), np.array([True, False])
    best = find_splits(hg, hh, tg, th, n_bins, rule, categorical=cat)
    assert best.feature[0] == 0 and best.bin[0] == -1
    assert best.right_bins[0] == (1, 2)  # the lowest weights (g > 0) go right
    # one-hot (four categories, fewer than five): the single best category right
    onehot = find_splits(
        hg, hh, tg, th, n_bins, rule, categorical=cat, categories=CategoricalSplits(5)
    )
    assert len(onehot.right_bins[0]) == 1 and onehot.gain[0] < best.gain[0]
    assert onehot.right_bins[0] == (1,)  # 25/5 + 49/13 beats 36/5 + 16/13, the next best
    # a partition may scan only one category from either end: one category a side
    short = CategoricalSplits(max_cat_threshold=2)
    # forward {1} right (8.77 - parent) beats backward {1, 2, 3} right (8.43 - parent)
    got = find_splits(hg, hh, tg, th, n_bins, rule, categorical=cat, categories=short)
    assert got.right_bins[0] == (1,)
    # as numeric, the same feature's bins are cut in their order instead
    numeric = find_splits(hg, hh, tg, th, n_bins, rule)
    assert numeric.right_bins[0] is None and numeric.gain[0] < best.gain[0]


def test_he_guest_encrypts_with_the_randomness_made_ahead_as_far_as_it_goes():
    """``he``: a tree's rows take the pool's encryptions of zero first, the rest through
    the guest's own path (CRT for Paillier); every row decrypts to its value."""
    from unseen.crypto.paillier import PaillierPublicKey, generate_keypair
    from unseen.ml.sbt_he import HeGuestExchange

    sk = generate_keypair(2048)
    guest = HeGuestExchange.__new__(HeGuestExchange)  # no parties: the encryption step only
    guest.pk = PaillierPublicKey.from_dict(sk.public_key.to_dict())
    guest.encrypt = sk.encrypt_raw
    plain = np.array([3, -1, 0, 7, 2**40, -(2**40)], dtype=object)
    for pooled in (0, 4, 6, 9):
        if pooled:
            guest.pk.precompute_randomness(pooled, n_jobs=1, using=sk)
        zeros = {int(z) for z in guest.pk._pool or []}
        c = guest._encrypt_rows(plain)
        assert [int(v) for v in sk.decrypt_signed(c, n_jobs=1)] == plain.tolist()
        assert guest.pk.precomputed == max(0, pooled - plain.size)
        # Enc(0) at index 2 is a pooled value itself when the pool reached it
        assert (int(c[2]) in zeros) == (pooled > 2)
        guest.pk._pool = []


def _categorical_reference(
    hg: np.ndarray,
    hh: np.ndarray,
    tg: float,
    th: float,
    n_bins: int,
    rule: SplitRule,
    how: CategoricalSplits,
) -> tuple[float, tuple[int, ...], bool]:
    """XGBoost's EnumerateOneHot and EnumeratePart as its loops run, for one node and
    one categorical feature (``W`` bins, the last one missing values): the gain, the
    bins going right, whether missing values go left; the first candidate in their order
    whose gain is the best (within TIE: XGBoost compares float32 gains)."""
    from unseen.ml.sbt_tree import TIE

    parent = float(rule.score(np.array(tg), np.array(th)))
    gm, hm = float(hg[-1]), float(hh[-1])
    seen: list[tuple[float, tuple[int, ...], bool]] = []

    def pick() -> tuple[float, tuple[int, ...], bool]:
        top = max((g for g, _, _ in seen), default=-np.inf)
        if not np.isfinite(top):
            return (-np.inf, (), True)
        return next(c for c in seen if c[0] >= top - TIE * max(1.0, abs(top)))

    def consider(gr: float, hr: float, right: tuple[int, ...], default_left: bool) -> None:
        gl, hl = tg - gr, th - hr
        if not (hl >= rule.min_child_weight and hr >= rule.min_child_weight):
            return
        gain = float(
            rule.score(np.array(gl), np.array(hl)) + rule.score(np.array(gr), np.array(hr))
        )
        seen.append((gain - parent, right, default_left))

    if n_bins < how.max_cat_to_onehot:
        for b in range(n_bins):  # this category right; missing values left, then right
            consider(float(hg[b]), float(hh[b]), (b,), True)
            consider(float(hg[b]) + gm, float(hh[b]) + hm, (b,), False)
        return pick()
    weights = rule.weight(hg[:n_bins], hh[:n_bins]).astype(np.float32)  # XGBoost's: float
    order = np.argsort(weights, kind="stable").tolist()
    scan = min(how.max_cat_threshold, n_bins)
    gr = hr = 0.0
    for j in range(scan - 1):  # forward: the lightest categories right, missing values left
        gr, hr = gr + float(hg[order[j]]), hr + float(hh[order[j]])
        consider(gr, hr, tuple(sorted(order[: j + 1])), True)
    gl = hl = 0.0
    for j in range(n_bins - 1, n_bins - scan, -1):  # backward: the heaviest left, missing right
        gl, hl = gl + float(hg[order[j]]), hl + float(hh[order[j]])
        consider(tg - gl, th - hl, tuple(sorted(order[:j])), False)
    return pick()


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_categorical_split_search_is_xgboosts_loops_to_the_bit(seed):
    """The array form of the categorical split search equals XGBoost's loops, candidate
    order and ties included: nodes with few and many categories, empty categories,
    missing values, small hessians and repeated gradient sums (ties)."""
    from unseen.ml.sbt_tree import _categorical_splits, _right_bins

    rng = np.random.default_rng(seed)
    k, c, w = 3, 4, 12
    n_bins = rng.integers(1, w, size=c)
    hg = np.round(rng.normal(size=(k, c, w)) * 3, 1)  # one decimal: ties happen
    hh = np.round(rng.random((k, c, w)) * 4, 1)
    hg[rng.random((k, c, w)) < 0.2] = 0.0
    for f, n in enumerate(n_bins):  # no rows past a feature's categories
        hg[:, f, n:-1], hh[:, f, n:-1] = 0.0, 0.0
    hh[:, :, -1] *= rng.random() < 0.5  # missing values, or none
    tg, th = hg[:, 0].sum(axis=1), hh[:, 0].sum(axis=1)
    for f in range(1, c):  # every feature sums to the node's totals
        hg[:, f, -1] += tg - hg[:, f].sum(axis=1)
        hh[:, f, -1] += th - hh[:, f].sum(axis=1)
    rule = SplitRule(reg_lambda=float(rng.choice([0.0, 1.0])), min_child_weight=0.5)
    how = CategoricalSplits(int(rng.integers(1, 8)), int(rng.integers(1, 12)))
    gain, step, forward, order = _categorical_splits(hg, hh, tg, th, n_bins, rule, how)
    for node in range(k):
        for f in range(c):
            want = _categorical_reference(
                hg[node, f], hh[node, f], tg[node], th[node], int(n_bins[f]), rule, how
            )
            assert gain[node, f] == want[0] or (np.isinf(want[0]) and np.isinf(gain[node, f]))
            if np.isfinite(want[0]):
                onehot = n_bins[f] < how.max_cat_to_onehot
                got = _right_bins(
                    onehot,
                    int(step[node, f]),
                    bool(forward[node, f]),
                    order[node, f],
                    int(n_bins[f]),
                )
                assert (got, bool(forward[node, f])) == (want[1], want[2])
