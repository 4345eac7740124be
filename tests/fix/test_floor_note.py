"""fix reads the noise floor (`muscle-guard floor`) and says, before it trains, when a --suite's budget is below it:
no fix gets under the noise of retraining the old adapter."""

from __future__ import annotations

from pathlib import Path

import pytest

from muscle_guard.core.config import load_project_config
from muscle_guard.core.floor import NoiseFloor, SuiteFloor, write_floor
from muscle_guard.core.suite import Instance, Shape, Suite
from muscle_guard.fix.notes import say_budgets_below_the_floor

SUITE = Suite(
    "sarcasm", Path("suites/sarcasm.jsonl"), Shape.CLASSIFY, (Instance("a", Shape.CLASSIFY, text="t", label=0),)
)


@pytest.mark.parametrize(
    ("toml", "floor_file", "warned"),
    [
        ("[tool.muscle-guard.suites.sarcasm]\nmax_nfr = 0.03\n", "muscle-floor.json", True),
        ("[tool.muscle-guard.suites.sarcasm]\nmax_nfr = 0.07\n", "muscle-floor.json", False),  # at or above
        ('[tool.muscle-guard]\nfloor = "noise.json"\nmax_nfr = 0.03\n', "noise.json", True),  # the `floor` key
        ("[tool.muscle-guard.suites.sarcasm]\nmax_nfr = 0.03\n", "elsewhere.json", False),  # no floor file found
    ],
)
def test_a_budget_below_the_floor_is_said_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], toml: str, floor_file: str, warned: bool
) -> None:
    (tmp_path / "pyproject.toml").write_text(toml, encoding="utf-8")
    write_floor(tmp_path / floor_file, NoiseFloor({"sarcasm": SuiteFloor(n=500, nf=31, pf=31)}))  # 6.2%

    say_budgets_below_the_floor(load_project_config(tmp_path / "pyproject.toml"), [SUITE], tmp_path)

    err = " ".join(capsys.readouterr().err.split())
    if warned:
        assert "warning: sarcasm: max_nfr 3.00% is below the noise floor 6.20%" in err
        assert f"({tmp_path / floor_file}); no fix gets under it" in err
    else:
        assert err == ""
