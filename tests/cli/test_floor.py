"""`muscle-guard floor OLD OLD-RESEEDED`: each suite's noise floor, written where gate runs and `fix` read it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner, Result

from muscle_guard.cli import app

if TYPE_CHECKING:
    from tests.cli.conftest import MuscleGuard

OLD, RESEEDED = "fake:models/old.json", "fake:models/new.json"  # the "reseeded" old model flips rome in capitals


def floor(*args: str) -> Result:
    return CliRunner().invoke(app, ["floor", *args])


def test_floor_writes_each_suites_flip_rate_between_two_trainings(workdir: Path) -> None:
    result = floor(OLD, RESEEDED, "suites")

    assert result.exit_code == 0, result.output
    written = json.loads((workdir / "muscle-floor.json").read_text(encoding="utf-8"))
    assert written["models"] == ["fake:old", "fake:new"]
    assert {name: (row["n"], row["nf"], row["pf"], row["floor"]) for name, row in written["suites"].items()} == {
        "capitals": (2, 1, 0, 0.25),  # one flip of two instances, in one direction: (1 + 0) / (2 · 2)
        "rivers": (2, 0, 0, 0.0),
    }
    assert "capitals │ 2 │ 1  │ 0  │ 25.00%" in result.stdout
    assert result.stderr.startswith("wrote muscle-floor.json: the noise floor of 2 suite(s).")


def test_the_gate_reads_the_floor_at_its_root(workdir: Path, muscle_guard: MuscleGuard) -> None:
    floor(OLD, RESEEDED)  # the configured suites: suites/

    run = muscle_guard("check", "--old", OLD, "--new", RESEEDED, "--max-nfr", "0.1")

    assert "floor" in run.stdout
    assert "capitals: max_nfr 10.00% is below the noise floor 25.00%" in " ".join(run.stdout.split())


def test_the_same_model_twice_is_refused_and_nothing_is_written(workdir: Path) -> None:
    result = floor(OLD, OLD, "suites")

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: OLD and OLD-RESEEDED are the same model ({OLD}): the floor needs the adapter trained a second time"
    )
    assert not (workdir / "muscle-floor.json").exists()


def test_the_floor_file_never_lands_on_an_input(workdir: Path) -> None:
    result = floor(OLD, RESEEDED, "suites", "--out", "suites/capitals.jsonl")

    assert result.exit_code != 0
    assert result.stderr.count("Error:") == 1
    assert "--out suites/capitals.jsonl" in result.stderr
    assert (workdir / "suites" / "capitals.jsonl").read_text(encoding="utf-8").startswith('{"id": "paris"')
