"""A fast, deterministic backend for tests: answers come from a JSON file, no model is loaded.

Reference form: `fake:ANSWERS.json`, where the file holds `{"answers": {CONTEXT: ANSWER}, "classes": 2}`.
CONTEXT is the rendered prompt (multiple choice, generation) or the text (classification); ANSWER is a
choice index, a class index or the generated string. Unlisted contexts answer 0 (or "").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, ModelInfo, RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ModelRef


class FakeBackend:
    """Answers by looking the request's context up in a table of context → answer."""

    def __init__(
        self, name: str, answers: dict[str, Any], fingerprint: str, n_classes: int = 2, declared: bool = False
    ) -> None:
        self._answers = answers
        self._n_classes = n_classes
        self.calls = 0
        # Like a transformers classifier, a fake one with "classes" says how many it has before it runs.
        details = {"num_labels": n_classes} if declared else {}
        self._info = ModelInfo(ref=f"fake:{name}", kind="fake", fingerprint=fingerprint, details=details)

    @property
    def info(self) -> ModelInfo:
        return self._info

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[tuple[float, ...]]:
        self.calls += 1
        out = []
        for request in requests:
            picked = int(self._answers.get(request.context, 0))
            out.append(tuple(-1.0 - i * 0.01 if i != picked else -0.5 for i in range(len(request.continuations))))
        return out

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        self.calls += 1
        return [str(self._answers.get(r.context, "")) for r in requests]

    def classify(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        self.calls += 1
        out = []
        for text in texts:
            picked = int(self._answers.get(text, 0))
            rest = 0.2 / max(self._n_classes - 1, 1)
            out.append(tuple(0.8 if i == picked else rest for i in range(self._n_classes)))
        return out

    def close(self) -> None:
        pass


def load(ref: ModelRef, options: RunOptions) -> FakeBackend:
    """Build a FakeBackend from `fake:FILE.json` = {"answers": {prompt_or_text: answer}, "classes": 2}."""
    path = Path(ref.target)
    try:
        blob = path.read_bytes()
        data = json.loads(blob)
    except FileNotFoundError:
        raise ModelRefError(f"{ref.raw}: fake answers file {path} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelRefError(f"{ref.raw}: cannot read fake answers file {path} ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        raise ModelRefError(f"{ref.raw}: {path} must hold an object with an 'answers' table")
    fingerprint = hashlib.sha256(blob).hexdigest()[:32]
    return FakeBackend(path.stem, data["answers"], fingerprint, int(data.get("classes", 2)), "classes" in data)
