"""The terminal reporter: progress bars and status lines on stderr (rich), installed by the CLI and the plugin."""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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

PROGRESS_ENV = "MUSCLE_GUARD_PROGRESS_SECONDS"
DEFAULT_LOG_INTERVAL = 30.0


class _Bar:
    def __init__(self, bar: Progress | None, task: TaskID | None) -> None:
        self._bar, self._task = bar, task

    def advance(self, n: int = 1) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, n)

    def note(self, text: str) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, info=text)


class _LogBar:
    """A bar for logs (CI, a pipe, a file): one plain line every `every` seconds while work goes on, with steps
    done of total, elapsed time and an estimate of what is left, so a long epoch is never minutes of silence.
    Nothing is printed for work shorter than `every`."""

    def __init__(self, console: Console, description: str, total: int, every: float) -> None:
        self._console, self._description, self._total, self._every = console, description, total, every
        self._done, self._info = 0, ""
        self._start = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self._done += n
        now = time.monotonic()
        if now - self._last >= self._every and self._done < self._total:
            self._last = now
            self._console.print(self.line(now), highlight=False, markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self._info = text

    def line(self, now: float) -> str:
        elapsed = now - self._start
        left = elapsed / self._done * (self._total - self._done) if self._done else 0.0
        info = f" · {self._info}" if self._info else ""
        return (
            f"{self._description}: {self._done}/{self._total} ({self._done / self._total:.0%}) · "
            f"{_clock(elapsed)} elapsed · about {_clock(left)} left{info}"
        )


def _clock(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def log_interval() -> float:
    """Seconds between progress lines in a log: MUSCLE_GUARD_PROGRESS_SECONDS, default 30."""
    try:
        return max(0.0, float(os.environ.get(PROGRESS_ENV, DEFAULT_LOG_INTERVAL)))
    except ValueError:
        return DEFAULT_LOG_INTERVAL


class ConsoleReporter:
    """Transient bars `description ━━━ 12/500 0:00:03 <0:01:10` on a terminal; in a log (CI, a pipe, pytest's
    capture), where a transient bar shows nothing, a plain progress line every 30 seconds instead (_LogBar).
    Messages always print."""

    def __init__(self) -> None:
        self._console = Console(stderr=True)

    @contextmanager
    def bar(self, description: str, total: int) -> Iterator[Ticker]:
        if not self._console.is_terminal:
            yield _LogBar(self._console, description, total, log_interval())
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


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: Any = None
) -> None:
    """A library's warning as one `warning: ...` line, without Python's second line of source code
    (`warnings.warn(`), which means nothing to someone running a command."""
    text = " ".join(str(message).split())
    progress.message(f"warning: {text} ({category.__name__}, {Path(filename).parent.name}/{Path(filename).name})")


def install_warnings() -> None:
    """Show Python warnings of libraries (peft, transformers) as single readable lines on the console; peft's
    note that it cannot check a base's vocabulary when saving an adapter whose recorded base is elsewhere is
    silenced: fix saves only LoRA weights and heads, never embeddings."""
    warnings.showwarning = _one_line_warning
    warnings.filterwarnings("ignore", message="Could not find a config file in", category=UserWarning)
