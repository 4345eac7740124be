"""Suites from lm-evaluation-harness tasks, rendered by lm-eval itself (`muscle-guard[lm-eval]`).

lm-eval builds the task from its YAML (`doc_to_text`, `doc_to_choice`, `doc_to_target`, filters, its datasets
source) and renders every document; this module only writes down what lm-eval would send the model:
- `multiple_choice`: the prompt is `doc_to_text`, each choice is `target_delimiter + choice` (lm-eval scores
  `context + delimiter + choice`), the answer the target's index;
- `generate_until`: the prompt is `doc_to_text`, the answer `doc_to_target` (exact match).
The task's evaluation split is used (test, else validation), as `lm_eval run` does.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import ConfigError


def _lm_eval() -> Any:
    try:
        import lm_eval.tasks
    except ImportError:
        raise ConfigError(
            "importing an lm-eval task needs lm-evaluation-harness: pip install 'muscle-guard[lm-eval]'"
        ) from None
    return lm_eval.tasks


def task_name(manager: Any, yaml_path: Path) -> str:
    """The task that lm-eval's index built from `yaml_path`."""
    target = yaml_path.resolve()
    for name, entry in manager.task_index.items():
        path = entry.get("yaml_path") if isinstance(entry, dict) else getattr(entry, "yaml_path", None)
        if path is not None and Path(path).resolve() == target:
            return str(name)
    raise ConfigError(f"{yaml_path}: lm-eval finds no task in it (a group or a template? pass one task's YAML)")


def task_rows(yaml_path: Path, limit: int | None = None) -> tuple[str, Iterator[Mapping[str, Any]], dict[str, Any]]:
    """(task name, suite lines, metadata) of the task in `yaml_path`, rendered by lm-eval."""
    tasks = _lm_eval()
    if not yaml_path.is_file():
        raise ConfigError(f"{yaml_path}: no such task YAML")
    manager = tasks.TaskManager(include_path=str(yaml_path.parent.resolve()), include_defaults=False)
    name = task_name(manager, yaml_path)
    try:
        task = tasks.get_task_dict([name], manager)[name]
    except Exception as exc:
        raise ConfigError(f"{yaml_path}: lm-eval cannot build task {name!r} ({exc})") from None
    kind = task.OUTPUT_TYPE
    if kind not in ("multiple_choice", "generate_until"):
        raise ConfigError(f"{yaml_path}: task {name!r} is {kind}; muscle-guard imports multiple_choice and "
                          "generate_until tasks")  # fmt: skip
    docs = task.test_docs() if task.has_test_docs() else task.validation_docs()
    if docs is None:
        raise ConfigError(f"{yaml_path}: task {name!r} has neither test nor validation documents")
    delimiter = task.config.target_delimiter
    meta = {"lm_eval_task": name, "output_type": kind, "target_delimiter": delimiter}

    def rows() -> Iterator[Mapping[str, Any]]:
        for number, doc in enumerate(docs):
            if limit is not None and number >= limit:
                return
            text = task.doc_to_text(doc)
            target = task.doc_to_target(doc)
            if kind == "multiple_choice":
                choices = [f"{delimiter}{c}" for c in task.doc_to_choice(doc)]
                answer = target if isinstance(target, int) else choices.index(f"{delimiter}{target}")
                yield {"prompt": text, "choices": choices, "answer": answer, "doc": number}
            else:
                yield {"prompt": text, "answer": str(target), "doc": number}

    return name, rows(), meta
