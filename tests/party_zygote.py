"""Party processes for the tests, forked from one warmed-up process instead of started cold.

Each party of a process test is a separate OS process talking to the others over mutual
TLS on loopback, as with :func:`unseen.runtime.launch.start_party`; what differs is
only how it starts. A cold ``python -m unseen`` spends about two seconds of CPU before
its first message (the imports, Numba loading its compiled loops, matplotlib for the
charts), five processes a test, on the two cores of CI. Here one *zygote* process pays
that once: it imports the CLI, loads the loops and then, for each party, forks a child
that runs ``unseen <args>`` from that state (Android starts its apps the same way).

The zygote is started clean (a fresh interpreter, no thread and no gRPC channel before a
fork); it reports over its stdout each child's pid when forked and its exit status when
reaped. The real entry point, a cold ``python -m unseen``, is still what the demo's test
and the launcher's own tests start. :func:`start_party` has the signature of the real one and
falls back to it for a party with its own environment (read at import by some modules).

Run as a script, this module *is* the zygote: ``python tests/party_zygote.py``.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

# -- the zygote (runs in its own process) ------------------------------------------------


def _preload() -> None:
    """Everything a party would import and load before its first message."""
    import unseen.cli.lr  # noqa: F401
    import unseen.cli.main  # noqa: F401  (every command's module comes with it)
    import unseen.cli.predict  # noqa: F401
    import unseen.cli.psi  # noqa: F401
    import unseen.cli.secureboost  # noqa: F401
    import unseen.ml.secureboost  # noqa: F401
    from unseen.ml import sbt_kernels
    from unseen.ml.report import matplotlib_available

    sbt_kernels.warm_up()
    if matplotlib_available():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401  (and its font cache)


def _child(request: dict[str, Any], report_fd: int) -> None:
    """In the forked child: become ``unseen <args>`` with its output in the log files."""
    code = 1
    try:
        os.close(report_fd)  # the zygote's reports: only the zygote writes them
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        for fd, path in ((1, request["out"]), (2, request["err"])):
            f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(f, fd)
            os.close(f)
        # unbuffered text over the new descriptors, as PYTHONUNBUFFERED gives a process
        sys.stdout = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False),
            encoding="utf-8",
            errors="backslashreplace",
            write_through=True,
        )
        sys.stdin = open(os.devnull)  # noqa: SIM115
        sys.argv = ["unseen", *request["args"]]  # as `python -m unseen <args>` sees them
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("cwd"):
            os.chdir(request["cwd"])
        signal.signal(signal.SIGINT, signal.default_int_handler)
        from unseen.cli.main import cli

        try:
            cli.main(request["args"], prog_name="unseen")
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                print(exc.code, file=sys.stderr)
        # the interpreter's own exit: join the threads (executors shut down their
        # workers there), then the atexit functions (multiprocessing joins its children)
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - the child must never return into the zygote
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _serve() -> None:
    """Read one JSON request a line from stdin; fork a child for each; report pids and
    exit statuses as JSON lines on stdout. Ends when stdin closes (its children stay)."""
    _preload()
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # a stray print must not break the protocol
    out.write(json.dumps({"ready": os.getpid()}) + "\n")
    stdin = sys.stdin.fileno()
    buffer = b""
    children = 0
    while True:
        readable, _, _ = select.select([stdin], [], [], 0.02)
        if readable:
            chunk = os.read(stdin, 65536)
            if not chunk:
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, out.fileno())
                children += 1
                out.write(json.dumps({"id": request["id"], "pid": pid}) + "\n")
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children = 0
                break
            if not pid:
                break
            children -= 1
            code = os.waitstatus_to_exitcode(status)
            out.write(json.dumps({"exited": pid, "code": code}) + "\n")


# -- the tests' side -----------------------------------------------------------------------


class ForkedPopen:
    """The handle of a party forked by the zygote: what ``subprocess.Popen`` offers the
    tests (``pid``, ``returncode``, ``poll``, ``wait``, ``kill``, ``terminate``)."""

    def __init__(self, zygote: _Zygote, pid: int) -> None:
        self._zygote, self.pid = zygote, pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._zygote.exited.get(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"party {self.pid}", timeout or 0)
            time.sleep(0.01)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Zygote:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        ready = self.proc.stdout.readline()
        if not ready:
            raise RuntimeError("the party zygote did not start (python tests/party_zygote.py)")
        self.exited: dict[int, int] = {}  # pid -> exit status, as Popen.returncode
        self._pids: dict[int, int] = {}
        self._forked = threading.Condition()
        self._next = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            msg = json.loads(line)
            with self._forked:
                if "pid" in msg:
                    self._pids[msg["id"]] = msg["pid"]
                elif "exited" in msg:
                    self.exited[msg["exited"]] = msg["code"]
                self._forked.notify_all()

    def fork(self, request: dict[str, Any]) -> int:
        with self._lock:
            self._next += 1
            ident = self._next
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps({**request, "id": ident}) + "\n").encode())
            self.proc.stdin.flush()
        with self._forked:
            if not self._forked.wait_for(lambda: ident in self._pids, timeout=30):
                raise RuntimeError("the party zygote did not fork within 30 s")
            return self._pids.pop(ident)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_zygote: _Zygote | None = None


def _get_zygote() -> _Zygote:
    global _zygote
    if _zygote is None or _zygote.proc.poll() is not None:
        _zygote = _Zygote()
        atexit.register(_zygote.close)
    return _zygote


def start_party(
    name: str,
    args: Sequence[str],
    log_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
) -> Any:
    """:func:`unseen.runtime.launch.start_party`, forked from the warmed-up zygote."""
    from unseen.runtime.launch import PartyProcess, log_files
    from unseen.runtime.launch import start_party as start_cold

    if env:  # modules read some variables at import: this one starts cold
        return start_cold(name, args, log_dir, env=env, cwd=cwd)
    out, err = log_files(name, log_dir)
    zygote = _get_zygote()
    pid = zygote.fork(
        {
            "args": list(args),
            "out": str(out),
            "err": str(err),
            "env": {**os.environ, "PYTHONUNBUFFERED": "1"},
            "cwd": None if cwd is None else str(cwd),
        }
    )
    return PartyProcess(name, ForkedPopen(zygote, pid), out, err, time.monotonic())


if __name__ == "__main__":
    _serve()
