"""Helpers for the plugin's end-to-end tests: a pytester project with suites and fake models.

Every end-to-end test takes `xdist_args` and so runs twice, once without pytest-xdist and once with
`-n 2`, expecting the very same outcomes (as syrupy tests its plugin).

Suites are written by outcome: `project.suite("capitals", paris="negative_flip", rome="both_right")`
writes a two-choice instance per id and teaches the fake models `models/old.json` and `models/new.json`
(`fake:` references: prompt → chosen index) to answer it so that the comparison lands on that outcome.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy  # noqa: F401  # loaded before pytester snapshots sys.modules: numpy cannot be imported twice
import pytest

OLD = "fake:models/old.json"
NEW = "fake:models/new.json"
CHOICES = [" yes", " no"]
# outcome → (index of the right choice, old model's pick, new model's pick)
PICKS = {
    "negative_flip": (0, 0, 1),
    "positive_flip": (0, 1, 0),
    "both_right": (0, 0, 0),
    "both_wrong": (0, 1, 1),
}
# hypothesis's pytest plugin has nothing to do in these runs and only slows down each xdist worker's start.
QUIET = ("-p", "no:hypothesispytest")


@pytest.fixture(params=[pytest.param([], id="no-xdist"), pytest.param(["-n", "2"], id="xdist")])
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    """Run the test once without pytest-xdist and once with two workers."""
    return list(request.param)


def prompt(instance_id: str) -> str:
    return f"Is {instance_id} right?"


@dataclass
class Run:
    """What one pytest run in the project did, by node id."""

    result: pytest.RunResult

    @property
    def ret(self) -> int | pytest.ExitCode:
        return self.result.ret

    @property
    def stdout(self) -> str:
        return self.result.stdout.str()

    @property
    def words(self) -> str:
        """stdout with all whitespace runs as one space: rich wraps long summary lines to the terminal."""
        return " ".join(self.stdout.split())

    @property
    def stderr(self) -> str:
        return self.result.stderr.str()

    @cached_property
    def _reports(self) -> list[Any]:
        recorder = self.result.reprec  # type: ignore[attr-defined]
        # A run stopped by a usage error has no hook recorder, and no reports.
        return list(recorder.getreports("pytest_runtest_logreport")) if hasattr(recorder, "getreports") else []

    @property
    def outcomes(self) -> dict[str, str]:
        """Node id → passed / failed / xfailed / skipped / error (the outcome pytest reported)."""
        found: dict[str, str] = {}
        for report in self._reports:
            if hasattr(report, "wasxfail"):
                found[report.nodeid] = "xfailed"
            elif report.when == "call" or report.outcome == "skipped":
                found[report.nodeid] = report.outcome
            elif report.failed:
                found[report.nodeid] = "error"
        return found

    def report(self, nodeid: str) -> pytest.TestReport:
        """The report of a test's call phase (or of the phase that skipped it)."""
        return next(r for r in self._reports if r.nodeid == nodeid and (r.when == "call" or r.skipped))

    def longrepr(self, nodeid: str) -> str:
        report = self.report(nodeid)
        return str(report.wasxfail if hasattr(report, "wasxfail") else report.longrepr)

    @property
    def collection_errors(self) -> dict[str, str]:
        """Node id of each collector that failed → its error text."""
        found = self.result.reprec.getreports("pytest_collectreport")  # type: ignore[attr-defined]
        return {r.nodeid: str(r.longrepr) for r in found if r.failed}


@dataclass
class Project:
    """A directory with suites and fake models, and a way to run pytest in it."""

    pytester: pytest.Pytester

    @property
    def path(self) -> Path:
        return self.pytester.path

    def suite(self, name: str, folder: str = "suites", **outcome_by_id: str) -> Path:
        """Write `FOLDER/NAME.jsonl`, one instance per id (in order), and teach both models their answers."""
        picks = {i: PICKS[outcome] for i, outcome in outcome_by_id.items()}
        lines = [
            {"id": i, "prompt": prompt(i), "choices": CHOICES, "answer": right} for i, (right, _, _) in picks.items()
        ]
        self.teach("old", {prompt(i): old for i, (_, old, _) in picks.items()})
        self.teach("new", {prompt(i): new for i, (_, _, new) in picks.items()})
        return self.write_lines(f"{folder}/{name}.jsonl", lines)

    def write_lines(self, relative: str, lines: Sequence[dict[str, Any] | str]) -> Path:
        """Write a JSONL file: dicts become JSON lines, strings are written verbatim (for broken input)."""
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
        return path

    def write(self, relative: str, text: str) -> Path:
        path = self.path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def teach(self, model: str, answers: dict[str, int | str]) -> str:
        """Add prompt → answer entries to the fake model `models/MODEL.json`; returns its reference."""
        path = self.path / "models" / f"{model}.json"
        path.parent.mkdir(exist_ok=True)
        known = json.loads(path.read_text(encoding="utf-8"))["answers"] if path.exists() else {}
        path.write_text(json.dumps({"answers": {**known, **answers}}), encoding="utf-8")
        return f"fake:models/{model}.json"

    def run(self, *args: str, old: str | None = OLD, new: str | None = NEW) -> Run:
        """Run pytest in the project, in-process (xdist workers are subprocesses); None leaves a model unset."""
        models = [f"--muscle-{side}={ref}" for side, ref in (("old", old), ("new", new)) if ref is not None]
        return Run(self.pytester.runpytest(*QUIET, *models, *args))


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    return Project(pytester)
