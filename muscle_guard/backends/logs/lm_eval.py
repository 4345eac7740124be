"""`lm-eval:PATH`: the samples lm-evaluation-harness wrote with `--log_samples`, as a frozen side of a pair.

PATH is an output directory (`--output_path`, holding one model's sub-directory), a model sub-directory, or one
`samples_<task>_<date>.jsonl` file. Reading needs no lm-eval install: the files are JSON (formats.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from muscle_guard.backends.logs.formats import ResultsFile, SampleLine
from muscle_guard.backends.logs.records import EvalRun, LogDoc, LogTask
from muscle_guard.backends.logs.source import LogSource
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ModelRef

SCHEME = "lm-eval"


def open_log(ref: ModelRef, options: RunOptions) -> LogSource:
    """The registry's factory for `lm-eval:PATH`."""
    return LogSource(read_run(Path(ref.target), ref.raw), ref.raw)


def samples_files(path: Path, shown: str) -> list[Path]:
    """The samples files PATH stands for (one per task)."""
    if path.is_file():
        if not (path.name.startswith("samples_") and path.suffix == ".jsonl"):
            raise ModelRefError(f"{shown}: not an lm-eval samples file (samples_<task>_<date>.jsonl)")
        return [path]
    if not path.is_dir():
        raise ModelRefError(f"{shown}: no such file or directory; pass lm-eval's --output_path, a model folder in it "
                            "or one samples_*.jsonl file")  # fmt: skip
    direct = sorted(path.glob("samples_*.jsonl"))
    if direct:
        return direct
    folders = sorted({p.parent for p in path.glob("*/samples_*.jsonl")})
    if not folders:
        raise ModelRefError(f"{shown}: no samples_*.jsonl here or one folder down; run lm_eval with --log_samples")
    if len(folders) > 1:
        names = ", ".join(f.name for f in folders)
        raise ModelRefError(f"{shown}: holds the samples of {len(folders)} models ({names}); pass one model's folder")
    return sorted(folders[0].glob("samples_*.jsonl"))


def _task_and_date(path: Path) -> tuple[str, str]:
    stem = path.stem.removeprefix("samples_")
    task, _, date = stem.rpartition("_")
    return (task, date) if task else (stem, "")


def read_run(path: Path, shown: str) -> EvalRun:
    files = samples_files(path, shown)
    by_task: dict[str, list[Path]] = {}
    for file in files:
        by_task.setdefault(_task_and_date(file)[0], []).append(file)
    several = {task: fs for task, fs in by_task.items() if len(fs) > 1}
    if several:
        task, fs = sorted(several.items())[0]
        raise ModelRefError(
            f"{shown}: {len(fs)} runs of task {task!r} ({', '.join(_task_and_date(f)[1] for f in fs)}); pass one "
            "samples file, or a folder that holds one run"
        )
    results = _results(files[0].parent, [_task_and_date(f)[1] for f in files], shown)
    tasks = {task: _task(fs[0], task, results, shown) for task, fs in sorted(by_task.items())}
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    model = str(results.get("model_name", "")) if results else ""
    return EvalRun(SCHEME, path, model, tasks, digest.hexdigest()[:32])


def _results(folder: Path, dates: Iterable[str], shown: str) -> ResultsFile:
    """The results file of the run (its task configs, versions and n-shot), when there is one."""
    candidates = [folder / f"results_{date}.json" for date in dict.fromkeys(dates)]
    found = [p for p in candidates if p.is_file()] or sorted(folder.glob("results_*.json"))[-1:]
    if not found:
        return {}
    try:
        data = json.loads(found[0].read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelRefError(f"{found[0]}: not a readable lm-eval results file ({exc})") from None
    if not isinstance(data, dict):
        raise ModelRefError(f"{found[0]}: not an lm-eval results file (expected an object)")
    return data  # type: ignore[return-value]


def _lines(path: Path) -> Iterable[tuple[int, SampleLine]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelRefError(f"{path}: cannot read ({exc})") from None
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, ValueError) as exc:
            raise ModelRefError(f"{path}:{number}: not JSON ({exc}); is the file complete?") from None
        if not isinstance(value, dict) or "doc_id" not in value or "filter" not in value:
            raise ModelRefError(f"{path}:{number}: not an lm-eval sample (no doc_id or filter)")
        yield number, value  # type: ignore[misc]


def _task(path: Path, name: str, results: ResultsFile, shown: str) -> LogTask:
    config = (results.get("configs") or {}).get(name) or {}
    docs: dict[str, dict[str, LogDoc]] = {}
    metrics: tuple[str, ...] = ()
    mc = config.get("output_type") == "multiple_choice" if config else None
    for number, line in _lines(path):
        try:
            doc = _doc(line, mc)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelRefError(f"{path}:{number}: an lm-eval sample this version cannot read ({exc})") from None
        bucket = docs.setdefault(str(line["filter"]), {})
        if doc.key in bucket:
            raise ModelRefError(f"{path}:{number}: doc {doc.key} twice under filter {line['filter']!r}")
        bucket[doc.key] = doc
        metrics = metrics or tuple(str(m) for m in line.get("metrics", ()))
    if not docs:
        raise ModelRefError(f"{path}: no samples")
    raw_filters: list[Any] = list(config.get("filter_list") or [])
    listed = [str(f.get("name")) for f in raw_filters if isinstance(f, dict)]
    filters = tuple(f for f in listed if f in docs) + tuple(f for f in docs if f not in listed)
    versions = results.get("versions") or {}
    raw: dict[str, Any] = dict(results)
    n_shot: dict[str, Any] = raw.get("n-shot") or {}
    first = next(iter(next(iter(docs.values())).values()))
    return LogTask(
        name=name, path=path, multiple_choice=bool(first.choices) if mc is None else mc, filters=filters,
        metrics=metrics, docs=docs, version=_text(versions.get(name)), n_shot=_text(n_shot.get(name)),
    )  # fmt: skip


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _doc(line: SampleLine, mc: bool | None) -> LogDoc:
    arguments = line.get("arguments") or {}
    args = [arguments[f"gen_args_{i}"] for i in range(len(arguments))]
    prompt = str(args[0]["arg_0"]) if args else ""
    filtered = line.get("filtered_resps")
    is_mc = mc if mc is not None else all(isinstance(a.get("arg_1"), str) for a in args) and len(args) > 1
    metrics = {str(m): line[m] for m in line.get("metrics", ()) if m in line}  # type: ignore[literal-required]
    common: dict[str, Any] = {
        "key": str(line["doc_id"]), "prompt": prompt, "target": str(line.get("target", "")), "metrics": metrics,
        "doc_hash": str(line.get("doc_hash", "")), "prompt_hash": str(line.get("prompt_hash", "")),
        "doc": line.get("doc"),
    }  # fmt: skip
    if is_mc:
        logliks = tuple(float(pair[0]) for pair in filtered or ())
        return LogDoc(choices=tuple(str(a["arg_1"]) for a in args), logliks=logliks, **common)
    text = filtered[0] if isinstance(filtered, list) and filtered else filtered
    return LogDoc(text="" if text is None else str(text), **common)
