"""Catalogue: suites that load, under settings that would make the gate refuse them one instance at a time or,
worse, judge them silently wrong (issue #35). The guard is `core.checks`, and every front end applies it before
any model loads: `validate` lists the lines (exit 1), `predict` refuses and writes nothing (exit 1), pytest makes
the suite one collection error and runs the others.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.robustness.conftest import assert_no_traceback, passing

if TYPE_CHECKING:
    from tests.robustness.conftest import Project

BROKEN = "suites/broken.jsonl"
TABLE = "[tool.muscle-guard.suites.broken] in {pp}"


@dataclass(frozen=True)
class Case:
    lines: tuple[dict[str, object], ...]
    pyproject: str
    problems: tuple[str, ...]  # `{pp}` stands for the pyproject path as each front end shows it


def text(id_: str, label: object) -> dict[str, object]:
    return {"id": id_, "text": f"text {id_}", "label": label}


CASES: dict[str, Case] = {
    "final_number with an answer that holds no number": Case(
        ({"id": "a", "prompt": "Which fruit?", "answer": "grape"},),
        '[tool.muscle-guard.suites.broken]\nnormaliser = "final_number"\n',
        (
            f"{BROKEN}:1: answer 'grape' is empty under the 'final_number' normaliser (it holds no number), so every "
            "output that normalises to nothing would count as right; fix the answer or the normaliser",
        ),
    ),
    "an answer the lower normaliser empties": Case(
        ({"id": "a", "prompt": "2 + 2?", "answer": "4"}, {"id": "b", "prompt": "Punctuate.", "answer": "?!"}),
        '[tool.muscle-guard.suites.broken]\nnormaliser = "lower"\n',
        (
            f"{BROKEN}:2: answer '?!' is empty under the 'lower' normaliser, so every output that normalises to "
            "nothing would count as right; fix the answer or the normaliser",
        ),
    ),
    "string labels with no labels set": Case(
        (text("a", "rotten"), text("b", "fresh")),
        "",
        (
            f"{BROKEN}:1: label 'rotten' is not one of the labels (none are set); set labels = [...] in {TABLE}, "
            "or write the label as a class index",
            f"{BROKEN}:2: label 'fresh' is not one of the labels (none are set); set labels = [...] in {TABLE}, "
            "or write the label as a class index",
        ),
    ),
    "a label the table does not define": Case(
        (text("a", "rotten"), text("b", "Fresh")),
        '[tool.muscle-guard.suites.broken]\nlabels = ["rotten", "fresh"]\n',
        (
            f"{BROKEN}:2: label 'Fresh' is not one of the labels ('rotten', 'fresh'); set labels = [...] in "
            f"{TABLE}, or write the label as a class index",
        ),
    ),
    "a class index beyond the labels": Case(
        (text("a", 0), text("b", 2)),
        '[tool.muscle-guard.suites.broken]\nlabels = ["rotten", "fresh"]\n',
        (f"{BROKEN}:2: label 2 is out of range for the 2 labels set in {TABLE}",),
    ),
    "a line's own final_number with no number": Case(
        ({"id": "a", "prompt": "How many?", "answer": "n/a", "normaliser": "final_number"},),
        "",
        (
            f"{BROKEN}:1: answer 'n/a' is empty under the 'final_number' normaliser (it holds no number), so every "
            "output that normalises to nothing would count as right; fix the answer or the normaliser",
        ),
    ),
    "a label in another case than the table's": Case(
        (text("a", "neg"), text("b", "Neg"), text("c", "Neg")),
        '[tool.muscle-guard.suites.broken]\nlabels = ["neg", "pos"]\n',
        (
            f"{BROKEN}:2: label 'Neg' is not one of the labels ('neg', 'pos'); set labels = [...] in {TABLE}, or "
            "write the label as a class index (and 1 more line like it)",
        ),
    ),
    "every line with a label the table lacks, said once": Case(
        tuple(text(f"t{i}", "fresh") for i in range(300)),
        '[tool.muscle-guard.suites.broken]\nlabels = ["rotten"]\n',
        (
            f"{BROKEN}:1: label 'fresh' is not one of the labels ('rotten'); set labels = [...] in {TABLE}, or write "
            "the label as a class index (and 299 more lines like it)",
        ),
    ),
}
IDS = list(CASES)


def write(project: Project, case: Case) -> None:
    project.write_lines(BROKEN, list(case.lines))
    if case.pyproject:
        project.write("pyproject.toml", case.pyproject)


@pytest.mark.parametrize("name", IDS)
def test_validate_lists_what_the_gate_would_misjudge(project: Project, name: str) -> None:
    case = CASES[name]
    write(project, case)

    result = project.cli("validate", "suites")

    assert result.exit_code == 1
    assert result.error_lines() == [f"error {p.replace('{pp}', 'pyproject.toml')}" for p in case.problems]
    assert_no_traceback(result.output)


@pytest.mark.parametrize("name", IDS)
def test_predict_refuses_before_any_model_and_writes_nothing(project: Project, name: str) -> None:
    case = CASES[name]
    write(project, case)
    before = project.files()

    result = project.cli("predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl")

    assert result.exit_code == 1
    assert result.error_lines() == [f"Error: {p.replace('{pp}', 'pyproject.toml')}" for p in case.problems]
    assert_no_traceback(result.output)
    assert project.files() == before


@pytest.mark.parametrize("name", IDS)
def test_pytest_makes_it_one_collection_error_and_runs_the_other_suites(project: Project, name: str) -> None:
    case = CASES[name]
    write(project, case)

    run = project.pytest("--muscle-report=report.json")

    pp = str(project.path / "pyproject.toml") if case.pyproject else "pyproject.toml"  # the file to create
    assert run.collection_errors == {BROKEN: "\n".join(p.replace("{pp}", pp) for p in case.problems)}
    assert run.outcomes == passing("capitals", "rivers")
    assert_no_traceback(run.output)
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in report["suites"]] == ["capitals", "rivers"]
