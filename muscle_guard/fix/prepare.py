"""Everything `fix` computes once before training: the tokenized data, the teachers' outputs, the old model's answers
on the validation split (judged against each student's as the gate judges) and, for sequence-level distillation, the old model's outputs as targets.

The new teacher is the student before its first step (an exact copy of the new adapter, or a fresh LoRA whose
B = 0), so the new model is never loaded twice; `--strategy ce` computes no teacher outputs at all. Under
several processes each computes its share of every pass and the shares are gathered, so every process ends
with all of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import FixError
from muscle_guard.core.pipeline import run_instances
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.scoring import judge
from muscle_guard.fix import batches, teachers
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.data import Example, sequence_target
from muscle_guard.fix.modes import Mode, TeacherForm, mode_of
from muscle_guard.fix.strategies import Strategy
from muscle_guard.fix.validation import predict_on


@dataclass
class Prepared:
    encoded: list[batches.Encoded]  # every example (train and validation), student tokenizer, by position = index
    cache: teachers.TeacherCache
    old_predictions: dict[str, Prediction] | None  # validation instance id → the old model's raw prediction


def prepare(
    accelerator: Any,
    config: TrainConfig,
    settings: SuiteSettings,
    *,
    examples: Sequence[Example],
    val_examples: Sequence[Example],
    student: Any,
    student_loaded: Any,
    old_loaded: Any,
    old_backend: Any,
    same_tokenizer: bool,
    want_val_nfr: bool,
    say: Callable[[str], None],
    progress: bool = False,
) -> Prepared:
    rank, world = accelerator.process_index, accelerator.num_processes
    device, task = accelerator.device, student_loaded.task
    mode = mode_of(config.strategy, task, config.choice_level)
    max_length = min(config.max_length, student_loaded.max_length)

    def gathered(part: dict[Any, Any]) -> dict[Any, Any]:
        return teachers.gather(accelerator, part)

    targets = None
    if mode is Mode.SEQUENCE:
        mine = [e.instance for e in examples[rank::world] if e.instance is not None]
        outputs = gathered(
            {p.id: p.text or "" for p in run_instances(old_backend, mine[0].shape, mine, settings)} if mine else {}
        )
        targets, kept = [], 0
        for e in examples:
            assert e.instance is not None
            right = judge(e.instance, Prediction(e.id, text=outputs[e.id]), settings).correct
            targets.append(sequence_target(e, outputs[e.id], right))
            kept += right
        say(f"fix: the old model is right on {kept}/{len(examples)} training instances; their outputs are the targets")

    encoded = batches.encode(examples, student_loaded.tokenizer, task, max_length, targets)
    cache = teachers.TeacherCache(form=TeacherForm.NONE, temperature=config.temperature)
    if config.strategy is Strategy.CE:  # no teachers: the old model only judges the validation split
        mode = Mode.NONE
    reuse = same_tokenizer or mode is Mode.NONE
    old_encoded = encoded if reuse else batches.encode(examples, old_loaded.tokenizer, task, max_length)
    new_pad, old_pad = batches.pad_id_of(student_loaded.tokenizer), batches.pad_id_of(old_loaded.tokenizer)
    if mode is Mode.TOKENS:
        cache.form = teachers.token_form(encoded, int(student_loaded.model.config.vocab_size), config.teacher_cache_gb)
        if cache.form is TeacherForm.TOPK and config.strategy is Strategy.ENSEMBLE:
            raise FixError(
                "--strategy ensemble mixes the teachers' full next-token distributions, which exceed "
                f"--teacher-cache-gb {config.teacher_cache_gb:g} here; raise it, or use --level choice"
            )
        kept_as = (
            "full-vocabulary logits"
            if cache.form is TeacherForm.FULL
            else f"top-{config.teacher_topk} logits + tail mass"
        )
        say(f"fix: caching both teachers' next-token {kept_as} for {len(encoded)} instances")
        for which, model, items, pad in (
            ("old", old_loaded.model, old_encoded, old_pad),
            ("new", student, encoded, new_pad),
        ):
            part = teachers.token_outputs(
                model, items[rank::world], pad, device, cache.form, config.teacher_topk, config.temperature,
                f"fix: {which} teacher" if progress else "",
            )  # fmt: skip
            setattr(cache, which, gathered(part))
    elif mode in (Mode.CHOICE, Mode.CLASSIFY):
        cache.form = TeacherForm.SCORES
        bars = ("fix: old teacher", "fix: new teacher") if progress else ("", "")
        old_part = teachers.score_outputs(old_loaded.model, old_encoded[rank::world], task, old_pad, device, bars[0])
        cache.old = gathered(old_part)
        cache.new = gathered(teachers.score_outputs(student, encoded[rank::world], task, new_pad, device, bars[1]))

    old_predictions = None
    if want_val_nfr and val_examples:
        mine = [e.instance for e in val_examples[rank::world] if e.instance is not None]
        old_predictions = gathered(predict_on(old_backend, mine, settings))
    return Prepared(encoded, cache, old_predictions)
