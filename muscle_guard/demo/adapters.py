"""Train a task adapter (LoRA + classification head) the same way on the old and the new base.

This is the team's ordinary fine-tuning recipe in the demo story, not part of muscle-guard's method: both
sides get the same data, seed, schedule and hyperparameters, so the flips come from the base update alone.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from muscle_guard.progress import message, progress_bar
from muscle_guard.suite import Suite


@dataclass(frozen=True)
class AdapterRecipe:
    """One recipe for every adapter of the demo (old and new)."""

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
    model = AutoModelForSequenceClassification.from_pretrained(str(encoder_dir), num_labels=num_labels)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    tmp.rename(out_dir)
    return out_dir


def train_classifier_adapter(base_dir: Path, train: Suite, out_dir: Path, recipe: AdapterRecipe, label: str) -> Path:
    """LoRA on the encoder + a trained classification head, saved as a plain PEFT adapter directory."""
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    marker = out_dir / "muscle_demo_recipe.json"
    key = {"recipe": asdict(recipe), "base": str(base_dir), "train": train.content_hash()}
    if marker.is_file() and json.loads(marker.read_text()) == key:
        return out_dir
    random.seed(recipe.seed)
    torch.manual_seed(recipe.seed)
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(base_dir))
    config = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=recipe.r,
        lora_alpha=recipe.alpha,
        lora_dropout=recipe.dropout,
        target_modules=list(recipe.target_modules),
        modules_to_save=["classifier"],
    )
    model = get_peft_model(model, config)
    rows = train.instances[: recipe.train_size]
    texts = [i.text or "" for i in rows]
    labels = [int(i.label) if isinstance(i.label, int) else 0 for i in rows]
    order = list(range(len(texts)))
    steps = recipe.epochs * math.ceil(len(texts) / recipe.batch_size)
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
            for start in range(0, len(order), recipe.batch_size):
                batch = order[start : start + recipe.batch_size]
                enc = tokenizer(
                    [texts[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=recipe.max_length,
                    return_tensors="pt",
                )
                out = model(**enc, labels=torch.tensor([labels[i] for i in batch]))
                out.loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                bar.advance()
                bar.note(f"loss {out.loss.item():.3f}")
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    model.save_pretrained(str(tmp))
    (tmp / marker.name).write_text(json.dumps(key, indent=2))
    if out_dir.exists():
        import shutil

        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    message(f"trained {label} adapter -> {out_dir}")
    return out_dir


def describe(recipe: AdapterRecipe) -> dict[str, Any]:
    return asdict(recipe)
