"""The dealer provider across separate processes, over the real gRPC / mutual-TLS transport.

Three processes (two computing parties and the dealer) run this file as a script;
the test checks their results against plaintext, and that the job fails at every
party with the root cause when the parties fall out of sync.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

GUEST, HOST, DEALER = "guest", "host", "dealer"
PARTIES = [GUEST, HOST]


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    x = rng.integers(-(2**30), 2**30, size=(300, 8), dtype=np.int64)  # guest's
    w = rng.integers(-(2**20), 2**20, size=8, dtype=np.int64)  # host's
    m = (rng.random((4, 300)) < 0.3).astype(np.int64)  # host's plaintext indicator
    return x, w, m


def _role(ctx: Any, out_dir: Path, desync: bool) -> None:
    from unseen.crypto.sharing import Mpc
    from unseen.crypto.triples import DealerProvider, serve_dealer

    if ctx.party == DEALER:
        stats = serve_dealer(ctx, PARTIES)
        (out_dir / "dealer.txt").write_text(f"{stats.requests}", encoding="utf-8")
        return
    x, w, m = _data()
    with Mpc(ctx, DealerProvider(ctx, DEALER, PARTIES)) as mpc:
        sx = mpc.share(x if ctx.party == GUEST else None, GUEST)
        sw = mpc.share(w if ctx.party == HOST else None, HOST)
        xw = sx @ sw
        sq = sx * sx
        if desync and ctx.party == GUEST:
            mpc.triples.elementwise(5)  # type: ignore[union-attr]  # a bug: host does not
        indicator = mpc.plain_matrix(m if ctx.party == HOST else None, HOST, shape=m.shape)
        hist = indicator @ xw
        for name, value in (("xw", xw), ("sq", sq), ("hist", hist)):
            opened = mpc.reveal(value, to=GUEST)
            if opened is not None:
                np.save(out_dir / f"{name}.npy", opened)


def _main(argv: list[str]) -> None:
    from unseen.cli.common import run_party

    party, parties_file, out_dir, desync = argv
    run_party(
        _role,
        party=party,
        parties_file=Path(parties_file),
        key=None,
        job_id="triples-process-test",
        default_job="triples-process-test",
        connect_timeout=60.0,
        peer_timeout=15.0,
        quiet=True,
        verbose=False,
        job_parties=[GUEST, HOST, DEALER],
        out_dir=Path(out_dir),
        desync=desync == "1",
    )


def _spawn(tmp_path: Path, desync: bool) -> dict[str, subprocess.CompletedProcess[str]]:
    from unseen.runtime.launch import make_parties

    parties_file = make_parties(tmp_path / "keys", [GUEST, HOST, DEALER])
    out = tmp_path / "out"
    out.mkdir()
    procs = {
        p: subprocess.Popen(
            [sys.executable, __file__, p, str(parties_file), str(out), "1" if desync else "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in (GUEST, HOST, DEALER)
    }
    results = {}
    try:
        for p, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=120)
            results[p] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
    return results


def test_dealer_provider_over_grpc_tls(tmp_path: Path) -> None:
    results = _spawn(tmp_path, desync=False)
    for p, r in results.items():
        assert r.returncode == 0, f"{p} failed:\n{r.stderr}"
    x, w, m = _data()
    out = tmp_path / "out"
    xw = np.load(out / "xw.npy").view(np.int64)
    assert np.array_equal(xw, x @ w)
    assert np.array_equal(np.load(out / "sq.npy").view(np.int64), x * x)
    assert np.array_equal(np.load(out / "hist.npy").view(np.int64), m @ (x @ w))
    assert (out / "dealer.txt").read_text(encoding="utf-8") == "4"  # matmul, mul, mask, plain


def test_out_of_sync_parties_fail_everywhere_over_grpc(tmp_path: Path) -> None:
    results = _spawn(tmp_path, desync=True)
    for p, r in results.items():
        assert r.returncode != 0, f"{p} should have failed"
    assert "out of sync" in results[DEALER].stderr


if __name__ == "__main__":
    _main(sys.argv[1:])
elif __name__ != "__main__":
    pytest.importorskip("grpc")
