"""A project directory for the CLI tests: two suites and two fake models, one of which flips an instance."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

QUESTIONS = {
    "capitals": [
        ("paris", "Capital of France?", [" Paris", " Rome"], 0),
        ("rome", "Capital of Italy?", [" Paris", " Rome"], 1),
    ],
    "rivers": [
        ("nile", "Longest river?", [" Nile", " Rhine"], 0),
        ("rhine", "River in Basel?", [" Nile", " Rhine"], 1),
    ],
}
# The old model is always right; the new one gets Italy wrong: one negative flip in capitals.
OLD_ANSWERS = {"Capital of France?": 0, "Capital of Italy?": 1, "Longest river?": 0, "River in Basel?": 1}
NEW_ANSWERS = {**OLD_ANSWERS, "Capital of Italy?": 0}

MuscleGuard = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A directory (the current one during the test) with suites/ and models/{old,new}.json."""
    for name, questions in QUESTIONS.items():
        lines = [json.dumps({"id": i, "prompt": p, "choices": c, "answer": a}) + "\n" for i, p, c, a in questions]
        (tmp_path / "suites").mkdir(exist_ok=True)
        (tmp_path / "suites" / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")
    (tmp_path / "models").mkdir()
    for model, answers in (("old", OLD_ANSWERS), ("new", NEW_ANSWERS)):
        (tmp_path / "models" / f"{model}.json").write_text(json.dumps({"answers": answers}), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def muscle_guard(workdir: Path) -> MuscleGuard:
    """Run `muscle-guard ARGS...` in the project, as a user would: a separate process, output captured."""

    def run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "muscle_guard.cli", *args]
        return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False)

    return run
