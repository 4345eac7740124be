"""Predict whole suites in batches, through the cache: the only place models are called for a check.

Items never call a model: each (suite, model) pair is predicted once here, batched, and the pytest items
compare what this returns.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from muscle_guard.core.backend import Backend, ChoiceRequest, GenerateRequest, ModelInfo
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BackendError, InputTooLong
from muscle_guard.core.output_space import check_model_classes, check_output_space
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.progress import message, progress_bar
from muscle_guard.core.prompt_format import NONE, PromptFormat
from muscle_guard.core.suite import Instance, Shape, Suite

DEFAULT_CHUNK = 128  # instances per backend call: the unit of resumption after a kill
T = TypeVar("T")


class PredictionSource(Protocol):
    """Something that has predictions without running a model (a baseline file)."""

    @property
    def info(self) -> ModelInfo: ...

    def predictions_for(
        self, suite: Suite, settings: SuiteSettings, prompt: PromptFormat = NONE
    ) -> dict[str, Prediction]: ...


@dataclass(frozen=True)
class SuitePredictions:
    """One model's predictions for every instance of a suite, by instance id."""

    model: ModelInfo
    settings_key: str
    predictions: dict[str, Prediction]
    computed: int = 0
    from_cache: int = 0
    prompt: PromptFormat = NONE  # how the model's prompts were rendered


def rendering_payload(shape: Shape, settings: SuiteSettings, prompt: PromptFormat = NONE) -> dict[str, object]:
    """The settings that change what a model computes for this shape, with the model's prompt format."""
    if shape is Shape.CLASSIFY:
        return {"shape": shape.value}
    if shape is Shape.MULTIPLE_CHOICE:
        return {"shape": shape.value, "prompt_template": settings.prompt_template, **prompt.key()}
    return {"shape": shape.value, **settings.rendering_key(), **prompt.key()}


def settings_key(shape: Shape, settings: SuiteSettings, prompt: PromptFormat = NONE) -> str:
    blob = json.dumps(rendering_payload(shape, settings, prompt), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def render_context(
    model: object, instance: Instance, settings: SuiteSettings, prompt: PromptFormat = NONE, where: str = "model"
) -> str:
    """What `model` is given for `instance`: the suite's template, then the model's prompt format."""
    return prompt.apply(settings.render(instance.prompt or ""), model, where)


def run_instances(
    backend: Backend,
    shape: Shape,
    instances: Sequence[Instance],
    settings: SuiteSettings,
    prompt: PromptFormat = NONE,
) -> list[Prediction]:
    """One batched backend call for `instances` (all of one shape), rendered with the model's `prompt`."""
    where = backend.info.ref
    plain = not prompt.is_chat  # a chat template writes its own special tokens
    if shape is Shape.MULTIPLE_CHOICE:
        requests = [
            ChoiceRequest(
                render_context(backend, i, settings, prompt, where),
                tuple(prompt.continuation(c) for c in i.choices),
                special_tokens=plain,
            )
            for i in instances
        ]
        scores = _counted(backend, backend.score_choices(requests), instances)
        for instance, score in zip(instances, scores, strict=True):
            if len(score) != len(instance.choices):
                raise BackendError(
                    f"{backend.info.ref}: returned {len(score)} log-likelihoods for the "
                    f"{len(instance.choices)} choices of {instance.id!r}"
                )
        return [Prediction(i.id, logliks=tuple(s)) for i, s in zip(instances, scores, strict=True)]
    if shape is Shape.CLASSIFY:
        if prompt.kind != "none":
            raise BackendError(f"{where}: a classifier reads each text as it is; its prompt format must be 'none' "
                               f"(it is {prompt.text!r})")  # fmt: skip
        probs = _counted(backend, backend.classify([i.text or "" for i in instances]), instances)
        return [Prediction(i.id, probs=tuple(p)) for i, p in zip(instances, probs, strict=True)]
    gen = [
        GenerateRequest(
            render_context(backend, i, settings, prompt, where), settings.max_new_tokens, settings.stop,
            special_tokens=plain,
        )
        for i in instances
    ]  # fmt: skip
    texts = _counted(backend, backend.generate(gen), instances)
    return [Prediction(i.id, text=t) for i, t in zip(instances, texts, strict=True)]


def _counted(backend: Backend, results: list[T], instances: Sequence[Instance]) -> list[T]:
    """`results`, after checking the backend answered every request (a plugin bug, not a user's)."""
    if len(results) != len(instances):
        raise BackendError(f"{backend.info.ref}: returned {len(results)} predictions for {len(instances)} instances")
    return results


def predict_suite(
    model: Backend | PredictionSource,
    suite: Suite,
    settings: SuiteSettings,
    *,
    cache: PredictionCache | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    shard: tuple[int, int] | None = None,
    progress: bool = True,
    label: str = "",
    prompt: PromptFormat = NONE,
) -> SuitePredictions:
    """Predictions for every instance of `suite`, computing only what the cache lacks.

    With `shard=(rank, world)` this process computes only its share of the suite (every `world`-th
    instance from `rank`) that the cache lacks, and appends it to the shared cache; the returned
    predictions are empty, and the caller merges by reading the cache after a barrier.
    """
    key = settings_key(suite.shape, settings, prompt)
    if shard is not None and not (shard[1] >= 1 and 0 <= shard[0] < shard[1]):
        raise ValueError(f"shard {shard} must be (rank, world) with 0 <= rank < world")
    check_model_classes(model.info, suite, settings)
    if not isinstance(model, Backend):
        stored = model.predictions_for(suite, settings, prompt)
        return _checked(suite, settings, SuitePredictions(model.info, key, stored, prompt=prompt))
    if cache is None:
        preds = _compute(model, suite, list(suite.instances), settings, prompt, None, chunk_size, progress, label)
        predictions = {p.id: p for p in preds}
        return _checked(suite, settings, SuitePredictions(model.info, key, predictions, len(preds), prompt=prompt))

    path = cache.path_for(model.info.fingerprint, suite.name, key)

    def append_locked(items: list[tuple[str, Prediction]]) -> None:
        with cache.lock(path):
            cache.append(path, items)

    def compute_missing(append: Appender) -> SuitePredictions:
        read = cache.read(path)
        if read.skipped:
            message(f"{path}: {read.skipped} unreadable cache line(s) skipped; recomputing those instances")
        hashes = {i.id: i.content_hash() for i in suite.instances}
        # A shard owns fixed positions of the suite, not of what happens to be missing when it looks:
        # ranks read the cache at different times, and must still split the work without gaps.
        mine = suite.instances if shard is None else suite.instances[shard[0] :: shard[1]]
        missing = [i for i in mine if hashes[i.id] not in read.entries]
        fresh = _compute(model, suite, missing, settings, prompt, append, chunk_size, progress, label)
        if shard is not None:
            return SuitePredictions(model.info, key, {}, computed=len(fresh), prompt=prompt)
        entries = dict(read.entries)
        entries.update({hashes[p.id]: p for p in fresh})
        predictions = {i.id: _renamed(entries[hashes[i.id]], i.id) for i in suite.instances}
        return SuitePredictions(
            model.info, key, predictions, computed=len(fresh), from_cache=len(suite) - len(fresh), prompt=prompt
        )

    if shard is not None:
        # Processes of one launch share the work, each appending its batches under the lock.
        return compute_missing(append_locked)
    # One process computes a suite at a time; others wait, then read what it wrote (xdist workers).
    with cache.lock(path, on_wait=lambda: message(f"waiting for another process predicting {suite.name} ({path})")):
        return _checked(suite, settings, compute_missing(lambda items: cache.append(path, items)))


def _checked(suite: Suite, settings: SuiteSettings, result: SuitePredictions) -> SuitePredictions:
    check_output_space(result.model, suite, settings, result.predictions)
    return result


Appender = Callable[[list[tuple[str, Prediction]]], None]


def _renamed(prediction: Prediction, id_: str) -> Prediction:
    """Cache entries are keyed by content; an instance renamed since keeps its prediction."""
    if prediction.id == id_:
        return prediction
    return Prediction(id_, prediction.logliks, prediction.probs, prediction.text, prediction.score)


def _compute(
    backend: Backend,
    suite: Suite,
    instances: list[Instance],
    settings: SuiteSettings,
    prompt: PromptFormat,
    append: Appender | None,
    chunk_size: int,
    progress: bool,
    label: str,
) -> list[Prediction]:
    """Run the backend chunk by chunk, saving each chunk before the next starts."""
    out: list[Prediction] = []
    if not instances:
        return out
    with progress_bar(f"predict {label or suite.name} [{backend.info.ref}]", len(instances), progress) as bar:
        for start in range(0, len(instances), chunk_size):
            chunk = instances[start : start + chunk_size]
            try:
                preds = run_instances(backend, suite.shape, chunk, settings, prompt)
            except InputTooLong as exc:  # the backend knows the request; the user needs the suite line
                instance = chunk[exc.index]
                raise BackendError(f"{suite.path}:{instance.line} (id {instance.id!r}): {exc}") from None
            if append is not None:
                append([(i.content_hash(), p) for i, p in zip(chunk, preds, strict=True)])
            out.extend(preds)
            bar.advance(len(chunk))
    return out
