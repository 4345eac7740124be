"""`fix` judges its validation split exactly as the gate judges the --suite: that suite's settings (never a table
named after the training file), the gate's outcome and flip definitions (continuous: D < −ε).

The oracle is the gate itself: the old and the new model's predictions of the validation instances, compared by
`evaluate_suite` under the --suite's settings. A fix at lr 1e-30 leaves the student bit-for-bit equal to the new
model, so its recorded validation metrics must be exactly the gate's old→new metrics on those instances. The
answers are built from the tiny models' own outputs, upper-cased, so that accuracy is not 0 and the settings
matter (only `normaliser = "lower"` counts them right).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.config import ProjectConfig, load_project_config
from muscle_guard.core.evaluate import evaluate_suite
from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.pipeline import run_instances
from muscle_guard.core.sources import close_source, open_source
from muscle_guard.core.suite import Suite, load_suite
from muscle_guard.fix.data import build_examples, judging_settings, split_validation
from tests.fix.conftest import CausalPairs, RunCli, write_jsonl

SETTINGS = {
    "exact": 'normaliser = "lower"\nmax_new_tokens = 3\nstop = ["\\n"]\n',
    "continuous": 'scorer = "rouge1"\nepsilon = 0.3\nmax_new_tokens = 3\nstop = ["\\n"]\n',
}
# A table named after the training file: fix used to judge validation with it. It must change nothing now.
DECOY = 'normaliser = "exact"\nepsilon = 0.0\nmax_new_tokens = 1\n'


def outputs(ref: Path, suite: Suite, project: ProjectConfig) -> dict[str, Any]:
    """`ref`'s predictions of `suite` under the --suite's (heldout_gen's) settings."""
    source = open_source(str(ref), RunOptions(device="cpu", progress=False))
    try:
        settings = project.settings_for("heldout_gen")
        return {p.id: p for p in run_instances(source, suite.shape, suite.instances, settings)}  # type: ignore[arg-type]
    finally:
        close_source(source)


def gate_on_validation(pairs: CausalPairs, train: Path, tmp_path: Path, project: ProjectConfig) -> SuiteMetrics:
    """The gate's old→new metrics on fix's validation split of `train`, under the --suite's settings."""
    suite = load_suite(train)
    settings, table = judging_settings(project, [load_suite(tmp_path / "heldout_gen.jsonl")], suite)
    _, val = split_validation(build_examples(suite, settings, table), 0.5, 0)
    lines = [json.loads(line) for line in train.read_text().splitlines()]
    ids = {e.id for e in val}
    held = load_suite(
        write_jsonl(tmp_path / "heldout_gen-val" / "heldout_gen.jsonl", [r for r in lines if r["id"] in ids])
    )
    old, new = outputs(pairs.old, held, project), outputs(pairs.new, held, project)
    return evaluate_suite(held, project.settings_for("heldout_gen"), old, new).metrics


@pytest.mark.parametrize("shape", ["exact", "continuous"])
def test_validation_is_the_gates_verdict_under_the_suites_settings(
    causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path, shape: str
) -> None:
    (tmp_path / "heldout_gen-val").mkdir()
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        f"[tool.muscle-guard.suites.heldout_gen]\n{SETTINGS[shape]}\n[tool.muscle-guard.suites.train_gen]\n{DECOY}",
        encoding="utf-8",
    )
    project = load_project_config(pyproject)
    prompts = [
        json.loads(line)["prompt"]
        for p in (causal_pairs.train, causal_pairs.heldout)
        for line in p.read_text().splitlines()
    ]
    field = "answer" if shape == "exact" else "reference"
    probe = load_suite(write_jsonl(tmp_path / "heldout_gen-val" / "probe.jsonl", [
        {"id": f"g{i}", "prompt": p, field: "x"} for i, p in enumerate(prompts)
    ]))  # fmt: skip
    said = outputs(causal_pairs.old, probe, project)
    heard = outputs(causal_pairs.new, probe, project)
    # Half the answers are what the old model says, half what the new one says, upper-cased: flips both ways.
    rows = [
        {"id": f"g{i}", "prompt": p, field: ((said if i % 2 else heard)[f"g{i}"].text or "").upper() or "X"}
        for i, p in enumerate(prompts)
    ]
    train = write_jsonl(tmp_path / "train_gen.jsonl", rows)
    write_jsonl(tmp_path / "heldout_gen.jsonl", [{"id": "s0", "prompt": "Unrelated question?", field: "X"}])

    out = tmp_path / "out"
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(causal_pairs.new), "--train", str(train), "--out", str(out),
        "--suite", str(tmp_path / "heldout_gen.jsonl"), "--strategy", "ce", "--epochs", "1", "--lr", "1e-30",
        "--select", "val-nfr", "--val-fraction", "0.5", "--batch-size", "4", "--no-check", "--pyproject", str(pyproject),
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (epoch,) = json.loads((out / "muscle_fix.json").read_text())["epochs"]
    gate = gate_on_validation(causal_pairs, train, tmp_path, project)
    assert gate.acc_old > 0  # the suite's settings make answers count: the comparison means something
    assert (epoch["val_n"], epoch["val_nf"]) == (gate.n, gate.nf)
    assert epoch["val_acc"] == pytest.approx(gate.acc_new)
    assert epoch["val_pfr"] == pytest.approx(gate.pfr)
