"""How every command reports our errors: `Error: ...` lines on stderr, the error's exit code, no traceback."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.cli.common import reported_errors
from muscle_guard.core.errors import ConfigError, MuscleGuardError, SuiteError


def invoke_raising(error: BaseException) -> tuple[int, str, str]:
    demo = typer.Typer()

    @demo.command()
    def fail() -> None:
        with reported_errors():
            raise error

    result = CliRunner().invoke(demo, [])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("error", "code", "stderr"),
    [
        (
            ConfigError("pyproject.toml [tool.muscle-guard]: max_nfr = 2 is invalid"),
            2,
            "Error: pyproject.toml [tool.muscle-guard]: max_nfr = 2 is invalid\n",
        ),
        (
            SuiteError(["a.jsonl:1: blank line", "a.jsonl:3: invalid JSON"]),
            1,
            "Error: a.jsonl:1: blank line\nError: a.jsonl:3: invalid JSON\n",
        ),
        (MuscleGuardError(), 2, "Error: MuscleGuardError\n"),
        (KeyboardInterrupt(), 130, "Interrupted.\n"),
    ],
    ids=["config error", "one line per suite problem", "no message", "ctrl-c"],
)
def test_errors_become_lines_and_exit_codes(error: BaseException, code: int, stderr: str) -> None:
    assert invoke_raising(error) == (code, "", stderr)


def test_other_exceptions_are_bugs_and_keep_their_traceback() -> None:
    code, _, _ = invoke_raising(RuntimeError("bug"))

    assert code == 1


def test_the_command_line_lists_validate() -> None:
    result = CliRunner().invoke(app, ["--help"])

    assert result.exit_code == 0
    assert "validate" in result.stdout
