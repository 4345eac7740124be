"""Progress bars and status lines: on stderr only, silent when disabled."""

from __future__ import annotations

import pytest

from muscle_guard.progress import message, progress_bar


@pytest.mark.parametrize(("enabled", "total"), [(False, 10), (True, 0)], ids=["disabled", "nothing to do"])
def test_a_bar_with_nothing_to_show_prints_nothing(
    capsys: pytest.CaptureFixture[str], enabled: bool, total: int
) -> None:
    with progress_bar("predict qa", total, enabled) as bar:
        bar.advance(3)
        bar.note("batch 8")

    assert capsys.readouterr() == ("", "")


def test_a_bar_never_writes_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with progress_bar("predict qa", 2) as bar:
        bar.advance(2)

    assert capsys.readouterr().out == ""


def test_a_message_is_one_whole_line_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    text = "waiting for another process predicting qa (" + "/very/long/cache/path" * 10 + ") [tool.muscle-guard]"

    message(text)

    assert capsys.readouterr() == ("", text + "\n")
