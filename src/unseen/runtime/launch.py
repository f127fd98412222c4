"""Start parties as separate local processes: for the demo, tests and benchmarks.

Each party is a real ``python -m unseen <command> --as <party> ...`` process,
talking to the others over mutual TLS on loopback, exactly as on separate hosts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from unseen.transport.identity import keygen


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_parties(directory: str | os.PathLike[str], names: Iterable[str]) -> Path:
    """Fresh keys, certificates and a parties file for ``names`` on loopback ports."""
    d = Path(directory)
    path = d / "parties.toml"
    for name in names:
        _, _, path = keygen(name, f"127.0.0.1:{free_port()}", d)
    return path


class ProcessHandle(Protocol):
    """What :class:`PartyProcess` needs of a process: ``subprocess.Popen``'s surface (a
    test harness may start parties another way, as forks of a warmed-up process)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...
    def wait(self, timeout: float | None = None) -> int: ...
    def kill(self) -> None: ...
    def terminate(self) -> None: ...


@dataclass
class PartyProcess:
    name: str
    popen: ProcessHandle
    stdout_path: Path
    stderr_path: Path
    started: float
    rusage: object | None = None

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()


def start_party(
    name: str,
    args: Sequence[str],
    log_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> PartyProcess:
    """Run ``python -m unseen <args>`` as party ``name``; output goes to log files."""
    out, err = log_files(name, log_dir)
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    with out.open("wb") as fo, err.open("wb") as fe:
        popen = subprocess.Popen(
            [sys.executable, "-m", "unseen", *args],
            stdout=fo,
            stderr=fe,
            env=full_env,
            cwd=cwd,
        )
    return PartyProcess(name, popen, out, err, time.monotonic())


def log_files(name: str, log_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Party ``name``'s stdout and stderr files in ``log_dir`` (made if missing)."""
    logs = Path(log_dir)
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{name}.out", logs / f"{name}.err"


def wait_all(procs: Sequence[PartyProcess], timeout: float) -> None:
    """Wait for every process (killing all of them after ``timeout`` s).

    Records each child's resource usage (peak memory in ``ru_maxrss``, KiB).
    """
    deadline = time.monotonic() + timeout
    pending = {p.popen.pid: p for p in procs}
    while pending:
        for pid, p in list(pending.items()):
            if not isinstance(p.popen, subprocess.Popen):  # not this process's child
                if p.popen.poll() is not None:
                    del pending[pid]
                continue
            waited, status, usage = os.wait4(pid, os.WNOHANG)
            if waited:
                p.popen.returncode = os.waitstatus_to_exitcode(status)
                p.rusage = usage
                del pending[pid]
        if pending and time.monotonic() > deadline:
            for p in pending.values():
                p.kill()
            for p in pending.values():
                p.popen.wait()
            raise TimeoutError(
                f"parties {sorted(p.name for p in pending.values())} still running after {timeout} s"
            )
        time.sleep(0.05)


def wait_all_measured(procs: Sequence[PartyProcess], timeout: float) -> dict[str, int]:
    """:func:`wait_all`, sampling meanwhile each party's memory with its workers (Linux
    ``/proc``; a child's ``ru_maxrss`` would count its parent's memory at fork): the
    peaks in KiB by party name."""
    sampler = PeakSampler({p.name: p.popen.pid for p in procs})
    sampler.start()
    try:
        wait_all(procs, timeout)
    finally:
        sampler.stop.set()
    return sampler.peak


def tree_rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants (its worker pool), KiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ppid, pages = int(fields[1]), int(fields[21])
        except (OSError, IndexError, ValueError):
            continue
        p = int(entry.name)
        children.setdefault(ppid, []).append(p)
        rss[p] = pages * page_kib
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


class PeakSampler(threading.Thread):
    """Samples each party's process-tree memory until stopped; ``peak`` in KiB (Linux /proc)."""

    def __init__(self, pids: Mapping[str, int], every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pids, self.every = dict(pids), every
        self.peak = {name: 0 for name in pids}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], tree_rss_kib(pid))
            self.stop.wait(self.every)
