"""A finished fix is never thrown away: the shipped adapter resolves from any directory, and when the
before/after check fails for any reason the adapter, muscle_fix.json and a fix_report.json with the error stay,
the message says how to gate by hand, and the exit code is 3 (2 means bad input before any work)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from muscle_guard.core.report import read_report
from tests.fix.conftest import Pair, RunCli
from tests.fix.settings import TINY


def moved_adapter(pair: Pair, tmp_path: Path) -> Path:
    """The new adapter as a user has it after `make demo`-like training: its config records the base as a path
    relative to the directory it was trained from, which is not where fix runs."""
    adapter = tmp_path / "adapters" / "new"
    shutil.copytree(pair.new, adapter)
    config_path = adapter / "adapter_config.json"
    config = json.loads(config_path.read_text())
    config["base_model_name_or_path"] = ".muscle-cache/demo/bases/new-base"  # relative to elsewhere
    config_path.write_text(json.dumps(config))
    return adapter


def test_the_shipped_adapter_records_a_base_that_resolves_from_anywhere(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = moved_adapter(classifier_pair, tmp_path)
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", f"base={classifier_pair.new_base},adapter={adapter}",
        "--train", str(classifier_pair.train), "--out", "fixed", "--suite", str(classifier_pair.heldout),
        "--epochs", "1", "--strategy", "ce", *TINY,
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.stderr  # the check ran: pass or a gate verdict, not a load error
    recorded = json.loads((work / "fixed" / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert Path(recorded).is_absolute()
    assert Path(recorded) == classifier_pair.new_base.resolve()
    record = json.loads((work / "fixed" / "muscle_fix.json").read_text())
    assert record["adapter"]["base_model_name_or_path"] == recorded
    assert "absolute" in record["adapter"]["why"]
    assert read_report(work / "fixed" / "fix_report.json").fix["suites"]  # type: ignore[index]


def test_a_failing_check_keeps_the_adapter_and_reports_the_error(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import muscle_guard.fix.run as run

    def broken(*args: object, **kwargs: object) -> object:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(run, "compare_suites", broken)
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(out), "--suite", str(classifier_pair.heldout), "--epochs", "1", "--strategy", "ce", *TINY,
    )  # fmt: skip
    assert result.exit_code == 3, result.stderr
    assert (out / "adapter_model.safetensors").is_file()
    assert json.loads((out / "muscle_fix.json").read_text())["shipped"]
    report = read_report(out / "fix_report.json")
    assert report.fix is not None
    assert "No space left on device" in report.fix["error"]
    assert "the before/after check failed: OSError: [Errno 28] No space left on device" in result.stderr
    assert f"--muscle-old={classifier_pair.old} --muscle-new={out}" in result.stderr
    assert "Traceback" not in result.stderr
