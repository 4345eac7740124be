"""Sequence classifiers with a LoRA adapter and a classification head in modules_to_save."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from muscle_guard.backends.hf import load
from muscle_guard.core.backend import GenerateRequest, RunOptions
from muscle_guard.core.errors import BackendError
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.testing import tiny_models as tm

from .conftest import Tiny

TEXTS = [
    "the movie was great",
    "bad",
    "a long and slow film with a terrible story, the food was cold",
    "",
    "yes no maybe",
]


@pytest.mark.parametrize("batch_size", [1, 2, None], ids=["bs1", "bs2", "auto"])
def test_batched_probabilities_equal_unbatched(tiny: Tiny, batch_size: int | None) -> None:
    backend = load(
        parse_model_ref(str(tiny.classifier_adapter)), RunOptions(device="cpu", progress=False, batch_size=batch_size)
    )
    assert backend.loaded is not None
    batched = backend.classify(TEXTS)
    for text, probs in zip(TEXTS, batched, strict=True):
        assert sum(probs) == pytest.approx(1.0, abs=1e-6)
        with torch.no_grad():
            ids = backend.loaded.tokenizer(text, return_tensors="pt")
            alone = backend.loaded.model(**ids).logits[0].softmax(-1).tolist()
        assert probs == pytest.approx(alone, abs=1e-5)
    assert len({round(p[0], 4) for p in batched}) > 1


def test_info_describes_the_classifier(tiny: Tiny) -> None:
    info = load(parse_model_ref(str(tiny.classifier_adapter)), RunOptions(device="cpu", progress=False)).info
    assert info.details["task"] == "classify"
    assert info.details["num_labels"] == 2
    assert info.details["adapter"] == str(tiny.classifier_adapter.resolve())


def test_full_classifier_without_adapter(tiny: Tiny) -> None:
    backend = load(parse_model_ref(str(tiny.classifier)), RunOptions(device="cpu", progress=False))
    assert [len(p) for p in backend.classify(TEXTS[:2])] == [2, 2]


def test_classifier_cannot_generate_and_lm_cannot_classify(tiny: Tiny) -> None:
    with pytest.raises(BackendError, match="cannot generate"):
        load(parse_model_ref(str(tiny.classifier_adapter)), RunOptions(device="cpu", progress=False)).generate(
            [GenerateRequest("x", 2)]
        )
    with pytest.raises(BackendError, match="cannot classify"):
        load(parse_model_ref(str(tiny.lm)), RunOptions(device="cpu", progress=False)).classify(["x"])


def test_decoder_classifier_adapter_on_a_causal_base(tiny: Tiny, tmp_path: Path) -> None:
    """A SEQ_CLS adapter on a causal LM: the head size comes from the adapter's saved `score` weights."""
    adapter = tm.add_lora_adapter(tiny.lm, tmp_path / "seq-cls", seed=3, task="classify", num_labels=3)
    backend = load(parse_model_ref(str(adapter)), RunOptions(device="cpu", progress=False))
    assert backend.info.details["task"] == "classify"
    assert backend.info.details["num_labels"] == 3
    batched = backend.classify(TEXTS[:3])
    one_by_one = [backend.classify([t])[0] for t in TEXTS[:3]]
    for one, other in zip(batched, one_by_one, strict=True):
        assert len(one) == 3
        assert one == pytest.approx(other, abs=1e-5)
