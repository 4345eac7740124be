"""Train a task adapter (LoRA + classification head, or LoRA on a causal LM) the same way on old and new.

This is the team's ordinary fine-tuning recipe in the demo story, not part of muscle-guard's method: both
sides get the same data, seed, schedule and hyperparameters, so the flips come from the base update alone.
"""

from __future__ import annotations

import json
import math
import random
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from muscle_guard.backends.hf.quiet import quiet_transformers
from muscle_guard.core.progress import message, progress_bar
from muscle_guard.core.suite import Suite

MARKER = "muscle_demo_recipe.json"


@dataclass(frozen=True)
class AdapterRecipe:
    """One recipe for the adapters of one scenario (old and new alike); these defaults are `make demo`'s."""

    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "key", "value", "dense")
    lr: float = 1e-3
    epochs: int = 2
    train_size: int = 1000  # first N rows of the training split: keeps `make demo` within minutes on 2 cores
    batch_size: int = 32
    max_length: int = 64
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    seed: int = 0


def build_classifier_base(encoder_dir: Path, tokenizer_dir: Path, out_dir: Path, num_labels: int, seed: int) -> Path:
    """A sequence-classification model directory from a sentence encoder (BERT) and a seeded head."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if (out_dir / "config.json").is_file():
        return out_dir
    torch.manual_seed(seed)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(str(encoder_dir), num_labels=num_labels)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    with quiet_transformers():
        model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    tmp.rename(out_dir)
    return out_dir


def train_classifier_adapter(base_dir: Path, train: Suite, out_dir: Path, recipe: AdapterRecipe, label: str) -> Path:
    """LoRA on the encoder + a trained classification head, saved as a plain PEFT adapter directory."""
    import torch
    from transformers import AutoModelForSequenceClassification

    key = {"recipe": asdict(recipe), "base": str(base_dir), "train": train.content_hash()}
    if _is_built(out_dir, key):
        return out_dir
    tokenizer, model = _lora_model(AutoModelForSequenceClassification, base_dir, recipe, "SEQ_CLS", ["classifier"])
    rows = train.instances[: recipe.train_size]
    texts = [i.text or "" for i in rows]
    if any(not isinstance(i.label, int) for i in rows):  # a label name would silently train as class 0
        raise ValueError(f"{train.path}: the adapter recipe trains on class indices; write labels as 0, 1, ...")
    labels = [int(i.label) for i in rows if isinstance(i.label, int)]

    def loss_of(batch: list[int]) -> Any:
        enc = tokenizer(
            [texts[i] for i in batch], padding=True, truncation=True, max_length=recipe.max_length, return_tensors="pt"
        )
        return model(**enc, labels=torch.tensor([labels[i] for i in batch])).loss

    fit(model, len(rows), loss_of, recipe, label)
    return save_adapter(model, out_dir, key, label)


def _lora_model(
    model_class: Any, base_dir: Path, recipe: AdapterRecipe, task_type: str, save: list[str] | None
) -> tuple[Any, Any]:
    """The base's tokenizer and the base in float32 with a fresh LoRA (seeded by the recipe)."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoTokenizer

    torch.manual_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    config = LoraConfig(
        task_type=TaskType[task_type],
        r=recipe.r,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules=list(recipe.target_modules),
        modules_to_save=save,
    )
    with quiet_transformers():
        base = model_class.from_pretrained(str(base_dir), dtype=torch.float32)
        return tokenizer, get_peft_model(base, config)


def fit(model: Any, n: int, loss_of: Callable[[list[int]], Any], recipe: AdapterRecipe, label: str) -> None:
    """AdamW with linear warm-up and decay over `recipe.epochs` shuffled passes of `n` examples."""
    import torch

    random.seed(recipe.seed)  # the data order; torch's generator was seeded before the LoRA weights were made
    order = list(range(n))
    steps = recipe.epochs * math.ceil(n / recipe.batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    warmup = max(1, int(recipe.warmup_fraction * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    model.train()
    with progress_bar(f"train {label} adapter", steps) as bar:
        for _ in range(recipe.epochs):
            random.shuffle(order)
            for start in range(0, n, recipe.batch_size):
                loss = loss_of(order[start : start + recipe.batch_size])
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.advance()
                bar.note(f"loss {loss.item():.3f}")
    model.eval()


def _is_built(out_dir: Path, key: dict[str, Any]) -> bool:
    marker = out_dir / MARKER  # compared as JSON: the recipe's tuples are lists there
    return marker.is_file() and json.loads(marker.read_text()) == json.loads(json.dumps(key))


def save_adapter(model: Any, out_dir: Path, key: dict[str, Any], label: str) -> Path:
    """Save the PEFT adapter next to its recipe marker, replacing any older build whole."""
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    with quiet_transformers():
        model.save_pretrained(str(tmp))
    (tmp / MARKER).write_text(json.dumps(key, indent=2))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    message(f"trained {label} adapter -> {out_dir}")
    return out_dir


# The recipe of the causal task adapters of `make demo-causal` (old SmolLM2, new Gemma-3): LoRA on the attention
# projections, trained by cross-entropy over the choices' summed log-likelihoods, the very scores the gate
# compares (the LM head runs only over the choices' tokens).
CAUSAL_RECIPE = AdapterRecipe(
    dropout=0.05,
    target_modules=("q_proj", "k_proj", "v_proj", "o_proj"),
    lr=2e-3,  # 5e-4 left SmolLM2 at chance (0.53) after 50 steps; 2e-3 gives 0.67
    epochs=1,
    train_size=400,
    batch_size=8,
    max_length=128,
    weight_decay=0.0,
    warmup_fraction=0.1,
)


def causal_recipe(**changes: Any) -> AdapterRecipe:
    """CAUSAL_RECIPE with some fields changed (a seed, a size)."""
    return replace(CAUSAL_RECIPE, **changes)


def train_causal_adapter(
    base_dir: Path, train: Suite, out_dir: Path, recipe: AdapterRecipe, label: str, generative: bool = False
) -> Path:
    """A LoRA task adapter for a causal LM on multiple-choice data, saved as a plain PEFT adapter directory.
    Trained by cross-entropy over the choices' scores (what the MC gate ranks), or, `generative`, by next-token
    cross-entropy on the right choice's tokens after the prompt (a model that writes its answer: generation
    suites)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForCausalLM

    from muscle_guard.fix import batches
    from muscle_guard.fix.data import Example

    key = {"recipe": asdict(recipe), "base": str(base_dir), "train": train.content_hash()}
    if generative:
        key["objective"] = "generate"
    if _is_built(out_dir, key):
        return out_dir
    tokenizer, model = _lora_model(AutoModelForCausalLM, base_dir, recipe, "CAUSAL_LM", None)
    rows = train.instances[: recipe.train_size]
    examples = []
    for index, row in enumerate(rows):
        if row.prompt is None or not row.choices or not isinstance(row.answer, int):
            raise ValueError(f"{train.path}: {row.id} is not a multiple-choice instance")
        where = f"{train.path}:{index + 1}"
        examples.append(Example(index, row.id, where, row.prompt, row.choices[row.answer], row.answer, row.choices))
    items = batches.encode(examples, tokenizer, "causal", recipe.max_length)
    pad_id = batches.pad_id_of(tokenizer)

    def loss_of(batch: list[int]) -> Any:
        if generative:
            tokens = batches.token_batch([items[i] for i in batch], pad_id, "cpu", target_only=True)
            logits = batches.token_logits(model, tokens)
            return F.cross_entropy(logits[tokens.mask], tokens.targets[tokens.mask])
        scores, mask = batches.choice_scores(model, [items[i] for i in batch], pad_id, "cpu")
        answers = torch.tensor([examples[i].label for i in batch])
        return F.cross_entropy(scores.masked_fill(~mask, float("-inf")), answers)

    fit(model, len(items), loss_of, recipe, label)
    return save_adapter(model, out_dir, key, label)


def describe(recipe: AdapterRecipe) -> dict[str, Any]:
    return asdict(recipe)
