"""Files a run writes for CI: a bounded Markdown summary and a baseline that stands in for the old model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

CAPITALS = {"paris": "negative_flip", "rome": "positive_flip", "berlin": "both_right", "madrid": "both_wrong"}


def test_markdown_summary_is_bounded(project: Project, xdist_args: list[str]) -> None:
    long_id = "x" * 200
    project.suite("capitals", **{f"city{i}": "negative_flip" for i in range(8)}, **{long_id: "negative_flip"})
    project.suite("rivers", nile="both_right")

    run = project.run("--muscle-markdown=out/summary.md", *xdist_args)

    markdown = (project.path / "out" / "summary.md").read_text(encoding="utf-8")
    lines = markdown.splitlines()
    assert lines[0] == "## muscle-guard: failed"
    assert "`fake:old` → `fake:new`" in lines
    rows = {line.split(" | ")[0]: line for line in lines if line.startswith("| ")}
    assert rows["| capitals"].endswith("| ❌ FAIL |")
    assert rows["| rivers"].endswith("| ✅ pass |")
    flips = [line for line in lines if line.startswith("| `capitals::")]
    assert len(flips) == 5  # the worst few of nine, not all of them
    assert max(len(cell) for line in lines for cell in line.split("|")) <= 90  # long ids are cut
    assert "muscle-guard wrote out/summary.md" in run.stdout


def test_a_baseline_replaces_the_old_model_with_the_same_outcomes(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)
    project.suite("rivers", nile="both_right", rhine="positive_flip")

    live = project.run("--muscle-update-baseline=base.jsonl", *xdist_args)
    (project.path / "models" / "old.json").unlink()  # CI never needs the old model again
    frozen = project.run(*xdist_args, old="base.jsonl")

    assert len(live.outcomes) == 8
    assert frozen.outcomes == live.outcomes
    header, *predictions = (project.path / "base.jsonl").read_text(encoding="utf-8").splitlines()
    assert json.loads(header)["model"]["ref"] == "fake:old"
    assert sorted(json.loads(header)["suites"]) == ["capitals", "rivers"]
    assert [json.loads(line)["p"]["id"] for line in predictions] == [
        "paris",
        "rome",
        "berlin",
        "madrid",
        "nile",
        "rhine",
    ]


def test_a_baseline_for_other_suites_fails_those_tests_with_one_line(project: Project) -> None:
    project.suite("capitals", **CAPITALS)
    project.run("--muscle-update-baseline=base.jsonl")
    project.suite("rivers", nile="both_right")

    run = project.run(old="base.jsonl")

    assert run.outcomes["suites/capitals.jsonl::paris"] == "failed"
    assert run.outcomes["suites/rivers.jsonl::nile"] == "failed"
    assert run.longrepr("suites/rivers.jsonl::nile") == (
        "base.jsonl: no predictions for suite 'rivers' (it has: capitals); "
        "regenerate it with `muscle-guard predict` or --muscle-update-baseline"
    )
    assert run.ret == pytest.ExitCode.TESTS_FAILED
