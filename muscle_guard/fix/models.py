"""The models of `fix`: the student (new base + a trainable copy of the new task adapter, or a fresh LoRA on a
plain new model) and the frozen old teacher. The new teacher is the student before its first step.

Loading goes through the HF backend's `load_model`, so references mean exactly what they mean to the gate.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import FixError
from muscle_guard.core.modelref import ModelRef, RefKind, parse_model_ref
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.strategies import TokenizerFacts


def parse_ref(raw: str, option: str) -> ModelRef:
    ref = parse_model_ref(raw, option)
    if ref.kind in (RefKind.BASELINE, RefKind.SCHEME) and ref.scheme != "hf":
        raise FixError(f"{option}: {raw} is not a model fix can train with; pass a model or adapter directory")
    return ref


def load(ref: ModelRef, options: RunOptions, trainable: bool) -> Any:
    """The HF backend's LoadedModel (model, tokenizer, task, device, dtype, base_path, adapter_path)."""
    from muscle_guard.backends.hf.loading import load_model

    return load_model(ref, options, trainable=trainable)


def make_student(loaded: Any, config: TrainConfig) -> Any:
    """A PeftModel whose only trainable weights are the adapter's (LoRA and, for classifiers, the head).

    With a new task adapter the student starts as an exact copy of it (its rank and targets are kept:
    --lora-r/--lora-alpha apply only to a fresh LoRA). On a plain new model a fresh LoRA is added (B = 0,
    so the student still starts equal to the new model) on all linear layers.
    """
    from peft import LoraConfig, PeftModel, TaskType, get_peft_model

    model = loaded.model
    if not isinstance(model, PeftModel):
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules="all-linear",
            task_type=TaskType.SEQ_CLS if loaded.task == "classify" else TaskType.CAUSAL_LM,
        )
        model = get_peft_model(model, lora)
    for name, param in model.named_parameters():
        param.requires_grad = "lora_" in name or "modules_to_save" in name
        if param.requires_grad and param.dtype != _float32():
            param.data = param.data.float()  # trainable weights in fp32; the frozen base may be bf16
    if not any(p.requires_grad for p in model.parameters()):
        raise FixError(f"{loaded.adapter_path or loaded.base_path}: the adapter has no trainable weights")
    return model


def _float32() -> Any:
    import torch

    return torch.float32


def tokenizer_facts(loaded: Any) -> TokenizerFacts:
    tokenizer = loaded.tokenizer
    specials = {name: getattr(tokenizer, f"{name}_token_id", None) for name in ("bos", "eos", "pad", "unk")}
    config = loaded.model.config
    size = int(getattr(config, "num_labels", 0)) if loaded.task == "classify" else int(config.vocab_size)
    return TokenizerFacts(tokenizer.get_vocab(), specials, size)


def base_reference(loaded: Any) -> tuple[str, str]:
    """What the fixed adapter records as its base, and why: the hub id when the new model's base came from the
    hub, else the absolute path of the base directory in use, so OUT is a model reference that resolves from
    any working directory (a relative path, even the one the new adapter recorded, would resolve only from
    where that adapter was trained)."""
    from muscle_guard.backends.hf.files import local_dir

    files = loaded.files
    if local_dir(files.base_name, files.adapter_dir) is None:  # not a local directory: resolved from the hub
        return str(files.base_name), "the hub id the new model's base was loaded from"
    return str(Path(loaded.base_path).resolve()), "the new model's base directory, as an absolute path"


def save_tokenizer_if_own(loaded: Any, out: Path) -> None:
    """The new adapter shipped its own tokenizer: ship it with the fixed adapter too, so both load the same."""
    if Path(loaded.files.tokenizer_dir).resolve() != Path(loaded.base_path).resolve():
        loaded.tokenizer.save_pretrained(str(out))


def as_backend(ref: ModelRef, options: RunOptions, loaded: Any, quiet: bool = True) -> Any:
    """An HFBackend over an already loaded model, so fix judges answers exactly as the gate does.

    Its fingerprint is a placeholder: fix never caches these predictions (the weights change every epoch).
    """
    from muscle_guard.backends.hf.backend import HFBackend

    identity = {"weights": "muscle-fix-live", "tokenizer": "muscle-fix-live"}
    return HFBackend(ref, replace(options, progress=False) if quiet else options, loaded.plan, identity, loaded)


def live_backend(ref: ModelRef, options: RunOptions, loaded: Any, model: Any) -> Any:
    """`as_backend` over `model` (the student as it is now) with the rest of `loaded`; its validation passes show
    progress (minutes on a causal LM, which a CI log would otherwise show as silence)."""
    return as_backend(ref, options, replace(loaded, model=model), quiet=False)
