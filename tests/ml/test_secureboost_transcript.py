"""What SecureBoost puts on the wire: the guest's labels and gradients never cross in the clear.

Every byte every party sends is recorded (:class:`~unseen.runtime.local.Transcript`)
and searched for the labels (as bytes, float64, int64, packed bits) and for the
guest's gradients and hessians of every tree (float64, float32, int64 fixed
point at every fraction width the modes use, and the one-word ``(g, h)`` of
``ss-dealer``'s logistic shares). ``plain`` mode sends gradients,
so the same check must flag it: the check can fail.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from unseen.ml import sbt_protocol
from unseen.ml.sbt_shuffle import PackedGH
from unseen.ml.secureboost import SecureBoostClassifier, SecureBoostRegressor
from unseen.runtime.local import Transcript, run_local
from unseen.transport.codec import encode

PARAMS = dict(n_estimators=3, max_depth=3, learning_rate=0.3, max_bin=16)


def _data():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:300], y[:300].astype(float)


#: row weights of the weighted runs (distinctive values: a leak of them would show)
WEIGHTS = np.random.default_rng(7).uniform(0.3, 2.7, size=300)


def _claims(objective: str = "reg:tweedie") -> tuple[np.ndarray, np.ndarray]:
    """Breast-cancer features with amounts of claims: 40% zeros, the rest positive
    (``reg:gamma``: all shifted up by 1; ``survival:cox``: times, the rows without a claim
    censored -- their times negative; ``survival:aft``: the same times as intervals, the
    censored rows' open above; ``reg:logistic``: scaled into [0, 1])."""
    X, _ = _data()
    rng = np.random.default_rng(5)
    y = np.where(rng.random(300) < 0.4, 0.0, rng.gamma(2.0, np.exp(X[:, 0] / 10.0)))
    if objective == "reg:gamma":
        y = y + 1.0
    if objective in ("survival:cox", "survival:aft"):
        y = np.where(y == 0, -(0.5 + rng.exponential(2.0, y.size)), y + 0.5)
    if objective == "survival:aft":
        y = np.column_stack([np.abs(y), np.where(y < 0, np.inf, y)])
    if objective == "reg:logistic":  # shares of a sum insured
        y = y / y.max()
    return X, y


@functools.cache
def _run(
    mode: str, weighted: bool = False, classes: bool = False, objective: str | None = None
) -> tuple[Transcript, tuple[tuple[np.ndarray, np.ndarray], ...]]:
    """A job's transcript, and the (g, h) the guest protected in each tree (``classes``:
    a three-class job on the wine data, each tree protecting one class's column;
    ``objective``: a regression loss on :func:`_claims`)."""
    estimator, options = SecureBoostClassifier, {}
    if objective in ("binary:logitraw", "binary:hinge"):  # the classifier's other losses
        (X, y), guest_cols = _data(), 10
        options = {"objective": objective}
    elif objective is not None:
        (X, y), guest_cols = _claims(objective), 10
        estimator, options = SecureBoostRegressor, {"objective": objective}
        if objective == "reg:quantileerror":  # g is 0.1 or -0.9, no short float with zeros
            options["quantile_alpha"] = 0.9
    elif classes:
        from sklearn.datasets import load_wine

        X, y = load_wine(return_X_y=True)
        guest_cols = 5
    else:
        (X, y), guest_cols = _data(), 10
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    real = sbt_protocol.grad_hess
    w = WEIGHTS if weighted else np.ones(len(y))

    def spy(objective, labels, margin, *rest):
        g, h = real(objective, labels, margin, *rest)
        if g.ndim == 2:  # a tree per class
            seen.extend((g[:, k].copy(), h[:, k].copy()) for k in range(g.shape[1]))
        else:
            seen.append((g * w, h * w))  # what the guest hands over: weighted
        return g, h

    sbt_protocol.grad_hess = spy
    try:
        transcript = Transcript()
        extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
        roles = {
            "guest": lambda ctx: estimator(mode=mode, **PARAMS, **extra, **options).fit(
                ctx, X[:, :guest_cols], y, sample_weight=WEIGHTS if weighted else None
            ),
            "host": lambda ctx: estimator(mode=mode, **PARAMS).fit(ctx, X[:, guest_cols:]),
        }
        if mode.startswith("ss-dealer"):
            roles["dealer"] = lambda ctx: estimator(mode=mode, **PARAMS).fit(ctx)
        run_local(roles, transcript=transcript, timeout=300)
    finally:
        sbt_protocol.grad_hess = real
    return transcript, tuple(seen)


def _patterns(values: np.ndarray) -> list[tuple[bytes, bool]]:
    """Encodings of individual values a leak would show: float64/32, fixed point 8..40 bits.

    Each with whether it is short: a fixed-point integer below 2^32, six or more of
    whose eight bytes are zero or sign bytes.
    """
    out = []
    for v in values:
        out += [
            (np.float64(v).tobytes(), False),
            (np.float64(v).byteswap().tobytes(), False),
            (np.float32(v).tobytes(), False),
        ]
        for f in range(8, 41):
            q = int(np.rint(v * 2.0**f))
            if abs(q) >= 1 << 12:  # short integers occur by chance
                out.append((np.int64(q).tobytes(), abs(q) < 1 << 32))
    return out


def _aligned_words(transcript: Transcript) -> set[bytes]:
    """Every 8-byte word at a multiple of 8 in a message: where an int64 array's entries sit."""
    words: set[bytes] = set()
    for *_, payload in transcript.messages:
        words.update(payload[i : i + 8] for i in range(0, len(payload) - 7, 8))
    return words


def _on_wire(pattern: bytes, short: bool, wire: bytes, words: set[bytes]) -> bool:
    """A long pattern anywhere; a short one where a leaked int64 array would put it.

    A short integer's bytes also arise by chance across two shares of the share
    ring (their high bytes are zero) or in runs of small labels, at offsets that
    are not multiples of 8; a leaked vector crosses as an array, entry by entry.
    """
    return pattern in words if short else pattern in wire


def leaks(transcript: Transcript, gradients, labels: np.ndarray) -> list[str]:
    """What a transcript reveals in the clear (an empty list: nothing found)."""
    wire = transcript.all_bytes()
    words = _aligned_words(transcript)
    found = []
    for name, blob in (
        ("labels as bytes", labels.astype(np.uint8).tobytes()),
        ("labels as float64", labels.tobytes()),
        ("labels as int64", labels.astype(np.int64).tobytes()),
        ("labels as bits", np.packbits(labels.astype(bool)).tobytes()),
    ):
        if blob in wire:
            found.append(name)
    for t, (g, h) in enumerate(gradients):
        # rows whose gradient is not a short number that occurs by chance
        pick = np.flatnonzero(np.abs(g) > 0.05)[:12]
        for what, vec in (("gradient", g), ("hessian", h)):
            # a leaked vector shows at every row; one row's 4-byte float32 turns up by
            # chance in megabytes of uniform shares (about once in 2^32 / size), so three
            # rows are the least that counts
            rows = sum(
                any(_on_wire(p, short, wire, words) for p, short in _patterns(vec[[i]]))
                for i in pick
            )
            if rows >= 3:
                found.append(f"tree {t} {what}: {rows} of {pick.size} rows")
        # (g, h) in one word, as ss-dealer encodes logistic gradients before masking them
        if np.abs(g).max() > 1 or h.max() > 0.5:  # not logistic: no such word
            continue
        packed = PackedGH.for_gradients(g, h).encode(g, h)[pick, 0]
        hits = sum(word.tobytes() in wire for word in packed)
        if hits:
            found.append(f"tree {t} (g, h) words: {hits}")
    return found


@pytest.mark.parametrize("mode", ["ss-dealer", "ss-dealer-matrix", "he", "he-hidden"])
def test_labels_and_gradients_never_cross_in_the_clear(mode):
    transcript, gradients = _run(mode)
    _, y = _data()
    assert len(gradients) == PARAMS["n_estimators"]
    assert leaks(transcript, gradients, y) == []
    keys = {m[2] for m in transcript.messages}
    assert not any("plain" in k for k in keys)


def _vector_leaks(transcript: Transcript, gradients) -> list[str]:
    """Runs of a gradient or hessian vector in the clear: 16 consecutive rows' values as
    float64 or float32, or as int64 fixed point at 8 to 40 fraction bits, alone or with
    (g, h) interleaved, anywhere in the transcript. For values that :func:`leaks`
    cannot look for row by row: the hinge's -1, 0 and 1 (and its hessian's 1) are powers
    of two in fixed point, bytes that arise by chance in any array of small integers; a
    run of 16 rows of them does not."""
    wire = transcript.all_bytes()
    found = []
    for t, (g, h) in enumerate(gradients):
        for start in (0, len(g) // 2):
            rows = slice(start, start + 16)
            runs = {
                "float64": (g[rows].tobytes(), h[rows].tobytes()),
                "float32": (
                    g[rows].astype(np.float32).tobytes(),
                    h[rows].astype(np.float32).tobytes(),
                ),
            }
            for f in range(8, 41):
                runs[f"fixed {f}"] = tuple(
                    np.rint(v[rows] * 2.0**f).astype(np.int64).tobytes() for v in (g, h)
                )
            for name, (g_run, h_run) in runs.items():
                width = len(g_run) // 16
                both = b"".join(
                    g_run[i * width : (i + 1) * width] + h_run[i * width : (i + 1) * width]
                    for i in range(16)
                )
                for what, run in (("gradient", g_run), ("hessian", h_run), ("(g, h)", both)):
                    if run in wire:
                        found.append(f"tree {t} {what} as {name} from row {start}")
    return found


@pytest.mark.parametrize(
    "mode, objective",
    [
        ("ss-dealer", "binary:hinge"),
        ("he", "binary:hinge"),
        ("plain", "binary:hinge"),
        ("ss-dealer", "binary:logitraw"),
    ],
)
def test_hinge_and_logitraw_labels_and_gradients_never_cross_in_the_clear(mode, objective):
    """binary:hinge's gradients are the labels themselves (-1 or 1 inside the margin, in
    two share words or he slots a row): neither labels nor runs of the gradients cross
    in the clear (:func:`_vector_leaks`); binary:logitraw's are binary:logistic's (one
    word), checked row by row. plain is flagged."""
    transcript, gradients = _run(mode, objective=objective)
    _, y = _data()
    assert len(gradients) == PARAMS["n_estimators"]
    if objective == "binary:hinge":  # the hinge's gradients: -1 or 1 where not 0
        assert set(np.unique(gradients[0][0])) <= {-1.0, 0.0, 1.0}
        found = leaks(transcript, (), y) + _vector_leaks(transcript, gradients)
    else:
        found = leaks(transcript, gradients, y)
    assert (found != []) == (mode == "plain"), found


@pytest.mark.parametrize("mode", ["ss-dealer", "he"])
def test_weights_and_weighted_gradients_never_cross_in_the_clear(mode):
    transcript, gradients = _run(mode, weighted=True)
    _, y = _data()
    assert leaks(transcript, gradients, y) == []
    wire = transcript.all_bytes()
    for v in WEIGHTS[:12]:
        assert np.float64(v).tobytes() not in wire and np.float32(v).tobytes() not in wire


@pytest.mark.parametrize("mode", ["ss-dealer", "he", "plain"])
def test_several_classes_labels_and_gradients_never_cross_in_the_clear(mode):
    """multi:softprob: every class's tree protects its gradients as a binary tree does
    (the same check flags plain mode)."""
    from sklearn.datasets import load_wine

    transcript, gradients = _run(mode, classes=True)
    y = load_wine(return_X_y=True)[1].astype(float)
    assert len(gradients) == 3 * PARAMS["n_estimators"]
    found = leaks(transcript, gradients, y)
    if mode == "plain":
        assert any("gradient" in what for what in found)
    else:
        assert found == []


@pytest.mark.parametrize(
    "mode, objective",
    [
        ("ss-dealer", "reg:tweedie"),
        ("he", "count:poisson"),
        ("he-hidden", "reg:squarederror"),
        ("ss-dealer-matrix", "reg:gamma"),
        ("plain", "reg:tweedie"),
        ("ss-dealer", "survival:cox"),
        ("he", "survival:cox"),
        ("ss-dealer", "reg:quantileerror"),
        ("ss-dealer", "reg:logistic"),
        ("ss-dealer", "survival:aft"),
        ("he", "survival:aft"),
        ("ss-dealer", "reg:fair"),
        ("he", "reg:logcosh"),
    ],
)
def test_regression_labels_and_gradients_never_cross_in_the_clear(mode, objective):
    """Regression, quantile and survival losses (two share words or he slots a row,
    fraction bits chosen per tree): claim amounts, survival times and their gradients
    stay at the guest; plain is flagged."""
    transcript, gradients = _run(mode, objective=objective)
    _, y = _claims(objective)
    assert len(gradients) == PARAMS["n_estimators"]
    if y.ndim == 2:  # intervals: neither bound crosses (the lower holds every row's time)
        assert y[:, 1].tobytes() not in transcript.all_bytes()
        y = y[:, 0]
    found = leaks(transcript, gradients, y)
    if mode == "plain":
        assert any("gradient" in what for what in found)
    else:
        assert found == []


def test_he_hidden_tells_the_host_no_instance_space():
    """he-hidden: nothing sent to the host depends on which rows reach a node. No row's
    node, no routing bits, no row sample; every depth's ciphertexts cover every row, one
    plaintext slot group per row; the host answers its splits for every row. In he, the
    host is told (the guest's routing bits), so the check can fail."""
    import base64

    from unseen.transport.codec import decode

    X, _ = _data()
    rows = X.shape[0]
    for mode in ("he-hidden", "he"):
        transcript, _ = _run(mode)
        to_host = [(m[2], decode(m[3], m[4])) for m in transcript.messages if m[1] == "host"]
        told = [
            key
            for key, value in to_host
            if (key.startswith("sbt/") and key.endswith(("/nodes", "/rows")))
            or (key.endswith("/split") and base64.b64decode(value["routes"]))
        ]
        if mode == "he":
            assert told, "he tells the host the guest's routing"
            continue
        assert told == []
        gh = [value for key, value in to_host if key.endswith("/gh")]
        assert gh and all(v.ndim == 3 and v.shape[1] == rows for v in gh)
        answers = [decode(m[3], m[4]) for m in transcript.messages if m[2].endswith("/left")]
        assert answers and all(a.size * 8 % rows < 8 for a in answers)


def test_the_hosts_are_not_told_the_guests_random_state():
    """random_state seeds the guest's row samples (secret in he-hidden): the hosts are not
    told it, a host's own is not checked against it, and it is not in a host's model."""
    from unseen.transport.codec import decode

    X, y = _data()
    transcript = Transcript()
    params = dict(PARAMS, n_estimators=2, subsample=0.7)
    ou = {"he_options": {"scheme": "ou"}}
    fitted = run_local(
        {
            "guest": lambda ctx: SecureBoostClassifier(
                mode="he-hidden", random_state=91_357, **params, **ou
            ).fit(ctx, X[:, :10], y),
            "host": lambda ctx: SecureBoostClassifier(
                mode="he-hidden", random_state=5, **params
            ).fit(ctx, X[:, 10:]),
        },
        transcript=transcript,
        timeout=300,
    )
    assert fitted["guest"].model_.params.random_state == 91_357
    assert fitted["host"].model_.params.random_state is None
    setup = [decode(m[3], m[4]) for m in transcript.messages if m[2] == "sbt/setup"]
    assert setup and all(s["params"]["random_state"] is None for s in setup)
    assert b"91357" not in transcript.bytes_sent_by("guest")


def test_the_check_catches_plain_mode():
    transcript, gradients = _run("plain")
    _, y = _data()
    assert any("gradient" in what for what in leaks(transcript, gradients, y))


def test_ss_dealer_messages_to_hosts_look_uniform():
    """The masked gradients and the dealer's corrections: every byte value equally likely."""
    transcript, _ = _run("ss-dealer")
    for key_part, sender in (("/m", "guest"), ("/delta", "dealer")):
        payload = b"".join(
            m[4] for m in transcript.messages if m[0] == sender and m[2].endswith(key_part)
        )
        assert len(payload) > 5_000  # 8 bytes a row and tree: (g, h) in one word
        counts = np.bincount(np.frombuffer(payload, dtype=np.uint8), minlength=256)
        expected = len(payload) / 256
        chi2 = float(((counts - expected) ** 2 / expected).sum())
        assert chi2 < 400, (key_part, chi2)  # 255 degrees of freedom: mean 255, sd about 23


def _chi2_bytes(payload: bytes) -> float:
    counts = np.bincount(np.frombuffer(payload, dtype=np.uint8), minlength=256)
    expected = len(payload) / 256
    return float(((counts - expected) ** 2 / expected).sum())


def test_ss_dealer_matrix_messages_look_uniform():
    """The host's masked indicator matrix E = M - A (the guest must not read the host's
    bins from it), the guest's masked gradients and the host's product shares."""
    transcript, _ = _run("ss-dealer-matrix")
    for key_part, sender in (("/E", "host"), ("/f", "guest"), ("/share", "host")):
        payload = b"".join(
            m[4] for m in transcript.messages if m[0] == sender and m[2].endswith(key_part)
        )
        assert len(payload) > 10_000, key_part
        assert _chi2_bytes(payload) < 400, key_part


@pytest.mark.parametrize("mode", ["ss-dealer", "ss-dealer-matrix"])
def test_the_dealer_sees_sizes_only(mode):
    transcript, _ = _run(mode)
    to_dealer = [m for m in transcript.messages if m[1] == "dealer"]
    assert to_dealer and all(m[3]["kind"] == "json" for m in to_dealer)
    assert all(len(m[4]) < 200 for m in to_dealer)


def test_the_check_finds_one_word_gradient_pairs():
    _, y = _data()
    g = np.where(y > 0, -0.3, 0.7) + np.linspace(0, 0.01, y.size)
    h = np.full(y.size, 0.21)
    transcript = Transcript()
    transcript.recorder("guest")("host", "x", encode(PackedGH.for_gradients(g, h).encode(g, h)))
    assert "tree 0 (g, h) words: 12" in leaks(transcript, [(g, h)], y)


def test_the_check_finds_short_fixed_point_entries_of_an_array():
    """A gradient vector at 17 fraction bits (entries below 2^32) sent as an int64 array."""
    _, y = _data()
    g = np.where(y > 0, -0.3, 0.7) + np.linspace(0, 0.01, y.size)
    h = np.full(y.size, 0.21)
    transcript = Transcript()
    record = transcript.recorder("guest")
    record("host", "x", encode(np.rint(g * 2.0**17).astype(np.int64)))
    assert "tree 0 gradient: 12 of 12 rows" in leaks(transcript, [(g, h)], y)
    clean = Transcript()
    clean.recorder("guest")("host", "x", encode(np.zeros(3, dtype=np.int64)))
    assert leaks(clean, [(g, h)], y) == []


def test_the_dealer_deals_no_tree_past_n_estimators():
    transcript, _ = _run("ss-dealer")
    dealt = sorted(
        key for party, _, key, *_ in transcript.messages if party == "dealer" and "delta" in key
    )
    assert dealt == [f"sbt-ss/{t}/delta" for t in range(PARAMS["n_estimators"])]


def test_a_host_sends_each_trees_permuted_bins_once_and_none_past_n_estimators():
    """Every tree has all rows here: a tree's permuted bins go at the end of the tree
    before (the first tree's at its start), once each, and none for a tree never grown."""
    transcript, _ = _run("ss-dealer")
    sent = [key for party, _, key, *_ in transcript.messages if party == "host"]
    bins = [key for key in sent if key.endswith("/bins")]
    assert bins == [f"sbt-ss/{t}/bins" for t in range(PARAMS["n_estimators"])]
    for t in range(PARAMS["n_estimators"]):  # each before the host's first sums of its tree
        assert sent.index(f"sbt-ss/{t}/bins") < sent.index(f"sbt-ss/{t}/0/sums")


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "ss-dealer-matrix", "he", "he-hidden"])
def test_features_thresholds_cut_points_and_ids_never_cross(mode):
    """No party's raw feature values, no split threshold, no bin cut point of a host and
    no row id crosses the wire, in the forms a leak would take: float64 bytes, or the
    number's text as a JSON message would carry it (where six characters or more, so as
    not to occur by chance); the ids as text. The same check flags a message that carries
    them (the check can fail)."""
    from unseen.ml.sbt_binning import BinMapper
    from unseen.ml.sbt_protocol import BoostParams
    from unseen.ml.secureboost import train

    X, y = _data()
    ids = [f"customer-{i:05d}-x" for i in range(y.size)]
    params = BoostParams(**PARAMS)
    extra = {"he_options": {"scheme": "ou"}} if mode.startswith("he") else {}
    transcript = Transcript()
    roles = {
        "guest": lambda ctx: train(
            ctx, mode=mode, X=X[:, :10], y=y, params=params, ids=ids, **extra
        ),
        "host": lambda ctx: train(ctx, mode=mode, X=X[:, 10:], ids=ids),
    }
    if mode.startswith("ss-dealer"):
        roles["dealer"] = lambda ctx: train(ctx, mode=mode)
    parts = run_local(roles, transcript=transcript, timeout=300)
    wire = transcript.all_bytes()

    def texts(v: float) -> list[bytes]:
        forms = {repr(float(v)).encode(), f"{v:.12g}".encode()}
        # a short text (a cut at 437.0: "437") occurs by chance in hex digests and keys
        return [t for t in forms if len(t) >= 6]

    def as_float64(v: float) -> bool:
        # in a message's payload at a whole number of 8-byte words, as an array carries
        # it: a round value (0.03125: six zero bytes, then a0 3f) also matches by chance
        # across two words (a word of zeros, then a share sum that starts a0 3f)
        pattern = np.float64(v).tobytes()
        for payload in (m[4] for m in transcript.messages):
            at = payload.find(pattern)
            while at >= 0:
                if at % 8 == 0:
                    return True
                at = payload.find(pattern, at + 1)
        return False

    def crossing(values) -> int:
        return sum(as_float64(v) or any(t in wire for t in texts(v)) for v in values)

    rng = np.random.default_rng(0)
    cells = X[rng.integers(0, y.size, 60), rng.integers(0, 30, 60)]
    cells = cells[np.abs(cells) > 1e-3]  # distinctive values, not 0 or tiny
    assert crossing(cells) == 0
    thresholds = [t for p in ("guest", "host") for s in parts[p].trees.splits for t in s.threshold]
    assert thresholds and crossing(thresholds) == 0
    cuts = np.concatenate(BinMapper.fit(X[:, 10:], PARAMS["max_bin"]).cuts)
    assert cuts.size > 100 and crossing(cuts) == 0
    assert not any(i.encode() in wire for i in ids)
    # the check can fail: a message that carries them is found
    transcript.recorder("host")("guest", "leak", encode(np.array(thresholds[:3])))
    transcript.recorder("host")("guest", "leak", encode({"id": ids[5]}))
    wire = transcript.all_bytes()
    assert crossing(thresholds[:3]) == 3 and ids[5].encode() in wire


@pytest.mark.parametrize("mode", ["ss-dealer", "he"])
@pytest.mark.parametrize("rounds", [2, 3])
def test_guest_only_trees_send_the_hosts_their_shape_alone(mode, rounds):
    """guest_only_rounds: of the first trees a host gets their start and shape, nothing
    else (no gradients, sums, splits, routing or instance space) and sends nothing; the
    exchange (and the dealer) serve the other trees only -- none when every round is the
    guest's."""
    X, y = _data()
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}
    params = PARAMS | {"guest_only_rounds": rounds}
    transcript = Transcript()
    roles = {
        "guest": lambda ctx: SecureBoostClassifier(mode=mode, **params, **extra).fit(
            ctx, X[:, :10], y
        ),
        "host": lambda ctx: SecureBoostClassifier(mode=mode, **params).fit(ctx, X[:, 10:]),
    }
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode, **params).fit(ctx)
    run_local(roles, transcript=transcript, timeout=300)

    def keys(sender: str, tree: int) -> set[str]:
        return {
            m[2].split("/", 2)[2]
            for m in transcript.messages
            if m[0] == sender and m[2].startswith(f"sbt/{tree}/")
        }

    for t in range(rounds):
        assert keys("guest", t) == {"begin", "shape"} and keys("host", t) == set()
    if rounds < 3:
        assert "shape" not in keys("guest", 2) and {"0/split", "1/split"} <= keys("guest", 2)
    # the exchange's trees, numbered from 0: the third tree's, or none
    exchange = [m[2].split("/") for m in transcript.messages if m[2].startswith("sbt-")]
    trees = {k[1] for k in exchange if k[1].isdigit() and k[-1] != "go"}
    assert trees == ({"0"} if rounds < 3 else set())
    deltas = [m[2] for m in transcript.messages if m[2].endswith("/delta")]
    assert deltas == (["sbt-ss/0/delta"] if rounds < 3 and mode == "ss-dealer" else [])


@pytest.mark.parametrize("mode", ["plain", "ss-dealer", "he"])
def test_categories_never_cross(mode):
    """A categorical feature's categories stay at their party in every mode (``plain``
    too): the guest learns which of a host's bins a split sends right, never what they
    stand for, and no host learns the guest's."""
    import pandas as pd

    rng = np.random.default_rng(11)
    n = 240
    cities = [f"city-{w}-{i}" for i, w in enumerate(["alpha", "beta", "gamma", "delta", "omega"])]
    kinds = ["kind-red-1", "kind-green-2", "kind-blue-3"]
    city, kind = rng.integers(0, 5, n), rng.integers(0, 3, n)
    y = ((city % 2 == 0) ^ (kind == 1) ^ (rng.random(n) < 0.1)).astype(float)
    guest = pd.DataFrame({"x": rng.normal(size=n), "kind": np.array(kinds, dtype=object)[kind]})
    host = pd.DataFrame({"city": np.array(cities, dtype=object)[city], "z": rng.normal(size=n)})
    transcript = Transcript()
    extra = {"he_options": {"scheme": "ou"}} if mode == "he" else {}

    def fit(i):
        def role(ctx):
            est = SecureBoostClassifier(mode=mode, **PARAMS, **extra)
            return est.fit(ctx, [guest, host][i], y if i == 0 else None)

        return role

    roles = {"guest": fit(0), "host1": fit(1)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: SecureBoostClassifier(mode=mode, **PARAMS).fit(ctx)
    parts = run_local(roles, transcript=transcript, timeout=300)
    wire = transcript.all_bytes()
    for name in cities + kinds:
        for form in (name.encode(), name.encode("utf-16-le"), encode(name).payload):
            assert bytes(form) not in wire, name
    host_model = parts["host1"].model_
    assert host_model.categories["city"] == sorted(cities)
    # had the host sent them as any message, the search above would have found them
    assert all(c.encode() in bytes(encode(host_model.categories).payload) for c in cities)
    assert any(c is not None for s in host_model.trees.splits for c in s.categories)


def test_exact_contributions_send_the_guest_a_bit_per_row_and_host_split_alone():
    """With the host's consent, prediction with exact contributions sends the guest, from
    the host, its request and one packed array: a bit per row and host split (its sides),
    nothing else -- no leaf mask beside them, no feature value."""
    from unseen.ml.secureboost import predict, train

    X, y = _data()
    plain = {"guest": X[:, :10], "host": X[:, 10:]}
    parts = run_local(
        {
            "guest": lambda ctx: train(ctx, mode="plain", X=plain["guest"], y=y),
            "host": lambda ctx: train(ctx, mode="plain", X=plain["host"]),
        },
        timeout=120,
    )
    transcript = Transcript()
    run_local(
        {
            p: (
                lambda ctx, p=p: predict(
                    ctx, parts[p], plain[p], pred_contribs=True, approx_contribs=False
                )
            )
            for p in ("guest", "host")
        },
        transcript=transcript,
        timeout=120,
    )
    sent = [m for m in transcript.messages if m[0] == "host"]
    assert [m[2].rsplit("/", 1)[-1] for m in sent] == ["rows", "sides"]
    host_splits = sum(len(s.node) for s in parts["host"].trees.splits)
    assert host_splits > 0
    assert np.dtype(sent[1][3]["dtype"]) == np.uint8
    assert sent[1][3]["shape"] == [y.size, (host_splits + 7) // 8]


@pytest.mark.parametrize("mode", ["ss-dealer", "plain"])
def test_the_traffic_ledger_shows_what_crossed(mode):
    """Each party's ledger (what `--traffic` writes) lists every kind of message with
    its peer, dtype, count and bytes, agreeing with the transcript: in ss-dealer the host
    receives no floating-point array from the guest (shares are uint64; masks and
    routing bits small integers), where in plain mode it receives the float64
    gradients."""
    X, y = _data()
    transcript = Transcript()

    def party(i):
        def role(ctx):
            est = SecureBoostClassifier(mode=mode, **PARAMS)
            est.fit(ctx, X[:, :10] if i == 0 else X[:, 10:], y if i == 0 else None)
            return ctx.stats.ledger_rows()

        return role

    roles = {"guest": party(0), "host": party(1)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: (
            SecureBoostClassifier(mode=mode, **PARAMS).fit(ctx),
            ctx.stats.ledger_rows(),
        )[1]
    ledgers = run_local(roles, transcript=transcript, timeout=300)
    host_in = [r for r in ledgers["host"] if r["direction"] == "received" and r["peer"] == "guest"]
    floats = [r for r in host_in if r["kind"].startswith("array float")]
    if mode == "plain":  # the gradients, in the clear
        assert [(r["message"], r["kind"]) for r in floats] == [("sbt/*/plain-gh", "array float64")]
    else:
        assert host_in and not floats, floats
        assert any(r["kind"] == "array uint64" for r in host_in)
    # the sent side agrees with the transcript, message by message and byte by byte
    for name, ledger in ledgers.items():
        sent = [m for m in transcript.messages if m[0] == name]
        rows = [r for r in ledger if r["direction"] == "sent"]
        assert sum(r["messages"] for r in rows) == len(sent)
        assert sum(r["bytes"] for r in rows) == sum(len(m[4]) for m in sent)
    # numbers in keys become *: one row per kind of message, not per tree; the two sides
    # name a dtype alike
    assert all("/0/" not in r["message"] for r in ledgers["guest"])
    guest_out = {(r["message"], r["kind"]) for r in ledgers["guest"] if r["peer"] == "host"}
    assert {(r["message"], r["kind"]) for r in host_in if r["kind"] != "json"} <= guest_out
