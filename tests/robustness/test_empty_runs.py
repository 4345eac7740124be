"""Catalogue: a run that would gate nothing says so, in one line, instead of "no tests ran" or a silent pass.

Every command that takes suites (pytest's `--muscle-suites`, `check`, `predict`, `validate`, `fix --suite`) is
given zero suites in each way a user can: a path that is not a `.jsonl` file, a directory without suites.
A run whose `[gate]` items were all deselected says why the requested report was not written.
"""

from __future__ import annotations

import pytest

from tests.robustness.conftest import Project, assert_no_traceback

NOT_A_SUITE = "s3/mc.json is not a suite: suites are .jsonl files (JSON Lines, one instance a line)"
NO_SUITES = "empty holds no .jsonl suite; pass suite files or directories that hold them"


def nothing_to_gate(project: Project) -> None:
    project.write("s3/mc.json", '{"id": "a", "prompt": "Is a right?", "choices": [" yes", " no"], "answer": 0}\n')
    (project.path / "empty").mkdir()
    (project.path / "empty/notes.txt").write_text("not a suite\n", encoding="utf-8")


@pytest.mark.parametrize(("value", "message"), [("s3/mc.json", NOT_A_SUITE), ("empty", NO_SUITES)])
def test_pytest_with_no_suite_to_gate_is_a_usage_error(project: Project, value: str, message: str) -> None:
    nothing_to_gate(project)

    run = project.pytest(f"--muscle-suites={value}", "--muscle-report=report.json")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    shown = message.replace(value, str(project.path / value), 1)
    assert [line for line in run.stderr.splitlines() if line.strip()] == [f"ERROR: --muscle-suites: {shown}"]
    assert not (project.path / "report.json").exists()
    assert_no_traceback(run.output)


@pytest.mark.parametrize(
    ("command", "code", "prefix"),
    [
        (["check", "--old", "fake:models/old.json", "--new", "fake:models/new.json"], 4, "PATHS"),
        (["predict", "fake:models/old.json", "-o", "baseline.jsonl"], 2, "SUITES"),
    ],
    ids=["check", "predict"],
)
@pytest.mark.parametrize(("path", "message"), [("s3/mc.json", NOT_A_SUITE), ("empty", NO_SUITES)])
def test_commands_with_no_suite_stop_with_one_line(
    project: Project, command: list[str], code: int, prefix: str, path: str, message: str
) -> None:
    nothing_to_gate(project)
    before = project.files()
    where = 2 if command[0] == "predict" else len(command)

    result = project.cli(*command[:where], path, *command[where:])

    assert result.exit_code == code, result.output
    assert result.error_lines() == [f"Error: {prefix}: {message}"]
    assert project.files() == before
    assert_no_traceback(result.output)


def test_check_with_no_configured_suites_says_where_it_looked(project: Project) -> None:
    project.write("pyproject.toml", '[tool.muscle-guard]\nsuites = "gates"\n')

    result = project.cli("check", "--old", "fake:models/old.json", "--new", "fake:models/new.json")

    assert result.exit_code == 4
    assert result.error_lines() == ["Error: suites: gates does not exist; pass suite files or directories"]


def test_validate_names_a_file_that_is_not_a_suite(project: Project) -> None:
    nothing_to_gate(project)

    result = project.cli("validate", "s3/mc.json")

    assert result.exit_code == 1
    assert result.error_lines() == [f"error {NOT_A_SUITE}"]


@pytest.mark.parametrize(
    ("option", "shown"),
    [("--muscle-report=r.json", "--muscle-report r.json"), ("--muscle-markdown=s.md", "--muscle-markdown s.md")],
)
def test_deselecting_every_gate_says_why_the_report_is_missing(project: Project, option: str, shown: str) -> None:
    run = project.pytest(option, "-k", "not gate")

    assert run.ret == pytest.ExitCode.OK
    assert (
        f"muscle-guard: {shown} was not written: no [gate] item ran (deselected by -k/-m, or stopped before it); "
        "select the suites' [gate] items to gate and report them"
    ) in run.stdout
    assert not (project.path / shown.split()[1]).exists()


def test_check_takes_a_suite_named_after_a_pytest_option(project: Project) -> None:
    result = project.cli(
        "check", "--old", "fake:models/old.json", "--new", "fake:models/new.json", "--", "-x",
        "suites/capitals.jsonl", "--muscle-report=r.json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    report = (project.path / "r.json").read_text(encoding="utf-8")
    assert '"capitals"' in report
    assert '"rivers"' not in report  # only the suite named, not every configured one
