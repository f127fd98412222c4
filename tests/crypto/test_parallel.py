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
