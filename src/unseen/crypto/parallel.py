"""A small process pool for the homomorphic-encryption kernels.

Big-integer work in gmpy2 holds the GIL, so the kernels spread batches over
*processes*. One pool is shared by the whole process and sized
``min(usable CPUs, n_jobs)``; it never has more workers than the machine has
CPUs (usable CPUs respect ``taskset``/cgroup affinity). Workers are started
with ``forkserver`` where the platform has it (safe next to gRPC threads,
unlike ``fork``), else ``spawn``; as with any such pool, a script must guard
its entry point with ``if __name__ == "__main__":``. Inside a worker every
call runs in-process, so work never fans out twice. Keys reach workers as
their plain parameters (private keys included, over the local pipe to our own
child processes); workers cache the rebuilt keys and their tables. A worker
exits as soon as the process that started its pool is gone, even one killed
outright.

A second pool, started only when asked for (``background=True``), runs its
workers at the lowest CPU priority (nice 19): for work done ahead, such as
randomness for later encryptions, that should take only the cycles the job's
own steps leave idle.

Callers pass ``n_jobs``: ``None`` for the default (every usable CPU, or
``UNSEEN_N_JOBS``, or :func:`set_default_jobs`), a positive count, or ``-1``
for all CPUs (``-2`` for all but one, as in joblib). A batch that would
take less than about :data:`MIN_PARALLEL_SECONDS` stays in-process: starting
work in a pool costs about a millisecond plus pickling.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

T = TypeVar("T")

#: batches estimated below this many seconds of work run in the calling process
MIN_PARALLEL_SECONDS = 0.05

_lock = threading.Lock()
#: the shared pools, by priority: False (normal) and True (background, nice 19)
_pools: dict[bool, tuple[ProcessPoolExecutor, int]] = {}
_default_jobs: int | None = None
_in_worker = False
_worker_cpu = 0.0  # CPU seconds the workers spent on this process's calls


def usable_cpus() -> int:
    """CPUs this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def set_default_jobs(n_jobs: int | None) -> None:
    """Set the job count used when a call passes ``n_jobs=None`` (``None``: all CPUs)."""
    global _default_jobs
    if n_jobs is not None and n_jobs == 0:
        raise ValueError("n_jobs must be non-zero")
    _default_jobs = n_jobs


def effective_jobs(n_jobs: int | None = None) -> int:
    """The number of processes a call with this ``n_jobs`` may use (at least 1)."""
    if _in_worker:
        return 1
    cpus = usable_cpus()
    if n_jobs is None:
        n_jobs = _default_jobs
    if n_jobs is None:
        env = os.environ.get("UNSEEN_N_JOBS")
        n_jobs = int(env) if env else cpus
    if n_jobs == 0:
        raise ValueError("n_jobs must be non-zero")
    if n_jobs < 0:
        n_jobs = cpus + 1 + n_jobs
    return max(1, min(cpus, n_jobs))


def worth_parallel(items: int, seconds_per_item: float, n_jobs: int | None) -> int:
    """Jobs to use for ``items`` of work at ``seconds_per_item`` each (1: stay in-process)."""
    jobs = effective_jobs(n_jobs)
    if jobs == 1 or items < 2 or items * seconds_per_item < MIN_PARALLEL_SECONDS:
        return 1
    return min(jobs, items)


def split(count: int, parts: int) -> list[slice]:
    """``parts`` contiguous slices covering ``range(count)``, sizes differing by at most one."""
    parts = max(1, min(parts, count)) if count else 1
    base, extra = divmod(count, parts)
    out, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        out.append(slice(start, stop))
        start = stop
    return out


def _exit_with(owner: int) -> None:
    """In a worker: exit as soon as process ``owner`` (the pool's creator) is gone.

    A party killed outright (``SIGKILL``, the OOM killer) cannot stop its pool;
    without this its workers would wait for work forever. Linux: a pidfd, which
    becomes readable when the process ends; elsewhere a check every second.
    """

    def watch() -> None:
        try:
            fd = os.pidfd_open(owner)
        except (AttributeError, OSError):
            fd = None
        if fd is not None:
            select.select([fd], [], [])
            os._exit(0)
        while True:  # pragma: no cover - platforms without pidfd
            time.sleep(1.0)
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass

    threading.Thread(target=watch, name="owner-watch", daemon=True).start()


def _start_worker(owner: int, background: bool) -> None:
    global _in_worker
    _in_worker = True
    _exit_with(owner)
    if background:
        try:
            os.nice(19)  # only the cycles the job's own steps leave idle
        except OSError:  # pragma: no cover - not permitted here: normal priority
            pass


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _get_pool(size: int, background: bool = False) -> Executor:
    with _lock:
        pool, pool_size = _pools.get(background, (None, 0))
        if pool is None or pool_size < size:
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            pool = ProcessPoolExecutor(
                max_workers=size,
                mp_context=_context(),
                initializer=_start_worker,
                initargs=(os.getpid(), background),
            )
            _pools[background] = (pool, size)
        return pool


def worker_cpu_seconds() -> float:
    """CPU time the pool's workers have spent on this process's calls so far."""
    return _worker_cpu


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    """In a worker: ``fn(*args)`` and the CPU time it took (a worker runs one call at a time)."""
    began = time.process_time()
    out = fn(*args)
    return out, time.process_time() - began


def run(
    fn: Callable[..., T],
    calls: Sequence[tuple[Any, ...]],
    jobs: int,
    *,
    background: bool = False,
) -> list[T]:
    """``[fn(*args) for args in calls]``, over ``jobs`` worker processes when ``jobs > 1``.

    ``fn`` must be a module-level function and its arguments picklable. Results
    come back in order. Exceptions raised by ``fn`` propagate unchanged. The
    workers' CPU time is added up (:func:`worker_cpu_seconds`). With
    ``background``, the calls go to the lowest-priority pool, one worker at least
    (work done ahead must not take the calling thread's core at full priority).
    """
    global _worker_cpu
    jobs = min(jobs, effective_jobs(jobs), len(calls))
    if jobs <= 1 and (not background or _in_worker):
        return [fn(*args) for args in calls]
    pool = _get_pool(max(1, jobs), background)
    try:
        futures = [pool.submit(_timed, fn, *args) for args in calls]
        done = [f.result() for f in futures]
    except BrokenProcessPool as exc:
        with _lock:  # this pool only: the other may be busy with a caller's work
            if _pools.get(background, (None, 0))[0] is pool:
                del _pools[background]
        pool.shutdown(wait=False, cancel_futures=True)
        raise RuntimeError(
            "a crypto worker process died. Scripts that use the parallel kernels must guard "
            "their entry point with `if __name__ == '__main__':` (workers are started with "
            "forkserver/spawn and import the main module), or pass n_jobs=1"
        ) from exc
    with _lock:
        _worker_cpu += sum(seconds for _, seconds in done)
    return [out for out, _ in done]


def shutdown() -> None:
    """Stop the shared pools (a later parallel call starts a new one)."""
    with _lock:
        pools = [pool for pool, _ in _pools.values()]
        _pools.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)
