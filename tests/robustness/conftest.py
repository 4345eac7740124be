"""The robustness catalogue's project: two good suites, fake models, and the front ends a user runs.

Every case of the catalogue is checked the way a user meets it: `pytest` (in-process, through pytester),
`muscle-guard validate/predict/fix` (in-process, through Typer's runner) or a real subprocess where a
process boundary matters (kills, concurrent runs, sockets, umask). Each assertion says what the user sees:
one line naming the file:line, option or path and what to do, the exit code, no traceback, no partial file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy  # noqa: F401  # loaded before pytester snapshots sys.modules: numpy cannot be imported twice
import pytest
import torch
import transformers.models.bert.modeling_bert  # same: models loaded inside pytester runs
import transformers.models.llama.modeling_llama  # noqa: F401
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.testing import tiny_models as tm

# Tiny models spend their time in thread hand-offs: one intra-op thread is far faster on a busy 2-core machine.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
OLD = "fake:models/old.json"
NEW = "fake:models/new.json"
CHOICES = [" yes", " no"]
# hypothesis's pytest plugin has nothing to do in these runs and only slows each one down.
QUIET = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
# Environment of the subprocesses: one thread each (the machine is small and busy), our checkout first.
SUBPROCESS_ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
}


def good_lines(prefix: str, n: int = 3) -> list[dict[str, Any]]:
    """n two-choice questions, the right answer always 0: the fake models below get all of them right."""
    return [
        {"id": f"{prefix}{i}", "prompt": f"Is {prefix}{i} right?", "choices": CHOICES, "answer": 0} for i in range(n)
    ]


@dataclass
class Run:
    """What one in-process pytest run did."""

    result: pytest.RunResult

    @property
    def ret(self) -> int:
        return int(self.result.ret)

    @property
    def stdout(self) -> str:
        return self.result.stdout.str()

    @property
    def stderr(self) -> str:
        return self.result.stderr.str()

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    @cached_property
    def _recorder(self) -> Any:
        return self.result.reprec  # type: ignore[attr-defined]

    @property
    def outcomes(self) -> dict[str, str]:
        """Node id → passed / failed / xfailed / skipped (the outcome of the call phase)."""
        if not hasattr(self._recorder, "getreports"):
            return {}  # a run stopped by a usage error records nothing
        found: dict[str, str] = {}
        for report in self._recorder.getreports("pytest_runtest_logreport"):
            if hasattr(report, "wasxfail"):
                found[report.nodeid] = "xfailed"
            elif report.when == "call" or report.outcome == "skipped":
                found[report.nodeid] = report.outcome
            elif report.failed:
                found[report.nodeid] = "error"
        return found

    def longrepr(self, nodeid: str) -> str:
        reports = self._recorder.getreports("pytest_runtest_logreport")
        return str(next(r.longrepr for r in reports if r.nodeid == nodeid and r.when == "call"))

    @property
    def collection_errors(self) -> dict[str, str]:
        if not hasattr(self._recorder, "getreports"):
            return {}
        found = self._recorder.getreports("pytest_collectreport")
        return {r.nodeid: str(r.longrepr) for r in found if r.failed}


@dataclass(frozen=True)
class CliRun:
    """What one in-process `muscle-guard` command did."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


@dataclass
class Project:
    """A pytester directory with suites/{capitals,rivers}.jsonl and fake models that answer them all right."""

    pytester: pytest.Pytester

    @property
    def path(self) -> Path:
        return self.pytester.path

    def write(self, relative: str, content: str | bytes) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def write_lines(self, relative: str, lines: Sequence[dict[str, Any] | str]) -> Path:
        """dicts become JSON lines; strings are written verbatim (for broken input)."""
        return self.write(relative, "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))

    def teach(self, lines: Sequence[dict[str, Any]]) -> None:
        """Both fake models answer every multiple-choice line right (answer index)."""
        for model in ("old", "new"):
            path = self.path / "models" / f"{model}.json"
            known = json.loads(path.read_text(encoding="utf-8"))["answers"] if path.exists() else {}
            known.update({line["prompt"]: line["answer"] for line in lines if "choices" in line})
            self.write(f"models/{model}.json", json.dumps({"answers": known}))

    def pytest(self, *args: str, old: str | None = OLD, new: str | None = NEW) -> Run:
        models = [f"--muscle-{side}={ref}" for side, ref in (("old", old), ("new", new)) if ref is not None]
        return Run(self.pytester.runpytest(*QUIET, *models, *args))

    def cli(self, *args: str) -> CliRun:
        """`muscle-guard ARGS` in the project directory, in-process; an unexpected exception fails the test."""
        result = CliRunner().invoke(app, list(args), catch_exceptions=False)
        return CliRun(result.exit_code, result.stdout, result.stderr)

    def files(self) -> set[str]:
        """Every file below the project, relative (to prove that nothing was left behind)."""
        return {p.relative_to(self.path).as_posix() for p in self.path.rglob("*") if p.is_file()}


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    """The working directory: suites/capitals.jsonl and suites/rivers.jsonl, both passing with OLD and NEW."""
    proj = Project(pytester)
    for name in ("capitals", "rivers"):
        lines = good_lines(name[:3])
        proj.write_lines(f"suites/{name}.jsonl", lines)
        proj.teach(lines)
    return proj


def passing(*suites: str) -> dict[str, str]:
    """The outcomes of the good suites of `project`: every instance and the gate pass."""
    out = {}
    for name in suites:
        for i in range(3):
            out[f"suites/{name}.jsonl::{name[:3]}{i}"] = "passed"
        out[f"suites/{name}.jsonl::[gate]"] = "passed"
    return out


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text
    assert 'File "' not in text, text


# --- tiny transformers models (built once per session and worker, in seconds) ----------------------------------------


@dataclass(frozen=True)
class TinyModels:
    root: Path
    tokenizer: Path
    lm: Path  # a Llama with 64 positions: a long prompt overflows it
    wide_lm: Path  # another hidden size
    lm_adapter: Path
    other_lm_adapter: Path  # a second adapter on `lm`


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    root = tmp_path_factory.mktemp("tiny")
    tok = tm.build_tokenizer(root / "tok")
    lm = tm.build_causal_lm(root / "lm", tok, seed=0, max_positions=64)
    return TinyModels(
        root=root,
        tokenizer=tok,
        lm=lm,
        wide_lm=tm.build_causal_lm(root / "lm-wide", tok, seed=0, hidden=48, max_positions=64),
        lm_adapter=tm.add_lora_adapter(lm, root / "lm-adapter", seed=1),
        other_lm_adapter=tm.add_lora_adapter(lm, root / "lm-adapter-2", seed=2),
    )


def muscle_guard_process(
    *args: str, cwd: Path, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`muscle-guard ARGS` as a separate process, output captured."""
    command = [sys.executable, "-m", "muscle_guard.cli", *args]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env or SUBPROCESS_ENV
    )
