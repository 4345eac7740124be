"""`muscle-guard check`: the pytest gate as one command; pytest's exit code and a JSON report for machines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.cli.conftest import MuscleGuard

MODELS = ("--old", "fake:models/old.json", "--new", "fake:models/new.json")

EXIT_CODES = {
    "within budget": (["--max-nfr", "0.5"], 0),
    "negative flip": ([], 1),
    "no new model": (["--new", ""], 4),
}


@pytest.mark.parametrize(("options", "code"), EXIT_CODES.values(), ids=EXIT_CODES.keys())
def test_the_exit_code_is_pytests(muscle_guard: MuscleGuard, options: list[str], code: int) -> None:
    result = muscle_guard("check", "suites", *MODELS, *options)

    assert result.returncode == code, result.stdout + result.stderr
    assert "warning" not in result.stdout  # in particular none about muscle_guard's own import


def test_a_negative_flip_is_shown_as_a_failing_test(muscle_guard: MuscleGuard) -> None:
    result = muscle_guard("check", "suites/capitals.jsonl", *MODELS)

    assert "FAILED suites/capitals.jsonl::rome - negative flip" in result.stdout
    assert "FAILED suites/capitals.jsonl::[gate] - suite capitals fails its gate" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_json_prints_the_report_alone_on_stdout(muscle_guard: MuscleGuard, workdir: Path) -> None:
    result = muscle_guard("check", "suites", *MODELS, "--json")

    report = json.loads(result.stdout)
    assert result.returncode == 1
    assert report["old"]["ref"] == "fake:old"
    assert report["new"]["ref"] == "fake:new"
    assert [(s["name"], s["verdict"]["passed"]) for s in report["suites"]] == [("capitals", False), ("rivers", True)]
    assert "FAILED suites/capitals.jsonl::rome" in result.stderr  # pytest's own output moves to stderr
    assert list(workdir.glob("*.json")) == []  # the temporary report is gone


def test_without_paths_only_the_suites_run_not_the_projects_tests(muscle_guard: MuscleGuard, workdir: Path) -> None:
    (workdir / "test_unit.py").write_text("def test_broken():\n    assert False\n", encoding="utf-8")

    result = muscle_guard("check", *MODELS, "--max-nfr", "0.5")

    assert result.returncode == 0, result.stdout
    assert "test_unit.py" not in result.stdout
    assert "5 passed, 1 xfailed" in result.stdout


def test_arguments_after_a_double_dash_go_to_pytest(muscle_guard: MuscleGuard) -> None:
    result = muscle_guard("check", "suites", *MODELS, "--", "-k", "paris or nile", "-q")

    assert result.returncode == 0, result.stdout
    assert "2 passed, 4 deselected" in result.stdout
