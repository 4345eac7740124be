"""Predicting whole suites through the cache with the fake backend: what is computed, what is reused."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.backends.fake import FakeBackend
from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, ModelInfo
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BackendError
from muscle_guard.core.pipeline import SuitePredictions, predict_suite
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.suite import Suite, load_suite

SuiteLines = Callable[[str, int], list[dict[str, Any]]]
MakeFake = Callable[..., FakeBackend]
WriteSuite = Callable[..., Path]


@pytest.fixture
def cache(tmp_path: Path) -> PredictionCache:
    return PredictionCache(tmp_path / "cache")


def predict(model: Any, suite: Suite, settings: SuiteSettings | None = None, **kwargs: Any) -> SuitePredictions:
    return predict_suite(model, suite, settings or SuiteSettings(), progress=False, **kwargs)


def suite_of(write_suite: WriteSuite, lines: list[dict[str, Any]], name: str = "qa") -> Suite:
    return load_suite(write_suite(lines, name=name))


# --- one prediction per instance, for each shape ---------------------------------------------------------------


def test_multiple_choice_predictions_score_every_choice(write_suite: WriteSuite, make_fake: MakeFake) -> None:
    suite = suite_of(write_suite, [{"id": "q", "prompt": "2+2=", "choices": [" 3", " 4", " 5"], "answer": 1}])
    settings = SuiteSettings(prompt_template="Q: {prompt}")
    model = make_fake({"Q: 2+2=": 1})

    result = predict(model, suite, settings)

    assert result.predictions == {"q": Prediction("q", logliks=(-1.0, -0.5, -1.02))}
    assert (result.computed, result.from_cache, result.model) == (1, 0, model.info)


def test_classification_predictions_are_class_probabilities(write_suite: WriteSuite, make_fake: MakeFake) -> None:
    suite = suite_of(write_suite, [{"id": "t", "text": "lovely", "label": 2}])

    result = predict(make_fake({"lovely": 2}, classes=3), suite)

    assert result.predictions == {"t": Prediction("t", probs=(0.1, 0.1, 0.8))}


@pytest.mark.parametrize(
    "line",
    [{"id": "g", "prompt": "6*7=", "answer": "42"}, {"id": "g", "prompt": "6*7=", "reference": "forty-two"}],
    ids=["generate_exact", "generate_score"],
)
def test_generation_predictions_are_the_generated_text(
    write_suite: WriteSuite, make_fake: MakeFake, line: dict[str, Any]
) -> None:
    suite = suite_of(write_suite, [line])

    result = predict(make_fake({"6*7=": "42"}), suite)

    assert result.predictions == {"g": Prediction("g", text="42")}


def test_generation_requests_carry_the_suites_settings(write_suite: WriteSuite, make_fake: MakeFake) -> None:
    suite = suite_of(write_suite, [{"id": "g", "prompt": "6*7=", "answer": "42"}])
    model = make_fake()
    seen: list[GenerateRequest] = []
    real = model.generate
    model.generate = lambda requests: seen.extend(requests) or real(requests)  # type: ignore[method-assign]

    predict(model, suite, SuiteSettings(prompt_template="Q: {prompt}\nA:", max_new_tokens=8, stop=("\n",)))

    assert seen == [GenerateRequest("Q: 6*7=\nA:", 8, ("\n",))]


# --- the cache: computed once, reused until something that matters changes -------------------------------------


@pytest.mark.parametrize("shape", ["multiple_choice", "generate_exact", "generate_score", "classify"])
def test_a_second_run_is_served_from_the_cache(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache, shape: str
) -> None:
    suite = suite_of(write_suite, suite_lines(shape, 5))
    first = predict(make_fake(), suite, cache=cache)
    again = make_fake()

    second = predict(again, suite, cache=cache)

    assert again.calls == 0
    assert (second.computed, second.from_cache) == (0, 5)
    assert second.predictions == first.predictions


def test_editing_one_instance_recomputes_only_that_one(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    lines = suite_lines("generate_exact", 6)
    answers = {"a reworded question": "7"}
    predict(make_fake(answers), suite_of(write_suite, lines), cache=cache)
    lines[3]["prompt"] = "a reworded question"
    model = make_fake(answers)

    result = predict(model, suite_of(write_suite, lines), cache=cache)

    assert (result.computed, result.from_cache, model.calls) == (1, 5, 1)
    assert result.predictions["generate_exact-3"] == Prediction("generate_exact-3", text="7")


def test_reordering_and_retagging_instances_keeps_the_cache(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    lines = suite_lines("multiple_choice", 4)
    predict(make_fake(), suite_of(write_suite, lines), cache=cache)
    changed = [{**line, "tags": ["new"], "meta": {"source": "x"}} for line in reversed(lines)]

    result = predict(make_fake(), suite_of(write_suite, changed), cache=cache)

    assert (result.computed, result.from_cache) == (0, 4)


def test_changing_the_prompt_template_recomputes_everything(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, suite_lines("multiple_choice", 4))
    predict(make_fake(), suite, cache=cache)

    result = predict(make_fake(), suite, SuiteSettings(prompt_template="Question: {prompt}"), cache=cache)

    assert (result.computed, result.from_cache) == (4, 0)


@pytest.mark.parametrize(
    ("shape", "change", "recomputed"),
    [
        ("generate_exact", {"max_new_tokens": 8}, 3),
        ("generate_score", {"stop": ("###",)}, 3),
        ("multiple_choice", {"max_new_tokens": 8}, 0),
        ("classify", {"prompt_template": "Text: {prompt}"}, 0),
        ("generate_exact", {"normaliser": "final_number", "gates": SuiteSettings().gates}, 0),
    ],
    ids=[
        "tokens change generation",
        "stop changes generation",
        "tokens don't change choices",
        "classifiers ignore templates",
        "scoring settings don't change predictions",
    ],
)
def test_only_settings_that_change_model_output_invalidate_the_cache(
    write_suite: WriteSuite,
    make_fake: MakeFake,
    suite_lines: SuiteLines,
    cache: PredictionCache,
    shape: str,
    change: dict[str, Any],
    recomputed: int,
) -> None:
    suite = suite_of(write_suite, suite_lines(shape, 3))
    predict(make_fake(), suite, cache=cache)

    result = predict(make_fake(), suite, SuiteSettings(**change), cache=cache)

    assert result.computed == recomputed


def test_another_model_never_gets_this_models_predictions(
    write_suite: WriteSuite, make_fake: MakeFake, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, [{"id": "g", "prompt": "6*7=", "answer": "42"}])
    predict(make_fake({"6*7=": "42"}, name="old"), suite, cache=cache)

    result = predict(make_fake({"6*7=": "41"}, name="new"), suite, cache=cache)

    assert (result.computed, result.predictions["g"].text) == (1, "41")


def test_an_interrupted_run_resumes_with_what_is_missing(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, suite_lines("generate_exact", 6))
    dying = make_fake()
    real = dying.generate

    def die_after_first_chunk(requests: Sequence[GenerateRequest]) -> list[str]:
        if dying.calls == 1:
            raise KeyboardInterrupt  # Ctrl-C, or the job's time running out
        return real(requests)

    dying.generate = die_after_first_chunk  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        predict(dying, suite, cache=cache, chunk_size=2)

    resumed = make_fake()
    result = predict(resumed, suite, cache=cache, chunk_size=2)

    assert (result.computed, result.from_cache, resumed.calls) == (4, 2, 2)
    assert result.predictions == predict(make_fake(), suite).predictions


def test_shards_together_fill_the_cache_like_one_run(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, tmp_path: Path
) -> None:
    suite = suite_of(write_suite, suite_lines("multiple_choice", 7))
    sharded, single = PredictionCache(tmp_path / "sharded"), PredictionCache(tmp_path / "single")

    rank0 = predict(make_fake(), suite, cache=sharded, shard=(0, 2), chunk_size=2)
    rank1 = predict(make_fake(), suite, cache=sharded, shard=(1, 2), chunk_size=2)
    predict(make_fake(), suite, cache=single)

    assert (rank0.computed, rank1.computed) == (4, 3)
    merged = predict(make_fake(), suite, cache=sharded)
    assert (merged.computed, merged.from_cache) == (0, 7)
    where = (merged.model.fingerprint, suite.name, merged.settings_key)
    assert sharded.read(sharded.path_for(*where)).entries == single.read(single.path_for(*where)).entries


def test_a_shard_resumes_only_its_own_missing_share(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, suite_lines("classify", 6))
    predict(make_fake(), suite, cache=cache, shard=(1, 2))

    again = predict(make_fake(), suite, cache=cache, shard=(1, 2))
    other = predict(make_fake(), suite, cache=cache, shard=(0, 2))

    assert (again.computed, other.computed) == (0, 3)


@pytest.mark.parametrize("shard", [(2, 2), (-1, 2), (0, 0)])
def test_an_impossible_shard_is_refused(
    write_suite: WriteSuite,
    make_fake: MakeFake,
    suite_lines: SuiteLines,
    cache: PredictionCache,
    shard: tuple[int, int],
) -> None:
    suite = suite_of(write_suite, suite_lines("classify", 2))

    with pytest.raises(ValueError, match="shard"):
        predict(make_fake(), suite, cache=cache, shard=shard)


@pytest.mark.parametrize("shape", ["multiple_choice", "generate_exact", "classify"])
def test_chunk_size_does_not_change_predictions(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, tmp_path: Path, shape: str
) -> None:
    suite = suite_of(write_suite, suite_lines(shape, 7))
    answers = {f"Q{i}:": (i % 3 if shape == "multiple_choice" else str(i)) for i in range(7)} | {"text 3": 1}

    results = [
        predict(make_fake(answers), suite, cache=PredictionCache(tmp_path / f"c{size}"), chunk_size=size).predictions
        for size in (1, 3, 7, 128)
    ]

    assert all(result == results[0] for result in results)
    assert list(results[0]) == [i.id for i in suite]


# --- backends that misbehave ---------------------------------------------------------------------------------------


class ShortBackend:
    """Answers one request fewer than it was asked, or one log-likelihood fewer than there are choices."""

    def __init__(self, drop_choice: bool = False) -> None:
        self.drop_choice = drop_choice

    @property
    def info(self) -> ModelInfo:
        return ModelInfo(ref="short:model", kind="test", fingerprint="short")

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[tuple[float, ...]]:
        if self.drop_choice:
            return [tuple(-1.0 for _ in r.continuations[1:]) for r in requests]
        return [tuple(-1.0 for _ in r.continuations) for r in requests[1:]]

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        return ["x" for _ in requests[1:]]

    def classify(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        return [(0.5, 0.5) for _ in texts[1:]]

    def close(self) -> None:
        pass


@pytest.mark.parametrize("shape", ["multiple_choice", "generate_exact", "classify"])
def test_a_backend_returning_too_few_answers_is_a_backend_error(
    write_suite: WriteSuite, suite_lines: SuiteLines, cache: PredictionCache, shape: str
) -> None:
    suite = suite_of(write_suite, suite_lines(shape, 3))

    with pytest.raises(BackendError, match="short:model: returned 2 predictions for 3 instances"):
        predict(ShortBackend(), suite, cache=cache)
    assert list(cache.root.rglob("*.jsonl")) == []  # nothing half-predicted was saved


def test_a_backend_scoring_too_few_choices_is_a_backend_error(
    write_suite: WriteSuite, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, suite_lines("multiple_choice", 2))

    with pytest.raises(
        BackendError, match="short:model: returned 2 log-likelihoods for the 3 choices of 'multiple_choice-0'"
    ):
        predict(ShortBackend(drop_choice=True), suite, cache=cache)


def test_a_cache_with_corrupt_lines_recomputes_them(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, suite_lines("generate_exact", 3))
    first = predict(make_fake(), suite, cache=cache)
    path = cache.path_for(first.model.fingerprint, suite.name, first.settings_key)
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1][:10]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = predict(make_fake(), suite, cache=cache)

    assert (result.computed, result.from_cache) == (1, 2)
    assert result.predictions == first.predictions


def test_the_cache_file_holds_one_json_line_per_prediction(
    write_suite: WriteSuite, make_fake: MakeFake, suite_lines: SuiteLines, cache: PredictionCache
) -> None:
    suite = suite_of(write_suite, suite_lines("generate_score", 3))
    result = predict(make_fake(), suite, cache=cache, chunk_size=2)

    path = cache.path_for(result.model.fingerprint, suite.name, result.settings_key)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    assert [r["k"] for r in records] == [i.content_hash() for i in suite]
