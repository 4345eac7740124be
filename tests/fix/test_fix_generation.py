"""`fix` with no flags on a generation suite (exact match): the tiny sentiment update written as the label word.

The old and new adapters write " positive" / " negative" after the prompt (muscle_guard.testing.sentiment's
generation pair: the same texts and regression as the classifier pair). Before the answer-only loss and the
target delimiter, the default's candidates forgot the task (validation accuracy 79% → 3–51%) and nothing was
shipped; bench/no_flags.py --tasks tiny_gen measures the effect over seeds (docs/BENCHMARKS.md, "No flags").
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muscle_guard.fix.strategies import TOKEN_LEVEL, Strategy
from muscle_guard.testing.sentiment import GENERATION_SETTINGS, GenerationPair, build_generation_pair

from .conftest import RunCli


@pytest.fixture(scope="module")
def generation_pair(tmp_path_factory: pytest.TempPathFactory) -> GenerationPair:
    return build_generation_pair(tmp_path_factory.mktemp("fix-gen"), seed=0)


def test_only_the_papers_muscle_distils_every_prompt_token() -> None:
    assert Strategy.MUSCLE.every_position
    assert not any(s.every_position for s in TOKEN_LEVEL if s is not Strategy.MUSCLE)
    assert not Strategy.CE.every_position


def test_the_default_fix_ships_a_model_that_keeps_the_answer_on_a_generation_suite(
    generation_pair: GenerationPair, run_cli: RunCli, tmp_path: Path
) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.muscle-guard.suites.tiny_gen]\n{GENERATION_SETTINGS}max_nfr = 0.10\n")
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(generation_pair.old), "--new", str(generation_pair.new), "--train", str(generation_pair.train),
        "--out", str(out), "--suite", str(generation_pair.heldout), "--pyproject", str(pyproject),
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout + result.stderr
    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["shipped"] is not None
    (row,) = json.loads((out / "fix_report.json").read_text())["fix"]["suites"]
    assert row["nf"] > 0  # a real regression to fix
    assert row["nf_c"] < row["nf"]
    assert row["acc_fixed"] >= row["acc_new"] - 0.02  # the student did not forget the task
