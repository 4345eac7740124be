"""Multiple choice: the batched, prompt-shared path equals a plain one-sequence-at-a-time reference."""

from __future__ import annotations

import random
from typing import Any

import pytest
import torch

from muscle_guard.backends.hf import load
from muscle_guard.backends.hf.backend import HFBackend
from muscle_guard.core.backend import ChoiceRequest, RunOptions
from muscle_guard.core.errors import BackendError
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.testing import tiny_models as tm

from .conftest import Tiny

# Ragged prompts (one empty, one with a trailing space), choices of 1 to 5 tokens, 2 to 4 choices.
REQUESTS = [
    ChoiceRequest("Question: is the sky blue? Answer:", (" yes", " no", " maybe not")),
    ChoiceRequest("Is fire hot? Answer: ", ("yes", "no")),
    ChoiceRequest("", (" red apple", " green")),
    ChoiceRequest("The capital of france is", (" paris", " london", " rome", " berlin madrid spain capital")),
    ChoiceRequest("one two three four five six seven eight nine ten and then", (" eleven", " zero zero")),
    ChoiceRequest("cat", (" dog", " cow sheep horse", " fish")),
    ChoiceRequest(
        "A long review: the film was slow, the story bad and the food terrible. Sentiment:", (" negative", " positive")
    ),
]


def reference_logliks(model: Any, tokenizer: Any, request: ChoiceRequest) -> list[float]:
    """lm-eval acc, one full forward of BOS + context + continuation per choice, no batching or cache."""
    out = []
    for continuation in request.continuations:
        context = request.context
        spaces = len(context) - len(context.rstrip())
        if spaces:
            context, continuation = context[:-spaces], context[-spaces:] + continuation
        ctx = tokenizer(context, add_special_tokens=False)["input_ids"]
        whole = tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
        seq = [tokenizer.bos_token_id, *whole]
        with torch.no_grad():
            logprobs = model(input_ids=torch.tensor([seq])).logits[0].float().log_softmax(-1)
        out.append(sum(logprobs[i - 1, seq[i]].item() for i in range(1 + len(ctx), len(seq))))
    return out


@pytest.fixture(scope="module")
def adapted(tiny: Tiny) -> HFBackend:
    return load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False))


@pytest.mark.parametrize("batch_size", [1, 3, None], ids=["bs1", "bs3", "auto"])
def test_batched_logliks_equal_the_one_at_a_time_reference(tiny: Tiny, batch_size: int | None) -> None:
    backend = load(
        parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False, batch_size=batch_size)
    )
    assert backend.loaded is not None
    got = backend.score_choices(REQUESTS)
    for request, scores in zip(REQUESTS, got, strict=True):
        expected = reference_logliks(backend.loaded.model, backend.loaded.tokenizer, request)
        assert scores == pytest.approx(expected, abs=1e-4)


def random_requests(seed: int, count: int) -> list[ChoiceRequest]:
    """Prompts of 0-30 words (some ending in a space), 2-5 choices of 1-4 words each."""
    rng = random.Random(seed)
    words = list(tm.DEFAULT_WORDS)
    requests = []
    for _ in range(count):
        prompt = " ".join(rng.choice(words) for _ in range(rng.randint(0, 30)))
        if prompt and rng.random() < 0.3:
            prompt += " "
        choices = tuple(
            " " + " ".join(rng.choice(words) for _ in range(rng.randint(1, 4))) for _ in range(rng.randint(2, 5))
        )
        requests.append(ChoiceRequest(prompt, choices))
    return requests


@pytest.mark.parametrize("batch_size", [1, 3, None], ids=["bs1", "bs3", "auto"])
def test_random_requests_match_the_reference(adapted: HFBackend, batch_size: int | None) -> None:
    assert adapted.loaded is not None
    requests = random_requests(seed=11, count=30)
    backend = HFBackend(
        adapted.ref,
        RunOptions(device="cpu", progress=False, batch_size=batch_size),
        adapted.plan,
        {"tokenizer": ""},
        adapted.loaded,
    )
    got = backend.score_choices(requests)
    worst = max(
        abs(a - b)
        for request, scores in zip(requests, got, strict=True)
        for a, b in zip(scores, reference_logliks(adapted.loaded.model, adapted.loaded.tokenizer, request), strict=True)
    )
    assert worst < 1e-4


def test_full_model_without_adapter_matches_reference(tiny: Tiny, quiet: RunOptions) -> None:
    backend = load(parse_model_ref(str(tiny.lm)), quiet)
    assert backend.loaded is not None
    got = backend.score_choices(REQUESTS[:4])
    for request, scores in zip(REQUESTS[:4], got, strict=True):
        assert scores == pytest.approx(
            reference_logliks(backend.loaded.model, backend.loaded.tokenizer, request), abs=1e-4
        )


def test_results_follow_request_order_and_shape(adapted: HFBackend) -> None:
    forward = adapted.score_choices(REQUESTS)
    backward = adapted.score_choices(REQUESTS[::-1])
    for one, other in zip(forward, backward[::-1], strict=True):
        assert one == pytest.approx(other, abs=1e-5)
    assert [len(s) for s in forward] == [len(r.continuations) for r in REQUESTS]
    assert adapted.score_choices([]) == []


def test_adapter_changes_the_scores(tiny: Tiny, adapted: HFBackend, quiet: RunOptions) -> None:
    plain = load(parse_model_ref(str(tiny.lm)), quiet).score_choices(REQUESTS[:2])
    for one, other in zip(adapted.score_choices(REQUESTS[:2]), plain, strict=True):
        assert one != pytest.approx(other, abs=1e-3)


def test_too_long_prompt_is_a_clear_error(adapted: HFBackend) -> None:
    with pytest.raises(BackendError, match="more than the model's 512"):
        adapted.score_choices([ChoiceRequest("one " * 600, (" two", " three"))])


def test_classifier_cannot_score_choices(tiny: Tiny, quiet: RunOptions) -> None:
    backend = load(parse_model_ref(str(tiny.classifier_adapter)), quiet)
    with pytest.raises(BackendError, match="sequence classifier"):
        backend.score_choices(REQUESTS[:1])
