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


@pytest.mark.usefixtures("console")
def test_in_a_log_a_long_bar_prints_a_line_at_a_steady_cadence(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # stderr is not a terminal here, as in a CI log: steps done of total, elapsed, an estimate, the bar's note.
    import muscle_guard.reports.console as console

    clock = iter(float(t) for t in range(0, 1000, 10))  # each call: 10 s later
    monkeypatch.setattr(console.time, "monotonic", lambda: next(clock))
    monkeypatch.setenv("MUSCLE_GUARD_PROGRESS_SECONDS", "25")
    with progress_bar("fix epoch 2/6", 10) as bar:
        bar.note("loss 0.2345")
        for _ in range(10):
            bar.advance()

    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "fix epoch 2/6: 3/10 (30%) · 0:00:30 elapsed · about 0:01:10 left · loss 0.2345",
        "fix epoch 2/6: 6/10 (60%) · 0:01:00 elapsed · about 0:00:40 left · loss 0.2345",
        "fix epoch 2/6: 9/10 (90%) · 0:01:30 elapsed · about 0:00:10 left · loss 0.2345",
    ]


@pytest.mark.usefixtures("console")
def test_in_a_log_short_work_prints_no_progress_line(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("predict qa", 500) as bar:
        bar.advance(500)

    assert capsys.readouterr() == ("", "")


@pytest.mark.usefixtures("console")
def test_a_library_warning_is_one_line_and_peft_s_vocabulary_note_is_silenced(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import warnings

    from muscle_guard.reports.console import install_warnings

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        install_warnings()
        warnings.warn("Could not find a config file in bases/x - will assume that the vocabulary was not modified.", UserWarning, stacklevel=1)  # fmt: skip
        warnings.warn("`old_api` is deprecated,\n  use `new_api`", FutureWarning, stacklevel=1)

    lines = capsys.readouterr().err.splitlines()
    assert lines == ["warning: `old_api` is deprecated, use `new_api` (FutureWarning, unit/test_progress.py)"]
