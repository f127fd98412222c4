"""Progress reporting, decoupled from how it is shown.

Protocol code asks its Context for a task (``ctx.progress("hash ids", total=n)``)
and updates it; the party's host decides the display: nothing in unit tests, a
tqdm bar on a terminal, and (later) a job record in the node service.
"""

from __future__ import annotations

import sys
from typing import Any, Protocol


class ProgressTask(Protocol):
    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, **values: Any) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> ProgressTask: ...
    def __exit__(self, *exc: object) -> None: ...


class ProgressReporter(Protocol):
    def task(
        self, description: str, total: int | None = None, unit: str = "it"
    ) -> ProgressTask: ...


class _NullTask:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _NullTask:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class NullProgress:
    """Shows nothing (unit tests, library use)."""

    def task(self, description: str, total: int | None = None, unit: str = "it") -> ProgressTask:
        return _NullTask()


class _TqdmTask:
    def __init__(self, bar: Any) -> None:
        self._bar = bar

    def update(self, n: int = 1) -> None:
        self._bar.update(n)

    def set_postfix(self, **values: Any) -> None:
        self._bar.set_postfix(values, refresh=False)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> _TqdmTask:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TqdmProgress:
    """A tqdm bar on stderr per task, prefixed with the party's name."""

    def __init__(self, prefix: str = "", disable: bool | None = None) -> None:
        self.prefix = prefix
        # tqdm's own rule: None shows bars only on a terminal
        self.disable = disable

    def task(self, description: str, total: int | None = None, unit: str = "it") -> ProgressTask:
        from tqdm import tqdm

        desc = f"{self.prefix}{description}"
        bar = tqdm(
            total=total,
            desc=desc,
            unit=unit,
            unit_scale=True,
            file=sys.stderr,
            disable=self.disable,
            leave=False,
            dynamic_ncols=True,
        )
        return _TqdmTask(bar)
