"""The pure parts of `fix`: strategy resolution, schedule scaling, validation split, overlap guard."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import FixError, SuiteError
from muscle_guard.core.suite import Shape, load_suite
from muscle_guard.fix import checkpoint as ckpt
from muscle_guard.fix.config import TrainConfig, plan_schedule
from muscle_guard.fix.data import (
    build_examples,
    find_overlaps,
    load_unlabelled,
    normalise_for_overlap,
    refuse_overlaps,
    split_validation,
)
from muscle_guard.fix.strategies import Level, Strategy, TokenizerFacts, resolve_strategy, tokenizer_difference

SAME = TokenizerFacts({"a": 0, "b": 1}, {"pad": 1}, 2)


@pytest.mark.parametrize(
    ("other", "fragment"),
    [
        (TokenizerFacts({"a": 0, "c": 1}, {"pad": 1}, 2), "1 only in old, 1 only in new"),
        (TokenizerFacts({"a": 1, "b": 0}, {"pad": 1}, 2), "2 with different ids"),
        (TokenizerFacts({"a": 0, "b": 1}, {"pad": 0}, 2), "special token pad"),
        (TokenizerFacts({"a": 0, "b": 1}, {"pad": 1}, 8), "output sizes differ"),
    ],
)
def test_tokenizer_difference_says_how(other: TokenizerFacts, fragment: str) -> None:
    assert tokenizer_difference(SAME, SAME) is None
    difference = tokenizer_difference(SAME, other)
    assert difference is not None
    assert fragment in difference


@pytest.mark.parametrize(
    ("shape", "same", "expected"),
    [
        (Shape.MULTIPLE_CHOICE, True, Strategy.MUSCLE),
        (Shape.MULTIPLE_CHOICE, False, Strategy.CHOICE),
        (Shape.CLASSIFY, True, Strategy.MUSCLE),
        (Shape.CLASSIFY, False, Strategy.CHOICE),
        (Shape.GENERATE_EXACT, False, Strategy.SEQUENCE),
        (Shape.GENERATE_SCORE, False, Strategy.SEQUENCE),
        (Shape.GENERATE_SCORE, True, Strategy.MUSCLE),
    ],
)
def test_auto_picks_token_level_only_with_the_same_tokenizer(shape: Shape, same: bool, expected: Strategy) -> None:
    resolved = resolve_strategy(Strategy.AUTO, shape, None if same else "vocabularies differ (x)")
    assert resolved.strategy is expected
    assert ("tokenizers differ" in resolved.reason) is not same


@pytest.mark.parametrize(
    "strategy", [Strategy.MUSCLE, Strategy.KD_OLD, Strategy.OLD_CORRECT, Strategy.FOCAL, Strategy.ENSEMBLE]
)
def test_token_level_refuses_different_tokenizers(strategy: Strategy) -> None:
    with pytest.raises(FixError, match=r"token-level.*vocabularies differ.*--strategy choice"):
        resolve_strategy(strategy, Shape.MULTIPLE_CHOICE, "vocabularies differ (x)")


@pytest.mark.parametrize(
    "strategy", [Strategy.MUSCLE, Strategy.KD_OLD, Strategy.OLD_CORRECT, Strategy.FOCAL, Strategy.ENSEMBLE, Strategy.CE]
)
@pytest.mark.parametrize("difference", [None, "vocabularies differ (x)"])
def test_level_choice_applies_any_loss_to_the_choices(strategy: Strategy, difference: str | None) -> None:
    resolved = resolve_strategy(strategy, Shape.MULTIPLE_CHOICE, difference, Level.CHOICE)
    assert (resolved.strategy, resolved.choice_level) == (strategy, True)
    assert "choices" in resolved.reason


def test_the_level_of_each_strategy_by_default() -> None:
    mc = Shape.MULTIPLE_CHOICE
    assert resolve_strategy(Strategy.MUSCLE, mc, None).choice_level is False
    assert resolve_strategy(Strategy.CE, mc, "vocabularies differ").choice_level is False
    assert resolve_strategy(Strategy.CHOICE, mc, None).choice_level is True
    assert resolve_strategy(Strategy.AUTO, mc, "vocabularies differ").choice_level is True
    auto_choice = resolve_strategy(Strategy.AUTO, mc, None, Level.CHOICE)
    assert (auto_choice.strategy, auto_choice.choice_level) == (Strategy.CHOICE, True)
    classify = resolve_strategy(Strategy.AUTO, Shape.CLASSIFY, None, Level.CHOICE)  # class logits either way
    assert (classify.strategy, classify.choice_level) == (Strategy.MUSCLE, False)
    generate = resolve_strategy(Strategy.AUTO, Shape.GENERATE_EXACT, "vocabularies differ", Level.TOKEN)
    assert generate.strategy is Strategy.SEQUENCE
    assert resolve_strategy(Strategy.MUSCLE, Shape.CLASSIFY, None, Level.CHOICE).choice_level is False  # class logits


def test_token_level_refusal_names_level_choice_for_multiple_choice_only() -> None:
    with pytest.raises(FixError, match=r"or auto or --level choice$"):
        resolve_strategy(Strategy.KD_OLD, Shape.MULTIPLE_CHOICE, "vocabularies differ (x)")
    with pytest.raises(FixError, match=r"use --strategy sequence \(vocabulary-agnostic\) or auto$"):
        resolve_strategy(Strategy.KD_OLD, Shape.GENERATE_SCORE, "vocabularies differ (x)")


@pytest.mark.parametrize(
    ("strategy", "shape", "difference", "level", "message"),
    [
        (Strategy.MUSCLE, Shape.GENERATE_EXACT, None, Level.CHOICE, "--level choice needs multiple-choice"),
        (Strategy.CHOICE, Shape.MULTIPLE_CHOICE, None, Level.TOKEN, "--strategy choice is MUSCLE at the choice level"),
        (Strategy.AUTO, Shape.MULTIPLE_CHOICE, "vocabularies differ", Level.TOKEN, "--level token needs the same"),
    ],
)
def test_contradictory_levels_are_refused(
    strategy: Strategy, shape: Shape, difference: str | None, level: Level, message: str
) -> None:
    with pytest.raises(FixError, match=re.escape(message)):
        resolve_strategy(strategy, shape, difference, level)


def test_classifiers_distil_class_logits_whatever_the_tokenizers() -> None:
    assert resolve_strategy(Strategy.MUSCLE, Shape.CLASSIFY, "vocabularies differ").strategy is Strategy.MUSCLE


def test_vocabulary_free_strategies_need_the_right_shape() -> None:
    with pytest.raises(FixError, match="use sequence"):
        resolve_strategy(Strategy.CHOICE, Shape.GENERATE_EXACT, None)
    with pytest.raises(FixError, match="use choice"):
        resolve_strategy(Strategy.SEQUENCE, Shape.CLASSIFY, None)


@pytest.mark.parametrize("shape", list(Shape))
@pytest.mark.parametrize("difference", [None, "vocabularies differ (x)"])
def test_ce_needs_no_teachers_so_any_shape_and_tokenizer_will_do(shape: Shape, difference: str | None) -> None:
    resolved = resolve_strategy(Strategy.CE, shape, difference)
    assert resolved.strategy is Strategy.CE
    assert "no teachers" in resolved.reason


@pytest.mark.parametrize(
    ("batches", "epochs", "accum", "warmup"),
    [
        (10_000, 10, 8, 500),  # the paper's regime: accumulation 8, 500 warm-up steps
        (40, 10, 8, 5),  # 5 steps/epoch, warm-up capped at 10% of 50 steps
        (12, 10, 3, 4),  # small data: accumulation lowered so an epoch keeps 4 optimizer steps
        (2, 3, 1, 1),
    ],
)
def test_schedule_scales_paper_defaults_to_small_data(batches: int, epochs: int, accum: int, warmup: int) -> None:
    plan = plan_schedule(TrainConfig(epochs=epochs), batches)
    assert (plan.grad_accum, plan.warmup_steps) == (accum, warmup)
    assert plan.total_steps == plan.steps_per_epoch * epochs


def test_explicit_schedule_values_win() -> None:
    plan = plan_schedule(TrainConfig(grad_accum=2, warmup_steps=7, epochs=2), 20)
    assert (plan.grad_accum, plan.steps_per_epoch, plan.warmup_steps) == (2, 10, 7)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "--epochs"),
        ({"ce_weight": 1.5}, "--ce-weight"),
        ({"val_fraction": 1.0}, "--val-fraction"),
        ({"select": "acc"}, "--select"),
        ({"strategy": Strategy.FOCAL, "ce_weight": 0.5}, "focal"),
        ({"strategy": Strategy.CE, "ce_weight": 0.5}, "--strategy ce"),
        ({"val_fraction": 0.0, "select": "val-nfr"}, "validation split"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(FixError, match=message):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_ce_weight_is_one_minus_the_papers_lambda() -> None:
    assert TrainConfig(ce_weight=0.25).lam == 0.75
    assert TrainConfig().lam == 1.0


def write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_validation_split_is_deterministic_and_order_independent(tmp_path: Path) -> None:
    lines = [{"id": f"x{i}", "text": f"text {i}", "label": i % 2} for i in range(50)]
    suite = load_suite(write(tmp_path / "t.jsonl", lines))
    examples = build_examples(suite, SuiteSettings())
    train, val = split_validation(examples, 0.2, seed=3)
    assert len(val) == 10
    assert len(train) == 40
    assert split_validation(list(reversed(examples)), 0.2, seed=3)[1] == list(reversed(val))
    assert {e.id for e in split_validation(examples, 0.2, seed=4)[1]} != {e.id for e in val}
    assert split_validation(examples[:1], 0.2, seed=0) == (examples[:1], [])
    assert len(split_validation(examples[:3], 0.2, seed=0)[1]) == 1


def test_validation_split_keeps_duplicated_texts_on_one_side(tmp_path: Path) -> None:
    # 20 texts, each three times with trivial edits: a split by id would put copies of training rows into
    # validation, which then measures memorisation instead of generalisation.
    lines = [
        {"id": f"x{i}-{copy}", "text": text, "label": i % 2}
        for i in range(20)
        for copy, text in enumerate((f"text {i}", f"TEXT {i}!", f"  text   {i}"))
    ]
    examples = build_examples(load_suite(write(tmp_path / "t.jsonl", lines)), SuiteSettings())
    train, val = split_validation(examples, 0.2, seed=3)
    assert len(val) == 12  # round(0.2 · 60) = 12: four whole groups of three
    seen = {normalise_for_overlap(e.context) for e in train}
    assert not any(normalise_for_overlap(e.context) in seen for e in val)
    # A large group of copies never swamps validation: 8 copies of one text and 2 other texts, every seed.
    skewed = [{"id": f"c{i}", "text": "same text", "label": 0} for i in range(8)]
    skewed += [{"id": "u1", "text": "other one", "label": 1}, {"id": "u2", "text": "other two", "label": 1}]
    skewed_examples = build_examples(load_suite(write(tmp_path / "skewed.jsonl", skewed)), SuiteSettings())
    for seed in range(6):
        assert len(split_validation(skewed_examples, 0.2, seed)[1]) == 2
    one_text = build_examples(load_suite(write(tmp_path / "one.jsonl", lines[:3])), SuiteSettings())
    assert split_validation(one_text, 0.2, seed=0) == (one_text, [])  # nothing to validate on without a leak


def test_examples_render_prompts_with_the_suite_template(tmp_path: Path) -> None:
    mc = load_suite(
        write(tmp_path / "mc.jsonl", [{"id": "a", "prompt": "Sky?", "choices": [" red", " blue"], "answer": 1}])
    )
    settings = SuiteSettings(prompt_template="Q: {prompt}\nA:")
    (example,) = build_examples(mc, settings)
    assert (example.context, example.target, example.label) == ("Q: Sky?\nA:", " blue", 1)
    assert example.where.endswith("mc.jsonl:1")
    labels = load_suite(write(tmp_path / "c.jsonl", [{"id": "b", "text": "great", "label": "pos"}]))
    (example,) = build_examples(labels, SuiteSettings(labels=("neg", "pos")))
    assert example.label == 1


@pytest.mark.parametrize(
    ("prompt", "row", "target"),
    [
        ("Sum 2+2. Answer:", {"answer": "4"}, " 4"),  # a model writes " 4" after "Answer:", not "4"
        ("Sum 2+2. Answer: ", {"answer": "4"}, "4"),  # the prompt already ends in the space
        ("Sum 2+2.\n", {"answer": "4"}, "4"),
        ("Summarise: x", {"reference": " a short summary"}, " a short summary"),  # the answer has it already
        ("Summarise: x", {"reference": "a short summary"}, " a short summary"),
    ],
)
def test_generation_targets_follow_the_prompt_as_a_model_writes_them(
    tmp_path: Path, prompt: str, row: dict[str, str], target: str
) -> None:
    suite = load_suite(write(tmp_path / "g.jsonl", [{"id": "a", "prompt": prompt, **row}]))
    (example,) = build_examples(suite, SuiteSettings())
    assert example.target == target


def test_unlabelled_inputs_need_only_the_input(tmp_path: Path) -> None:
    path = tmp_path / "more.jsonl"
    path.write_text('{"text": "a fine film"}\n{"id": "x7", "text": "dull", "label": 1}\n', encoding="utf-8")
    first, second = load_unlabelled(path, Shape.CLASSIFY, SuiteSettings(), start=10)
    assert (first.index, first.id, first.context, first.label) == (10, "unlabelled:line-1", "a fine film", None)
    assert (second.index, second.id, second.label) == (11, "unlabelled:x7", None)  # a label there is not used
    assert second.where == f"{path}:2"
    mc = tmp_path / "mc.jsonl"
    mc.write_text('{"prompt": "Sky?", "choices": [" red", " blue"]}\n', encoding="utf-8")
    (example,) = load_unlabelled(mc, Shape.MULTIPLE_CHOICE, SuiteSettings(prompt_template="Q: {prompt}\nA:"), 0)
    assert (example.context, example.choices, example.label, example.raw) == (
        "Q: Sky?\nA:",
        (" red", " blue"),
        None,
        "Sky?",
    )


def test_bad_unlabelled_inputs_name_each_line(tmp_path: Path) -> None:
    path = tmp_path / "more.jsonl"
    path.write_text('{"text": "ok"}\nnot json\n{"prompt": "p"}\n{"text": ""}\n', encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_unlabelled(path, Shape.CLASSIFY, SuiteSettings(), 0)
    assert [p.split(": ", 1)[0] for p in info.value.problems] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert 'is {"text": "..."}' in info.value.problems[1]
    with pytest.raises(SuiteError, match=r"no such file; check the --unlabelled path"):
        load_unlabelled(tmp_path / "none.jsonl", Shape.CLASSIFY, SuiteSettings(), 0)


def test_overlap_with_a_suite_is_refused_with_locations(tmp_path: Path) -> None:
    train = load_suite(
        write(
            tmp_path / "train.jsonl",
            [
                {"id": "t1", "prompt": "What is the capital of France?", "answer": "paris"},
                {"id": "t2", "prompt": "Something else entirely", "answer": "x"},
            ],
        )
    )
    gate = load_suite(
        write(tmp_path / "gate.jsonl", [{"id": "g9", "prompt": "what is the  capital of france", "answer": "Paris"}])
    )
    overlaps = find_overlaps(train, [gate])
    assert [(o.train_id, o.suite_id) for o in overlaps] == [("t1", "g9")]
    with pytest.raises(FixError) as info:
        refuse_overlaps(overlaps)
    message = str(info.value)
    assert "1 training instance(s)" in message
    assert "train.jsonl:1 (id t1)" in message
    assert "gate.jsonl:1 (id g9)" in message
    assert "--allow-overlap" in message


def test_normalisation_ignores_case_punctuation_and_spacing() -> None:
    assert normalise_for_overlap("  Hello,   WORLD!! ") == normalise_for_overlap("hello world")
    assert normalise_for_overlap("ｆｕｌｌ width") == "full width"


def test_leftovers_of_a_killed_write_are_swept_but_not_those_of_a_running_one(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid, alive_pid = int(dead.stdout), os.getpid()
    (tmp_path / f".epoch-2.tmp-{dead_pid}").mkdir()  # a checkpoint being written when SIGKILL came
    (tmp_path / "epoch-1").mkdir()
    (tmp_path / f".epoch-1.old-{dead_pid}").mkdir()  # moved aside, and its replacement did land
    (tmp_path / f".adapter_model.safetensors.tmp-{dead_pid}").write_text("half")  # an export in progress
    (tmp_path / f".epoch-3.tmp-{alive_pid}").mkdir()  # still being written by a live process
    (tmp_path / ".notes.tmp-1").write_text("not ours")  # a user's file that only looks like a leftover
    (tmp_path / ".epoch-4.tmp-99999999999").mkdir()  # a PID no process can have

    removed = ckpt.sweep_leftovers(tmp_path)

    assert len(removed) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".epoch-3.tmp-{alive_pid}", ".notes.tmp-1", "epoch-1"]


def test_a_checkpoint_moved_aside_when_the_kill_came_is_put_back(tmp_path: Path) -> None:
    # replace_dir moves the old epoch-2 aside, then renames the new one in: killed in between, neither is there.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".epoch-2.old-{dead.stdout.strip()}"
    aside.mkdir()
    (aside / "trainer_state.json").write_text("{}")

    ckpt.sweep_leftovers(tmp_path)

    assert [p.name for p in tmp_path.iterdir()] == ["epoch-2"]
    assert (tmp_path / "epoch-2" / "trainer_state.json").read_text() == "{}"


def test_the_implied_level_is_not_recorded_so_older_checkpoints_still_resume() -> None:
    assert "choice_level" not in TrainConfig().to_json()
    assert "choice_level" not in TrainConfig(strategy=Strategy.CHOICE, choice_level=True).to_json()
    assert TrainConfig(strategy=Strategy.KD_OLD, choice_level=True).to_json()["choice_level"] is True


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategy": Strategy.ENSEMBLE, "ensemble_weight": 1.5}, "--ensemble-weight must be between 0 and 1"),
        ({"strategy": Strategy.ENSEMBLE, "ensemble_beta": -1.0}, "--ensemble-beta must be >= 0"),
        ({"strategy": Strategy.MUSCLE, "ensemble_weight": 0.7}, "apply to --strategy ensemble only"),
    ],
)
def test_ensemble_settings_are_checked(changes: dict[str, object], message: str) -> None:
    from muscle_guard.fix.config import TrainConfig

    with pytest.raises(FixError, match=message):
        TrainConfig(**changes)  # type: ignore[arg-type]


def test_ensemble_settings_are_recorded_only_for_the_ensemble() -> None:
    from muscle_guard.fix.config import TrainConfig

    assert "ensemble_weight" not in TrainConfig().to_json()  # earlier runs' checkpoints still resume
    record = TrainConfig(strategy=Strategy.ENSEMBLE, ensemble_weight=0.6).to_json()
    assert (record["ensemble_weight"], record["ensemble_beta"]) == (0.6, 0.0)


def test_a_request_without_a_strategy_takes_its_configs(tmp_path: Path) -> None:
    # Programmatic use: TrainConfig(strategy=...) alone is enough (it used to be replaced by muscle silently).
    from muscle_guard.fix.config import TrainConfig
    from muscle_guard.fix.request import FixRequest

    config = TrainConfig(strategy=Strategy.ENSEMBLE)
    request = FixRequest(old="o", new="n", train=tmp_path / "t.jsonl", out=tmp_path / "out", config=config)
    assert request.requested_strategy is Strategy.ENSEMBLE
    assert FixRequest(**{**request.__dict__, "strategy": Strategy.AUTO}).requested_strategy is Strategy.AUTO


def test_fix_s_default_takes_the_level_or_sequence_level_that_works_across_tokenizers() -> None:
    differ = "vocabularies differ (x)"
    mc = resolve_strategy(Strategy.ENSEMBLE, Shape.MULTIPLE_CHOICE, differ, default=True)
    assert (mc.strategy, mc.choice_level) == (Strategy.ENSEMBLE, True)
    for shape in (Shape.GENERATE_EXACT, Shape.GENERATE_SCORE):
        generation = resolve_strategy(Strategy.ENSEMBLE, shape, differ, default=True)
        assert generation.strategy is Strategy.SEQUENCE
        assert "sequence-level distillation" in generation.reason
    assert resolve_strategy(Strategy.ENSEMBLE, Shape.GENERATE_EXACT, None, default=True).strategy is Strategy.ENSEMBLE
    with pytest.raises(FixError, match="token-level and needs the same tokenizer"):  # named: as asked, or refused
        resolve_strategy(Strategy.ENSEMBLE, Shape.GENERATE_EXACT, differ)
