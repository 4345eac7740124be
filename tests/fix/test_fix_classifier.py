"""`muscle-guard fix` on a tiny classifier pair: fewer negative flips on held-out data, resume, guards."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.cli.fix import run_request
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.report import read_report
from muscle_guard.fix.checkpoint import INTERRUPTED, latest_checkpoint
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.request import FixRequest
from muscle_guard.fix.run import run_fix
from muscle_guard.fix.strategies import Strategy
from tests.fix.conftest import Pair, RunCli, write_jsonl
from tests.fix.settings import ACCURACY_MARGIN, TINY, TINY_CONFIG


def test_fix_never_adds_negative_flips_on_held_out_data(classifier_pair: Pair, run_cli: RunCli, tmp_path: Path) -> None:
    # Only what holds on every CPU and seed: bench/fix_seeds.py runs this over 5 fixture seeds × 3 fix seeds on
    # four kernel paths (docs/BENCHMARKS.md). How many flips a fix removes is an effect size, measured there.
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(out), "--suite", str(classifier_pair.heldout), "--epochs", str(TINY_CONFIG.epochs),
        "--strategy", "muscle", *TINY,
    )  # fmt: skip
    report = json.loads((out / "fix_report.json").read_text())
    (row,) = report["fix"]["suites"]
    print(f"held-out: NF {row['nf']} -> {row['nf_c']}, acc new {row['acc_new']:.3f} -> fixed {row['acc_fixed']:.3f}")
    assert row["nf"] >= 20  # the pair really regresses (at least 43 of 400 in every measured seed and kernel path)
    assert row["nf_c"] <= row["nf"]
    assert row["acc_fixed"] >= row["acc_new"] - ACCURACY_MARGIN
    assert row["delta_pct_nfr_c"] <= 0
    # The default gate (max_nfr = 0) passes only without negative flips: exit 1 and the reason while any remain.
    assert result.exit_code == (1 if row["nf_c"] else 0), result.stderr
    if row["nf_c"]:
        assert "still fails the gates" in result.stderr
    assert "strategy muscle" in result.stderr
    assert "Δ%NFR_c" in result.stdout

    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["strategy"]["used"] == "muscle"
    assert len(record["epochs"]) == TINY_CONFIG.epochs
    assert record["selected_epoch"] == min(record["epochs"], key=lambda e: (e["val_loss"], e["epoch"]))["epoch"]
    assert record["data"]["train"]["sha256"]
    assert all("val_nfr" in e for e in record["epochs"])
    # OUT is a plain PEFT adapter on the new base, and its weights are the selected checkpoint's.
    config = json.loads((out / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == classifier_pair.new_base.resolve()
    selected = out / "checkpoints" / f"epoch-{record['selected_epoch']}" / "adapter_model.safetensors"
    ours, theirs = load_file(out / "adapter_model.safetensors"), load_file(selected)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_fix_report_is_a_run_report_that_muscle_guard_report_renders(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    out = tmp_path / "fixed"
    run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(out), "--suite", str(classifier_pair.heldout), "--epochs", "1", *TINY,
    )  # fmt: skip
    report = read_report(out / "fix_report.json")
    assert report.kind == "fix"
    assert report.new.ref == str(out)  # the suites are old → fixed, as a gate on the shipped adapter sees them
    assert report.fix is not None
    assert report.fix["before"]["ref"] == str(classifier_pair.new)
    (row,) = report.fix["suites"]
    (suite,) = report.suites
    assert (suite.metrics.nf, suite.metrics.n) == (row["nf_c"], row["n"])

    for fmt, expected in (("terminal", "fix: before (old→new) → after (old→fixed)"), ("markdown", "### Fix: before"),
                          ("html", "Fix: before and after")):  # fmt: skip
        shown = CliRunner().invoke(app, ["report", str(out / "fix_report.json"), "--format", fmt])
        assert shown.exit_code == 0, shown.output
        assert expected in shown.stdout
        assert f"{row['nfr_c'] * 100:.2f}%" in shown.stdout
    html = CliRunner().invoke(app, ["report", str(out / "fix_report.json"), "--format", "html"]).stdout
    assert html.count("<svg") >= 2  # before/after, and the suite's own picture


def test_output_loads_with_plain_peft(classifier_pair: Pair, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "fixed"
    run_fix(request(classifier_pair, out, TrainConfig(epochs=1, lr=1e-2, batch_size=16)))
    base = AutoModelForSequenceClassification.from_pretrained(str(classifier_pair.new_base))
    model = PeftModel.from_pretrained(base, str(out))
    assert model(input_ids=torch.tensor([[1, 5, 6]])).logits.shape == (1, 2)


def request(pair: Pair, out: Path, config: TrainConfig, **kwargs: object) -> FixRequest:
    return FixRequest(
        old=str(pair.old), new=str(pair.new), train=pair.train, out=out, config=config,
        options=RunOptions(device="cpu", progress=False), pyproject=out.parent / "none.toml", **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def stop_after_first_epoch(epoch: int, metrics: dict[str, object]) -> None:
    if epoch == 1:
        raise KeyboardInterrupt


def test_interrupted_run_resumes_to_the_same_result(
    classifier_pair: Pair, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = TrainConfig(epochs=3, lr=1e-2, batch_size=16, grad_accum=3)
    straight = run_fix(request(classifier_pair, tmp_path / "straight", config))

    out = tmp_path / "resumed"
    code = run_request(request(classifier_pair, out, config, callbacks=(stop_after_first_epoch,)), check=False)
    assert code == 130
    assert "--resume" in capsys.readouterr().err
    last = latest_checkpoint(out)
    assert last is not None
    assert last.name in ("epoch-1", INTERRUPTED)
    assert (last / "adapter_config.json").is_file()  # the checkpoint is a usable adapter
    assert not (out / "adapter_model.safetensors").exists()  # nothing half-finished at OUT itself

    resumed = run_fix(request(classifier_pair, out, config, resume=True))
    assert [h["epoch"] for h in resumed.history] == [1, 2, 3]
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
        assert a["val_nf"] == b["val_nf"]
    ours, theirs = (
        load_file(out / "adapter_model.safetensors"),
        load_file(tmp_path / "straight" / "adapter_model.safetensors"),
    )
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-6) for k in ours)


def test_resume_refuses_other_settings(classifier_pair: Pair, tmp_path: Path) -> None:
    out = tmp_path / "run"
    run_fix(request(classifier_pair, out, TrainConfig(epochs=1, lr=1e-2, batch_size=16)))
    from muscle_guard.core.errors import FixError

    with pytest.raises(FixError, match="other settings"):
        run_fix(request(classifier_pair, out, TrainConfig(epochs=2, lr=5e-3, batch_size=16), resume=True))
    with pytest.raises(FixError, match="previous fix run"):
        run_fix(request(classifier_pair, out, TrainConfig(epochs=1, lr=1e-2, batch_size=16)))
    # The same command with other suite settings (how the data renders and validation judges) is another run.
    other = tmp_path / "pyproject.toml"
    other.write_text('[tool.muscle-guard]\nmc_norm = "acc_norm"\n', encoding="utf-8")
    same = replace(request(classifier_pair, out, TrainConfig(epochs=1, lr=1e-2, batch_size=16), resume=True))
    with pytest.raises(FixError, match="other settings"):
        run_fix(replace(same, pyproject=other))


def test_training_on_the_gate_suite_is_refused(classifier_pair: Pair, run_cli: RunCli, tmp_path: Path) -> None:
    lines = classifier_pair.heldout.read_text().splitlines()
    train = write_jsonl(
        tmp_path / "leaky.jsonl",
        [{"id": "own", "text": "a brand new text good", "label": 1}]
        + [
            {**json.loads(line), "id": f"copy{i}", "text": json.loads(line)["text"].upper() + "!"}
            for i, line in enumerate(lines[:7])
        ],
    )
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(train),
        "--out", str(tmp_path / "out"), "--suite", str(classifier_pair.heldout),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Error: 7 training instance(s) have the same prompt/text as a --suite instance" in result.stderr
    assert f"{train}:2 (id copy0) = {classifier_pair.heldout}:1 (id h0)" in result.stderr
    assert "... and 2 more" in result.stderr
    assert not (tmp_path / "out").exists()


def test_bad_options_are_one_line_errors(classifier_pair: Pair, run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(tmp_path / "o"), "--ce-weight", "2",
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --ce-weight must be between 0 and 1"


def test_ctrl_c_mid_epoch_keeps_the_last_optimizer_step(
    classifier_pair: Pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muscle_guard.fix import train

    # 15 batches per epoch, accumulation 3: optimizer steps after batches 3, 6, 9, 12 and 15 of each epoch.
    # Ctrl-C arrives in the 23rd training batch (8th of epoch 2, inside an accumulation window): the checkpoint
    # keeps the state after step 7 (5 in epoch 1, 2 in epoch 2) and the partial window is redone on resume.
    config = TrainConfig(epochs=2, lr=1e-2, batch_size=16, grad_accum=3)
    straight = run_fix(request(classifier_pair, tmp_path / "straight", config))
    real_call = train.Objective.__call__
    calls = {"n": 0}

    def flaky(self: train.Objective, model: object, items: object, device: object) -> object:
        if getattr(model, "training", False):
            calls["n"] += 1
            if calls["n"] == 23:
                raise KeyboardInterrupt
        return real_call(self, model, items, device)  # type: ignore[arg-type]

    out = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        patch.setattr(train.Objective, "__call__", flaky)
        with pytest.raises(train.TrainingInterrupted) as info:
            run_fix(request(classifier_pair, out, config))
    assert info.value.checkpoint == out / "checkpoints" / INTERRUPTED
    assert (info.value.state.epoch, info.value.state.batches_done, info.value.state.global_step) == (1, 6, 7)

    resumed = run_fix(request(classifier_pair, out, config, resume=True))
    for a, b in zip(straight.history, resumed.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    ours = load_file(out / "adapter_model.safetensors")
    theirs = load_file(tmp_path / "straight" / "adapter_model.safetensors")
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-6) for k in ours)


def test_plain_new_model_gets_a_fresh_lora(classifier_pair: Pair, tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    fix_request = request(classifier_pair, out, TrainConfig(epochs=1, lr=1e-2, batch_size=16, lora_r=4, lora_alpha=8))
    result = run_fix(replace(fix_request, new=str(classifier_pair.new_base)))
    assert result.history[0]["val_loss"] >= 0
    config = json.loads((out / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["task_type"]) == (4, 8, "SEQ_CLS")
    targets = {name.rsplit(".", 1)[-1] for name in config["target_modules"]}
    assert targets == {"query", "key", "value", "dense"}  # every linear layer but the head
    assert "classifier" in (config["modules_to_save"] or [])


def test_labels_outside_the_model_classes_are_refused(classifier_pair: Pair, tmp_path: Path) -> None:
    from muscle_guard.core.errors import FixError

    train = write_jsonl(
        tmp_path / "t.jsonl", [{"id": "a", "text": "cat good", "label": 1}, {"id": "b", "text": "x", "label": 3}]
    )
    with pytest.raises(FixError, match=r"t\.jsonl:2: label 3 is out of range for a 2-class model"):
        run_fix(replace(request(classifier_pair, tmp_path / "out", TrainConfig(epochs=1)), train=train))


def test_the_ensemble_strategy_trains_and_is_recorded(classifier_pair: Pair, tmp_path: Path) -> None:
    config = TrainConfig(epochs=1, lr=1e-2, batch_size=16, strategy=Strategy.ENSEMBLE, ensemble_weight=0.6)
    result = run_fix(request(classifier_pair, tmp_path / "out", config, strategy=Strategy.ENSEMBLE))
    assert result.strategy.strategy is Strategy.ENSEMBLE
    record = json.loads((tmp_path / "out" / "muscle_fix.json").read_text())
    assert record["strategy"]["used"] == "ensemble"
    assert record["config"]["ensemble_weight"] == 0.6
    assert result.history[0]["val_loss"] >= 0
