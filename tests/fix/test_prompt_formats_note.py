"""fix does not apply models' prompt formats yet, and says so when the configuration sets any."""

from __future__ import annotations

from pathlib import Path

import pytest

from muscle_guard.core.config import load_project_config
from muscle_guard.fix.notes import say_prompt_formats_are_not_used


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        ('[tool.muscle-guard]\nnew_prompt = "chat"\n', "new_prompt"),
        ('[tool.muscle-guard.pairs.p]\nold = "a"\nnew = "b"\nsuites = ["s"]\nold_prompt = "Q: {prompt}"\n',
         "p.old_prompt"),
        ("[tool.muscle-guard]\nmax_nfr = 0.1\n", None),
    ],
)  # fmt: skip
def test_a_configured_prompt_format_is_named_in_one_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, named: str | None
) -> None:
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")

    say_prompt_formats_are_not_used(load_project_config(tmp_path / "pyproject.toml"))

    err = capsys.readouterr().err
    if named is None:
        assert err == ""
    else:
        assert f"without the models' prompt formats ({named} in pyproject.toml)" in err
