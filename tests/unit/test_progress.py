"""Progress bars and status lines: the core reports to whatever reporter is installed, the terminal one on
stderr only, and nothing at all when none is installed or a bar is disabled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from muscle_guard.core import progress
from muscle_guard.core.progress import PlainReporter, SilentReporter, message, progress_bar
from muscle_guard.reports.console import ConsoleReporter


@pytest.fixture
def console() -> Iterator[None]:
    previous = progress.install(ConsoleReporter())
    yield
    progress.install(previous)


@pytest.fixture
def silent() -> Iterator[None]:
    previous = progress.install(SilentReporter())
    yield
    progress.install(previous)


@pytest.mark.usefixtures("console")
@pytest.mark.parametrize(("enabled", "total"), [(False, 10), (True, 0)], ids=["disabled", "nothing to do"])
def test_a_bar_with_nothing_to_show_prints_nothing(
    capsys: pytest.CaptureFixture[str], enabled: bool, total: int
) -> None:
    with progress_bar("predict qa", total, enabled) as bar:
        bar.advance(3)
        bar.note("batch 8")

    assert capsys.readouterr() == ("", "")


@pytest.mark.usefixtures("console")
def test_a_bar_never_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("predict qa", 2) as bar:
        bar.advance(2)

    assert capsys.readouterr().out == ""


@pytest.mark.usefixtures("console")
def test_a_message_is_one_whole_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    text = "waiting for another process predicting qa (" + "/very/long/cache/path" * 10 + ") [tool.muscle-guard]"

    message(text)

    assert capsys.readouterr() == ("", text + "\n")


@pytest.mark.usefixtures("silent")
def test_a_silent_reporter_says_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("predict qa", 2) as bar:
        bar.advance(2)
    message("waiting for another process")

    assert capsys.readouterr() == ("", "")


def test_without_a_terminal_reporter_messages_are_plain_lines_and_there_are_no_bars(
    capsys: pytest.CaptureFixture[str],
) -> None:
    previous = progress.install(PlainReporter())
    try:
        with progress_bar("predict qa", 2) as bar:
            bar.advance(2)
        message("waiting for another process")
    finally:
        progress.install(previous)

    assert capsys.readouterr() == ("", "waiting for another process\n")


def test_a_reporter_receives_what_the_core_reports() -> None:
    seen: list[str] = []

    class Recorder(SilentReporter):
        def message(self, text: str) -> None:
            seen.append(text)

    previous = progress.install(Recorder())
    try:
        message("cache line skipped")
    finally:
        progress.install(previous)

    assert seen == ["cache line skipped"]
