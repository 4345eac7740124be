"""The terminal reporter: progress bars and status lines on stderr (rich), installed by the CLI and the plugin."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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

from muscle_guard.core import progress
from muscle_guard.core.progress import Ticker


class _Bar:
    def __init__(self, bar: Progress | None, task: TaskID | None) -> None:
        self._bar, self._task = bar, task

    def advance(self, n: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def note(self, text: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, info=text)


class ConsoleReporter:
    """Transient bars `description ━━━ 12/500 0:00:03 <0:01:10`, only on a terminal: elsewhere (CI logs,
    pytest's capture) a transient bar shows nothing but leaves an empty line behind. Messages always print."""

    def __init__(self) -> None:
        self._console = Console(stderr=True)

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Ticker]:
        if not self._console.is_terminal:
            yield _Bar(None, None)
            return
        bar = Progress(
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}", markup=False),
            console=self._console,
            transient=True,
        )
        with bar:
            yield _Bar(bar, bar.add_task(description, total=total, info=""))

    def message(self, text: str) -> None:
        self._console.print(text, highlight=False, markup=False, soft_wrap=True)  # paths stay whole in CI logs


def install_console() -> None:
    """Send the core's bars and messages to this terminal (idempotent)."""
    if not isinstance(progress._reporter, ConsoleReporter):
        progress.install(ConsoleReporter())
