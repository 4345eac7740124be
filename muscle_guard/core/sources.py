"""Open what a model reference points at: a live backend, or a baseline file that needs no model."""

from __future__ import annotations

from pathlib import Path

from muscle_guard.core.backend import Backend, RunOptions
from muscle_guard.core.baseline import BaselineFile, read_baseline
from muscle_guard.core.modelref import RefKind, parse_model_ref
from muscle_guard.core.registry import load_backend

ModelSource = Backend | BaselineFile


def open_source(raw: str, options: RunOptions, option: str = "model") -> ModelSource:
    """Parse and open `raw`; ModelRefError/BackendError/BaselineError say what is wrong."""
    ref = parse_model_ref(raw, option)
    if ref.kind is RefKind.BASELINE:
        return read_baseline(Path(ref.target))
    return load_backend(ref, options)


def close_source(source: ModelSource | None) -> None:
    if source is not None and not isinstance(source, BaselineFile):
        source.close()
