"""The training loop of `fix` (accelerate): AdamW, linear warm-up and decay, gradient accumulation, a checkpoint
every epoch, validation loss and NFR after every epoch, resume, and a clean stop on Ctrl-C.

Read top to bottom like nanoGPT's train.py: `Trainer.fit` is the whole loop; everything else is a helper.
Data order is a pure function of (seed, epoch): every process draws the same permutation and takes every
world-th example, so a resumed run (even mid-epoch) sees exactly the batches the uninterrupted one would.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.progress import message, progress_bar
from muscle_guard.core.suite import Instance
from muscle_guard.fix import batches, losses
from muscle_guard.fix.checkpoint import CHECKPOINTS, INTERRUPTED, TrainState, epoch_dir, save_checkpoint
from muscle_guard.fix.config import Schedule, TrainConfig
from muscle_guard.fix.modes import Mode, mode_of
from muscle_guard.fix.strategies import Strategy
from muscle_guard.fix.teachers import TeacherCache, move
from muscle_guard.fix.validation import Tally, predict_on, tally

if TYPE_CHECKING:
    from torch import Tensor

MAX_GRAD_NORM = 1.0  # not reported by the paper; the transformers Trainer default
EpochCallback = Callable[[int, dict[str, Any]], None]


class TrainingInterrupted(Exception):
    """Ctrl-C during training; `checkpoint` is the usable checkpoint left behind (None if none yet)."""

    def __init__(self, checkpoint: Path | None, state: TrainState) -> None:
        self.checkpoint = checkpoint
        self.state = state
        super().__init__(f"interrupted at epoch {state.epoch + 1}, step {state.global_step}")


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int, world: int) -> list[list[int]]:
    """This process's batches (positions into the training list) for `epoch`.

    One permutation per (seed, epoch), the same on every process, padded by wrapping around so each process
    gets the same number of batches (as DistributedSampler does), then every world-th position.
    """
    order = list(range(n))
    random.Random(f"muscle-fix:{seed}:{epoch}").shuffle(order)
    total = math.ceil(n / world) * world
    order += order[: total - n]
    mine = order[rank::world]
    return [mine[i : i + batch_size] for i in range(0, len(mine), batch_size)]


@dataclass
class Objective:
    """The loss of one batch under the configured (resolved) strategy."""

    config: TrainConfig
    task: str  # "causal" | "classify"
    teachers: TeacherCache
    pad_id: int

    @property
    def strategy(self) -> Strategy:
        return self.config.strategy

    @property
    def mode(self) -> Mode:
        return mode_of(self.strategy, self.task, self.config.choice_level)

    def __call__(self, model: Any, items: Sequence[batches.Encoded], device: Any) -> Tensor:
        import torch

        config = self.config
        choice_mask: Tensor | None = None  # real choices, when instances have different numbers of them
        if self.mode is Mode.SEQUENCE:
            batch = batches.token_batch(items, self.pad_id, device, target_only=True)
            return losses.sequence_loss(batches.token_logits(model, batch), batch.targets, batch.mask)
        if self.mode is Mode.CHOICE:  # one "token" per instance: its distribution over the choices
            scores, choice_mask = batches.choice_scores(model, items, self.pad_id, device)
            logits = losses.mask_choices(scores, choice_mask)
            targets = labels_of(items, device)
            mask = torch.ones_like(targets, dtype=torch.bool)
        elif self.mode is Mode.CLASSIFY:  # one "token" per instance: its class logits
            logits = batches.class_logits(model, items, self.pad_id, device)
            targets = labels_of(items, device)
            mask = torch.ones_like(targets, dtype=torch.bool)
        else:  # the answer's positions; MUSCLE (the paper's) every context and answer position; padding excluded
            batch = batches.token_batch(items, self.pad_id, device, target_only=not self.strategy.every_position)
            logits, targets, mask = batches.token_logits(model, batch), batch.targets, batch.mask
        if self.strategy is Strategy.CE:  # the same positions (tokens, classes or choices), no teachers
            return losses.ce_loss(logits, targets, mask)
        old, new = self._teachers(items, logits.shape[1], device)
        if choice_mask is not None:  # choice scores are cached as tensors, padded with zeros: mask the padding
            assert isinstance(old, torch.Tensor)
            assert isinstance(new, torch.Tensor)
            old, new = losses.mask_choices(old, choice_mask), losses.mask_choices(new, choice_mask)
        return strategy_loss(self.strategy, logits, old, new, targets, mask, config)

    def _teachers(
        self, items: Sequence[batches.Encoded], width: int, device: Any
    ) -> tuple[losses.Teacher, losses.Teacher]:
        """Both teachers' cached outputs for `items`, padded to `width` positions (or classes, or choices)."""
        return move(self.teachers.batch("old", items, width), device), move(
            self.teachers.batch("new", items, width), device
        )


def labels_of(items: Sequence[batches.Encoded], device: Any) -> Tensor:
    """Each item's class or right choice; `losses.UNLABELLED` for an --unlabelled input (no CE there)."""
    import torch

    return torch.tensor([losses.UNLABELLED if e.label is None else e.label for e in items], device=device)


def strategy_loss(
    strategy: Strategy,
    logits: Tensor,
    old: losses.Teacher,
    new: losses.Teacher,
    targets: Tensor,
    mask: Tensor,
    config: TrainConfig,
) -> Tensor:
    t, lam = config.temperature, config.lam
    if strategy in (Strategy.MUSCLE, Strategy.CHOICE):  # choice: MUSCLE over the choices
        return losses.muscle_loss(logits, old, new, targets, mask, t, lam)
    if strategy is Strategy.KD_OLD:
        return losses.kd_old_loss(logits, old, targets, mask, t, lam)
    if strategy is Strategy.OLD_CORRECT:
        return losses.old_correct_loss(logits, old, new, targets, mask, t, lam)
    if strategy is Strategy.FOCAL:
        return losses.focal_loss(logits, old, targets, mask, t)
    if strategy is Strategy.ENSEMBLE:
        return losses.ensemble_loss(
            logits, old, new, targets, mask, t, config.ensemble_weight, config.ensemble_beta, lam
        )
    raise ValueError(f"no token-level loss for strategy {strategy.value}")


@dataclass
class Validation:
    """The validation split: its encoded items (for the loss) and instances (for NFR, judged like the gate).

    `old` (instance id → the old model's raw prediction) is None when no NFR is computed; `backend` wraps the
    current student in an HFBackend so its answers are made and judged by the gate's own code, under
    `settings` (the --suite's: fix.validation).
    """

    items: list[batches.Encoded]
    instances: list[Instance]
    old: dict[str, Prediction] | None
    settings: SuiteSettings
    backend: Callable[[Any], Any]


@dataclass
class Trainer:
    accelerator: Any
    model: Any
    optimizer: Any
    scheduler: Any
    schedule: Schedule
    config: TrainConfig
    objective: Objective
    train_items: list[batches.Encoded]
    validation: Validation
    out: Path
    state: TrainState = field(default_factory=TrainState)
    callbacks: Sequence[EpochCallback] = ()
    progress: bool = True
    saved: Path | None = None  # the last checkpoint written
    predictions: dict[str, Prediction] = field(default_factory=dict)  # this process's last validation answers

    def fit(self) -> TrainState:
        """Train from `state` to the last epoch; Ctrl-C leaves a checkpoint and raises TrainingInterrupted."""
        try:
            for epoch in range(self.state.epoch, self.config.epochs):
                self._train_epoch(epoch)
                self._end_epoch(epoch)
        except KeyboardInterrupt:
            raise TrainingInterrupted(self._save_interrupted(), self.state) from None
        return self.state

    def _train_epoch(self, epoch: int) -> None:
        acc, config, accum = self.accelerator, self.config, self.schedule.grad_accum
        params = [p for p in self.model.parameters() if p.requires_grad]
        plan = epoch_batches(
            len(self.train_items), config.batch_size, config.seed, epoch, acc.process_index, acc.num_processes
        )
        window_loss, window_batches = 0.0, 0
        self.model.train()
        with progress_bar(
            f"fix epoch {epoch + 1}/{config.epochs}", len(plan), self.progress and acc.is_main_process
        ) as bar:
            bar.advance(self.state.batches_done)
            for b in range(self.state.batches_done, len(plan)):
                # Accumulation windows are aligned from the start of the epoch; the last one may be short.
                start = (b // accum) * accum
                end = min(start + accum, len(plan))
                sync = b + 1 == end
                items = [self.train_items[i] for i in plan[b]]
                with contextlib.nullcontext() if sync else acc.no_sync(self.model), acc.autocast():
                    loss = self.objective(self.model, items, acc.device)
                    acc.backward(loss / (end - start))
                window_loss, window_batches = window_loss + float(loss.detach()), window_batches + 1
                if sync:
                    acc.clip_grad_norm_(params, MAX_GRAD_NORM)
                    self.optimizer.step()
                    self.scheduler.step()
                    self.optimizer.zero_grad(set_to_none=True)
                    # The state only ever describes optimizer-step boundaries: that is what a checkpoint holds.
                    self.state.global_step += 1
                    self.state.batches_done = b + 1
                    self.state.loss_sum += window_loss
                    self.state.loss_count += window_batches
                    window_loss, window_batches = 0.0, 0
                    bar.note(f"loss {self.state.loss_sum / self.state.loss_count:.4f}{self._last_val_note()}")
                bar.advance()

    def _end_epoch(self, epoch: int) -> None:
        metrics = {"epoch": epoch + 1, "train_loss": self._train_loss()}
        metrics.update(self.validate())
        metrics["lr"] = self.scheduler.get_last_lr()[0]
        metrics["global_step"] = self.state.global_step
        self.state.history.append(metrics)
        self.state.epoch, self.state.batches_done = epoch + 1, 0
        self.state.loss_sum, self.state.loss_count = 0.0, 0
        target = epoch_dir(self.out, epoch + 1)
        if self.accelerator.is_main_process:
            self._save(target)
            if self.progress:
                message(epoch_line(metrics, self.config.epochs))
        self.accelerator.wait_for_everyone()
        self.saved = target
        for callback in self.callbacks:
            callback(epoch + 1, metrics)

    def _train_loss(self) -> float:
        """Mean micro-batch loss of the epoch over every process."""
        import torch

        sums = torch.tensor(
            [self.state.loss_sum, self.state.loss_count], dtype=torch.float64, device=self.accelerator.device
        )
        if self.accelerator.num_processes > 1:
            sums = self.accelerator.reduce(sums, reduction="sum")
        return float(sums[0] / sums[1].clamp_min(1.0))

    def _save(self, target: Path) -> None:
        unwrapped = self.accelerator.unwrap_model(self.model)
        save_checkpoint(target, unwrapped, self.optimizer, self.scheduler, self.state)

    def _save_interrupted(self) -> Path | None:
        """Keep what was reached: the last completed optimizer step (a partial accumulation is dropped)."""
        if not self.accelerator.is_main_process:
            return None
        if self.saved is not None and self.state.batches_done == 0:
            return self.saved  # stopped right after an epoch checkpoint: nothing newer to save
        if self.state.global_step == 0:
            return None
        self.optimizer.zero_grad(set_to_none=True)
        target = self.out / CHECKPOINTS / INTERRUPTED
        self._save(target)
        return target

    def _last_val_note(self) -> str:
        if not self.state.history:
            return ""
        last = self.state.history[-1]
        nfr = last.get("val_nfr")
        return f" · val loss {last.get('val_loss', float('nan')):.4f}" + (
            f" · val NFR {nfr:.2%}" if nfr is not None else ""
        )

    def validate(self) -> dict[str, Any]:
        """Validation loss (the training objective), and NFR/PFR/accuracy vs the old model where defined."""
        import torch

        acc, val = self.accelerator, self.validation
        if not val.items:
            return {}
        mine = val.items[acc.process_index :: acc.num_processes]
        sums = torch.zeros(2 + len(Tally().as_list()), dtype=torch.float64, device=acc.device)  # loss·n, n, tally
        self.model.eval()
        with torch.no_grad():
            for chunk in batches.length_batches(mine, self.config.batch_size):
                with acc.autocast():
                    loss = self.objective(self.model, chunk, acc.device)
                sums[0] += float(loss) * len(chunk)
                sums[1] += len(chunk)
            if val.old is not None:
                shard = val.instances[acc.process_index :: acc.num_processes]
                student = predict_on(val.backend(acc.unwrap_model(self.model)), shard, val.settings)
                self.predictions = student
                counts = tally(shard, val.settings, val.old, student).as_list()
                sums[2:] += torch.tensor(counts, dtype=sums.dtype, device=sums.device)
        self.model.train()
        sums = acc.reduce(sums, reduction="sum") if acc.num_processes > 1 else sums
        out: dict[str, Any] = {"val_loss": float(sums[0] / max(float(sums[1]), 1.0))}
        counted = Tally.from_list(sums[2:].tolist())
        if val.old is not None and counted.n > 0:
            out.update(counted.metrics())
        return out


def epoch_line(metrics: dict[str, Any], epochs: int) -> str:
    parts = [f"epoch {metrics['epoch']}/{epochs}", f"train loss {metrics['train_loss']:.4f}"]
    if "val_loss" in metrics:
        parts.append(f"val loss {metrics['val_loss']:.4f}")
    if "val_nfr" in metrics:
        parts.append(f"val NFR {metrics['val_nfr']:.2%} ({metrics['val_nf']}/{metrics['val_n']})")
        parts.append(f"val acc {metrics['val_acc']:.2%}")
    return " · ".join(parts)


def select_epoch(history: Sequence[dict[str, Any]], select: str) -> int:
    """The epoch to ship: lowest validation loss (`val-loss`), or lowest validation NFR with the validation loss
    breaking ties (`val-nfr`); the last epoch when there is no validation split. Earlier epochs win exact ties."""
    scored = [h for h in history if "val_loss" in h]
    if not scored:
        return int(history[-1]["epoch"])
    if select == "val-nfr" and all("val_nfr" in h for h in scored):
        best = min(scored, key=lambda h: (h["val_nfr"], h["val_loss"], h["epoch"]))
    else:
        best = min(scored, key=lambda h: (h["val_loss"], h["epoch"]))
    return int(best["epoch"])


def make_optimizer(model: Any, config: TrainConfig, schedule: Schedule) -> tuple[Any, Any]:
    """AdamW over the trainable weights, linear warm-up then linear decay to 0."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, schedule.warmup_steps, schedule.total_steps)  # type: ignore[no-untyped-call]
    return optimizer, scheduler
