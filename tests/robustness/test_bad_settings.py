"""Catalogue: bad settings in pyproject.toml and bad command-line values.

A bad setting stops the run before any model loads: pytest exits 4 (usage error) with one `ERROR:` line,
the CLI prints one `Error:` line and exits 2 (`validate` lists it and exits 1), and nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from tests.robustness.conftest import assert_no_traceback, muscle_guard_process

if TYPE_CHECKING:
    from tests.robustness.conftest import Project

TABLE = "[tool.muscle-guard]"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
KNOWN_SETTINGS = (
    "alpha, epsilon, labels, log_filter, log_metric, max_negative_flips, max_new_tokens, max_nfr, mc_norm, "
    "min_accuracy_delta, normaliser, not_enough_data, prompt_template, scorer, stop"
)


@dataclass(frozen=True)
class Case:
    pyproject: str
    message: str  # `{pp}` stands for the pyproject path as each front end shows it


PYPROJECT: dict[str, Case] = {
    "fraction out of range": Case(
        f"{TABLE}\nmax_nfr = 2\n", f"{{pp}} {TABLE}: max_nfr = 2 is invalid; expected a fraction between 0 and 1"
    ),
    "text where a number belongs": Case(
        f'{TABLE}\nmax-nfr = "lots"\n',
        f"{{pp}} {TABLE}: max-nfr = 'lots' is a string; expected a number; write it without quotes",
    ),
    # One TOML type per key: nothing is converted, so nothing is silently read as something else.
    "a number in quotes": Case(
        '[tool.muscle-guard.suites.capitals]\nmax_nfr = "0.6"\n',
        "{pp} [tool.muscle-guard.suites.capitals]: max_nfr = '0.6' is a string; expected a number; "
        "write it without quotes",
    ),
    "labels as one string": Case(
        f'{TABLE}\nlabels = "neg,pos"\n',
        f"""{{pp}} {TABLE}: labels = 'neg,pos' is a string; expected a list of strings; write labels = ["neg", "pos"]""",
    ),
    "stop as one string": Case(
        f'{TABLE}\nstop = "###"\n',
        f"""{{pp}} {TABLE}: stop = '###' is a string; expected a list of strings; write stop = ["###"]""",
    ),
    "labels that are numbers": Case(
        f"{TABLE}\nlabels = [0, 1]\n", f"{{pp}} {TABLE}: labels = [0, 1] is an array; expected a list of strings"
    ),
    "whole number as a float": Case(
        f"{TABLE}\nmax_new_tokens = 32.0\n",
        f"{{pp}} {TABLE}: max_new_tokens = 32.0 is a float; expected a whole number",
    ),
    "flip count in quotes": Case(
        f'{TABLE}\nmax_negative_flips = "3"\n',
        f"{{pp}} {TABLE}: max_negative_flips = '3' is a string; expected a whole number or 'none'; "
        "write it without quotes",
    ),
    "a boolean where a number belongs": Case(
        f"{TABLE}\nepsilon = true\n", f"{{pp}} {TABLE}: epsilon = True is a boolean; expected a number"
    ),
    "scorer that is a number": Case(
        f"{TABLE}\nscorer = 1\n", f"{{pp}} {TABLE}: scorer = 1 is an integer; expected a string"
    ),
    "a switch in quotes": Case(
        f'{TABLE}\ntrust_remote_code = "false"\n',
        f"{{pp}} {TABLE}: trust_remote_code = 'false' is a string; expected true or false; write it without quotes",
    ),
    "allow_pickle as a number": Case(
        f"{TABLE}\nallow_pickle = 0\n", f"{{pp}} {TABLE}: allow_pickle = 0 is an integer; expected true or false"
    ),
    "batch size in quotes": Case(
        f'{TABLE}\nbatch_size = "8"\n',
        f"{{pp}} {TABLE}: batch_size = '8' is a string; expected a whole number or 'auto'; write it without quotes",
    ),
    "suites as a number": Case(
        f"{TABLE}\nsuites = 3\n", f"{{pp}} {TABLE}: suites = 3 is an integer; expected a string or a list of strings"
    ),
    "a model path that is a table": Case(
        f"{TABLE}\nold = {{ path = 'x' }}\n", f"{{pp}} {TABLE}: old = {{'path': 'x'}} is a table; expected a string"
    ),
    "not a number (nan)": Case(f"{TABLE}\nalpha = nan\n", f"{{pp}} {TABLE}: alpha = nan is invalid; expected a number"),
    "zero new tokens": Case(
        f"{TABLE}\nmax_new_tokens = 0\n",
        f"{{pp}} {TABLE}: max_new_tokens = 0 is invalid; expected a whole number >= 1",
    ),
    "stop that is not text": Case(
        f"{TABLE}\nstop = 3\n", f"{{pp}} {TABLE}: stop = 3 is an integer; expected a list of strings"
    ),
    "unknown choice": Case(
        f'{TABLE}\nmc_norm = "best"\n', f"{{pp}} {TABLE}: mc_norm = 'best' is invalid; expected one of acc, acc_norm"
    ),
    "template without {prompt}": Case(
        '[tool.muscle-guard.suites.capitals]\nprompt_template = "Q: {question}"\n',
        "{pp} [tool.muscle-guard.suites.capitals]: prompt_template = 'Q: {question}' is invalid; "
        "expected a string containing {prompt}",
    ),
    "misspelt key": Case(
        f"{TABLE}\nmax_nrf = 0.1\n",
        f"{{pp}} {TABLE}: unknown key 'max_nrf'; known: allow_pickle, alpha, batch_size, cache_dir, correction, "
        "device, dtype, epsilon, floor, labels, log_filter, log_metric, markdown, max_negative_flips, max_new_tokens, "
        "max_nfr, mc_norm, min_accuracy_delta, new, new_prompt, normaliser, not_enough_data, old, old_prompt, pairs, "
        "prompt_template, report, scorer, stop, suite_paths, suites, trust_remote_code, waivers",
    ),
    "misspelt key in a suite table": Case(
        "[tool.muscle-guard.suites.capitals]\nmax_nrf = 0.1\n",
        f"{{pp}} [tool.muscle-guard.suites.capitals]: unknown setting 'max_nrf'; known: {KNOWN_SETTINGS}",
    ),
    "model in a suite table": Case(
        '[tool.muscle-guard.suites.capitals]\nold = "models/a"\n',
        "{pp} [tool.muscle-guard.suites.capitals]: 'old' is not a suite setting; models are set per pair: "
        '[tool.muscle-guard.pairs.NAME] with old = ..., new = ... and suites = ["capitals"]',
    ),
    "pair without suites": Case(
        '[tool.muscle-guard.pairs.sentiment]\nold = "a"\nnew = "b"\n',
        "{pp} [tool.muscle-guard.pairs.sentiment]: suites is missing; a pair needs old, new and the suites it gates",
    ),
    "suite in two pairs": Case(
        '[tool.muscle-guard.pairs.a]\nold = "x"\nnew = "y"\nsuites = ["capitals"]\n'
        '[tool.muscle-guard.pairs.b]\nold = "x"\nnew = "z"\nsuites = ["capitals"]\n',
        "{pp} [tool.muscle-guard.pairs.b]: suite 'capitals' is also listed by pair 'a'; a suite is gated by one pair",
    ),
    "misspelt key in a pair": Case(
        '[tool.muscle-guard.pairs.a]\nold = "x"\nnwe = "y"\nsuites = ["capitals"]\n',
        "{pp} [tool.muscle-guard.pairs.a]: unknown key 'nwe'; a pair has old, new, suites, old_prompt, new_prompt",
    ),
    "table that is a value": Case('[tool]\nmuscle-guard = "strict"\n', f"{{pp}}: {TABLE} must be a table"),
    "invalid TOML": Case(
        f"{TABLE}\nmax_nfr = \n",
        "{pp}: not valid TOML (Invalid value (at line 2, column 11)); fix the file",
    ),
    # Issue #35: settings the gate used to accept and then judge wrongly, or never pass.
    "a label named twice": Case(
        f'{TABLE}\nlabels = ["neg", "neg"]\n',
        f"{{pp}} {TABLE}: labels = ['neg', 'neg'] is invalid; expected distinct label names (class 0 and class 1 "
        "are both 'neg')",
    ),
    "an empty label name": Case(
        f'{TABLE}\nlabels = ["neg", " "]\n',
        f"{{pp}} {TABLE}: labels = ['neg', ' '] is invalid; expected a list of non-empty label names",
    ),
    "an accuracy floor in points": Case(
        f"{TABLE}\nmin_accuracy_delta = 5\n",
        f"{{pp}} {TABLE}: min_accuracy_delta = 5 is invalid; expected a change of accuracy as a fraction between -1 "
        "and 1 (0.05 for 5 points)",
    ),
    "a misspelt normaliser": Case(
        '[tool.muscle-guard.suites.capitals]\nnormaliser = "final-number"\n',
        "{pp} [tool.muscle-guard.suites.capitals]: normaliser = 'final-number' is invalid; expected one of exact, "
        "lower, final_number",
    ),
    "a normaliser in another case": Case(
        f'{TABLE}\nnormaliser = "Lower"\n',
        f"{{pp}} {TABLE}: normaliser = 'Lower' is invalid; expected one of exact, lower, final_number",
    ),
    "an accuracy floor below -1": Case(
        "[tool.muscle-guard.suites.rivers]\nmin_accuracy_delta = -2\n",
        "{pp} [tool.muscle-guard.suites.rivers]: min_accuracy_delta = -2 is invalid; expected a change of accuracy as "
        "a fraction between -1 and 1 (-0.02 for -2 points)",
    ),
    "a scorer in capitals": Case(
        f'{TABLE}\nscorer = "ROUGE1"\n',
        f"{{pp}} {TABLE}: scorer = 'ROUGE1' is invalid; expected one of rouge1, rouge2, rougeL, exact",
    ),
    "a misspelt scorer": Case(
        f'{TABLE}\nscorer = "rouge-1"\n',
        f"{{pp}} {TABLE}: scorer = 'rouge-1' is invalid; expected one of rouge1, rouge2, rougeL, exact",
    ),
}
# pytest reads pyproject.toml itself (for its rootdir) before any plugin does, and reports its own line.
PYTEST_TOML_ERROR = "{pp}: Invalid value (at line 2, column 11)"


@pytest.mark.parametrize("name", list(PYPROJECT))
def test_pytest_stops_with_one_usage_error_line(project: Project, name: str) -> None:
    case = PYPROJECT[name]
    project.write("pyproject.toml", case.pyproject)

    run = project.pytest("--muscle-report=report.json")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    message = PYTEST_TOML_ERROR if name == "invalid TOML" else case.message
    pp = str(project.path / "pyproject.toml")
    assert [line for line in run.stderr.splitlines() if line.strip()] == ["ERROR: " + message.replace("{pp}", pp)]
    assert run.outcomes == {}
    assert not (project.path / "report.json").exists()
    assert_no_traceback(run.output)


@pytest.mark.parametrize("name", list(PYPROJECT))
def test_validate_names_the_setting_and_exits_1(project: Project, name: str) -> None:
    case = PYPROJECT[name]
    project.write("pyproject.toml", case.pyproject)

    result = project.cli("validate", "suites")

    assert result.exit_code == 1
    assert result.error_lines() == ["error " + case.message.replace("{pp}", "pyproject.toml")]
    assert_no_traceback(result.output)


@pytest.mark.parametrize("name", list(PYPROJECT))
def test_predict_stops_before_the_model_and_writes_nothing(project: Project, name: str) -> None:
    case = PYPROJECT[name]
    project.write("pyproject.toml", case.pyproject)
    before = project.files()

    result = project.cli("predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl")

    assert result.exit_code == 2
    assert result.error_lines() == ["Error: " + case.message.replace("{pp}", "pyproject.toml")]
    assert project.files() == before
    assert_no_traceback(result.output)


# --- command-line values -----------------------------------------------------------------------------------------


OPTIONS: dict[str, tuple[str, str]] = {
    "fraction out of range": (
        "--muscle-max-nfr=2",
        "--muscle-max-nfr: max_nfr = '2' is invalid; expected a fraction between 0 and 1",
    ),
    "negative count": (
        "--muscle-max-negative-flips=-1",
        "--muscle-max-negative-flips: max_negative_flips = '-1' is invalid; expected a whole number >= 0",
    ),
    "epsilon that is not a number": (
        "--muscle-epsilon=nan",
        "--muscle-epsilon: epsilon = 'nan' is invalid; expected a number",
    ),
    "zero significance level": (
        "--muscle-alpha=0",
        "--muscle-alpha: alpha = '0' is invalid; expected a significance level in (0, 1]",
    ),
    "zero batch size": ("--muscle-batch-size=0", "--muscle-batch-size='0': expected a whole number >= 1 or 'auto'"),
    "unknown device": (
        "--muscle-device=tpu",
        "--muscle-device='tpu': expected one of auto, map, cpu, cuda, mps or cuda:N",
    ),
    "unknown dtype": ("--muscle-dtype=int4", "--muscle-dtype='int4': expected one of auto, float32, bfloat16, float16"),
    "missing suite folder": (
        "--muscle-suites=suites,evals",
        "--muscle-suites: {root}/evals does not exist; pass suite files or directories",
    ),
}


@pytest.mark.parametrize("name", list(OPTIONS))
def test_a_bad_option_is_one_usage_error_line(project: Project, name: str) -> None:
    option, message = OPTIONS[name]

    run = project.pytest(option, "--muscle-report=report.json")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines == ["ERROR: " + message.replace("{root}", str(project.path))]
    assert run.outcomes == {}
    assert not (project.path / "report.json").exists()
    assert_no_traceback(run.output)


def test_one_model_without_the_other_is_a_usage_error(project: Project) -> None:
    run = project.pytest(new=None)

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in run.stderr.splitlines() if line.strip()] == [
        "ERROR: muscle-guard needs both models: --muscle-new is not set"
    ]


COMMANDS: dict[str, tuple[list[str], str]] = {
    "predict: zero batch size": (
        ["predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl", "--batch-size", "0"],
        "Invalid value for '--batch-size': Input should be greater than or equal to 1",
    ),
    "predict: text batch size": (
        ["predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl", "--batch-size", "many"],
        "Invalid value for '--batch-size': Input should be a valid integer, unable to parse string as an integer",
    ),
    "fix: zero epochs": (
        ["fix", "--old", "o", "--new", "n", "--train", "t.jsonl", "--out", "out", "--epochs", "0"],
        "Error: --epochs must be >= 1",
    ),
    "fix: validation fraction of 1": (
        ["fix", "--old", "o", "--new", "n", "--train", "t.jsonl", "--out", "out", "--val-fraction", "1"],
        "Error: --val-fraction must be in [0, 1)",
    ),
    "fix: unknown strategy": (
        ["fix", "--old", "o", "--new", "n", "--train", "t.jsonl", "--out", "out", "--strategy", "magic"],
        "Invalid value for '--strategy': Value error, 'magic' is not one of 'muscle', 'kd-old'",
    ),
    "check: text budget": (
        ["check", "--max-nfr", "lots"],
        "Invalid value for '--max-nfr': Input should be a valid number, unable to parse string as a number",
    ),
}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_a_bad_command_line_value_exits_2_naming_the_option(project: Project, name: str) -> None:
    args, message = COMMANDS[name]
    before = project.files()

    result = project.cli(*args)

    assert result.exit_code == 2
    assert message in " ".join(ANSI.sub("", result.stderr).replace("│", " ").split())
    assert project.files() == before
    assert_no_traceback(result.output)


def test_check_passes_a_bad_budget_to_pytest_as_a_usage_error(project: Project) -> None:
    result = muscle_guard_process(
        "check", "--old", "fake:models/old.json", "--new", "fake:models/new.json", "--max-nfr", "2", cwd=project.path
    )

    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "ERROR: --muscle-max-nfr: max_nfr = '2.0' is invalid; expected a fraction between 0 and 1"
    ]
    assert_no_traceback(result.stdout + result.stderr)
