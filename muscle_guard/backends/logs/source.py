"""An evaluation log as a frozen side of a pair (like a baseline file: no model loaded, torch never imported), and
the suites two logs make when a run has no suite files.

Pairing: a suite's instance is a doc of the old run (its tool id in the instance's `meta`), found in the other run
by the same id (lm-eval: `doc_id`, per filter; inspect: sample id and epoch). A doc whose hash differs between the
runs is another document and is refused, naming the task and the doc. Right and wrong come from the per-sample
metric the tool wrote (`Prediction.score`), under the suite's `log_metric` and `log_filter` or the documented
defaults (docs/logs.md): lm-eval multiple choice `acc`, generation `exact_match` (else the task's first metric),
lm-eval's first filter; inspect the suite's scorer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muscle_guard.backends.logs.formats import INSPECT_VALUES
from muscle_guard.backends.logs.records import EvalRun, LogDoc, LogTask
from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BaselineError, ModelRefError
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.prompt_format import NONE, PromptFormat
from muscle_guard.core.suite import Instance, Shape, Suite

DEFAULT_METRICS = {True: ("acc",), False: ("exact_match",)}  # multiple choice → acc; generation → exact_match
_NUMBERED = re.compile(r"(?:^|[-_])(?:doc-?)?(\d+)$")


class LogSource:
    """One tool's run as a PredictionSource: predictions carry the tool's own per-sample verdict."""

    def __init__(self, run: EvalRun, ref: str) -> None:
        self.run = run
        self.ref = ref

    @property
    def info(self) -> ModelInfo:
        details = {"log": str(self.run.path), "tool": self.run.tool, "model": self.run.model}
        return ModelInfo(ref=self.ref, kind=f"{self.run.tool} log", fingerprint=self.run.fingerprint, details=details)

    def close(self) -> None:
        pass

    def task(self, suite: Suite) -> LogTask:
        task = self.run.tasks.get(suite.name)
        if task is None:
            have = ", ".join(sorted(self.run.tasks)) or "none"
            raise BaselineError(f"{self.ref}: no task {suite.name!r} in this log (it has: {have}); a suite is gated "
                                "from the log's task of the same name")  # fmt: skip
        return task

    def predictions_for(
        self, suite: Suite, settings: SuiteSettings, prompt: PromptFormat = NONE
    ) -> dict[str, Prediction]:
        """Each instance's doc in this run, the tool's response and verdict; refuses a doc that differs."""
        task = self.task(suite)
        docs = task.docs[chosen_filter(task, settings, self.ref)]
        metric = chosen_metric(task, settings, self.ref)
        out: dict[str, Prediction] = {}
        for instance in suite.instances:
            key = doc_key(instance, docs)
            doc = docs.get(key) if key is not None else None
            if doc is None:
                raise BaselineError(
                    f"{self.ref}: task {task.name!r} has no doc for {instance.id!r} ({len(docs)} docs here, "
                    f"{len(suite)} in the suite): the runs evaluated different docs; rerun them on the same docs"
                )
            expected = instance.meta.get("doc_hash")
            if expected and doc.doc_hash and expected != doc.doc_hash:
                raise BaselineError(
                    f"{self.ref}: task {task.name!r} doc {doc.key} differs from the other run's (doc_hash "
                    f"{doc.doc_hash[:12]} against {str(expected)[:12]}): they evaluated different data; rerun both "
                    "on the same dataset version"
                )
            value = score_of(doc.metrics, metric, f"{self.ref}: task {task.name!r} doc {doc.key}")
            out[instance.id] = Prediction(instance.id, logliks=doc.logliks, text=doc.text, score=value)
        return out


def chosen_filter(task: LogTask, settings: SuiteSettings, where: str) -> str:
    name = settings.log_filter or task.filters[0]
    if name not in task.docs:
        raise ModelRefError(f"{where}: task {task.name!r} has no filter {name!r} (filters: {', '.join(task.filters)}); "
                            "set log_filter to one of them")  # fmt: skip
    return name


def chosen_metric(task: LogTask, settings: SuiteSettings, where: str) -> str:
    if settings.log_metric:
        if settings.log_metric not in task.metrics:
            raise ModelRefError(f"{where}: task {task.name!r} has no per-sample metric {settings.log_metric!r} "
                                f"(metrics: {', '.join(task.metrics)}); set log_metric to one of them")  # fmt: skip
        return settings.log_metric
    preferred = [m for m in DEFAULT_METRICS[task.multiple_choice] if m in task.metrics]
    if not preferred and not task.metrics:
        raise ModelRefError(f"{where}: task {task.name!r} wrote no per-sample metric")
    return preferred[0] if preferred else task.metrics[0]


def score_of(metrics: Mapping[str, Any], metric: str, where: str) -> float:
    """A per-sample metric value as a number: 1/0 (or inspect's C/I/P/N) or a score; refused by name otherwise."""
    value = metrics.get(metric)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value in INSPECT_VALUES:
        return INSPECT_VALUES[value]
    kind = "missing" if value is None else f"{type(value).__name__} {str(value)[:40]!r}"
    raise ModelRefError(
        f"{where}: metric {metric!r} is {kind}, not right/wrong or a score per sample (some metrics, such as a "
        "(gold, prediction) pair, only mean something over the whole task); set log_metric to another"
    )


def doc_key(instance: Instance, docs: Mapping[str, LogDoc]) -> str | None:
    """The doc an instance stands for: its recorded key (suites made from a log), else the doc number its id ends
    with (`doc-17`, `arc_easy-17`: what `suite import --lm-eval-task` writes), else the doc with its prompt."""
    key = instance.meta.get("log_key")
    if isinstance(key, str):
        return key
    match = _NUMBERED.search(instance.id)
    if match and match.group(1) in docs:
        return match.group(1)
    same = [d.key for d in docs.values() if d.prompt == instance.inputs]
    return same[0] if len(same) == 1 else None


def _order(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


@dataclass(frozen=True)
class LogSuites:
    """What two runs' logs gate: one suite per task both hold; a line per thing the user should know (`notes`: a
    task one run lacks, another version or n-shot, prompts rendered another way); a line per task refused because
    the runs evaluated different data on it (`refused`: said once, the task not gated, the run not a verdict)."""

    suites: list[Suite]
    notes: list[str]
    refused: list[str]


def log_suites(old: LogSource, new: LogSource, settings_for: Callable[[str], SuiteSettings]) -> LogSuites:
    """The suites, notes and refusals of two runs' logs (see LogSuites); suites are built from the old run's docs."""
    suites: list[Suite] = []
    notes: list[str] = []
    refused: list[str] = []
    for name in sorted(set(old.run.tasks) - set(new.run.tasks)):
        notes.append(f"task {name!r} is in {old.ref} only: not gated")
    for name in sorted(set(new.run.tasks) - set(old.run.tasks)):
        notes.append(f"task {name!r} is in {new.ref} only: not gated")
    for name in sorted(set(old.run.tasks) & set(new.run.tasks)):
        a, b = old.run.tasks[name], new.run.tasks[name]
        for what, x, y in (("version", a.version, b.version), ("n-shot", a.n_shot, b.n_shot)):
            if x != y:
                notes.append(f"task {name!r}: {what} {x or '?'} in {old.ref}, {y or '?'} in {new.ref}")
        settings = settings_for(name)
        filter_ = chosen_filter(a, settings, old.ref)
        chosen_filter(b, settings, new.ref)
        metric = chosen_metric(a, settings, old.ref)
        chosen_metric(b, settings, new.ref)
        if a.metrics != b.metrics or a.filters != b.filters:
            notes.append(f"task {name!r}: the runs wrote other metrics or filters ({', '.join(a.metrics)} / "
                         f"{', '.join(b.metrics)}); gated on {metric} under filter {filter_}")  # fmt: skip
        docs = a.docs[filter_]
        different = _different_data(name, docs, b.docs[filter_], new.ref)
        if different:
            refused.append(different)
            continue
        prompts = sum(
            1 for k, d in docs.items() if k in b.docs[filter_] and d.prompt_hash != b.docs[filter_][k].prompt_hash
        )
        if prompts:
            notes.append(f"task {name!r}: {prompts} of {len(docs)} prompts differ between the runs (prompt_hash: "
                         "another chat template, system prompt or few-shot set)")  # fmt: skip
        suites.append(suite_of(a, filter_, metric, old.run.path / name, old.ref))
    return LogSuites(suites, notes, refused)


def _different_data(name: str, ours: Mapping[str, LogDoc], theirs: Mapping[str, LogDoc], where: str) -> str:
    """One line when the two runs did not evaluate the same docs of a task (a doc missing, or one whose doc_hash
    differs), else "": pairing them would compare answers to different questions."""
    changed = [k for k, d in ours.items() if k in theirs and d.doc_hash and theirs[k].doc_hash
               and d.doc_hash != theirs[k].doc_hash]  # fmt: skip
    missing = [k for k in ours if k not in theirs] + [k for k in theirs if k not in ours]
    if changed:
        first = changed[0]
        more = f" and {len(changed) - 1} more" if len(changed) > 1 else ""
        return (
            f"{where}: task {name!r} doc {first}{more} differs from the other run's (doc_hash "
            f"{theirs[first].doc_hash[:12]} against {ours[first].doc_hash[:12]}): they evaluated different data, so "
            "the task is not gated; rerun both on the same dataset version"
        )
    if missing:
        return (
            f"{where}: task {name!r} has {len(theirs)} docs here and {len(ours)} in the other run (doc "
            f"{sorted(missing, key=_order)[0]} is in one only): they evaluated different docs, so the task is not "
            "gated; rerun both on the same docs (the same --limit)"
        )
    return ""


def suite_of(task: LogTask, filter_: str, metric: str, path: Path, where: str) -> Suite:
    """The task's docs (under `filter_`) as a suite: multiple choice, exact match or a continuous score by what the
    metric holds."""
    docs = [task.docs[filter_][k] for k in sorted(task.docs[filter_], key=_order)]
    values = [score_of(d.metrics, metric, f"{where}: task {task.name!r} doc {d.key}") for d in docs]
    binary = all(v in (0.0, 1.0) for v in values)
    if task.multiple_choice and binary:
        shape = Shape.MULTIPLE_CHOICE
    else:
        shape = Shape.GENERATE_EXACT if binary else Shape.GENERATE_SCORE
    instances = [_instance(d, shape, line) for line, d in enumerate(docs, start=1)]
    return Suite(name=task.name, path=path, shape=shape, instances=tuple(instances))


def _instance(doc: LogDoc, shape: Shape, line: int) -> Instance:
    meta = {"log_key": doc.key, "doc_hash": doc.doc_hash, "doc": doc.doc}
    common: dict[str, Any] = {"id": doc.instance_id, "shape": shape, "line": line, "prompt": doc.prompt, "meta": meta}
    if shape is Shape.MULTIPLE_CHOICE:
        return Instance(choices=doc.choices, answer=_gold(doc), **common)
    if shape is Shape.GENERATE_EXACT:
        return Instance(answer=doc.target or "(empty)", **common)
    return Instance(reference=doc.target or "(empty)", **common)


def _gold(doc: LogDoc) -> int:
    target = doc.target.strip()
    if target.isdigit() and int(target) < len(doc.choices):
        return int(target)
    bare = [c.strip() for c in doc.choices]
    return bare.index(target) if target in bare else 0


def task_names(runs: Sequence[EvalRun]) -> list[str]:
    return sorted(set.intersection(*(set(r.tasks) for r in runs))) if runs else []
