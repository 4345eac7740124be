"""The demo's task-adapter recipes on tiny models: one recipe trains a plain PEFT adapter that the gate's
backend loads, learns the task, and is rebuilt only when the recipe, base or data change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from demo.adapters import CAUSAL_RECIPE, MARKER, causal_recipe, train_causal_adapter
from muscle_guard.core.backend import ChoiceRequest, RunOptions
from muscle_guard.core.sources import open_source
from muscle_guard.core.suite import load_suite
from muscle_guard.testing import tiny_models as tm

torch.set_num_threads(1)
WORDS = ("good", "bad", "fine", "awful", "the", "film", "was")


def mc_suite(path: Path, n: int) -> Path:
    rows = []
    for i in range(n):
        label = i % 2
        word = ("bad", "awful")[i % 4 // 2] if label == 0 else ("good", "fine")[i % 4 // 2]
        prompt = f"Review: the film was {word}\nSentiment:"
        rows.append({"id": f"r{i}", "prompt": prompt, "choices": [" bad", " good"], "answer": label})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("demo-causal")
    tok = tm.build_tokenizer(root / "tok", vocab_words=WORDS)
    return tm.build_causal_lm(root / "base", tok, seed=3)


def test_causal_adapter_learns_the_choices_and_is_a_plain_peft_adapter(base: Path, tmp_path: Path) -> None:
    train = load_suite(mc_suite(tmp_path / "train.jsonl", 32))
    recipe = causal_recipe(lr=2e-2, epochs=4, train_size=32, batch_size=8, r=4, alpha=8)
    out = train_causal_adapter(base, train, tmp_path / "adapter", recipe, "tiny")

    assert (out / "adapter_config.json").is_file()
    assert json.loads((out / MARKER).read_text())["recipe"]["lr"] == pytest.approx(2e-2)
    backend = open_source(str(out), RunOptions(device="cpu", progress=False))
    requests = [ChoiceRequest(i.prompt or "", i.choices) for i in train.instances]
    margins = [s[i.answer] - s[1 - i.answer] for s, i in zip(backend.score_choices(requests), train, strict=True)]
    # The recipe fits its (separable) training data: every instance right. The smallest margin is 0.81 nats on
    # each of the four CPU kernel paths of docs/BENCHMARKS.md (equal to 1e-5), far from a tie.
    assert min(margins) > 0.1


def test_causal_adapter_is_reused_until_the_recipe_changes(base: Path, tmp_path: Path) -> None:
    train = load_suite(mc_suite(tmp_path / "train.jsonl", 8))
    recipe = causal_recipe(train_size=8, batch_size=8, r=2, alpha=4)
    out = train_causal_adapter(base, train, tmp_path / "adapter", recipe, "tiny")
    built = (out / "adapter_model.safetensors").stat().st_mtime_ns
    assert train_causal_adapter(base, train, out, recipe, "tiny") == out
    assert (out / "adapter_model.safetensors").stat().st_mtime_ns == built
    train_causal_adapter(base, train, out, causal_recipe(train_size=8, batch_size=8, r=2, alpha=4, seed=1), "tiny")
    assert json.loads((out / MARKER).read_text())["recipe"]["seed"] == 1
    assert not out.with_name(out.name + ".tmp").exists()


def test_causal_adapter_refuses_data_that_is_not_multiple_choice(base: Path, tmp_path: Path) -> None:
    path = tmp_path / "cls.jsonl"
    path.write_text('{"id": "a", "text": "good", "label": 1}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="is not a multiple-choice instance"):
        train_causal_adapter(base, load_suite(path), tmp_path / "adapter", CAUSAL_RECIPE, "tiny")
