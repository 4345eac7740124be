"""Hyperparameters of `muscle-guard fix`: the paper's values, and how they are scaled for small data.

Paper (Echterhoff et al. 2024, arXiv 2407.09435; docs/fix.md): LoRA r=128, α=256 on all linear layers, dropout 0; 10 epochs, lr 1e-4, AdamW, weight decay 0,
gradient accumulation 8, 500 warm-up steps; checkpoint chosen on a 20% validation split; T = 2.
Not reported there, chosen here: batch size 8, max length 512, linear decay after warm-up.
Scaled for small data (documented in --help): gradient accumulation `auto` is 8 but at most a quarter of the
batches of an epoch (so every epoch makes at least ~4 optimizer steps); warm-up `auto` is 500 steps but at
most 10% of all optimizer steps.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from muscle_guard.core.errors import FixError
from muscle_guard.fix.strategies import Strategy

PAPER_GRAD_ACCUM = 8
PAPER_WARMUP = 500
WARMUP_CAP = 0.10
MIN_STEPS_PER_EPOCH = 4
SELECT_CHOICES = ("val-loss", "val-nfr", "average")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes the trained adapter (recorded in muscle_fix.json; resume checks it)."""

    strategy: Strategy = Strategy.MUSCLE
    choice_level: bool = False  # the loss compares each instance's distribution over its choices (--level choice)
    epochs: int = 10
    lr: float = 1e-4
    weight_decay: float = 0.0
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.0
    temperature: float = 2.0
    ce_weight: float = 0.0  # weight of the cross-entropy term: (1 − w)·L + w·CE, i.e. the paper's λ = 1 − w
    val_fraction: float = 0.2
    select: str = "val-loss"
    batch_size: int = 8
    grad_accum: int | None = None  # None: auto (see the module docstring)
    warmup_steps: int | None = None  # None: auto
    max_length: int = 512
    seed: int = 0
    gradient_checkpointing: bool = False
    teacher_topk: int = 64  # k of the top-k teacher cache, used only when full logits exceed the budget
    # Memory budget for cached full-vocabulary teacher logits; above it the top-k form. Small by default: full
    # logits of both teachers for a few hundred sequences of a 49k vocabulary already double a fine-tune's memory.
    teacher_cache_gb: float = 0.25
    # --strategy ensemble: the old teacher's weight w in w·p_old + (1 − w)·p_new, and the focal boost β where the
    # old model is right (0: none).
    ensemble_weight: float = 0.5
    ensemble_beta: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, "--epochs must be >= 1"),
            (self.lr > 0, "--lr must be > 0"),
            (self.weight_decay >= 0, "weight decay must be >= 0"),
            (self.lora_r >= 1, "--lora-r must be >= 1"),
            (self.lora_alpha > 0, "--lora-alpha must be > 0"),
            (self.temperature > 0, "--temperature must be > 0"),
            (0.0 <= self.ce_weight <= 1.0, "--ce-weight must be between 0 and 1"),
            (0.0 <= self.val_fraction < 1.0, "--val-fraction must be in [0, 1)"),
            (self.select in SELECT_CHOICES, f"--select must be one of {', '.join(SELECT_CHOICES)}"),
            (self.batch_size >= 1, "--batch-size must be >= 1"),
            (self.grad_accum is None or self.grad_accum >= 1, "--grad-accum must be >= 1"),
            (self.warmup_steps is None or self.warmup_steps >= 0, "--warmup-steps must be >= 0"),
            (self.max_length >= 8, "--max-length must be >= 8"),
            (self.teacher_topk >= 1, "teacher top-k must be >= 1"),
            (self.teacher_cache_gb >= 0, "--teacher-cache-gb must be >= 0"),
            (self.strategy is not Strategy.AUTO, "resolve --strategy auto before training"),
        ]
        for ok, message in checks:
            if not ok:
                raise FixError(message)
        if self.strategy is Strategy.FOCAL and self.ce_weight not in (0.0,):
            raise FixError("--ce-weight does not apply to --strategy focal (its cross-entropy term is built in)")
        if self.strategy is Strategy.CE and self.ce_weight not in (0.0, 1.0):
            raise FixError("--ce-weight does not apply to --strategy ce (it is cross-entropy only)")
        if not 0.0 <= self.ensemble_weight <= 1.0:
            raise FixError("--ensemble-weight must be between 0 and 1")
        if self.ensemble_beta < 0:
            raise FixError("--ensemble-beta must be >= 0")
        tuned = (self.ensemble_weight, self.ensemble_beta) != (0.5, 0.0)
        if tuned and self.strategy not in (Strategy.ENSEMBLE, Strategy.AUTO):
            raise FixError("--ensemble-weight and --ensemble-beta apply to --strategy ensemble only")
        if self.val_fraction == 0.0 and self.select == "val-nfr":
            raise FixError("--select val-nfr needs a validation split; set --val-fraction > 0")

    @property
    def lam(self) -> float:
        """The paper's λ in λ·L + (1−λ)·CE."""
        return 1.0 - self.ce_weight

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["strategy"] = self.strategy.value
        if self.choice_level == (self.strategy is Strategy.CHOICE):  # implied: recorded as before --level existed,
            del out["choice_level"]  # so checkpoints of earlier versions still resume
        if self.strategy is not Strategy.ENSEMBLE:  # likewise: recorded only where they mean something
            del out["ensemble_weight"], out["ensemble_beta"]
        return out


@dataclass(frozen=True)
class Schedule:
    """Optimizer steps derived from the data size and the configuration."""

    batches_per_epoch: int  # per process
    grad_accum: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int

    def to_json(self) -> dict[str, int]:
        return asdict(self)


def plan_schedule(config: TrainConfig, batches_per_epoch: int) -> Schedule:
    """Gradient accumulation and warm-up for `batches_per_epoch` (per process), scaled as the module says."""
    if batches_per_epoch < 1:
        raise FixError("no training batches: the training data is empty after the validation split")
    if config.grad_accum is not None:
        accum = min(config.grad_accum, batches_per_epoch)
    else:
        accum = max(1, min(PAPER_GRAD_ACCUM, batches_per_epoch // MIN_STEPS_PER_EPOCH))
    steps_per_epoch = math.ceil(batches_per_epoch / accum)
    total = steps_per_epoch * config.epochs
    if config.warmup_steps is not None:
        warmup = min(config.warmup_steps, total)
    else:
        warmup = min(PAPER_WARMUP, math.ceil(WARMUP_CAP * total))
    return Schedule(batches_per_epoch, accum, steps_per_epoch, total, warmup)
