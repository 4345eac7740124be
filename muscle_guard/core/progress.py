"""Progress and status lines as a port: the core says what is happening, the outer ring decides how it shows.

The core (prediction, the cache's lock waits) and the backends and fix call `progress_bar` and `message`;
they go to the installed `Reporter`. The CLI and the pytest plugin install the terminal one with bars
(muscle_guard.reports.console); a library user who installs none gets the messages as plain lines on stderr
and no bars.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol


class Ticker(Protocol):
    def advance(self, n: int = 1) -> None: ...

    def note(self, text: str) -> None: ...


class Reporter(Protocol):
    def bar(self, description: str, total: int) -> AbstractContextManager[Ticker]: ...

    def message(self, text: str) -> None: ...


class _Still:
    """A ticker that shows nothing."""

    def advance(self, n: int = 1) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class SilentReporter:
    def bar(self, description: str, total: int) -> AbstractContextManager[Ticker]:
        return nullcontext(_Still())

    def message(self, text: str) -> None:
        pass


class PlainReporter(SilentReporter):
    """Messages as plain lines on stderr, no bars: the default."""

    def message(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)


_reporter: Reporter = PlainReporter()


def install(reporter: Reporter) -> Reporter:
    """Make `reporter` receive every bar and message from now on; returns the one it replaces."""
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Ticker]:
    """A bar of `total` steps on the installed reporter; a no-op when disabled or when there is nothing to do."""
    if not enabled or total <= 0:
        yield _Still()
        return
    with _reporter.bar(description, total) as ticker:
        yield ticker


def message(text: str) -> None:
    """One status line on the installed reporter."""
    _reporter.message(text)
