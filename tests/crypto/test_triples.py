"""Triple providers: the relations hold, the dealer stays in sync (or says so), traffic
is what the docs claim, and the insecure provider refuses to run outside tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from unseen.crypto.sharing import Mpc
from unseen.crypto.triples import (
    INSECURE_ENV,
    DealerProvider,
    InsecureLocalProvider,
    InsecureProviderError,
    PaillierProvider,
    Request,
    TripleProvider,
    serve_dealer,
)
from unseen.runtime.context import Context
from unseen.runtime.errors import ConfigError, ProtocolError
from unseen.runtime.local import Transcript, run_local

U64 = np.uint64


def run_provider(
    body: Callable[[TripleProvider, Context], Any],
    parties: Sequence[str],
    kind: str,
    transcript: Transcript | None = None,
) -> dict[str, Any]:
    """``body(provider, ctx)`` at every computing party; a dealer party when kind='dealer'.

    ``kind``: 'insecure', 'dealer' or 'paillier'.
    """

    def role(ctx: Context) -> Any:
        provider: TripleProvider
        if kind == "dealer":
            provider = DealerProvider(ctx, "dealer", parties)
        elif kind == "paillier":
            provider = PaillierProvider(ctx, parties, n_jobs=1)
        else:
            provider = InsecureLocalProvider(ctx, parties)
        with provider:
            return body(provider, ctx)

    roles: dict[str, Callable[..., Any]] = {p: role for p in parties}
    if kind == "dealer":
        roles["dealer"] = lambda ctx: serve_dealer(ctx, parties)
    return run_local(roles, transcript=transcript, timeout=60)


def total(out: dict[str, Any], parties: Sequence[str], get: Callable[[Any], Any]) -> np.ndarray:
    arrays = [get(out[p]) for p in parties]
    acc = np.zeros(arrays[0].shape, dtype=U64)
    for a in arrays:
        acc += a
    return acc


PARTY_SETS = [("a", "b"), ("a", "b", "c"), ("p", "q", "r", "s")]


@pytest.mark.parametrize("kind", ["insecure", "dealer"])
@pytest.mark.parametrize("parties", PARTY_SETS)
def test_every_correlation_holds(kind: str, parties: tuple[str, ...]) -> None:
    owner = parties[1]

    def body(tp: TripleProvider, ctx: Context) -> Any:
        mask = tp.plain_mask(owner, (4, 6))
        return {
            "ew": tp.elementwise((3, 5)),
            "ew0": tp.elementwise(()),
            "mm": tp.matmul((4, 6), (6, 2)),
            "mv": tp.matmul((6,), (6, 3)),
            "tr": tp.truncation_pair(1000, 16),
            "mask": mask,
            "pm": tp.plain_matmul(mask, (6, 2)),
            "pmT": tp.plain_matmul(mask, (4,), transpose=True),
        }

    out = run_provider(body, parties, kind)
    a, b, c = (total(out, parties, lambda o, k=k: getattr(o["ew"], k)) for k in "abc")
    assert a.shape == (3, 5) and np.array_equal(c, a * b)
    a0, b0, c0 = (total(out, parties, lambda o, k=k: getattr(o["ew0"], k)) for k in "abc")
    assert np.array_equal(c0, a0 * b0)
    for key in ("mm", "mv"):
        a, b, c = (total(out, parties, lambda o, k=k, key=key: getattr(o[key], k)) for k in "abc")
        assert np.array_equal(c, a @ b)
    r = total(out, parties, lambda o: o["tr"].r)
    r_shift = total(out, parties, lambda o: o["tr"].r_shift)
    assert np.array_equal(r_shift.view(np.int64), r.view(np.int64) >> 16)
    # the mask is at its owner only; B is shared among the others only
    masks = {p: out[p]["mask"] for p in parties}
    assert all(masks[p].a is None for p in parties if p != owner)
    a_mat = masks[owner].a
    assert a_mat is not None and a_mat.shape == (4, 6)
    assert all(masks[p].id == 0 and masks[p].shape == (4, 6) for p in parties)
    for key, transpose in (("pm", False), ("pmT", True)):
        assert out[owner][key].b is None
        others = [p for p in parties if p != owner]
        b = total(out, others, lambda o, key=key: o[key].b)
        c = total(out, parties, lambda o, key=key: o[key].c)
        assert np.array_equal(c, (a_mat.T if transpose else a_mat) @ b)


def test_triples_are_fresh() -> None:
    out = run_provider(
        lambda tp, ctx: [tp.elementwise(256) for _ in range(3)], ("a", "b"), "dealer"
    )
    a_values = [total(out, ("a", "b"), lambda o, i=i: o[i].a) for i in range(3)]
    assert len({v.tobytes() for v in a_values}) == 3
    assert not np.array_equal(out["a"][0].a, out["b"][0].a)


@pytest.mark.parametrize("parties", [("a", "b"), ("a", "b", "c")])
def test_dealer_traffic_is_seeds_plus_corrections_to_the_last_party(
    parties: tuple[str, ...],
) -> None:
    transcript = Transcript()
    n = 10_000

    def body(tp: TripleProvider, ctx: Context) -> Any:
        tp.elementwise(n)
        tp.matmul((100, 20), (20, 5))
        return None

    stats = run_provider(body, parties, "dealer", transcript)["dealer"]
    last = parties[-1]
    for p in parties:
        received = [m for m in transcript.messages if m[0] == "dealer" and m[1] == p]
        if p == last:
            assert sum(len(m[4]) for m in received) == 16 + 8 * (n + 100 * 5) + len(b'"ok"')
        else:
            # its seed and the final verdict, nothing else
            assert [len(m[4]) for m in received] == [16, len(b'"ok"')]
            sent = [m for m in transcript.messages if m[0] == p and m[1] == "dealer"]
            assert [m[2] for m in sent] == ["triples/close"]
    assert stats.requests == 2 and stats.correction_bytes == 8 * (n + 500)


def test_prefetch_costs_one_round_trip() -> None:
    specs = [Request("elementwise", ((10,),)), Request("matmul", ((3, 4), (4, 2)))]

    def body(tp: TripleProvider, ctx: Context) -> Any:
        tp.prefetch(specs)
        tp.elementwise(10)
        tp.matmul((3, 4), (4, 2))
        return None

    stats = run_provider(body, ("a", "b"), "dealer")["dealer"]
    assert stats.rounds == 1 and stats.requests == 2


def test_prefetch_used_out_of_order_fails() -> None:
    def body(tp: TripleProvider, ctx: Context) -> Any:
        tp.prefetch([Request("elementwise", ((10,),))])
        tp.elementwise(11)

    with pytest.raises(ProtocolError, match="prefetched"):
        run_provider(body, ("a", "b"), "dealer")


def test_unused_prefetch_fails_at_close() -> None:
    def body(tp: TripleProvider, ctx: Context) -> Any:
        tp.prefetch([Request("elementwise", ((10,),))])

    with pytest.raises(ProtocolError, match="never used"):
        run_provider(body, ("a", "b"), "dealer")


def test_dealer_detects_parties_out_of_sync() -> None:
    def body(tp: TripleProvider, ctx: Context) -> Any:
        tp.elementwise(3 if ctx.party == "a" else 4)  # a bug in protocol code

    with pytest.raises(ProtocolError, match="out of sync"):
        run_provider(body, ("a", "b", "c"), "dealer")


def test_dealer_configuration_errors() -> None:
    def dealer_computes(ctx: Context) -> Any:
        DealerProvider(ctx, "a", ["a", "b"])

    with pytest.raises(ConfigError, match="cannot also be"):
        run_local({"a": dealer_computes, "b": lambda ctx: None})

    def no_dealer(ctx: Context) -> Any:
        DealerProvider(ctx, "nobody")

    with pytest.raises(ConfigError, match="not a party"):
        run_local({"a": no_dealer, "b": lambda ctx: None})


def test_mpc_refuses_a_provider_for_other_parties() -> None:
    def role(ctx: Context) -> Any:
        Mpc(ctx, InsecureLocalProvider(ctx, ["a", "b"]), parties=["b", "a"])

    with pytest.raises(ConfigError, match="serves"):
        run_local({"a": role, "b": role})


@pytest.mark.parametrize("parties", [("a", "b"), ("a", "b", "c")])
def test_dealer_mode_end_to_end(parties: tuple[str, ...]) -> None:
    """A small vertical-LR-like step in ss-dealer mode: z = X@w, residual, gradient."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, size=(64, 5))
    w = rng.uniform(-1, 1, size=5)
    y = rng.integers(0, 2, size=64).astype(float)

    def role(ctx: Context) -> Any:
        with Mpc(ctx, DealerProvider(ctx, "dealer", parties)) as mpc:
            host = parties[-1]
            features = mpc.plain_matrix(
                mpc.fxp.encode(x) if ctx.party == host else None, host, shape=x.shape
            )
            sw = mpc.share_fixed(w if ctx.party == "a" else None, "a")
            sy = mpc.share_fixed(y if ctx.party == "a" else None, "a")
            z = mpc.truncate(features @ sw)
            residual = mpc.mul_public_fixed(z, 0.25) - sy  # a linear stand-in for sigmoid
            gradient = mpc.truncate(features.T @ residual)
            return mpc.reveal_fixed(gradient, to="a")

    roles: dict[str, Callable[..., Any]] = {p: role for p in parties}
    roles["dealer"] = lambda ctx: serve_dealer(ctx, parties)
    out = run_local(roles, timeout=60)
    want = x.T @ (0.25 * (x @ w) - y)
    assert np.allclose(out["a"], want, atol=1e-2)


# -- two parties with Paillier (he mode) ---------------------------------------------------
@pytest.mark.parametrize("owner", ["a", "b"])  # the plaintext owner; 'a' holds the main key
def test_paillier_correlations_hold(owner: str) -> None:
    parties = ("a", "b")
    transcript = Transcript()

    def body(tp: TripleProvider, ctx: Context) -> Any:
        mask = tp.plain_mask(owner, (2, 3))
        return {
            "ew": tp.elementwise((2, 3)),
            "ew0": tp.elementwise(()),
            "mm": tp.matmul((2, 3), (3, 2)),
            "vm": tp.matmul((3,), (3,)),
            "mask": mask,
            "pm": tp.plain_matmul(mask, (3, 2)),
            "pmT": tp.plain_matmul(mask, (2,), transpose=True),
        }

    out = run_provider(body, parties, "paillier", transcript)
    for key in ("ew", "ew0"):
        a, b, c = (total(out, parties, lambda o, k=k, key=key: getattr(o[key], k)) for k in "abc")
        assert np.array_equal(c, np.asarray(a * b, dtype=U64))
    for key in ("mm", "vm"):
        a, b, c = (total(out, parties, lambda o, k=k, key=key: getattr(o[key], k)) for k in "abc")
        assert np.array_equal(c, np.asarray(a @ b, dtype=U64))
    # each party's shares are its own: neither share of a equals the other's
    assert not np.array_equal(out["a"]["ew"].a, out["b"]["ew"].a)
    other = "b" if owner == "a" else "a"
    a_mat = out[owner]["mask"].a
    assert a_mat is not None and out[other]["mask"].a is None
    for key, transpose in (("pm", False), ("pmT", True)):
        assert out[owner][key].b is None
        b = out[other][key].b
        c = total(out, parties, lambda o, key=key: o[key].c)
        assert np.array_equal(c, (a_mat.T if transpose else a_mat) @ b)
    # both keys are 2048 bits (the plaintext owner's peer decrypts its own products)
    keys = [m for m in transcript.messages if m[2].endswith("/public-key")]
    assert {m[0] for m in keys} == ({"a", "b"} if owner == "a" else {"a"})
    assert all(b'"bits":2048' in m[4] for m in keys)


def test_paillier_mode_end_to_end_with_local_truncation() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-10, 10, size=(3, 2)), rng.uniform(-10, 10, size=2)

    def role(ctx: Context) -> Any:
        with Mpc(ctx, PaillierProvider(ctx, n_jobs=1)) as mpc:
            sx = mpc.share_fixed(x if ctx.party == "a" else None, "a")
            sy = mpc.share_fixed(y if ctx.party == "b" else None, "b")
            return mpc.reveal_fixed(mpc.matmul_fixed(sx, sy)), mpc.reveal_fixed(sx * 3)

    out = run_local({"a": role, "b": role}, timeout=60)["b"]
    assert np.allclose(out[0], x @ y, atol=1e-3)
    assert np.allclose(out[1], 3 * x, atol=1e-3)


def test_paillier_decryptions_are_statistically_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the key holder decrypts is v + rho, rho uniform below 2^(l + 80): never small."""
    from unseen.crypto import paillier
    from unseen.crypto.triples import STAT_SECURITY

    seen: list[int] = []
    original = paillier.PaillierPrivateKey.decrypt_raw

    def spy(self: Any, c: Any, *, n_jobs: int | None = None) -> np.ndarray:
        out = original(self, c, n_jobs=n_jobs)
        seen.extend(int(v) for v in np.asarray(out, dtype=object).ravel())
        return out

    monkeypatch.setattr(paillier.PaillierPrivateKey, "decrypt_raw", spy)
    run_provider(lambda tp, ctx: tp.elementwise(16), ("a", "b"), "paillier")
    assert len(seen) == 16
    l_bits = 129
    assert all(
        2 ** (l_bits + STAT_SECURITY - 40) < v < 2 ** (l_bits + STAT_SECURITY + 1) for v in seen
    )


def test_paillier_provider_limits() -> None:
    def three(ctx: Context) -> Any:
        PaillierProvider(ctx)

    with pytest.raises(ConfigError, match="exactly two"):
        run_local({"a": three, "b": three, "c": three})

    def small(ctx: Context) -> Any:
        PaillierProvider(ctx, key_bits=1024)

    with pytest.raises(ConfigError, match="2048"):
        run_local({"a": small, "b": small})

    def truncation(ctx: Context) -> Any:
        PaillierProvider(ctx).truncation_pair(3, 16)

    with pytest.raises(NotImplementedError, match="local truncation"):
        run_local({"a": truncation, "b": truncation})


# -- the insecure provider refuses to run outside tests ------------------------------------
_CONSTRUCT = """
import numpy as np
from unseen.crypto.triples import InsecureLocalProvider
from unseen.runtime.local import run_local

def role(ctx):
    return InsecureLocalProvider(ctx).elementwise(2).c.tolist()

print(run_local({"a": role, "b": role}))
"""


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != INSECURE_ENV and not k.startswith("PYTEST")}
    env.update(extra)
    return env


def test_insecure_provider_refused_outside_tests() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CONSTRUCT],
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "InsecureProviderError" in proc.stderr and "PUBLIC seed" in proc.stderr


def test_insecure_provider_allowed_with_explicit_opt_in() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _CONSTRUCT],
        env=_clean_env(**{INSECURE_ENV: "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "INSECURE" in proc.stderr  # it says so loudly


def test_insecure_provider_refused_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    monkeypatch.delenv(INSECURE_ENV, raising=False)

    def role(ctx: Context) -> Any:
        InsecureLocalProvider(ctx)

    with pytest.raises(InsecureProviderError):
        run_local({"a": role, "b": role})
