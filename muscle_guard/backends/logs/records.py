"""Evaluation logs another tool wrote, as one typed record whatever the tool: a run holds tasks, a task holds
docs per filter, a doc holds what was asked, what the model said and the per-sample metrics the tool wrote.

The tools' own formats are written down as types in `formats.py`; readers (`lm_eval.py`, `inspect.py`) turn
them into these records, and `source.py` gates from them. Pure Python, no third-party import.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class LogDoc:
    """One evaluated document (one sample of an inspect epoch), under one filter."""

    key: str  # the tool's own id: lm-eval's doc_id, inspect's sample id (with its epoch when there are several)
    prompt: str  # what the model was given (lm-eval: the rendered context; inspect: the input text)
    target: str
    choices: tuple[str, ...] = ()
    logliks: tuple[float, ...] = ()  # multiple choice: per choice, as the tool scored them
    text: str | None = None  # generation: the response after the filter
    metrics: Mapping[str, Any] = field(default_factory=dict)  # per-sample metric values as the tool wrote them
    doc_hash: str = ""  # identifies the document: a doc whose hash differs between runs is another doc
    prompt_hash: str = ""  # identifies the rendered prompt (another chat template or few-shot set changes it)
    doc: Any = None  # the tool's document, for the failure diff

    @property
    def instance_id(self) -> str:
        return f"doc-{self.key}" if self.key.isdigit() else self.key


@dataclass(frozen=True)
class LogTask:
    """One task of a run: its docs under each filter, and what the tool recorded about how it ran."""

    name: str
    path: Path  # the file its samples came from
    multiple_choice: bool
    filters: tuple[str, ...]  # in the tool's order; the first is the default
    metrics: tuple[str, ...]  # the per-sample metrics written, in the tool's order
    docs: Mapping[str, Mapping[str, LogDoc]]  # filter → doc key → doc
    version: str = ""
    n_shot: str = ""


@dataclass(frozen=True)
class EvalRun:
    """One run of one model by one tool: its tasks by name (inspect: task, or task-scorer with several)."""

    tool: str  # "lm-eval" | "inspect"
    path: Path
    model: str  # the model as the tool named it
    tasks: Mapping[str, LogTask]
    fingerprint: str  # a hash of what was read: another run, another fingerprint
