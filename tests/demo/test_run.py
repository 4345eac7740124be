"""The demo reruns cheaply: a finished fix of the same command and adapters is reused, anything else retrained."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from demo import run
from demo.adapters import MARKER


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    made: list[list[str]] = []

    def fake_run(command: Sequence[str], allowed: tuple[int, ...] = (0,)) -> int:
        made.append(list(command))
        out = Path(command[command.index("--out") + 1])
        out.mkdir(parents=True)
        (out / "adapter_model.safetensors").write_text("weights")
        return 0

    monkeypatch.setattr(run, "_run", fake_run)
    return made


def adapters(tmp_path: Path, recipe: str) -> tuple[Path, Path]:
    for side in ("old", "new"):
        (tmp_path / side).mkdir(exist_ok=True)
        (tmp_path / side / MARKER).write_text(json.dumps({"recipe": recipe}))
    return tmp_path / "old", tmp_path / "new"


def test_a_finished_fix_of_the_same_command_is_reused(tmp_path: Path, calls: list[list[str]]) -> None:
    old, new = adapters(tmp_path, "r1")
    out = tmp_path / "compat"
    command = ["muscle-guard", "fix", "--out", str(out), "--epochs", "3"]
    run.run_fix_once(command, out, old, new)
    run.run_fix_once(command, out, old, new)
    assert len(calls) == 1
    run.run_fix_once([*command[:-1], "4"], out, old, new)  # other settings: trained again, from scratch
    assert len(calls) == 2
    adapters(tmp_path, "r2")  # retrained task adapters
    run.run_fix_once([*command[:-1], "4"], out, old, new)
    assert len(calls) == 3


def test_a_fix_trained_by_other_muscle_guard_code_is_not_reused(
    tmp_path: Path, calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same command and adapters, but a default inside `fix` changed: the cached fix is stale."""
    old, new = adapters(tmp_path, "r1")
    out = tmp_path / "compat"
    command = ["muscle-guard", "fix", "--out", str(out)]
    run.run_fix_once(command, out, old, new)
    monkeypatch.setattr(run, "code_digest", lambda: "other code")
    run.run_fix_once(command, out, old, new)
    assert len(calls) == 2


def test_the_code_digest_follows_source_contents(tmp_path: Path) -> None:
    (tmp_path / "fix").mkdir()
    (tmp_path / "fix" / "aim.py").write_text("WEIGHTS = (0.75, 0.9)\n")
    before = run.code_digest(tmp_path)
    assert run.code_digest(tmp_path) == before
    (tmp_path / "fix" / "aim.py").write_text("WEIGHTS = (0.5, 0.75)\n")
    assert run.code_digest(tmp_path) != before


def test_an_unfinished_fix_is_replaced(tmp_path: Path, calls: list[list[str]]) -> None:
    old, new = adapters(tmp_path, "r1")
    out = tmp_path / "compat"
    (out / "checkpoints").mkdir(parents=True)  # killed before it finished: no demo marker
    run.run_fix_once(["muscle-guard", "fix", "--out", str(out)], out, old, new)
    assert len(calls) == 1
    assert not (out / "checkpoints").exists()
    assert (out / "muscle_demo_fix.json").is_file()
