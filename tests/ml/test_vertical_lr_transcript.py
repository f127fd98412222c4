"""What vertical LR puts on the wire: every byte every party sends is recorded.

- No feature value, label or gradient appears in the clear: not as float64, not in the
  fixed-point encodings the protocols use, not as a JSON number or hex string.
- In ss-dealer mode every ring element sent (masked matrices, masked shares, opened
  shares, the dealer's corrections) looks uniform: byte histogram and bit balance.
- In he mode only ciphertexts and values masked modulo a Paillier modulus are sent.

The checker is tested on a planted leak, so these tests can fail.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

from unseen.ml.lr_common import LRParams, Standardizer
from unseen.ml.lr_plain import fit_plain
from unseen.ml.vertical_lr import VerticalLR
from unseen.runtime.local import Transcript, run_local

SPLIT = [(0, 10), (10, 30)]
HYPER = dict(epochs=4, optimizer="sgd", shuffle=False, tol=0.0)


def _data():
    x, y = load_breast_cancer(return_X_y=True)
    return x[:400], y[:400].astype(float), x[400:], y[400:].astype(float)


def _frames(x, y=None):
    out = []
    for i, (a, b) in enumerate(SPLIT):
        df = pd.DataFrame(x[:, a:b], columns=[f"f{j}" for j in range(a, b)])
        if i == 0 and y is not None:
            df["label"] = y
        out.append(df)
    return out


@functools.cache
def _run(mode: str) -> Transcript:
    xtr, ytr, xte, _ = _data()
    train, test = _frames(xtr, ytr), _frames(xte)
    hyper = dict(HYPER, key_bits=1024) if mode == "he" else dict(HYPER)

    def party(i: int):
        def role(ctx):
            model = VerticalLR(mode, **hyper).fit(ctx, train[i], label="label" if i == 0 else None)
            return model.predict_proba(ctx, test[i])

        return role

    roles = {"guest": party(0), "host": party(1)}
    if mode == "ss-dealer":
        roles["dealer"] = lambda ctx: VerticalLR(mode, **hyper).fit(ctx, None)
    transcript = Transcript()
    run_local(roles, transcript=transcript, timeout=300)
    return transcript


@pytest.fixture(scope="module", params=["ss-dealer", "he"])
def recorded(request) -> tuple[str, Transcript]:
    return request.param, _run(request.param)


# -- what must not appear ----------------------------------------------------------------------
def secrets_of_the_job(mode: str) -> dict[str, np.ndarray]:
    """Every value that must stay private, as reals: features, labels, residuals, gradients."""
    xtr, ytr, xte, _ = _data()
    grads: list[np.ndarray] = []
    residuals: list[np.ndarray] = []

    def seen(epoch, start, residual, grad):
        grads.append(grad)
        residuals.append(residual)

    fit_plain(xtr, ytr, LRParams(mode=mode, **HYPER), on_batch=seen)
    xs = Standardizer.fit(xtr).transform(xtr)
    return {
        "raw features": np.r_[xtr.ravel(), xte.ravel()],
        "standardised features": xs.ravel(),
        "gradients": np.concatenate(grads),
        "guest residual parts": np.concatenate(residuals),  # d = 0.25 z + 0.5 - y
    }


def _words(transcript: Transcript, offsets: range = range(8)) -> np.ndarray:
    """Every 8-byte word sent, at every byte offset, as int64 (covers unaligned data too);
    ``offsets=range(1)``: at multiples of 8 only, where an array's entries sit."""
    out = []
    for *_, _header, payload in transcript.messages:
        if len(payload) < 8:
            continue
        buf = np.frombuffer(payload, dtype=np.uint8)
        for off in offsets:
            usable = (len(buf) - off) // 8 * 8
            out.append(buf[off : off + usable].view(np.int64))
    return np.concatenate(out) if out else np.zeros(0, np.int64)


PUBLIC_KEYS = ("/hello", "/rows")  # handshake and alignment: counts and hyper-parameters


def _json_numbers(transcript: Transcript) -> np.ndarray:
    """Numbers in JSON messages (but the public handshake), hex strings read as integers."""
    found: list[float] = []

    def walk(v: Any) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, int | float):
            found.append(float(v) if abs(v) < 2**62 else 2.0**63)
        elif isinstance(v, str):
            try:
                i = int(v, 16)
            except ValueError:
                return
            found.append(float(i) if i < 2**62 else 2.0**63)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)

    for _, _, key, header, payload in transcript.messages:
        if header["kind"] == "json" and not key.endswith(PUBLIC_KEYS):
            walk(json.loads(payload))
    return np.sort(np.array(found, dtype=np.float64))


def _near(sorted_words: np.ndarray, targets: np.ndarray, tol: np.ndarray) -> bool:
    """Whether some target has a word within ``tol`` of it (words sorted)."""
    if len(sorted_words) == 0 or len(targets) == 0:
        return False
    s = sorted_words
    i = np.clip(np.searchsorted(s, targets), 1, len(s) - 1)
    lo, hi = s[i - 1].astype(np.float64), s[i].astype(np.float64)
    t = targets.astype(np.float64)
    return bool(np.any((np.abs(lo - t) <= tol) | (np.abs(hi - t) <= tol)))


def leaks(transcript: Transcript, values: np.ndarray, rtol: float = 0.0) -> list[str]:
    """Encodings of ``values`` (reals) found on the wire.

    float64 bit patterns at any byte offset (exactly: a party's own data would be sent
    exactly), fixed point at the protocols' scales (exactly at any offset; within
    ``rtol``, for values the protocol computes in fixed point, at 8-byte offsets), and
    JSON numbers.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    values = values[np.abs(values) > 1e-3]  # 0 and tiny values are everywhere, ignore
    found = []
    words = np.sort(_words(transcript))
    if np.isin(values.view(np.int64), words).any():
        found.append("float64")
    # Within rtol, a window of 2 rtol |x| 2^bits around each value: uniform ring words
    # fall in the widest (2^36, 1e-3) by chance about once in 250 runs at every offset,
    # once in 2,000 at the aligned ones, where a leaked int64 array's entries sit.
    near_words = words if rtol == 0 else np.sort(_words(transcript, range(1)))
    for bits in (8, 12, 16, 20, 28, 36):  # the protocols' fixed-point scales
        scaled = np.rint(values * 2.0**bits)
        scaled = scaled[np.abs(scaled) < 2.0**62]
        if _near(near_words, scaled.astype(np.int64), np.maximum(1.0, rtol * np.abs(scaled))):
            found.append(f"fixed point 2^{bits}")
    nums = _json_numbers(transcript)
    # small integers in JSON are shapes, counts and mask ids: public
    nums = nums[(nums != np.round(nums)) | (np.abs(nums) >= 2**20)]
    fractional = values[values != np.round(values)]
    for bits in (0, 8, 16, 20, 28):
        target = fractional * 2.0**bits
        if _near(nums, target, np.maximum(1e-9, rtol * np.abs(target))):
            found.append(f"JSON x2^{bits}")
    return found


def test_the_checker_finds_a_planted_leak(recorded):
    _, transcript = recorded
    gradients = secrets_of_the_job("ss-dealer")["gradients"]
    planted = Transcript()
    planted.messages = list(transcript.messages)
    planted.messages.append(
        (
            "host",
            "guest",
            "oops",
            {"kind": "array"},
            np.rint(gradients[:3] * 2**28).astype(np.int64).tobytes(),
        )
    )
    assert "fixed point 2^28" in leaks(planted, gradients, rtol=1e-3)
    planted.messages[-1] = (
        "host",
        "guest",
        "oops",
        {"kind": "json"},
        json.dumps([float(gradients[5]) * 1.0001]).encode(),
    )
    assert "JSON x2^0" in leaks(planted, gradients, rtol=1e-3)
    raw = secrets_of_the_job("ss-dealer")["raw features"]
    planted.messages[-1] = (
        "host",
        "guest",
        "oops",
        {"kind": "bytes"},
        b"x" + raw[1000:1001].tobytes(),
    )
    assert leaks(planted, raw) == ["float64"]


def test_no_feature_label_or_gradient_in_the_clear(recorded):
    mode, transcript = recorded
    for what, values in secrets_of_the_job(mode).items():
        rtol = 1e-3 if what in ("gradients", "guest residual parts") else 0.0
        assert leaks(transcript, values, rtol) == [], f"{what} found on the wire in {mode} mode"
    # no real numbers are sent at all, only ring elements, ciphertext bytes and seeds
    dtypes = {h.get("dtype") for *_, h, _ in transcript.messages if h["kind"] == "array"}
    assert dtypes <= {"<u8", "|u1"}, dtypes  # uint64 and uint8
    # the label vector, in any encoding: runs of 16 labels
    _, ytr, _, _ = _data()
    blob = transcript.all_bytes()
    for dtype in (np.float64, np.int64, np.uint8, np.bool_):
        run = ytr[100:116].astype(dtype).tobytes()
        assert run not in blob
    assert json.dumps(ytr[100:116].astype(int).tolist()).encode() not in blob


# -- what ss-dealer mode sends looks uniform -----------------------------------------------------
def _ring_bytes(transcript: Transcript) -> np.ndarray:
    parts = [
        np.frombuffer(payload, dtype=np.uint8)
        for sender, _, _, header, payload in transcript.messages
        if header["kind"] == "array" and header.get("dtype") == "<u8"
    ]
    return np.concatenate(parts)


def _uniformity(data: np.ndarray) -> tuple[float, float]:
    """(chi-square of the byte histogram, 255 dof; worst bit bias in z-scores)."""
    counts = np.bincount(data, minlength=256).astype(np.float64)
    expected = data.size / 256
    chi2 = float(np.sum((counts - expected) ** 2 / expected))
    words = data[: data.size // 8 * 8].view(np.uint64)
    bits = ((words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.float64)
    z = (bits.sum(axis=0) - words.size / 2) / np.sqrt(words.size / 4)
    return chi2, float(np.max(np.abs(z)))


CHI2_BOUND = 255 + 7 * np.sqrt(2 * 255)  # about 7 standard deviations above the mean
Z_BOUND = 6.0


def test_every_ring_element_sent_looks_uniform():
    transcript = _run("ss-dealer")
    data = _ring_bytes(transcript)
    assert data.size > 100_000
    chi2, z = _uniformity(data)
    assert chi2 < CHI2_BOUND and z < Z_BOUND, (chi2, z)
    # the same statistics do reject the fixed-point data itself (the test has power)
    xtr, _, _, _ = _data()
    q = np.rint(Standardizer.fit(xtr).transform(xtr) * 2**12).astype(np.int64)
    chi2_q, z_q = _uniformity(q.view(np.uint8).ravel())
    assert chi2_q > CHI2_BOUND or z_q > Z_BOUND


def test_he_mode_sends_ciphertexts_and_uniform_ring_elements_only():
    transcript = _run("he")
    kinds = set()
    for _sender, _receiver, key, header, _payload in transcript.messages:
        if key.endswith(("/masks", "/products")):
            assert header["kind"] == "array" and header["dtype"] == "|u1"
            assert header["shape"][-1] == 1024 // 4  # ciphertexts mod n^2, 1024-bit test keys
            kinds.add("ciphertexts")
        elif key.startswith("lr-he/") and header["kind"] == "array":
            assert header["dtype"] == "<u8"  # masked residual parts and correlations
            kinds.add("ring")
    assert kinds == {"ciphertexts", "ring"}
    chi2, z = _uniformity(_ring_bytes(transcript))
    assert chi2 < CHI2_BOUND and z < Z_BOUND, (chi2, z)
