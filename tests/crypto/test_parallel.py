"""The process pools of the homomorphic-encryption kernels."""

from __future__ import annotations

import os

import pytest

from unseen.crypto import parallel


def _priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def _die() -> None:
    os._exit(3)


def test_background_workers_run_at_the_lowest_priority() -> None:
    try:
        assert parallel.run(_priority, [()], 1, background=True) == [19]
        assert parallel.run(_priority, [()], 1) == [_priority()]  # in-process, unchanged
    finally:
        parallel.shutdown()


def test_a_dead_worker_fails_its_call_and_leaves_the_other_pool_alone() -> None:
    try:
        normal = parallel._get_pool(1)
        with pytest.raises(RuntimeError, match="crypto worker process died"):
            parallel.run(_die, [()], 1, background=True)
        assert parallel._get_pool(1) is normal  # still the same, working pool
        assert normal.submit(_priority).result(timeout=60) == _priority()
        assert parallel.run(_priority, [()], 1, background=True) == [19]  # a new one
    finally:
        parallel.shutdown()


def test_workers_exit_when_their_party_is_killed(tmp_path) -> None:
    """A party killed outright (SIGKILL) leaves no worker processes behind."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "party.py"
    script.write_text(
        "import os, sys, time\n"
        "from unseen.crypto import parallel\n"
        "if __name__ == '__main__':\n"
        "    print(parallel.run(os.getpid, [()], 1, background=True)[0], flush=True)\n"
        "    time.sleep(600)\n"
    )
    party = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(party.stdout.readline())
        os.kill(worker, 0)  # alive while the party is
        party.send_signal(signal.SIGKILL)
        party.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail("the worker outlived its party")
    finally:
        party.kill()
