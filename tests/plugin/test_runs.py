"""Whole runs: xdist changes nothing but speed, models run once per suite, pytest's selection tools work."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Project, Run

TITLE = "muscle-guard: fake:old -> fake:new"


def two_suites(project: Project) -> None:
    """Two suites of twelve instances, so that both xdist workers get instances of each."""
    project.suite(
        "capitals",
        **{f"capital{i}": ("negative_flip" if i % 4 == 0 else "both_right") for i in range(12)},
    )
    project.suite("rivers", **{f"river{i}": ("positive_flip" if i % 3 else "both_wrong") for i in range(12)})


def report_json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["created_at"]
    return data


def test_xdist_gives_the_same_outcomes_summary_and_report(project: Project) -> None:
    two_suites(project)

    serial = project.run("--muscle-report=report.json")
    serial_report = report_json(project.path / "report.json")
    parallel = project.run("-n", "2", "--muscle-report=report.json")

    assert len(serial.outcomes) == 26
    assert parallel.outcomes == serial.outcomes
    assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
    assert report_json(project.path / "report.json") == serial_report
    assert summary(parallel) == summary(serial)


def summary(run: Run) -> str:
    """The muscle-guard section of the terminal output."""
    return run.stdout.split("= muscle-guard =")[1].split("short test summary info")[0]


def test_each_model_predicts_each_suite_once_however_many_workers(project: Project, xdist_args: list[str]) -> None:
    two_suites(project)

    run = project.run(*xdist_args)

    # The cache holds one file per (model, suite), one line per prediction the model computed: twelve
    # lines each means no instance was predicted twice, although every worker evaluates whole suites.
    cache_files = sorted((project.path / ".muscle-cache" / "predictions").rglob("*.jsonl"))
    assert len(cache_files) == 4
    assert [len(path.read_text(encoding="utf-8").splitlines()) for path in cache_files] == [12, 12, 12, 12]
    if xdist_args:
        workers = {run.report(f"suites/capitals.jsonl::capital{i}").node.gateway.id for i in range(12)}
        assert workers == {"gw0", "gw1"}  # both workers needed the suite's predictions


def test_the_summary_is_printed_once_with_the_worst_negative_flips(project: Project, xdist_args: list[str]) -> None:
    two_suites(project)

    run = project.run(*xdist_args)

    assert run.stdout.count(TITLE) == 1
    table = run.stdout.split(TITLE)[1].split("\ncompatibility")[0].splitlines()
    rows = {line.split("│")[1].strip(): line for line in table if line.startswith("│")}
    assert [cell.strip() for cell in rows["capitals"].split("│")[2:-1]] == [
        "12",
        "1.0000",
        "0.7500",
        "-0.2500 (-53.2, +4.1)",  # the old and the new model on the same 12: a paired 95% interval
        "3",
        "25.00% (8.9–53.2)",  # Wilson 95%
        "0",
        "0.00%",
        "25.00%",
        "0.125",
        "FAIL",
    ]
    assert rows["rivers"].split("│")[-2].strip() == "pass"
    compatibility = run.stdout.split("\ncompatibility")[1].split("worst negative flips")[0].splitlines()
    ratios = [[cell.strip() for cell in line.split("│")[1:-1]] for line in compatibility if line.startswith("│")]
    # capitals: 9 of the 12 old right stay right, its 3 new errors are all flips; rivers: the old model is
    # never right (BTC undefined), its 4 new errors are old errors.
    assert {row[0]: row[1:] for row in ratios} == {
        "capitals": ["75.00%", "0.00%", "100.00%"],
        "rivers": ["-", "100.00%", "0.00%"],
    }
    worst = run.stdout.split("worst negative flips")[1]
    for i in (0, 4, 8):
        assert f"suites/capitals.jsonl::capital{i} " in worst


def test_k_selects_instances_by_id(project: Project, xdist_args: list[str]) -> None:
    two_suites(project)

    run = project.run("-k", "capital4 or river1", *xdist_args)

    assert run.outcomes == {
        "suites/capitals.jsonl::capital4": "failed",
        "suites/rivers.jsonl::river1": "passed",
        # river1 selects river10 and river11 too: -k matches substrings
        "suites/rivers.jsonl::river10": "passed",
        "suites/rivers.jsonl::river11": "passed",
    }


def test_last_failed_reruns_only_the_failures(project: Project, xdist_args: list[str]) -> None:
    two_suites(project)
    project.run(*xdist_args)

    rerun = project.run("--lf", *xdist_args)

    assert rerun.outcomes == {
        "suites/capitals.jsonl::capital0": "failed",
        "suites/capitals.jsonl::capital4": "failed",
        "suites/capitals.jsonl::capital8": "failed",
        "suites/capitals.jsonl::[gate]": "failed",
    }


def test_a_log_gets_the_whole_summary_table_not_80_columns(project: Project) -> None:
    # pytest writes to a pipe here (as in CI), where it assumes 80 columns: the table must not be cut to fit.
    project.suite("a_suite_with_a_rather_long_descriptive_name", **{f"x{i}": "negative_flip" for i in range(3)})

    run = project.run()

    assert "│ a_suite_with_a_rather_long_descriptive_name │" in run.stdout
    assert "…" not in summary(run)
