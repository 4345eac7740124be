"""Training data for `fix`: suite-format instances → examples, the validation split, the overlap guard.

Pure Python (no torch): tokenization and batching live in `fix.batches`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from muscle_guard.core.config import ProjectConfig, SuiteSettings
from muscle_guard.core.errors import ConfigError, FixError, SuiteError
from muscle_guard.core.suite import Instance, Shape, Suite, first_problems, read_json_lines

SHOWN_OVERLAPS = 5


@dataclass(frozen=True)
class Example:
    """One training instance as the models see it.

    `context` is the rendered prompt (or the text of a classification instance); `target` the continuation
    trained with teacher forcing (the right choice, the answer, the reference; "" for classification);
    `label` the right choice or class index; `choices` the options of a multiple-choice instance.
    """

    index: int
    id: str
    where: str
    context: str
    target: str = ""
    label: int | None = None
    choices: tuple[str, ...] = ()
    instance: Instance | None = field(default=None, compare=False, repr=False)
    raw: str = ""  # an --unlabelled input's prompt or text as written (a suite instance has it as instance.inputs)


def judging_settings(project: ProjectConfig, suites: Sequence[Suite], train: Suite) -> tuple[SuiteSettings, str]:
    """The settings fix renders, trains and validates with, and the table that sets them: the --suites' own (the
    gate's), which must agree on everything but their budgets; the global table's without a --suite. The training
    file is data: its name is never looked up as a suite's."""
    if not suites:
        return project.global_settings(), project.table_of(None)
    for suite in suites:
        if suite.shape is not train.shape:
            raise FixError(
                f"--suite {suite.path} is {suite.shape.value} but the training data {train.path} is "
                f"{train.shape.value}; fix trains on the task the suite gates: give training data of that shape"
            )
    first = suites[0]
    settings = project.settings_for(first.name)
    mine = {k: v for k, v in settings.to_json().items() if k != "gates"}
    for suite in suites[1:]:
        theirs = {k: v for k, v in project.settings_for(suite.name).to_json().items() if k != "gates"}
        differ = sorted(k for k in mine if mine[k] != theirs[k])
        if differ:
            key = differ[0]
            raise FixError(
                f"--suite {first.path} and --suite {suite.path} are judged with different settings ({key}: "
                f"{mine[key]!r} against {theirs[key]!r}); fix validates as the gate judges, under one set of "
                "settings: run fix once per group of suites that share them"
            )
    return settings, project.table_of(first.name)


def build_examples(suite: Suite, settings: SuiteSettings, table: str = "[tool.muscle-guard]") -> list[Example]:
    """The examples of a training suite, rendered with the suite settings the gate uses (set in `table`)."""
    out = []
    for index, instance in enumerate(suite.instances):
        where = f"{suite.path}:{instance.line}"
        try:
            example = _example(index, instance, settings, where)
        except ConfigError:
            known = ", ".join(repr(label) for label in settings.labels) or "none are set"
            raise FixError(
                f"{where}: label {instance.label!r} is not one of the labels ({known}); training data is judged "
                f"with the --suite's settings: set labels = [...] in {table}, or write the label as a class index"
            ) from None
        out.append(replace(example, instance=instance))
    return out


def _example(index: int, instance: Instance, settings: SuiteSettings, where: str) -> Example:
    shape = instance.shape
    if shape is Shape.CLASSIFY:
        assert instance.label is not None
        return Example(index, instance.id, where, instance.text or "", label=settings.label_index(instance.label))
    context = settings.render(instance.prompt or "")
    if shape is Shape.MULTIPLE_CHOICE:
        assert isinstance(instance.answer, int)
        answer = instance.answer
        return Example(index, instance.id, where, context, instance.choices[answer], answer, instance.choices)
    target = str(instance.answer) if shape is Shape.GENERATE_EXACT else (instance.reference or "")
    return Example(index, instance.id, where, context, continuation(context, target))


TARGET_DELIMITER = " "  # lm-evaluation-harness's default target_delimiter between a prompt and its answer


def continuation(context: str, answer: str) -> str:
    """What a generation instance trains on after its prompt: the answer as a model writes it. A model answers
    "Answer:" with " 42", not "42" (a different token), so the answer follows lm-eval's target delimiter, one
    space, unless the prompt ends in whitespace or the answer starts with it. The gate compares normalised text,
    so both spellings are judged alike; only training would learn a token the models never produce."""
    if not answer or not context or context[-1].isspace() or answer[0].isspace():
        return answer
    return TARGET_DELIMITER + answer


def load_unlabelled(path: Path, shape: Shape, settings: SuiteSettings, start: int) -> list[Example]:
    """Inputs for the teacher terms only (`fix --unlabelled`): one JSON object a line, `{"text": ...}` for a
    classifier, `{"prompt": ..., "choices": [...]}` for multiple choice; an `id` is optional (default: the line
    number) and any label or answer is ignored. Their indices continue the training data's from `start`.

    Distillation needs no labels: the ensemble's target is the two teachers' mix, so every input a user has
    (production traffic, the unlabelled rest of a dataset) teaches the student the old model's decisions.
    """
    shown = str(path)
    rows, problems = read_json_lines(path, "--unlabelled")
    out: list[Example] = []
    for number, obj in rows:
        where = f"{shown}:{number}"
        try:
            out.append(_unlabelled(obj, shape, settings, start + len(out), where, number))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    if not problems and not out:
        problems.append(f"{shown}: no inputs; add lines or drop --unlabelled")
    if problems:
        raise SuiteError(first_problems(problems, shown))
    return out


def _unlabelled(obj: object, shape: Shape, settings: SuiteSettings, index: int, where: str, line: int) -> Example:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    id_ = obj.get("id", f"line-{line}")
    if not isinstance(id_, str) or not id_.strip():
        raise ValueError(f"'id' must be a non-empty string, got {id_!r}")
    if shape is Shape.CLASSIFY:
        text = obj.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValueError('a classifier\'s unlabelled input is {"text": "..."} with a non-empty string')
        return Example(index, f"unlabelled:{id_}", where, text, raw=text)
    if shape is Shape.MULTIPLE_CHOICE:
        prompt, choices = obj.get("prompt"), obj.get("choices")
        if not isinstance(prompt, str) or not isinstance(choices, list) or len(choices) < 2:
            raise ValueError('a multiple-choice unlabelled input is {"prompt": "...", "choices": ["...", "..."]}')
        if not all(isinstance(c, str) and c for c in choices):
            raise ValueError("'choices' must be non-empty strings")
        context = settings.render(prompt)
        return Example(index, f"unlabelled:{id_}", where, context, choices[0], None, tuple(choices), raw=prompt)
    raise ValueError(f"--unlabelled inputs are for classification or multiple choice, not {shape.value}")


def split_validation(examples: Sequence[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """A deterministic (train, validation) split in which no input is on both sides.

    Examples whose inputs are equal after `normalise_for_overlap` form one group and go to the same side, so
    duplicated texts cannot leak from training into validation and make the validation signal measure
    memorisation. Each group's place depends on its normalised input and the seed only; in that order, each
    group that still fits goes to validation, up to round(fraction·n) examples (at least one when fraction > 0
    and n >= 2; when every group is larger, the first group alone). Training always keeps at least one group;
    with a single distinct input there is no validation part. Both parts keep the input order.
    """
    n = len(examples)
    n_val = min(max(round(fraction * n), 1), n - 1) if fraction > 0 and n >= 2 else 0
    groups: dict[str, list[Example]] = {}
    for example in examples:
        groups.setdefault(normalise_for_overlap(example.context), []).append(example)

    def rank(key: str) -> str:
        return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()

    val_ids: set[str] = set()
    ranked = sorted(groups, key=rank)
    for key in ranked:  # whole groups that fit (n_val < n, so training keeps a group), copies never swamp it
        if len(val_ids) + len(groups[key]) <= n_val:
            val_ids.update(e.id for e in groups[key])
    if not val_ids and n_val and len(ranked) >= 2:  # every group is larger than n_val: the first one, alone
        val_ids.update(e.id for e in groups[ranked[0]])
    return [e for e in examples if e.id not in val_ids], [e for e in examples if e.id in val_ids]


_NON_WORD = re.compile(r"[\W_]+")


def normalise_for_overlap(text: str) -> str:
    """NFKC, case-folded, punctuation and whitespace runs collapsed to one space: trivial edits do not hide a copy."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


@dataclass(frozen=True)
class Overlap:
    """A training instance whose normalised prompt/text equals a suite instance's."""

    train_where: str
    train_id: str
    suite_where: str
    suite_id: str


def find_overlaps(train: Suite, suites: Sequence[Suite]) -> list[Overlap]:
    """Every training instance whose normalised input (prompt or text) is also in one of `suites`."""
    return find_input_overlaps([(f"{train.path}:{i.line}", i.id, i.inputs) for i in train.instances], suites)


def find_input_overlaps(inputs: Sequence[tuple[str, str, str]], suites: Sequence[Suite]) -> list[Overlap]:
    """Every (where, id, prompt or text) whose normalised input is also in one of `suites`."""
    seen: dict[str, tuple[str, str]] = {}
    for suite in suites:
        for instance in suite.instances:
            key = normalise_for_overlap(instance.inputs)
            seen.setdefault(key, (f"{suite.path}:{instance.line}", instance.id))
    out = []
    for where, id_, text in inputs:
        hit = seen.get(normalise_for_overlap(text))
        if hit is not None:
            out.append(Overlap(where, id_, hit[0], hit[1]))
    return out


def refuse_overlaps(overlaps: Sequence[Overlap]) -> None:
    """Raise FixError listing the count and the first few overlaps (training on the gate's suites games it)."""
    if not overlaps:
        return
    lines = [
        f"{len(overlaps)} training instance(s) have the same prompt/text as a --suite instance; training on the "
        "suites the gate checks would game it. Remove them from the training data, or pass --allow-overlap:"
    ]
    for item in overlaps[:SHOWN_OVERLAPS]:
        lines.append(f"  {item.train_where} (id {item.train_id}) = {item.suite_where} (id {item.suite_id})")
    if len(overlaps) > SHOWN_OVERLAPS:
        lines.append(f"  ... and {len(overlaps) - SHOWN_OVERLAPS} more")
    raise FixError("\n".join(lines))


def sequence_target(example: Example, old_output: str, old_correct: bool) -> str:
    """Sequence-level distillation's target: the old model's output where it was right, else the reference."""
    return old_output if old_correct else example.target
