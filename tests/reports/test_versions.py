"""`muscle-guard report v1.json v2.json v3.json`: successive versions, step by step, and who regressed where."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.core.report import RunReport
from muscle_guard.reports.versions import version_history

from .conftest import NEW, OLD, mc, run_report, suite_report

Save = Callable[..., Path]
runner = CliRunner()


def step(old: str, new: str, flips: list[str], *, other_suite: bool = True) -> RunReport:
    """One gate old → new: `flips` regress on the sarcasm suite; the rest of its five instances stay right."""
    outcomes = [mc(i, 0, 1 if i in flips else 0) for i in ("a", "b", "c", "d", "e")]
    suites = [suite_report(outcomes)]
    if other_suite:
        suites.append(suite_report([mc("r", 0, 0)], name="reviews"))
    return run_report(suites, old=replace(OLD, ref=old), new=replace(NEW, ref=new))


def three_steps() -> list[RunReport]:
    return [step("m1", "m2", ["a", "b"]), step("m2", "m3", ["b", "c"], other_suite=False), step("m3", "m4", [])]


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["report", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_the_history_names_versions_and_finds_instances_that_regress_again() -> None:
    history = version_history(three_steps())

    assert history.labels == ("v1", "v2", "v3", "v4")
    sarcasm, reviews = history.suites
    assert [row.regressed for row in sarcasm.steps] == [("a", "b"), ("b", "c"), ()]
    assert sarcasm.repeated == ("b",)
    assert [row.suite is None for row in reviews.steps] == [False, True, False]


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("terminal", ["3 steps", "v1 → v2: m1 -> m2", "│ v2 → v3", "b, c", "regressed at more than one step: b",
                      "(not in this report)"]),
        ("markdown", ["## muscle-guard: 3 steps", "- v2 → v3: `m2` → `m3`", "| v1 → v2 | 1.0000 | 0.6000 |",
                      "| a, b |", "Regressed at more than one step: b"]),
        ("html", ["muscle-guard: v1 → v2 → v3 → v4", "<svg", "accuracy (%)", "b, c", "Regressed at more than one step"]),
    ],
)  # fmt: skip
def test_three_reports_are_a_version_history_in_every_format(save: Save, fmt: str, expected: list[str]) -> None:
    paths = [save(report, f"v{i}.json") for i, report in enumerate(three_steps())]

    code, out, err = invoke(*paths, "--format", fmt)

    assert (code, err) == (0, "")
    for text in expected:
        assert text in out
    if fmt == "html":
        assert out.count("<svg") == 2  # one plot per suite


def test_two_reports_are_a_comparison_unless_asked_for_versions(save: Save) -> None:
    a, b = (save(report, f"v{i}.json") for i, report in enumerate(three_steps()[:2]))

    _, comparison, _ = invoke(a, b)
    _, versions, _ = invoke(a, b, "--versions")

    assert "new negative flips" in comparison.lower()
    assert "v1 → v2 → v3" not in comparison
    assert "2 steps" in versions
    assert "regressed at more than one step: b" in versions
