"""`muscle-guard fix` on tiny causal LMs: token-level MUSCLE on multiple choice, the top-k teacher cache,
tokenizer checks (refusal and auto's fallback) and sequence-level distillation on generation data."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import FixError
from muscle_guard.core.sources import open_source
from muscle_guard.core.suite import load_suite
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.request import FixRequest
from muscle_guard.fix.run import run_fix
from muscle_guard.fix.strategies import Strategy
from tests.fix.conftest import CausalPairs, RunCli, write_jsonl

TINY = ("--lr", "5e-3", "--batch-size", "4")


def test_token_level_muscle_on_multiple_choice(causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path) -> None:
    out = tmp_path / "fixed"
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(causal_pairs.new), "--train", str(causal_pairs.train),
        "--out", str(out), "--suite", str(causal_pairs.heldout), "--epochs", "2", "--no-check", "--strategy", "muscle",
        *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "strategy muscle: as requested, token level (old and new share the tokenizer)" in result.stderr
    assert "full-vocabulary logits" in result.stderr
    record = json.loads((out / "muscle_fix.json").read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert all(e["val_loss"] >= 0 and "val_nfr" in e for e in record["epochs"])
    report = json.loads((out / "fix_report.json").read_text())
    assert report["fix"]["suites"][0]["n"] == len(load_suite(causal_pairs.heldout))
    # The output is a model reference like any other: the gate's backend loads and scores with it.
    backend = open_source(str(out), RunOptions(device="cpu", progress=False))
    from muscle_guard.core.backend import ChoiceRequest

    (scores,) = backend.score_choices([ChoiceRequest("Text: good cat. Sentiment:", (" negative", " positive"))])
    assert len(scores) == 2


def test_topk_teacher_cache_and_gradient_checkpointing(
    causal_pairs: CausalPairs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = TrainConfig(
        epochs=1, lr=5e-3, batch_size=4, teacher_cache_gb=0.0, teacher_topk=16, gradient_checkpointing=True
    )
    result = run_fix(request(causal_pairs, causal_pairs.new, tmp_path / "out", config, Strategy.MUSCLE))
    assert "top-16 logits + tail mass" in capsys.readouterr().err
    assert result.history[0]["val_loss"] > 0


def request(
    pairs: CausalPairs, new: Path, out: Path, config: TrainConfig, strategy: Strategy, **kw: object
) -> FixRequest:
    return FixRequest(
        old=str(pairs.old), new=str(new), train=pairs.train, out=out, config=config, strategy=strategy,
        options=RunOptions(device="cpu", progress=True), pyproject=out.parent / "none.toml", **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("strategy", ["muscle", "kd-old", "old-correct", "focal", "ensemble"])
def test_token_level_strategies_refuse_another_tokenizer(
    causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path, strategy: str
) -> None:
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(causal_pairs.new_other_tokenizer), "--train",
        str(causal_pairs.train), "--out", str(tmp_path / "out"), "--strategy", strategy,
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"Error: --strategy {strategy} is token-level and needs the same tokenizer" in result.stderr
    assert "vocabularies differ" in result.stderr
    assert "use --strategy choice (vocabulary-agnostic) or auto" in result.stderr


def test_auto_falls_back_to_choice_level_across_tokenizers(
    causal_pairs: CausalPairs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = TrainConfig(epochs=1, lr=5e-3, batch_size=4)
    result = run_fix(request(causal_pairs, causal_pairs.new_other_tokenizer, tmp_path / "out", config, Strategy.AUTO))
    assert result.strategy.strategy is Strategy.CHOICE
    assert "strategy choice: tokenizers differ (vocabularies differ" in capsys.readouterr().err
    assert "val_nfr" in result.history[0]
    record = json.loads((tmp_path / "out" / "muscle_fix.json").read_text())
    assert record["strategy"]["requested"] == "auto"
    assert record["strategy"]["used"] == "choice"


@pytest.mark.parametrize("strategy", ["muscle", "kd-old", "old-correct", "focal", "ensemble", "ce"])
def test_level_choice_runs_every_strategy_across_tokenizers(
    causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path, strategy: str
) -> None:
    out = tmp_path / "out"
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(causal_pairs.new_other_tokenizer), "--train",
        str(causal_pairs.train), "--out", str(out), "--strategy", strategy, "--level", "choice", "--epochs", "1",
        "--no-check", *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "choice" in result.stderr.split(f"strategy {strategy}", 1)[1].splitlines()[0]
    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["strategy"] | {"reason": ""} == {
        "requested": strategy, "used": strategy, "level": "choice", "reason": "",
    }  # fmt: skip
    assert record["config"]["choice_level"] is True
    assert record["epochs"][0]["val_loss"] > 0


def test_level_token_across_tokenizers_is_refused(causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(causal_pairs.new_other_tokenizer), "--train",
        str(causal_pairs.train), "--out", str(tmp_path / "out"), "--strategy", "auto", "--level", "token",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "Error: --level token needs the same tokenizer for old and new, but vocabularies differ" in result.stderr
    assert not (tmp_path / "out").exists()


def generation_data(pairs: CausalPairs, tmp_path: Path) -> tuple[Path, Path]:
    """The pair's training rows as exact-match generation (the right choice's word as the answer), and a
    pyproject that judges them lower-cased over 3 new tokens."""
    rows = [
        {"id": r["id"], "prompt": r["prompt"], "answer": r["choices"][r["answer"]].strip()}
        for r in map(json.loads, pairs.train.read_text().splitlines())
    ]
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[tool.muscle-guard]\nmax_new_tokens = 3\nnormaliser = "lower"\n', encoding="utf-8")
    return write_jsonl(tmp_path / "gen.jsonl", rows), pyproject


def test_sequence_level_distillation_on_generation(
    causal_pairs: CausalPairs, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train, pyproject = generation_data(causal_pairs, tmp_path)
    config = TrainConfig(epochs=1, lr=5e-3, batch_size=4)
    fix_request = FixRequest(
        old=str(causal_pairs.old), new=str(causal_pairs.new_other_tokenizer), train=train, out=tmp_path / "out",
        config=config, strategy=Strategy.AUTO, options=RunOptions(device="cpu", progress=False), pyproject=pyproject,
    )  # fmt: skip
    result = run_fix(fix_request)
    assert result.strategy.strategy is Strategy.SEQUENCE
    err = capsys.readouterr().err
    assert "their outputs are the targets" in err
    assert "val_nfr" not in result.history[0]  # generation: no NFR unless --select val-nfr asks for it


def test_ce_trains_like_ce_weight_one_without_computing_teachers(
    causal_pairs: CausalPairs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--strategy ce` (plain fine-tuning, the baseline) is `--ce-weight 1` minus the teachers: same adapter (both
    on the answer's tokens; the paper's MUSCLE alone counts every prompt token too)."""
    import torch
    from safetensors.torch import load_file

    from muscle_guard.fix import teachers

    config = TrainConfig(epochs=1, lr=5e-3, batch_size=4)
    with_teachers = run_fix(
        request(causal_pairs, causal_pairs.new, tmp_path / "kd", replace(config, ce_weight=1.0), Strategy.ENSEMBLE)
    )

    def no_teachers(*args: object, **kwargs: object) -> None:
        raise AssertionError("--strategy ce computed teacher outputs")

    monkeypatch.setattr(teachers, "token_outputs", no_teachers)
    monkeypatch.setattr(teachers, "score_outputs", no_teachers)
    plain = run_fix(request(causal_pairs, causal_pairs.new, tmp_path / "ce", config, Strategy.CE))
    assert plain.strategy.strategy is Strategy.CE
    assert plain.history[0]["val_loss"] == pytest.approx(with_teachers.history[0]["val_loss"], rel=1e-6)
    assert plain.history[0]["val_nf"] == with_teachers.history[0]["val_nf"]  # NFR against old still reported
    ours, theirs = (load_file(tmp_path / d / "adapter_model.safetensors") for d in ("ce", "kd"))
    assert ours.keys() == theirs.keys()
    assert all(torch.allclose(ours[k], theirs[k], atol=1e-7) for k in ours)
    record = json.loads((tmp_path / "ce" / "muscle_fix.json").read_text())
    assert record["strategy"]["used"] == "ce"
    # No teachers, so no shared tokenizer needed either.
    other = run_fix(request(causal_pairs, causal_pairs.new_other_tokenizer, tmp_path / "other", config, Strategy.CE))
    assert other.strategy.strategy is Strategy.CE


def test_choice_strategy_needs_choices(causal_pairs: CausalPairs, tmp_path: Path) -> None:
    train = write_jsonl(
        tmp_path / "gen.jsonl", [{"id": "g", "prompt": "Text: a cat good. Sentiment:", "answer": "yes"}]
    )
    fix_request = FixRequest(
        old=str(causal_pairs.old), new=str(causal_pairs.new), train=train, out=tmp_path / "out",
        config=TrainConfig(epochs=1), strategy=Strategy.CHOICE, options=RunOptions(device="cpu", progress=False),
        pyproject=tmp_path / "none.toml",
    )  # fmt: skip
    with pytest.raises(FixError, match="use sequence"):
        run_fix(fix_request)


@pytest.mark.parametrize(("level", "used"), [("token", "token"), ("choice", "choice"), ("auto", "choice")])
def test_aim_budget_on_multiple_choice_at_both_levels(
    causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path, level: str, used: str
) -> None:
    # Token level needs one tokenizer (old and new share it here); choice level works across tokenizers, and is
    # what --aim budget picks there by itself (it names no strategy, so the level is its to choose).
    new = causal_pairs.new if level == "token" else causal_pairs.new_other_tokenizer
    project = tmp_path / "pyproject.toml"
    # The old model is right on 4 of the 5 validation instances: a budget validation can measure is below 80%.
    project.write_text("[tool.muscle-guard]\nmax_nfr = 0.75\n", encoding="utf-8")
    out = tmp_path / "out"
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(new), "--train", str(causal_pairs.train), "--out", str(out),
        "--suite", str(causal_pairs.heldout), "--aim", "budget", "--ensemble-weights", "0.5,1", "--level", level,
        "--epochs", "1", "--budget-margin", "0", "--no-check", "--pyproject", str(project), *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["strategy"]["used"] == "ensemble"
    assert record["strategy"]["level"] == used
    if level == "auto":
        assert (
            "fix: strategy ensemble (choice level): the default across tokenizers (vocabularies differ" in result.stderr
        )
    candidates = [p for p in record["aim"]["points"] if p["meets"] is not None]
    assert [p["label"] for p in candidates] == ["w=0.5 ce=0.5", "w=1 ce=0.5"]
    meeting = [p for p in candidates if p["meets"]]
    if meeting:  # the aim ships the most accurate candidate that meets it, else nothing
        assert (
            record["aim"]["chosen"] == max(meeting, key=lambda p: (p["acc"], -p["nfr"], p["ensemble_weight"]))["label"]
        )
    assert (out / "adapter_model.safetensors").is_file() == bool(meeting)


def test_the_default_on_generation_across_tokenizers_is_sequence_level(
    causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path
) -> None:
    # No strategy named: the default ensemble cannot mix two vocabularies' next tokens, so sequence level is used
    # (it used to stop on "--ensemble-weight ... apply to --strategy ensemble only").
    train, project = generation_data(causal_pairs, tmp_path)
    result = run_cli(
        "--old", str(causal_pairs.old), "--new", str(causal_pairs.new_other_tokenizer), "--train", str(train),
        "--out", str(tmp_path / "out"), "--epochs", "1", "--pyproject", str(project), *TINY,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "fix: strategy sequence: the default across tokenizers on generation" in result.stderr
    record = json.loads((tmp_path / "out" / "muscle_fix.json").read_text())
    assert record["strategy"]["used"] == "sequence"
