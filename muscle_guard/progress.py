"""Progress bars on stderr (rich), shared by prediction and training; silent when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

_console = Console(stderr=True)


class Ticker(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def note(self, text: str) -> None: ...


class _Bar:
    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def note(self, text: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, info=text)


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Ticker]:
    """A transient bar `description ━━━ 12/500 0:00:03 <0:01:10`; a no-op when disabled or total is 0.

    Only on a terminal: elsewhere (CI logs, pytest's capture) a transient bar shows nothing but leaves
    an empty line behind.
    """
    if not enabled or total <= 0 or not _console.is_terminal:
        yield _Bar(None, None)
        return
    progress = Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        console=_console,
        transient=True,
    )
    with progress:
        task = progress.add_task(description, total=total, info="")
        yield _Bar(progress, task)


def message(text: str) -> None:
    """One status line on stderr."""
    _console.print(text, highlight=False, markup=False, soft_wrap=True)  # paths stay whole in CI logs
