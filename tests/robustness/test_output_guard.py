"""Catalogue: no command writes onto, or inside, one of its own inputs (`muscle_guard.core.outputs`).

Each output option is tried against each kind of input it could hit: the models, the suites (a suite file, or a
file that the next run would collect as a suite), the waivers, the configuration, the training data and the
reports. Every case is refused before anything is written, with one line naming both options, and the inputs
are left byte for byte as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from muscle_guard.testing import tiny_models as tm
from tests.robustness.conftest import Project, TinyModels, assert_no_traceback, passing


def snapshot(project: Project) -> dict[str, bytes]:
    return {f: (project.path / f).read_bytes() for f in sorted(project.files())}


def prepare(project: Project) -> None:
    project.write("pyproject.toml", "[tool.muscle-guard]\nmax_nfr = 0.5\n")
    project.write("waivers.toml", '[[waiver]]\nsuite = "capitals"\nid = "cap0"\nreason = "known"\n')


@dataclass(frozen=True)
class PytestCase:
    option: str  # the output option with its value
    message: str  # `{p}` stands for the project directory


P = "{p}"
PYTEST_CASES = {
    "baseline onto a suite": PytestCase(
        "--muscle-update-baseline=suites/capitals.jsonl",
        f"--muscle-update-baseline {P}/suites/capitals.jsonl is inside --muscle-suites {P}/suites: it would be "
        "collected as a suite on the next run; write it elsewhere",
    ),
    "baseline into the suites folder": PytestCase(
        "--muscle-update-baseline=suites/frozen/old.jsonl",
        f"--muscle-update-baseline {P}/suites/frozen/old.jsonl is inside --muscle-suites {P}/suites: it would be "
        "collected as a suite on the next run; write it elsewhere",
    ),
    "cache in the suites folder": PytestCase(
        "--muscle-cache-dir=suites/cache",
        f"--muscle-cache-dir {P}/suites/cache is inside --muscle-suites {P}/suites: it would be collected as a "
        "suite on the next run; write it elsewhere",
    ),
    "markdown onto a suite": PytestCase(
        "--muscle-markdown=suites/rivers.jsonl",
        f"--muscle-markdown {P}/suites/rivers.jsonl is inside --muscle-suites {P}/suites: it would be collected "
        "as a suite on the next run; write it elsewhere",
    ),
    "report onto the configuration": PytestCase(
        "--muscle-report=pyproject.toml",
        f"--muscle-report {P}/pyproject.toml is also pyproject.toml {P}/pyproject.toml; write it elsewhere, "
        "outputs never replace inputs",
    ),
    "report onto the new model": PytestCase(
        "--muscle-report=models/new.json",
        f"--muscle-report {P}/models/new.json is also --muscle-new models/new.json; write it elsewhere, outputs "
        "never replace inputs",
    ),
    "baseline onto the waivers": PytestCase(
        "--muscle-update-baseline=waivers.toml",
        f"--muscle-update-baseline {P}/waivers.toml is also --muscle-waivers {P}/waivers.toml; write it "
        "elsewhere, outputs never replace inputs",
    ),
    "markdown onto the old model": PytestCase(
        "--muscle-markdown=models/old.json",
        f"--muscle-markdown {P}/models/old.json is also --muscle-old models/old.json; write it elsewhere, outputs "
        "never replace inputs",
    ),
}


@pytest.mark.parametrize("name", list(PYTEST_CASES))
def test_pytest_refuses_an_output_on_an_input(project: Project, name: str) -> None:
    case = PYTEST_CASES[name]
    prepare(project)
    before = snapshot(project)

    run = project.pytest(case.option, "--muscle-waivers=waivers.toml")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in run.stderr.splitlines() if line.strip()]
    assert errors == ["ERROR: " + case.message.replace(P, str(project.path))]
    assert snapshot(project) == before
    assert_no_traceback(run.output)


@pytest.mark.parametrize(
    "option", ["--muscle-report=suites/report.json", "--muscle-cache-dir=suites/.cache", "--muscle-markdown=s.md"]
)
def test_outputs_that_nothing_collects_may_sit_beside_the_suites(project: Project, option: str) -> None:
    run = project.pytest(option)

    assert run.ret == pytest.ExitCode.OK, run.output
    assert run.outcomes == passing("capitals", "rivers")


@dataclass(frozen=True)
class CliCase:
    args: list[str]
    message: str


CLI_CASES = {
    "predict onto a suite file": CliCase(
        ["predict", "fake:models/old.json", "suites/capitals.jsonl", "-o", "suites/capitals.jsonl"],
        "-o suites/capitals.jsonl is also SUITES suites/capitals.jsonl; write it elsewhere, outputs never replace "
        "inputs",
    ),
    "predict into the suites folder": CliCase(
        ["predict", "fake:models/old.json", "suites", "-o", "suites/old-baseline.jsonl"],
        "-o suites/old-baseline.jsonl is inside SUITES suites: it would be collected as a suite on the next run; "
        "write it elsewhere",
    ),
    "predict onto the model": CliCase(
        ["predict", "fake:models/old.json", "suites", "-o", "models/old.json"],
        "-o models/old.json is also MODEL models/old.json; write it elsewhere, outputs never replace inputs",
    ),
    "predict onto the configuration": CliCase(
        ["predict", "fake:models/old.json", "suites", "-o", "pyproject.toml"],
        "-o pyproject.toml is also --pyproject pyproject.toml; write it elsewhere, outputs never replace inputs",
    ),
    "predict with its cache among the suites": CliCase(
        ["predict", "fake:models/old.json", "suites", "-o", "b.jsonl", "--cache-dir", "suites/cache"],
        "--cache-dir suites/cache is inside SUITES suites: it would be collected as a suite on the next run; write "
        "it elsewhere",
    ),
    "report onto the run it renders": CliCase(
        ["report", "run.json", "-o", "run.json"],
        "-o run.json is also RUN run.json; write it elsewhere, outputs never replace inputs",
    ),
    "report onto the second run": CliCase(
        ["report", "run.json", "run.json", "-o", "run.json"],
        "-o run.json is also RUN run.json; write it elsewhere, outputs never replace inputs",
    ),
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_the_cli_refuses_an_output_on_an_input(project: Project, name: str) -> None:
    case = CLI_CASES[name]
    prepare(project)
    project.write("run.json", '{"schema_version": 1}\n')
    before = snapshot(project)

    result = project.cli(*case.args)

    assert result.exit_code == 2, result.output
    assert result.error_lines() == ["Error: " + case.message]
    assert snapshot(project) == before
    assert_no_traceback(result.output)


# --- fix: OUT is a directory it fills ------------------------------------------------------------------------------


@pytest.fixture
def adapters(project: Project, tiny: TinyModels) -> tuple[Path, Path]:
    base = tm.build_classifier(project.path / "models/base", tiny.tokenizer, seed=1, max_positions=64)
    old = tm.add_lora_adapter(base, project.path / "models/old-adapter", seed=1)
    new = tm.add_lora_adapter(base, project.path / "models/new-adapter", seed=2)
    project.write_lines("data/train.jsonl", [{"id": f"t{i}", "text": f"text {i}", "label": i % 2} for i in range(8)])
    return old, new


FIX_CASES = {
    "onto the new adapter": (
        "models/new-adapter",
        "--out models/new-adapter is also --new models/new-adapter; write it elsewhere, outputs never replace inputs",
    ),
    "inside the old adapter": (
        "models/old-adapter/fixed",
        "--out models/old-adapter/fixed is inside --old models/old-adapter; write it elsewhere",
    ),
    "inside the new base": (
        "models/base/fixed",
        "--out models/base/fixed is inside --old {base}; write it elsewhere",  # the base both adapters share
    ),
    "around the training data": (
        "data",
        "--out data contains --train data/train.jsonl; pass a directory that holds no input",
    ),
    "around the models": (
        "models",
        "--out models contains --old models/old-adapter; pass a directory that holds no input",
    ),
}


@pytest.mark.parametrize("name", list(FIX_CASES))
def test_fix_refuses_an_out_on_its_inputs(project: Project, adapters: tuple[Path, Path], name: str) -> None:
    out, message = FIX_CASES[name]
    before = snapshot(project)

    result = project.cli(
        "fix", "--old", "models/old-adapter", "--new", "models/new-adapter", "--train", "data/train.jsonl",
        "--out", out, "--device", "cpu", "--epochs", "1", "--pyproject", "none.toml",
    )  # fmt: skip

    assert result.exit_code == 2, result.output
    base = (project.path / "models/base").resolve()
    assert result.error_lines() == ["Error: " + message.format(base=base)]
    assert snapshot(project) == before
    assert_no_traceback(result.output)


def test_pytest_refuses_an_output_onto_a_suite_named_on_its_command_line(project: Project) -> None:
    project.write_lines(
        "other/extra.jsonl", [{"id": "e0", "prompt": "Is e0 right?", "choices": [" yes", " no"], "answer": 0}]
    )
    before = snapshot(project)

    run = project.pytest("other/extra.jsonl", "--muscle-markdown=other/extra.jsonl")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    path = project.path / "other/extra.jsonl"
    assert f"ERROR: --muscle-markdown {path} is also suite {path}; write it elsewhere" in run.stderr
    assert snapshot(project) == before
