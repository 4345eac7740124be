"""The statistics a reviewer reads in a run's summary: many suites corrected as one family of tests, a suite too
small to decide its budget said out loud, and the noise floor beside NFR (docs/statistics.md)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from muscle_guard.core.floor import NoiseFloor, SuiteFloor, write_floor

if TYPE_CHECKING:
    from tests.plugin.conftest import Project


def twenty_suites(project: Project) -> None:
    """s00 loses 8 instances and gains 1 (one-sided McNemar p = 10/512 = 0.0195); s01..s19 lose 1 and gain 1."""
    project.suite("s00", **{f"a{i}": "negative_flip" for i in range(8)}, b0="positive_flip", c0="both_right")
    for k in range(1, 20):
        project.suite(f"s{k:02d}", **{f"a{k}": "negative_flip", f"b{k}": "positive_flip", f"c{k}": "both_right"})


def test_alpha_over_twenty_suites_is_corrected_as_one_family(project: Project, xdist_args: list[str]) -> None:
    twenty_suites(project)

    run = project.run("--muscle-alpha=0.05", *xdist_args)

    assert run.ret == pytest.ExitCode.OK  # p = 0.0195 is one of 20 tests: Holm makes it 0.39
    assert run.outcomes["suites/s00.jsonl::a0"] == "xfailed"
    assert "McNemar p=0.0195, Holm-adjusted over 20 tests p=0.391 >= alpha 0.05" in run.longrepr("suites/s00.jsonl::a0")
    assert (
        "alpha: Holm's correction over 20 McNemar tests (every gated suite with alpha) decides the verdicts; "
        "McNemar p raw → adjusted: s00 0.0195 → 0.391" in run.words
    )


def test_without_correction_the_same_noise_fails_and_the_summary_says_how_often_it_would(
    project: Project, xdist_args: list[str]
) -> None:
    twenty_suites(project)

    run = project.run("--muscle-alpha=0.05", "--muscle-correction=none", *xdist_args)

    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert run.outcomes["suites/s00.jsonl::[gate]"] == "failed"
    assert "noise alone fails one of them up to 64% of the time" in run.words


def test_benjamini_hochberg_is_named_in_the_report(project: Project) -> None:
    twenty_suites(project)

    run = project.run("--muscle-alpha=0.05", "--muscle-correction=bh", "--muscle-report=run.json")

    assert "alpha: Benjamini–Hochberg's correction over 20 McNemar tests" in run.words
    suites = json.loads((project.path / "run.json").read_text(encoding="utf-8"))["suites"]
    s00 = next(s for s in suites if s["name"] == "s00")
    assert s00["verdict"]["adjustment"] == {"method": "bh", "tests": 20, "p": 0.390625, "raw": 10 / 512}


def test_a_single_suite_with_alpha_is_not_a_family(project: Project) -> None:
    project.suite("s00", **{f"a{i}": "negative_flip" for i in range(8)}, b0="positive_flip")

    run = project.run("--muscle-alpha=0.05")

    assert run.ret == pytest.ExitCode.TESTS_FAILED  # its own p decides: 0.0195 < 0.05
    assert "correction" not in run.words


def small_suite(project: Project) -> None:
    """40 instances, 3 negative flips: NFR 7.5%, 95% interval 2.6–19.9%."""
    project.suite("small", **{f"f{i}": "negative_flip" for i in range(3)}, **{f"r{i}": "both_right" for i in range(37)})


def test_a_suite_too_small_for_its_budget_says_not_enough_data(project: Project, xdist_args: list[str]) -> None:
    small_suite(project)

    run = project.run("--muscle-max-nfr=0.05", "--muscle-report=run.json", *xdist_args)

    assert run.ret == pytest.ExitCode.TESTS_FAILED  # the default keeps the budget's verdict, marked
    assert "FAIL ?" in run.words
    assert (
        "small: not enough data: NFR 7.50% (3/40) has a 95% interval of 2.58%–19.86%, which holds max_nfr 5.00% "
        "and reaches past half or twice it (about 153 instances decide an NFR right at the budget)"
    ) in run.words
    verdict = json.loads((project.path / "run.json").read_text(encoding="utf-8"))["suites"][0]["verdict"]
    assert verdict["undecided"].startswith("not enough data: NFR 7.50% (3/40)")


@pytest.mark.parametrize(
    ("policy", "exit_code"), [("pass", pytest.ExitCode.OK), ("fail", pytest.ExitCode.TESTS_FAILED)]
)
def test_the_not_enough_data_setting_decides_what_an_undecidable_suite_does(
    project: Project, policy: str, exit_code: pytest.ExitCode
) -> None:
    small_suite(project)
    project.write("pyproject.toml", f'[tool.muscle-guard]\nmax_nfr = 0.05\nnot_enough_data = "{policy}"\n')

    run = project.run()

    assert run.ret == exit_code
    if policy == "pass":
        assert run.outcomes["suites/small.jsonl::f0"] == "xfailed"
        assert "but tolerated: not enough data" in run.longrepr("suites/small.jsonl::f0")


def test_a_large_suite_decides_the_same_rate(project: Project) -> None:
    flips = {f"f{i}": "negative_flip" for i in range(30)}
    project.suite("large", **flips, **{f"r{i}": "both_right" for i in range(370)})  # 7.5% of 400: 5.3–10.5%

    run = project.run("--muscle-max-nfr=0.05")

    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert "not enough data" not in run.words


def test_the_noise_floor_sits_beside_nfr_and_warns_of_a_budget_below_it(project: Project) -> None:
    project.suite("capitals", paris="negative_flip", rome="both_right", berlin="both_right", oslo="both_right")
    write_floor(project.path / "muscle-floor.json", NoiseFloor({"capitals": SuiteFloor(n=400, nf=36, pf=44)}))

    run = project.run("--muscle-max-nfr=0.05", "--muscle-report=run.json")

    header = next(line for line in run.stdout.splitlines() if "┃ suite" in line)
    assert [cell.strip() for cell in header.split("┃")][-3:-1] == ["floor", "gate"]
    assert "10.00%" in run.stdout
    assert (
        "capitals: max_nfr 5.00% is below the noise floor 10.00% (two trainings of the old adapter flip that often), "
        "so training noise alone can fail it" in run.words
    )
    assert json.loads((project.path / "run.json").read_text(encoding="utf-8"))["suites"][0]["floor"] == 0.1


def test_a_broken_floor_file_is_one_usage_error(project: Project) -> None:
    project.suite("capitals", paris="negative_flip")
    project.write("muscle-floor.json", "{not json")

    run = project.run()

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1
    assert "muscle-floor.json: cannot read the floor file" in errors[0]
    assert "muscle-guard floor OLD OLD-RESEEDED" in errors[0]
