"""Shared helpers for the unit tests: suite files, fake-backend answer files and their backends."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.backends.fake import FakeBackend
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.core.registry import load_backend

SuiteLine = dict[str, Any] | str
WriteSuite = Callable[..., Path]
MakeFake = Callable[..., FakeBackend]


def _suite_lines(shape: str, n: int) -> list[dict[str, Any]]:
    lines = []
    for i in range(n):
        if shape == "multiple_choice":
            line: dict[str, Any] = {"prompt": f"Q{i}:", "choices": [" a", " b", " c"], "answer": i % 3}
        elif shape == "generate_exact":
            line = {"prompt": f"Q{i}:", "answer": str(i)}
        elif shape == "generate_score":
            line = {"prompt": f"Q{i}:", "reference": f"the answer is {i}"}
        else:
            line = {"text": f"text {i}", "label": i % 2}
        lines.append({"id": f"{shape}-{i}", **line})
    return lines


@pytest.fixture
def suite_lines() -> Callable[[str, int], list[dict[str, Any]]]:
    """`suite_lines(shape, n)`: n distinct valid lines of one shape (a Shape value), ids `<shape>-0..n-1`."""
    return _suite_lines


@pytest.fixture
def write_suite(tmp_path: Path) -> WriteSuite:
    """Write a suite file: dict lines become JSON, str lines are written verbatim (for broken input)."""

    def write(lines: Sequence[SuiteLine], name: str = "suite", directory: Path | None = None) -> Path:
        folder = directory or tmp_path / "suites"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.jsonl"
        body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
        path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_fake(tmp_path: Path) -> MakeFake:
    """A FakeBackend loaded through its `fake:FILE.json` reference, answering from `answers`."""

    def make(answers: dict[str, Any] | None = None, name: str = "model", classes: int = 2) -> FakeBackend:
        path = tmp_path / "models" / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"answers": answers or {}, "classes": classes}), encoding="utf-8")
        backend = load_backend(parse_model_ref(f"fake:{path}"))
        assert isinstance(backend, FakeBackend)
        return backend

    return make
