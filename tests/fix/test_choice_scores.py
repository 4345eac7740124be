"""The training-time choice scorer (`fix.batches.choice_scores`, left-padded, LM head on the last positions
only) gives the log-likelihoods the gate's backend gives: the student is trained on what the gate measures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from muscle_guard.core.backend import ChoiceRequest, RunOptions
from muscle_guard.core.sources import open_source
from muscle_guard.fix import batches as B
from muscle_guard.fix.data import Example
from muscle_guard.fix.models import load, parse_ref
from tests.fix.conftest import CausalPairs

PROMPTS = (
    ("Text: good cat. Sentiment:", (" negative", " positive")),
    ("Text: the dog was terrible and the food was cold. Sentiment:", (" negative", " positive", " not sure at all")),
    ("Hi:", (" a", " b c d e")),
)


def test_choice_scores_match_the_backend_to_1e4(causal_pairs: CausalPairs) -> None:
    options = RunOptions(device="cpu", progress=False)
    loaded = load(parse_ref(str(causal_pairs.new), "--new"), options, trainable=False)
    examples = [
        Example(i, f"x{i}", f"t:{i}", prompt, choices[0], 0, choices) for i, (prompt, choices) in enumerate(PROMPTS)
    ]
    items = B.encode(examples, loaded.tokenizer, "causal", max_length=512)
    with torch.inference_mode():
        scores, mask = B.choice_scores(loaded.model, items, B.pad_id_of(loaded.tokenizer), "cpu")

    expected = open_source(str(causal_pairs.new), options).score_choices([ChoiceRequest(p, c) for p, c in PROMPTS])
    for row, (want, (_, choices)) in enumerate(zip(expected, PROMPTS, strict=True)):
        assert mask[row].sum().item() == len(choices)
        assert scores[row, : len(choices)].tolist() == pytest.approx(list(want), abs=1e-4)
    assert not mask[0, 2]
    assert scores[0, 2] == 0.0


def test_choice_scores_carry_gradients_to_the_adapter_only(causal_pairs: CausalPairs, tmp_path: Path) -> None:
    from peft import PeftModel

    loaded = load(parse_ref(str(causal_pairs.new), "--new"), RunOptions(device="cpu", progress=False), trainable=True)
    model = loaded.model
    assert isinstance(model, PeftModel)
    (prompt, choices) = PROMPTS[1]
    items = B.encode([Example(0, "x", "t:1", prompt, choices[0], 0, choices)], loaded.tokenizer, "causal", 512)
    scores, _ = B.choice_scores(model, items, B.pad_id_of(loaded.tokenizer), "cpu")
    scores[0, 0].backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert grads
    assert all("lora_" in n for n in grads)
    assert all(torch.isfinite(g).all() for g in grads.values())
