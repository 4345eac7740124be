"""The tiny model builders other tests rely on: word-boundary tokenization, non-trivial adapters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from muscle_guard.testing import tiny_models as tm


def test_tokenizer_splits_continuations_at_word_boundaries(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tm.build_tokenizer(tmp_path / "tok")))
    context, continuation = "Question: is the sky blue? Answer:", " yes"
    whole = tok(context + continuation, add_special_tokens=False)["input_ids"]
    parts = (
        tok(context, add_special_tokens=False)["input_ids"] + tok(continuation, add_special_tokens=False)["input_ids"]
    )
    assert whole == parts
    assert tok.convert_ids_to_tokens(tok(" yes", add_special_tokens=False)["input_ids"]) == ["Ġyes"]
    assert tok.decode(whole) == context + continuation  # lossless byte-level decoding
    assert tok("hi")["input_ids"][0] == tok.bos_token_id
    assert None not in (tok.eos_token_id, tok.pad_token_id, tok.unk_token_id)


@pytest.mark.parametrize("task", ["causal", "classify"])
def test_adapter_changes_outputs_and_records_its_base(tmp_path: Path, task: str) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    tok_dir = tm.build_tokenizer(tmp_path / "tok")
    build = tm.build_causal_lm if task == "causal" else tm.build_classifier
    base = build(tmp_path / "base", tok_dir, seed=0)
    adapter = tm.add_lora_adapter(base, tmp_path / "adapter", seed=1)
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base.resolve())

    loader = AutoModelForCausalLM if task == "causal" else AutoModelForSequenceClassification
    model = PeftModel.from_pretrained(loader.from_pretrained(str(base)), str(adapter)).eval()
    ids = torch.tensor([[0, 5, 9, 12, 40]])
    with torch.no_grad():
        with model.disable_adapter():
            plain = model(input_ids=ids).logits
        adapted = model(input_ids=ids).logits
    assert not torch.allclose(plain, adapted)


def test_builders_are_deterministic_in_their_seed(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    tok_dir = tm.build_tokenizer(tmp_path / "tok")
    a = load_file(str(tm.build_causal_lm(tmp_path / "a", tok_dir, seed=3) / "model.safetensors"))
    b = load_file(str(tm.build_causal_lm(tmp_path / "b", tok_dir, seed=3) / "model.safetensors"))
    c = load_file(str(tm.build_causal_lm(tmp_path / "c", tok_dir, seed=4) / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_train_lora_lowers_the_loss(tmp_path: Path) -> None:
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok_dir = tm.build_tokenizer(tmp_path / "tok")
    base = tm.build_classifier(tmp_path / "base", tok_dir, seed=0)
    torch.manual_seed(0)  # LoRA's A init draws from the global generator: seeded, the test does not follow order
    model = get_peft_model(
        AutoModelForSequenceClassification.from_pretrained(str(base)),
        LoraConfig(r=4, target_modules=["query", "value"], task_type=TaskType.SEQ_CLS),
    )
    examples = [("the fire is hot", 1), ("the water is cold", 0), ("a hot sun", 1), ("a cold moon", 0)]
    losses = tm.train_lora(model, AutoTokenizer.from_pretrained(str(base)), examples, "classify", steps=15)
    assert losses[-1] < losses[0]
