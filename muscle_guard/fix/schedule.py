"""The training schedule `fix` uses when the user sets none: learning rate, epochs and batch from the data size and
the model, by one documented rule (docs/fix.md "The schedule"), with every value the user sets kept.

The rule (`auto`, the default):
- **batch**: an effective batch of 32 examples, smaller for small data so that an epoch still makes at least 15
  optimizer steps (never below 8); causal LMs take it as micro-batches of 8 with gradient accumulation (their
  activations are large), classifiers in one micro-batch;
- **epochs**: enough for about 150 optimizer steps in all, between 2 and 10;
- **learning rate**: 2e-3 × 384 / the model's hidden width, within [1e-5, 1e-2]: wider models take smaller
  steps (lr ∝ 1/width, the μP rule for hidden weights under Adam). 2e-3 at width 384 was tuned on the MiniLM
  pair (Rotten Tomatoes and sarcasm, docs/BENCHMARKS.md); it gives 1.2e-3 for Gemma-3-270M (width 640) and
  1.9e-4 for a 7B model of width 4096, the range LoRA recipes use there;
- **warm-up**: 10% of the optimizer steps (at most 500);
- **validation**: 20% of the rows, but at least 100 where that leaves most rows to train (at most 40%): the aim
  judges a budget of a few percent on it, and on 60 rows one flip moves NFR by 1.7 points.
On 800 training rows of MiniLM this is exactly the tuned schedule (6 epochs × 25 steps of 32, lr 2e-3). The rule
was chosen on those two tasks and checked on tasks it was not chosen on (docs/BENCHMARKS.md "No flags").

`paper` is the MUSCLE paper's (10 epochs, lr 1e-4, batch 8, accumulation 8 and 500 warm-up steps, both
capped for small data by `config.plan_schedule`): meant for 7B models on tens of thousands of rows. On a few
thousand rows it makes a dozen optimizer steps an epoch and the student hardly leaves the new model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from muscle_guard.core.errors import FixError
from muscle_guard.fix.config import TrainConfig

RULES = ("auto", "paper")
BATCH = 32  # the effective batch the tuned MiniLM schedule used
MIN_BATCH = 8
MIN_STEPS_PER_EPOCH = 15  # so that 10 epochs still reach TARGET_STEPS on small data
CAUSAL_MICRO_BATCH = 8
TARGET_STEPS = 150  # 6 epochs × 25 steps: the tuned MiniLM schedule on 800 rows
EPOCHS = (2, 10)
REFERENCE_LR, REFERENCE_WIDTH = 2e-3, 384  # tuned at MiniLM-L6's hidden width
LR_BOUNDS = (1e-5, 1e-2)
PAPER = {"epochs": 10, "lr": 1e-4, "batch_size": 8}
VAL_FRACTION, VAL_ROWS, VAL_MAX = 0.2, 100, 0.4  # the paper's 20%, at least 100 rows, never more than 40%


@dataclass(frozen=True)
class ScheduleRequest:
    """What the user set of the schedule (None: the rule decides) and the rule for the rest."""

    rule: str = "auto"
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None  # per process, per micro-batch
    grad_accum: int | None = None
    warmup_steps: int | None = None
    val_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise FixError(f"--schedule must be one of {', '.join(RULES)}, got {self.rule!r}")


def validation_fraction(request: ScheduleRequest | None, rows: int, given: float) -> float:
    """The validation share of `rows` training rows: the user's, the paper's 20% under `paper` (and for callers
    without a schedule: `given`), else 20% raised to 100 rows where at most 40% of the data goes to it."""
    if request is None:
        return given
    if request.val_fraction is not None:
        return request.val_fraction
    if request.rule == "paper" or rows <= 0:
        return VAL_FRACTION
    return max(VAL_FRACTION, min(VAL_MAX, VAL_ROWS / rows))


def model_width(config: Any) -> int:
    """The hidden width of a transformers config (hidden_size, d_model, n_embd or dim)."""
    for name in ("hidden_size", "d_model", "n_embd", "dim"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    text = getattr(config, "text_config", None)  # multimodal configs keep the language model's inside
    return model_width(text) if text is not None else REFERENCE_WIDTH


def auto_lr(width: int) -> float:
    return min(max(REFERENCE_LR * REFERENCE_WIDTH / width, LR_BOUNDS[0]), LR_BOUNDS[1])


def resolve_schedule(
    config: TrainConfig, request: ScheduleRequest, n_train: int, width: int, causal: bool, world: int = 1
) -> tuple[TrainConfig, str]:
    """`config` with epochs, lr, batch size, accumulation and warm-up set by `request` (the user's values, the
    rule's for the rest), and one line saying what was chosen and why."""
    if request.rule == "paper":
        values: dict[str, Any] = {"epochs": PAPER["epochs"], "lr": PAPER["lr"], "batch_size": PAPER["batch_size"]}
        values |= {"grad_accum": None, "warmup_steps": None}
        why = (
            "the MUSCLE paper's: 10 epochs, lr 1e-4, batch 8, accumulation 8, 500 warm-up steps (capped for small data)"
        )
    else:
        per_process = max(1, math.ceil(n_train / world))
        effective = min(BATCH, max(MIN_BATCH, per_process // MIN_STEPS_PER_EPOCH))
        micro = request.batch_size or (min(effective, CAUSAL_MICRO_BATCH) if causal else effective)
        steps = math.ceil(per_process / max(effective, micro))
        values = {
            "epochs": min(max(math.ceil(TARGET_STEPS / steps), EPOCHS[0]), EPOCHS[1]),
            "lr": auto_lr(width),
            "batch_size": micro,
            "grad_accum": max(1, round(effective / micro)),
            "warmup_steps": None,
        }
        why = (
            f"auto from {n_train} training rows and hidden width {width}: batch {effective}, about "
            f"{TARGET_STEPS} optimizer steps, lr 2e-3 × 384/{width}"
        )
    given = {
        k: v
        for k, v in (
            ("epochs", request.epochs), ("lr", request.lr), ("batch_size", request.batch_size),
            ("grad_accum", request.grad_accum), ("warmup_steps", request.warmup_steps),
        )
        if v is not None
    }  # fmt: skip
    resolved = replace(config, **(values | given))
    accum = "auto" if resolved.grad_accum is None else str(resolved.grad_accum)
    line = (
        f"fix: schedule {resolved.epochs} epochs, lr {resolved.lr:.3g}, batch {resolved.batch_size} × accumulation "
        f"{accum} ({why}"
        + (f"; set by you: {', '.join('--' + k.replace('_', '-') for k in given)}" if given else "")
        + "; docs/fix.md)"
    )
    return resolved, line
