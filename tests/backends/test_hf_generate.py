"""Greedy generation: batched equals unbatched equals a manual argmax loop; stop strings cut."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from muscle_guard.backends.hf import load
from muscle_guard.backends.hf.backend import HFBackend
from muscle_guard.backends.hf.generation import cut_at_stop
from muscle_guard.core.backend import GenerateRequest, RunOptions
from muscle_guard.core.errors import BackendError
from muscle_guard.core.modelref import parse_model_ref

from .conftest import Tiny

PROMPTS = [
    "Question: is the sky blue? Answer:",
    "The",
    "one two three four five six seven eight nine ten",
    "",
    "A review: the film was great and the story good.",
    "cat dog",
]


def manual_greedy(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    """Argmax of a full forward per step, one sequence, no cache, stopping at EOS."""
    ids = [tokenizer.bos_token_id, *tokenizer(prompt, add_special_tokens=False)["input_ids"]]
    new: list[int] = []
    for _ in range(max_new_tokens):
        with torch.no_grad():
            token = int(model(input_ids=torch.tensor([ids + new])).logits[0, -1].argmax())
        if token == tokenizer.eos_token_id:
            break
        new.append(token)
    text: str = tokenizer.decode(new, skip_special_tokens=True)
    return text


@pytest.fixture(scope="module")
def backend(tiny: Tiny) -> HFBackend:
    return load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False))


def test_batched_equals_unbatched_equals_manual_argmax(tiny: Tiny, backend: HFBackend) -> None:
    assert backend.loaded is not None
    requests = [GenerateRequest(p, max_new_tokens=6 + i) for i, p in enumerate(PROMPTS)]
    batched = backend.generate(requests)
    one_by_one = [backend.generate([r])[0] for r in requests]
    manual = [
        manual_greedy(backend.loaded.model, backend.loaded.tokenizer, r.context, r.max_new_tokens) for r in requests
    ]
    assert batched == one_by_one == manual
    assert len(set(batched)) > 1  # the model does not produce one constant string


def test_fixed_batch_sizes_give_the_same_texts(tiny: Tiny, backend: HFBackend) -> None:
    requests = [GenerateRequest(p, max_new_tokens=8) for p in PROMPTS]
    small = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False, batch_size=2))
    assert small.generate(requests) == backend.generate(requests)


def test_stop_strings_cut_before_the_first_occurrence(backend: HFBackend) -> None:
    free = backend.generate([GenerateRequest(p, max_new_tokens=12) for p in PROMPTS])
    # Stop at a piece from the middle of each unconstrained output: it must end exactly before it.
    requests, expected = [], []
    for prompt, text in zip(PROMPTS, free, strict=True):
        stop = text[len(text) // 2 : len(text) // 2 + 2]
        requests.append(GenerateRequest(prompt, max_new_tokens=12, stop=(stop, "never-generated")))
        expected.append(text[: text.find(stop)])
    assert backend.generate(requests) == expected


def test_max_new_tokens_bounds_the_output(backend: HFBackend) -> None:
    assert backend.loaded is not None
    short = backend.generate([GenerateRequest(p, max_new_tokens=3) for p in PROMPTS])
    long = backend.generate([GenerateRequest(p, max_new_tokens=12) for p in PROMPTS])
    manual = [manual_greedy(backend.loaded.model, backend.loaded.tokenizer, p, 3) for p in PROMPTS]
    assert short == manual
    assert all(len(s) < len(t) for s, t in zip(short, long, strict=True))


def test_mixed_settings_return_in_request_order(backend: HFBackend) -> None:
    requests = [
        GenerateRequest(p, max_new_tokens=4 if i % 2 else 7, stop=("\n",) if i % 3 else ())
        for i, p in enumerate(PROMPTS)
    ]
    assert backend.generate(requests) == [backend.generate([r])[0] for r in requests]
    assert backend.generate([]) == []


def test_cut_at_stop() -> None:
    assert cut_at_stop("a. b\n\nc", ["\n\n", "."]) == "a"
    assert cut_at_stop("abc", ["x", ""]) == "abc"


def test_prompt_too_long_for_the_model(backend: HFBackend) -> None:
    with pytest.raises(BackendError, match="lower max_new_tokens"):
        backend.generate([GenerateRequest("one " * 500, max_new_tokens=64)])
