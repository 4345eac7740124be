"""`muscle-guard predict`: one model's predictions as a baseline file, the same as the pytest plugin writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner, Result

from muscle_guard.cli import app

if TYPE_CHECKING:
    from tests.cli.conftest import MuscleGuard


def predict(*args: str) -> Result:
    return CliRunner().invoke(app, ["predict", *args])


def test_predict_writes_the_baseline_the_plugin_writes(muscle_guard: MuscleGuard, workdir: Path) -> None:
    models = ("--old", "fake:models/old.json", "--new", "fake:models/new.json")
    muscle_guard("check", "suites", *models, "--", "--muscle-update-baseline=from-plugin.jsonl")

    result = predict("fake:models/old.json", "suites", "-o", "predicted.jsonl", "--cache-dir", "fresh-cache")

    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "wrote predicted.jsonl: 4 predictions of 2 suite(s) by fake:old"
    assert result.stdout == ""
    predicted = (workdir / "predicted.jsonl").read_text(encoding="utf-8")
    assert predicted == (workdir / "from-plugin.jsonl").read_text(encoding="utf-8")


def test_the_baseline_stands_in_for_the_old_model(muscle_guard: MuscleGuard) -> None:
    predict("fake:models/old.json", "suites", "-o", "base.jsonl")

    result = muscle_guard("check", "suites", "--old", "base.jsonl", "--new", "fake:models/new.json")

    assert result.returncode == 1
    assert "FAILED suites/capitals.jsonl::rome - negative flip" in result.stdout


ERRORS = {
    "baseline as model": (
        ["base.jsonl", "suites", "-o", "again.jsonl"],
        2,
        "Error: MODEL: base.jsonl is already a baseline file; pass a model to predict with",
    ),
    "no suites": (
        ["fake:models/old.json", "models", "-o", "out.jsonl"],
        2,
        "Error: SUITES: models holds no .jsonl suite; pass suite files or directories that hold them",
    ),
    "missing model": (
        ["./nowhere", "suites", "-o", "out.jsonl"],
        2,
        "Error: MODEL: ./nowhere does not exist; pass a model or adapter directory, a baseline file or scheme:target",
    ),
}


@pytest.mark.parametrize(("args", "code", "message"), ERRORS.values(), ids=ERRORS.keys())
def test_bad_input_is_one_error_line_and_no_file(workdir: Path, args: list[str], code: int, message: str) -> None:
    predict("fake:models/old.json", "suites", "-o", "base.jsonl")

    result = predict(*args)

    assert result.exit_code == code
    assert result.stderr.strip() == message
    assert not (workdir / args[-1]).exists()


def test_a_broken_suite_is_named_with_its_line(workdir: Path) -> None:
    with (workdir / "suites" / "rivers.jsonl").open("a", encoding="utf-8") as suite:
        suite.write('{"id": "danube", "prompt": "Flows through Vienna?"}\n')

    result = predict("fake:models/old.json", "suites", "-o", "base.jsonl")

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: suites/rivers.jsonl:3: cannot tell the task shape: expected prompt+choices+answer, "
        "prompt+answer, prompt+reference or text+label"
    )
    assert not (workdir / "base.jsonl").exists()


def test_two_processes_write_the_same_baseline_as_one(muscle_guard: MuscleGuard, workdir: Path) -> None:
    predict("fake:models/old.json", "suites", "-o", "one.jsonl", "--cache-dir", "cache-one")

    result = muscle_guard(
        "predict",
        "fake:models/old.json",
        "suites",
        "-o",
        "two.jsonl",
        "--cache-dir",
        "cache-two",
        "--num-processes",
        "2",
    )

    assert result.returncode == 0, result.stderr
    assert "launching 2 processes" in result.stderr
    one = (workdir / "one.jsonl").read_text(encoding="utf-8").splitlines()
    two = (workdir / "two.jsonl").read_text(encoding="utf-8").splitlines()
    assert two[0] == one[0]  # the header: model and suites
    assert sorted(two[1:]) == sorted(one[1:])  # the predictions, in any order


def test_predict_pairs_writes_each_pairs_old_side_that_check_then_gates_with(
    muscle_guard: MuscleGuard, workdir: Path
) -> None:
    (workdir / "pyproject.toml").write_text(
        '[tool.muscle-guard.pairs.geo]\nold = "fake:models/old.json"\nnew = "fake:models/new.json"\n'
        'suites = ["capitals"]\n'
        '[tool.muscle-guard.pairs.water]\nold = "fake:models/new.json"\nnew = "fake:models/new.json"\n'
        'suites = ["rivers"]\n',
        encoding="utf-8",
    )

    result = predict("--pairs", "-o", "baselines")

    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (workdir / "baselines").iterdir()) == ["geo.jsonl", "water.jsonl"]
    assert "wrote baselines/geo.jsonl: 2 predictions of 1 suite(s) by fake:old" in result.stderr
    frozen = (
        (workdir / "pyproject.toml")
        .read_text(encoding="utf-8")
        .replace('old = "fake:models/old.json"', 'old = "baselines/geo.jsonl"')
    )
    (workdir / "pyproject.toml").write_text(frozen, encoding="utf-8")
    gate = muscle_guard("check")
    assert gate.returncode == 1
    assert "FAILED suites/capitals.jsonl::rome - negative flip" in gate.stdout


def test_predict_pairs_refuses_a_model_argument(workdir: Path) -> None:
    result = predict("--pairs", "fake:models/old.json", "-o", "baselines")

    assert result.exit_code == 2
    assert "--pairs takes the models and suites from pyproject.toml" in result.stderr
