"""Bad input stops the run with one clear line; a model that cannot be opened fails its suites' tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

BAD_VALUES = {
    "--muscle-max-nfr=2": "ERROR: --muscle-max-nfr: max_nfr = '2' is invalid; expected a fraction between 0 and 1",
    "--muscle-batch-size=0": "ERROR: --muscle-batch-size='0': expected a whole number >= 1 or 'auto'",
    "--muscle-device=tpu": "ERROR: --muscle-device='tpu': expected one of auto, map, cpu, cuda, mps or cuda:N",
    "--muscle-alpha=0": "ERROR: --muscle-alpha: alpha = '0' is invalid; expected a significance level in (0, 1]",
    "--muscle-dtype=int4": "ERROR: --muscle-dtype='int4': expected one of auto, float32, bfloat16, float16",
}


@pytest.mark.parametrize(("option", "message"), BAD_VALUES.items(), ids=BAD_VALUES.keys())
def test_a_bad_option_value_is_a_one_line_usage_error(
    project: Project, option: str, message: str, xdist_args: list[str]
) -> None:
    project.suite("capitals", paris="both_right")

    run = project.run(option, *xdist_args)

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in run.stderr.splitlines() if line.strip()] == [message]
    assert run.outcomes == {}


def test_a_bad_value_in_the_ini_file_names_the_option(project: Project) -> None:
    project.write("pytest.ini", "[pytest]\nmuscle_max_nfr = lots\n")
    project.suite("capitals", paris="both_right")

    run = project.run()

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "ERROR: --muscle-max-nfr: max_nfr = 'lots' is invalid; expected a number" in run.stderr


def test_a_suite_path_that_does_not_exist_is_a_usage_error(project: Project) -> None:
    project.suite("capitals", paris="both_right")

    run = project.run("--muscle-suites=suites,evals/")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: --muscle-suites: {project.path / 'evals'} does not exist" in run.stderr


def test_a_model_that_does_not_exist_is_one_usage_error_line(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", paris="both_right", rome="negative_flip")

    run = project.run("--muscle-new=./models/missing-adapter", *xdist_args)

    assert run.outcomes == {}  # found before any instance ran: not one failure per instance
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR")]
    assert errors == [
        "ERROR: --muscle-new: ./models/missing-adapter does not exist; "
        "pass a model or adapter directory, a baseline file or scheme:target"
    ]
    assert "Traceback" not in run.stdout


def test_a_muscle_guard_table_that_pytest_would_not_root_at_is_refused(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest roots at the first pyproject.toml with [tool.pytest.ini_options]; an inner one without it would have
    its [tool.muscle-guard] table ignored, and the gate would run with other settings, or not at all."""
    project.write("pyproject.toml", "[tool.pytest.ini_options]\naddopts = ''\n")
    inner = project.write("service/pyproject.toml", "[tool.muscle-guard]\nmax_nfr = 0.5\n")
    project.write_lines("service/suites/capitals.jsonl", [{"id": "paris", "text": "x", "label": 0}])
    monkeypatch.chdir(inner.parent)

    run = project.run(old=None, new=None)  # dormant: the table may be the only place the models are set

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{inner} has a [tool.muscle-guard] table, but pytest's rootdir is {project.path}" in run.stderr
    assert "add a [tool.pytest.ini_options] table" in run.stderr
    # Told where to root, or given tests elsewhere, pytest does not search from here: nothing is ignored.
    assert project.run(f"--rootdir={project.path}", old=None, new=None).ret != pytest.ExitCode.USAGE_ERROR
    project.write_lines("suites/capitals.jsonl", [{"id": "paris", "text": "x", "label": 0}])
    assert project.run(str(project.path / "suites"), old=None, new=None).ret != pytest.ExitCode.USAGE_ERROR
    project.write("service/pyproject.toml", "[tool.muscle-guard]\nmax_nfr = 0.5\n[tool.pytest.ini_options]\n")
    assert project.run(old=None, new=None).ret != pytest.ExitCode.USAGE_ERROR  # rooted there: read
