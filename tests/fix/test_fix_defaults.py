"""`muscle-guard fix` with no tuning flags: the budget-aimed fix when a --suite sets a budget, one default ensemble
candidate when none does, a named --strategy trained as asked, and the schedule from the data and the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fix.conftest import Pair, RunCli


def no_flags(pair: Pair, run_cli: RunCli, tmp_path: Path, table: str, *extra: str) -> tuple[object, dict]:  # type: ignore[type-arg]
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(f"[tool.muscle-guard.suites.heldout]\n{table}\n", encoding="utf-8")
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(pair.old), "--new", str(pair.new), "--train", str(pair.train), "--out", str(out),
        "--suite", str(pair.heldout), "--pyproject", str(pyproject), "--no-check", *extra,
    )  # fmt: skip
    return result, json.loads((out / "muscle_fix.json").read_text())


def test_a_suite_with_a_budget_gets_the_budget_aimed_fix(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    result, record = no_flags(classifier_pair, run_cli, tmp_path, "max_nfr = 0.3")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    err = result.stderr  # type: ignore[attr-defined]
    assert f"fix: aiming at the flip budget of --suite {classifier_pair.heldout} (--aim budget, the default" in err
    assert "fix: strategy ensemble: the default, over the class logits of each instance" in err
    # The schedule follows the data (300 rows: 100 to validate, 200 to train) and the model (width 32).
    assert "fix: 200 training and 100 validation instances" in err
    assert "fix: schedule 10 epochs, lr 0.01, batch 13 × accumulation 1 (auto from 200 training rows" in err
    assert record["aim"]["budget"]["max_nfr"] == 0.3
    assert [p["label"] for p in record["aim"]["points"] if p["meets"] is not None] == ["w=0.75 ce=0.5", "w=0.9 ce=0.5"]
    assert record["config"]["select"] == "average"
    config = record["config"]
    assert (config["epochs"], config["lr"], config["batch_size"], config["val_fraction"]) == (10, 0.01, 13, 1 / 3)


def test_without_a_budget_one_default_candidate_is_trained_and_said_why(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    result, record = no_flags(classifier_pair, run_cli, tmp_path, 'labels = ["negative", "positive"]', "--epochs", "2")
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "no --suite sets a flip budget (max_nfr or max_negative_flips" in result.stderr  # type: ignore[attr-defined]
    assert "aim" not in record
    assert record["strategy"]["used"] == "ensemble"
    config = record["config"]
    assert (config["ensemble_weight"], config["ce_weight"], config["select"]) == (0.9, 0.5, "average")
    assert "set by you: --epochs" in result.stderr  # type: ignore[attr-defined]


def test_a_named_strategy_is_trained_as_asked_even_with_a_budget(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    result, record = no_flags(
        classifier_pair, run_cli, tmp_path, "max_nfr = 0.3", "--strategy", "muscle", "--epochs", "1"
    )
    assert result.exit_code == 0, result.stderr  # type: ignore[attr-defined]
    assert "aiming at" not in result.stderr  # type: ignore[attr-defined]
    assert (record["strategy"]["used"], record["config"]["select"]) == ("muscle", "val-loss")


def test_a_ci_log_shows_progress_inside_an_epoch(
    classifier_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # stdout and stderr are not terminals under CliRunner, as in CI: plain progress lines at a cadence (0 s here).
    from typer.testing import CliRunner

    from muscle_guard.cli import app

    monkeypatch.setenv("MUSCLE_GUARD_PROGRESS_SECONDS", "0")
    result = CliRunner().invoke(app, [
        "fix", "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(tmp_path / "out"), "--epochs", "1", "--strategy", "muscle", "--device", "cpu",
        "--pyproject", str(tmp_path / "none.toml"),
    ])  # fmt: skip
    assert result.exit_code == 0, result.stderr
    steps = [line for line in result.stderr.splitlines() if line.startswith("fix epoch 1/1: ")]
    assert len(steps) >= 5  # 200 rows in batches of 13: a line per batch at a 0 s cadence, the last one left out
    assert " elapsed · about " in steps[0]
    assert "left" in steps[-1]
    assert any(line.startswith("fix: old teacher: ") for line in result.stderr.splitlines())
