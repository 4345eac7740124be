"""`inspect:PATH`: inspect_ai evaluation logs (`.eval`, or its older `.json`) as a frozen side of a pair.

PATH is one log or a log directory (one log per task). Logs are read with inspect_ai's own `read_eval_log`
(optional extra `muscle-guard[inspect]`): its maintainers version the format but do not freeze it. A task with one
scorer is a suite named after the task; with several, one suite per scorer, `TASK-SCORER`. A sample run for
several epochs is one instance per epoch (`ID@EPOCH`); samples pair on (id, epoch).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from muscle_guard.backends.logs.records import EvalRun, LogDoc, LogTask
from muscle_guard.backends.logs.source import LogSource
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ModelRef

SCHEME = "inspect"
SUFFIXES = (".eval", ".json")


def open_log(ref: ModelRef, options: RunOptions) -> LogSource:
    """The registry's factory for `inspect:PATH`."""
    return LogSource(read_run(Path(ref.target), ref.raw), ref.raw)


def _reader() -> Any:
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise ModelRefError("reading inspect_ai logs needs inspect_ai: pip install 'muscle-guard[inspect]'") from None
    return read_eval_log


def log_files(path: Path, shown: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ModelRefError(f"{shown}: no such file or directory; pass an inspect log (.eval) or a log directory")
    files = sorted(p for p in path.iterdir() if p.suffix in SUFFIXES and not p.name.startswith("."))
    if not files:
        raise ModelRefError(f"{shown}: no .eval logs in this directory")
    return files


def read_run(path: Path, shown: str) -> EvalRun:
    read = _reader()
    tasks: dict[str, LogTask] = {}
    models: set[str] = set()
    digest = hashlib.sha256()
    for file in log_files(path, shown):
        try:
            log = read(str(file))
        except Exception as exc:  # inspect raises its own types for a log it cannot read: one line, the file
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelRefError(f"{file}: not a readable inspect_ai log ({detail})") from None
        if log.status != "success":
            raise ModelRefError(f"{file}: the evaluation did not finish (status {log.status}); gate finished runs")
        digest.update(file.read_bytes())
        models.add(str(log.eval.model))
        for name, task in _tasks(log, file).items():
            if name in tasks:
                raise ModelRefError(f"{shown}: two logs of task {name!r} ({tasks[name].path.name}, {file.name}); "
                                    "pass one log or a directory with one log per task")  # fmt: skip
            tasks[name] = task
    return EvalRun(SCHEME, path, ", ".join(sorted(models)), tasks, digest.hexdigest()[:32])


def _text(value: Any) -> str:
    """A sample's input or target as text: a string, or the texts of its chat messages / list items."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(_text(getattr(item, "text", item)) for item in value)
    return "" if value is None else str(value)


def _tasks(log: Any, file: Path) -> dict[str, LogTask]:
    name = str(log.eval.task).split("/")[-1]
    samples = list(log.samples or [])
    if not samples:
        raise ModelRefError(f"{file}: the log holds no samples (written with --no-log-samples?)")
    scorers = sorted({scorer for s in samples for scorer in (s.scores or {})})
    epochs = {int(s.epoch) for s in samples}
    docs: dict[str, dict[str, LogDoc]] = {scorer: {} for scorer in scorers}
    for sample in samples:
        key = str(sample.id) if len(epochs) == 1 else f"{sample.id}@{sample.epoch}"
        prompt, target = _text(sample.input), _text(sample.target)
        choices = tuple(str(c) for c in (sample.choices or ()))
        identity = json.dumps([prompt, target, list(choices)], ensure_ascii=False)
        output = getattr(sample.output, "completion", "") if sample.output is not None else ""
        for scorer in scorers:
            score = (sample.scores or {}).get(scorer)
            docs[scorer][key] = LogDoc(
                key=key, prompt=prompt, target=target, choices=choices, text=str(output or ""),
                metrics={scorer: None if score is None else score.value},
                doc_hash=hashlib.sha256(identity.encode()).hexdigest(), prompt_hash="",
                doc={"input": prompt, "target": target, "choices": list(choices), "answer": getattr(score, "answer", None)},
            )  # fmt: skip
    version = str(getattr(log.eval, "task_version", ""))
    one = len(scorers) == 1
    return {
        (name if one else f"{name}-{scorer}"): LogTask(
            name=name if one else f"{name}-{scorer}",
            path=file,
            multiple_choice=False,
            filters=("none",),
            metrics=(scorer,),
            docs={"none": docs[scorer]},
            version=version,
        )
        for scorer in scorers
    }
