"""Launching parties as processes: waiting for them and measuring their memory."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from unseen.runtime.launch import PartyProcess, wait_all_measured


def _process(tmp_path, name: str, code: str) -> PartyProcess:
    out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with out.open("wb") as fo, err.open("wb") as fe:
        popen = subprocess.Popen([sys.executable, "-c", code], stdout=fo, stderr=fe)
    return PartyProcess(name, popen, out, err, time.monotonic())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_wait_all_measured_gives_each_party_its_own_peak(tmp_path):
    """Each party's peak is its own: one that fills 300 MB shows it, one that sleeps does
    not (a child's ru_maxrss would count what its parent held at the fork)."""
    big = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    small = "import time; time.sleep(1.5)"
    procs = [_process(tmp_path, "big", big), _process(tmp_path, "small", small)]
    peak = wait_all_measured(procs, 30)
    assert [p.returncode for p in procs] == [0, 0]
    assert peak["big"] > 290 * 1024, peak
    assert peak["small"] < 100 * 1024, peak
