"""The gguf: backend against transformers on the same tiny random Llama (f32 weights in both).

Log-likelihoods and greedy continuations must agree with a plain transformers computation, whether each
request has its own decode call (the default) or many share one. On f32 weights batching changes
nothing measurable; on quantized weights it does (see the backend's docstring), hence the default.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, RunOptions
from muscle_guard.core.errors import BackendError, ModelRefError
from muscle_guard.core.modelref import parse_model_ref

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install ./plugins/muscle-guard-llamacpp)"
)

from muscle_guard_llamacpp import load
from muscle_guard_llamacpp.backend import LlamaCppBackend

HFReference = Callable[[], tuple[Any, Any]]

CHOICE_REQUESTS = [
    ChoiceRequest("Question: is the sky blue?\nAnswer:", (" yes", " no", " maybe")),
    ChoiceRequest("The cat and the dog are", (" happy", " sad and angry", " zebras, obviously!")),
    ChoiceRequest("Trailing space before the choice: ", ("yes", "no")),  # the space moves onto the choice
    ChoiceRequest("", (" the moon", " the sun")),  # empty context: BOS alone predicts the choice
    ChoiceRequest("<s> special tokens in text are parsed, as transformers does:", (" one", " two")),
    ChoiceRequest("one two three four five six seven eight nine ten " * 3, (" ten", " eleven twelve")),
]


@pytest.fixture(scope="module")
def backend(tiny_gguf: Path) -> Iterator[LlamaCppBackend]:
    loaded = load(parse_model_ref(f"gguf:{tiny_gguf}"), RunOptions())
    yield loaded
    loaded.close()


def open_backend(path: Path, **extra: Any) -> LlamaCppBackend:
    batch_size = extra.pop("batch_size", None)
    return load(parse_model_ref(f"gguf:{path}"), RunOptions(batch_size=batch_size, extra=extra))


def reference_logliks(hf_reference: HFReference, request: ChoiceRequest) -> tuple[float, ...]:
    """Summed log-probabilities by transformers, one full sequence per choice (lm-eval `acc` tokenization)."""
    import torch

    model, tokenizer = hf_reference()
    context = request.context.rstrip()
    moved = request.context[len(context) :]
    context_ids = tokenizer(context, add_special_tokens=False)["input_ids"] if context else []
    out = []
    for choice in request.continuations:
        whole = tokenizer(context + moved + choice, add_special_tokens=False)["input_ids"]
        cont = whole[len(context_ids) :]
        ids = [tokenizer.bos_token_id, *context_ids, *cont]
        with torch.no_grad():
            logprobs = model(torch.tensor([ids])).logits[0].double().log_softmax(-1)
        start = len(ids) - len(cont)
        out.append(sum(float(logprobs[start - 1 + j, t]) for j, t in enumerate(cont)))
    return tuple(out)


def flat(rows: list[tuple[float, ...]]) -> list[float]:
    return [value for row in rows for value in row]


def reference_greedy(hf_reference: HFReference, prompt: str, max_new_tokens: int) -> str:
    import torch

    model, tokenizer = hf_reference()
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def test_log_likelihoods_match_transformers(backend: LlamaCppBackend, hf_reference: HFReference) -> None:
    got = backend.score_choices(CHOICE_REQUESTS)

    for request, scores in zip(CHOICE_REQUESTS, got, strict=True):
        # llama.cpp caches keys and values in f16 by default: close, not exact
        assert scores == pytest.approx(reference_logliks(hf_reference, request), abs=2e-3), request.context


def test_with_an_f32_kv_cache_log_likelihoods_are_exact(
    backend: LlamaCppBackend, tiny_gguf: Path, hf_reference: HFReference
) -> None:
    exact = open_backend(tiny_gguf, kv_type="f32")
    try:
        got = exact.score_choices(CHOICE_REQUESTS)
        assert exact.info.fingerprint != backend.info.fingerprint  # it changes the numbers: another cache key
    finally:
        exact.close()

    for request, scores in zip(CHOICE_REQUESTS, got, strict=True):
        assert scores == pytest.approx(reference_logliks(hf_reference, request), abs=1e-4), request.context


@pytest.mark.parametrize(
    "batching",
    [
        pytest.param({"batch_size": 2}, id="two-requests-per-call"),
        pytest.param({"batch_size": 64, "pack_tokens": 4096}, id="all-in-one-call"),
        pytest.param({"batch_size": 64, "pack_tokens": 1}, id="token-budget-of-one"),
    ],
)
def test_batching_does_not_change_scores(backend: LlamaCppBackend, tiny_gguf: Path, batching: dict[str, int]) -> None:
    expected = backend.score_choices(CHOICE_REQUESTS)
    other = open_backend(tiny_gguf, **batching)
    try:
        assert flat(other.score_choices(CHOICE_REQUESTS)) == pytest.approx(flat(expected), abs=1e-4)
        assert other.info.fingerprint == backend.info.fingerprint  # batching never changes the cache key
    finally:
        other.close()


def test_choices_beyond_one_call_are_split_and_still_scored(backend: LlamaCppBackend) -> None:
    many = ChoiceRequest("Pick a number:", tuple(f" {i}" for i in range(300)))  # more than 256 sequences

    [scores] = backend.score_choices([many])
    [first] = backend.score_choices([ChoiceRequest("Pick a number:", (" 0", " 299"))])

    assert len(scores) == 300
    assert (scores[0], scores[299]) == pytest.approx(first, abs=1e-4)


def test_greedy_generation_matches_transformers(backend: LlamaCppBackend, hf_reference: HFReference) -> None:
    prompts = ["Question: what is the capital of france?\nAnswer:", "the cat", "one two three", "red green blue"]

    got = backend.generate([GenerateRequest(p, max_new_tokens=12) for p in prompts])

    assert got == [reference_greedy(hf_reference, p, 12) for p in prompts]


def test_stop_strings_and_token_budgets_are_per_request(backend: LlamaCppBackend) -> None:
    free = backend.generate([GenerateRequest("the cat", max_new_tokens=16)])[0]
    assert len(free) > 4
    stop = free[2:4]
    requests = [
        GenerateRequest("the cat", max_new_tokens=16, stop=(stop,)),
        GenerateRequest("the cat", max_new_tokens=16),
        GenerateRequest("the cat", max_new_tokens=0),
        GenerateRequest("the cat", max_new_tokens=3),
    ]

    cut, full, empty, short = backend.generate(requests)

    assert cut == free[: free.find(stop)]
    assert full == free
    assert empty == ""
    assert free.startswith(short)
    assert len(short) < len(free)


@pytest.mark.parametrize("batch_size", [2, 64])
def test_generation_batched_or_one_at_a_time_agrees(backend: LlamaCppBackend, tiny_gguf: Path, batch_size: int) -> None:
    words = ["cat", "dog", "sun", "moon", "sky", "sea", "red", "fish"]
    # Different lengths and budgets: sequences finish at different steps and waiting prompts take their place.
    requests = [
        GenerateRequest(f"{word} is " * (1 + i % 3), max_new_tokens=3 + 3 * (i % 4)) for i, word in enumerate(words)
    ]
    batched = open_backend(tiny_gguf, batch_size=batch_size)
    try:
        assert batched.generate(requests) == backend.generate(requests)
    finally:
        batched.close()


def test_the_fingerprint_follows_the_file_content_not_its_path(
    backend: LlamaCppBackend, tiny_gguf: Path, tmp_path: Path
) -> None:
    copy = shutil.copy(tiny_gguf, tmp_path / "renamed.gguf")
    changed = tmp_path / "changed.gguf"
    changed.write_bytes(tiny_gguf.read_bytes()[:-4] + b"\x00\x00\x80\x3f")  # the last weight becomes 1.0

    same, other = open_backend(Path(copy)), open_backend(changed, n_ctx=256)
    try:
        assert same.info.fingerprint == backend.info.fingerprint
        assert other.info.fingerprint != backend.info.fingerprint
    finally:
        same.close()
        other.close()
    details = backend.info.details
    assert backend.info.kind == "gguf"
    assert details["gguf_sha256"] == _sha256(tiny_gguf)
    assert details["n_ctx"] == 512  # capped by the model's training context
    json.dumps(backend.info.to_json())  # reports can hold it


def test_too_long_prompts_and_classification_are_clear_errors(backend: LlamaCppBackend) -> None:
    long_prompt = "one two three " * 400

    with pytest.raises(BackendError, match=r"more than n_ctx 512"):
        backend.score_choices([ChoiceRequest(long_prompt, (" yes", " no"))])
    with pytest.raises(BackendError, match=r"more than n_ctx 512 \(set MUSCLE_GUARD_LLAMACPP_N_CTX"):
        backend.generate([GenerateRequest(long_prompt, max_new_tokens=8)])
    with pytest.raises(BackendError, match=r"GGUF models are causal LMs and cannot run classification suites"):
        backend.classify(["a headline"])


def test_bad_settings_and_unloadable_files_are_model_ref_errors(tiny_gguf: Path, tmp_path: Path) -> None:
    broken = tmp_path / "truncated.gguf"
    broken.write_bytes(tiny_gguf.read_bytes()[:4096])

    with pytest.raises(ModelRefError, match=r"option n_ctx must be a positive whole number, got 'lots'"):
        open_backend(tiny_gguf, n_ctx="lots")
    with pytest.raises(ModelRefError, match=r"kv_type must be one of f16, f32, got 'q4'"):
        open_backend(tiny_gguf, kv_type="q4")
    with pytest.raises(ModelRefError, match=r"llama\.cpp could not load .*truncated\.gguf"):
        open_backend(broken)


def test_the_installed_plugin_registers_the_gguf_scheme() -> None:
    from importlib.metadata import PackageNotFoundError, distribution

    from muscle_guard.core.registry import available_schemes

    try:
        distribution("muscle-guard-llamacpp")
    except PackageNotFoundError:
        pytest.skip("muscle-guard-llamacpp is not installed (tests run from its source tree)")
    assert available_schemes()["gguf"] == "muscle_guard_llamacpp:load"


def test_predictions_flow_through_the_core_and_its_cache(tiny_gguf: Path, tmp_path: Path) -> None:
    from muscle_guard.core.cache import PredictionCache
    from muscle_guard.core.config import SuiteSettings
    from muscle_guard.core.pipeline import predict_suite
    from muscle_guard.core.suite import load_suite

    suite = tmp_path / "mc.jsonl"
    lines = [
        {"id": f"q{i}", "prompt": f"Question {i}: is it true?\nAnswer:", "choices": [" yes", " no"], "answer": 0}
        for i in range(5)
    ]
    suite.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    cache = PredictionCache(tmp_path / "cache")
    backend = open_backend(tiny_gguf)
    try:
        first = predict_suite(backend, load_suite(suite), SuiteSettings(), cache=cache, progress=False)
        again = predict_suite(backend, load_suite(suite), SuiteSettings(), cache=cache, progress=False)
    finally:
        backend.close()

    assert (first.computed, again.computed, again.from_cache) == (5, 0, 5)
    assert again.predictions == first.predictions


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
