"""Run reports: exact JSON round trips, atomic writes, one-line errors for bad files, worst flips first."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from muscle_guard import __version__
from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import Gates, SuiteSettings
from muscle_guard.core.errors import MuscleGuardError, ReportError
from muscle_guard.core.flips import InstanceOutcome, compare, compute_metrics, metrics_by_tag
from muscle_guard.core.gates import evaluate_gates
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.report import (
    SCHEMA_VERSION,
    RunReport,
    SuiteReport,
    collect_environment,
    read_report,
    worst_negative_flips,
    write_report,
)
from muscle_guard.core.scoring import Judgement
from muscle_guard.core.suite import Instance, Shape

OLD = ModelInfo(ref="base-v1+adapter", kind="peft", fingerprint="f1", details={"base": "base-v1", "rank": 8})
NEW = ModelInfo(ref="base-v2+adapter", kind="peft", fingerprint="f2", details={"base": "base-v2"})


def mc(
    id_: str, old_pick: int, new_pick: int, new_margin: float | None = 1.0, tags: tuple[str, ...] = ()
) -> InstanceOutcome:
    """A two-choice instance whose right answer is choice 0."""
    item = Instance(id=id_, shape=Shape.MULTIPLE_CHOICE, prompt=f"{id_}?", choices=("yes", "no"), answer=0, tags=tags)
    choices = ("yes", "no")
    old = Judgement(choices[old_pick], old_pick == 0, float(old_pick == 0), choice=old_pick, margin=0.5)
    new = Judgement(choices[new_pick], new_pick == 0, float(new_pick == 0), choice=new_pick, margin=new_margin)
    lls = {0: (-0.1, -1.0), 1: (-1.0, -0.1)}
    return compare(
        item, old, new, continuous=False, epsilon=0.0,
        old_evidence=Prediction(id_, logliks=lls[old_pick]), new_evidence=Prediction(id_, logliks=lls[new_pick]),
    )  # fmt: skip


def summary(id_: str, old: float, new: float) -> InstanceOutcome:
    item = Instance(id=id_, shape=Shape.GENERATE_SCORE, prompt="Summarise.", reference="ref")
    return compare(
        item, Judgement("o", old >= 1, old), Judgement("n", new >= 1, new), continuous=True, epsilon=0.0,
        new_evidence=Prediction(id_, text="n"),
    )  # fmt: skip


def suite_report(outcomes: list[InstanceOutcome], *, name: str = "sarcasm", gates: Gates | None = None) -> SuiteReport:
    continuous = any(o.delta is not None for o in outcomes)
    settings = SuiteSettings(gates=gates or Gates(), epsilon=0.0)
    metrics = compute_metrics(outcomes, continuous=continuous, epsilon=0.0)
    return SuiteReport(
        name=name,
        path=f"suites/{name}.jsonl",
        shape=Shape.GENERATE_SCORE if continuous else Shape.MULTIPLE_CHOICE,
        suite_hash="abc123",
        settings=settings,
        metrics=metrics,
        verdict=evaluate_gates(metrics, settings.gates),
        slices=metrics_by_tag(outcomes, continuous=continuous, epsilon=0.0),
        outcomes=tuple(outcomes),
    )


def run_report(**overrides: Any) -> RunReport:
    binary = suite_report([mc("a", 0, 0, tags=("easy",)), mc("b", 0, 1, tags=("hard",)), mc("c", 1, 0)])
    scores = suite_report([summary("s1", 0.5, 0.25), summary("s2", 0.25, 0.5)], name="samsum")
    fields: dict[str, Any] = {
        "tool_version": "0.1.0",
        "created_at": "2025-01-02T03:04:05+00:00",
        "old": OLD,
        "new": NEW,
        "suites": (binary, scores),
        "environment": {"python": "3.11.7", "platform": "Linux"},
    }
    return RunReport(**{**fields, **overrides})


def assert_same_report(a: RunReport, b: RunReport) -> None:
    assert a == b
    # ModelInfo leaves `details` out of equality; a report must keep them all the same.
    assert (a.old.details, a.new.details) == (b.old.details, b.new.details)


# --- JSON round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "report",
    [
        run_report(),
        run_report(kind="fix", fix={"before": {"nfr": 0.1}, "after": {"nfr": 0.06}, "epochs": 3}),
        run_report(suites=()),
    ],
    ids=["check", "fix", "no suites"],
)
def test_run_report_json_round_trip_is_exact(report: RunReport) -> None:
    assert_same_report(RunReport.from_json(json.loads(json.dumps(report.to_json()))), report)


def test_suite_report_json_round_trip_is_exact() -> None:
    report = run_report().suites[0]
    assert SuiteReport.from_json(json.loads(json.dumps(report.to_json()))) == report


def test_create_stamps_version_time_and_environment() -> None:
    report = RunReport.create(old=OLD, new=NEW, suites=[], kind="check")
    assert (report.schema_version, report.tool_version, report.kind) == (SCHEMA_VERSION, __version__, "check")
    assert datetime.fromisoformat(report.created_at).tzinfo is not None
    assert {"python", "platform", "muscle_guard"} <= set(report.environment)


def test_passed_means_every_suite_passed() -> None:
    report = run_report()
    assert [suite.verdict.passed for suite in report.suites] == [False, False]
    assert not report.passed
    assert run_report(suites=()).passed


# --- environment ----------------------------------------------------------------------------------


def installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def test_the_environment_does_not_depend_on_what_this_process_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    # An xdist controller never imports torch, its workers (which load the models) do: one environment.
    for name in ("torch", "transformers", "peft"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    before = collect_environment()
    for name in ("torch", "transformers", "peft"):
        monkeypatch.setitem(sys.modules, name, SimpleNamespace(__version__="0.0.0-imported"))
    assert collect_environment() == before


def test_the_environment_names_the_installed_versions() -> None:
    env = collect_environment()
    for name in ("torch", "transformers", "peft", "accelerate"):
        assert env.get(name) == installed(name)


def no_metadata(name: str) -> str:
    raise importlib.metadata.PackageNotFoundError(name)


def test_a_library_without_metadata_is_reported_when_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    # A source checkout on sys.path has no distribution metadata: the imported module's version is all there is.
    monkeypatch.setattr(importlib.metadata, "version", no_metadata)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(__version__="2.9.9"))
    monkeypatch.delitem(sys.modules, "peft", raising=False)
    env = collect_environment()
    assert env["torch"] == "2.9.9"
    assert "peft" not in env


def test_reports_never_import_torch() -> None:
    code = (
        "import sys; from muscle_guard.core.report import collect_environment; env = collect_environment(); "
        "assert 'torch' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- files ----------------------------------------------------------------------------------------


def test_write_then_read(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "run.json"  # the folder does not exist yet
    write_report(run_report(), path)
    assert_same_report(read_report(path), run_report())
    assert os.listdir(path.parent) == ["run.json"]  # no temporary file left behind


def test_write_replaces_an_existing_report(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    write_report(run_report(), path)
    write_report(run_report(suites=()), path)
    assert read_report(path).suites == ()


def test_a_failed_write_keeps_the_previous_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "run.json"
    write_report(run_report(), path)
    before = path.read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(ReportError, match=r"run\.json: cannot write report \(No space left on device\)"):
        write_report(run_report(suites=()), path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["run.json"]


def test_write_into_a_file_path_fails_with_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ReportError, match="cannot write report") as info:
        write_report(run_report(), blocker / "run.json")
    assert "\n" not in str(info.value)


def _valid() -> dict[str, Any]:
    return run_report().to_json()


BAD_FILES: list[tuple[str, str, str]] = [
    ("truncated", json.dumps(_valid())[:200], r"run\.json:1: invalid JSON \(.*\); is the file complete\?"),
    ("not an object", "[1, 2]", r"run\.json: not a muscle-guard report \(a JSON list, expected an object\)"),
    ("no version", json.dumps({"suites": []}), r"run\.json: not a muscle-guard report \(no schema_version field\)"),
    ("newer version", json.dumps({**_valid(), "schema_version": 2}),
     rf"run\.json: report schema version 2 is not supported; muscle-guard {__version__} reads version 1 "
     r"\(upgrade muscle-guard\)"),
    ("older version", json.dumps({**_valid(), "schema_version": 0}),
     r"report schema version 0 is not supported; .* reads version 1 \(re-run to regenerate it\)"),
    ("version as text", json.dumps({**_valid(), "schema_version": "1"}), r"report schema version '1' is not supported"),
    ("missing field", json.dumps({k: v for k, v in _valid().items() if k != "old"}),
     r"run\.json: malformed report \(missing field 'old'\)"),
    ("unknown kind", json.dumps({**_valid(), "kind": "train"}), r"malformed report \(kind must be one of check, fix"),
    ("bad outcome", json.dumps(_valid()).replace('"negative_flip"', '"lost"'), r"malformed report \('lost' is not"),
    ("bad settings", json.dumps(_valid()).replace('"mc_norm": "acc"', '"mc_norm": "sum"'),
     r"malformed report \(report: mc_norm = 'sum' is invalid"),
]  # fmt: skip


@pytest.mark.parametrize(("content", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_report_files_give_one_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "run.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ReportError, match=message) as info:
        read_report(path)
    assert isinstance(info.value, MuscleGuardError)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.json", "no such report file"),
        (lambda d: d, "is a directory"),
    ],
)
def test_unreadable_report_paths(tmp_path: Path, make: Any, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        read_report(make(tmp_path))


def test_binary_garbage_is_not_a_report(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ReportError, match="not UTF-8 text"):
        read_report(path)


# --- worst negative flips -------------------------------------------------------------------------


def test_worst_flips_are_the_most_confidently_wrong_first() -> None:
    report = suite_report(
        [
            mc("low", 0, 1, new_margin=0.2),
            mc("high", 0, 1, new_margin=3.0),
            mc("unknown", 0, 1, new_margin=None),  # no margin recorded: last
            mc("tie-b", 0, 1, new_margin=1.0),
            mc("tie-a", 0, 1, new_margin=1.0),  # equal margins: by id
            mc("gain", 1, 0, new_margin=9.0),  # not a negative flip
            mc("kept", 0, 0, new_margin=9.0),
        ]
    )
    assert [o.id for o in worst_negative_flips(report, 10)] == ["high", "tie-a", "tie-b", "low", "unknown"]
    assert [o.id for o in worst_negative_flips(report, 2)] == ["high", "tie-a"]
    assert worst_negative_flips(report, 0) == []


def test_worst_continuous_flips_are_the_largest_drops_first() -> None:
    report = suite_report([summary("small", 0.5, 0.375), summary("big", 1.0, 0.25), summary("up", 0.25, 0.75)])
    assert [(o.id, o.delta) for o in worst_negative_flips(report, 5)] == [("big", -0.75), ("small", -0.125)]
