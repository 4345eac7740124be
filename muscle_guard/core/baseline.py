"""Baseline files: a frozen old side. CI compares against one without loading the old model.

Format (JSONL): line 1 is a header `{"muscle_guard_baseline": 1, "model": ModelInfo, "suites": {NAME:
{"suite_hash", "n", "shape", "rendering"}}}`; each further line is `{"suite": NAME, "k": CONTENT_HASH,
"p": Prediction}`. Written atomically (temp file + rename): a reader never sees half a file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muscle_guard import __version__
from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BaselineError
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.pipeline import SuitePredictions, rendering_payload
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.prompt_format import NONE, PromptFormat
from muscle_guard.core.suite import Suite

FORMAT_VERSION = 1
HEADER_KEY = "muscle_guard_baseline"


@dataclass(frozen=True)
class BaselineSuite:
    suite_hash: str
    n: int
    shape: str
    rendering: dict[str, Any]
    entries: dict[str, Prediction]


class BaselineFile:
    """A loaded baseline: the model it was made with and its predictions per suite."""

    def __init__(self, path: Path, model: ModelInfo, suites: dict[str, BaselineSuite]) -> None:
        self.path = path
        self._model = model
        self.suites = suites

    @property
    def info(self) -> ModelInfo:
        details = dict(self._model.details)
        details["baseline"] = str(self.path)
        return ModelInfo(
            ref=f"baseline:{self.path}", kind="baseline", fingerprint=self._model.fingerprint, details=details
        )

    def predictions_for(
        self, suite: Suite, settings: SuiteSettings, prompt: PromptFormat = NONE
    ) -> dict[str, Prediction]:
        """The stored predictions for `suite`; refuse when the suite, its settings or the prompt format changed."""
        stored = self.suites.get(suite.name)
        if stored is None:
            have = ", ".join(sorted(self.suites)) or "none"
            raise BaselineError(
                f"{self.path}: no predictions for suite {suite.name!r} (it has: {have}); "
                "regenerate it with `muscle-guard predict` or --muscle-update-baseline"
            )
        rendering = json.loads(json.dumps(rendering_payload(suite.shape, settings, prompt)))
        if rendering != stored.rendering:
            diffs = [
                f"{k} was {stored.rendering.get(k)!r}, now {rendering.get(k)!r}"
                for k in sorted(set(rendering) | set(stored.rendering))
                if rendering.get(k) != stored.rendering.get(k)
            ]
            raise BaselineError(
                f"{self.path}: made with other settings for suite {suite.name!r} ({'; '.join(diffs)}); regenerate the baseline"
            )
        hashes = {i.id: i.content_hash() for i in suite.instances}
        missing = [i for i in suite.instances if hashes[i.id] not in stored.entries]
        if stored.suite_hash != suite.content_hash() and missing:
            raise BaselineError(
                f"{self.path}: made for another version of suite {suite.name!r} ({stored.n} instances then, "
                f"{len(suite)} now; {len(missing)} new or changed, e.g. {missing[0].id!r}); regenerate the baseline"
            )
        out = {}
        for instance in suite.instances:
            pred = stored.entries[hashes[instance.id]]
            out[instance.id] = (
                pred if pred.id == instance.id else Prediction(instance.id, pred.logliks, pred.probs, pred.text)
            )
        return out


def write_baseline(path: Path, model: ModelInfo, runs: Sequence[tuple[Suite, SuiteSettings, SuitePredictions]]) -> None:
    """Write predictions of several suites as one baseline file, atomically."""
    header = {
        HEADER_KEY: FORMAT_VERSION,
        "tool_version": __version__,
        "model": model.to_json(),
        "suites": {
            suite.name: {
                "suite_hash": suite.content_hash(),
                "n": len(suite),
                "shape": suite.shape.value,
                "rendering": rendering_payload(suite.shape, settings, preds.prompt),
            }
            for suite, settings, preds in runs
        },
    }
    lines = [json.dumps(header, ensure_ascii=False, sort_keys=True)]
    for suite, _, preds in runs:
        for instance in suite.instances:
            pred = preds.predictions[instance.id]
            lines.append(
                json.dumps({"suite": suite.name, "k": instance.content_hash(), "p": pred.to_json()}, ensure_ascii=False)
            )
    try:
        atomic_write_text(path, "\n".join(lines) + "\n")
    except OSError as exc:
        raise BaselineError(
            f"{path}: cannot write the baseline ({exc.strerror or exc}); the previous file, if any, is unchanged"
        ) from None


def read_baseline(path: Path) -> BaselineFile:
    """Load and check a baseline file; BaselineError names the line that is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file does not exist; write one with `muscle-guard predict`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{path}: cannot read the baseline ({exc})") from None
    if not text:
        raise BaselineError(f"{path}: empty baseline; write one with `muscle-guard predict`")
    lines = text.split("\n")
    if not text.endswith("\n"):
        raise BaselineError(f"{path}:{len(lines)}: truncated baseline (no final newline); regenerate it")
    try:
        header = json.loads(lines[0])
        version = header[HEADER_KEY]
        model = ModelInfo.from_json(header["model"])
        declared = {
            str(name): BaselineSuite(
                str(meta["suite_hash"]), int(meta["n"]), str(meta["shape"]), dict(meta["rendering"]), {}
            )
            for name, meta in header["suites"].items()
        }
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BaselineError(
            f"{path}:1: not a muscle-guard baseline header; write baselines with `muscle-guard predict`"
        ) from None
    if version != FORMAT_VERSION:
        raise BaselineError(f"{path}:1: baseline format {version}; this muscle-guard reads format {FORMAT_VERSION}")
    for number, line in enumerate(lines[1:-1], start=2):
        try:
            record = json.loads(line)
            declared[record["suite"]].entries[str(record["k"])] = Prediction.from_json(record["p"])
        except (ValueError, KeyError, TypeError):
            raise BaselineError(f"{path}:{number}: malformed baseline line; regenerate the baseline") from None
    for name, stored in declared.items():
        if len(stored.entries) < stored.n:
            raise BaselineError(
                f"{path}: suite {name!r} has {len(stored.entries)} of {stored.n} predictions (truncated file?); regenerate it"
            )
    return BaselineFile(path, model, declared)
