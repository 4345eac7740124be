"""The training runs of one `fix`: one model (`TrainingRun.train`), or `--aim budget`'s candidates
(`search_budget`), sharing the prepared student, the data and the teachers' outputs; and what each ships.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import FixError
from muscle_guard.core.formatting import counted
from muscle_guard.core.mixing import mix_predictions
from muscle_guard.core.predictions import Prediction
from muscle_guard.fix import batches
from muscle_guard.fix import checkpoint as ckpt
from muscle_guard.fix.aim import (
    CEILING_POINT,
    CEILING_WEIGHT,
    NEW_POINT,
    OLD_POINT,
    SEQUENCE_CANDIDATE,
    Budget,
    Point,
    choose,
    choose_short_of_margin,
    frontier_json,
    grid,
    miss_line,
    new_accuracy,
    point_of,
    short_of_margin_line,
)
from muscle_guard.fix.averaging import AVERAGE, average_dir, averaged_epochs, load_average, save_average
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.request import FixRequest
from muscle_guard.fix.strategies import Strategy
from muscle_guard.fix.teachers import gather
from muscle_guard.fix.train import Objective, Trainer, Validation, make_optimizer, select_epoch
from muscle_guard.fix.validation import tally

CANDIDATES = "candidates"
FEW_OLD_RIGHT = 50  # fewer validation instances the old model gets right, and validation NFR is too coarse to aim


@dataclass(frozen=True)
class Shipped:
    """The weights of one training run that validation picked, where they are, and their validation metrics."""

    directory: Path  # an adapter directory: OUT/checkpoints/epoch-N or OUT/checkpoints/average
    picked: str  # "epoch 3", "average of epochs 2-3"
    epoch: int | None  # None for an average
    metrics: dict[str, Any]


@dataclass(frozen=True)
class Search:
    """`--aim budget`: the budget, every point on validation (old, new, candidates), the one chosen (or None)."""

    budget: Budget
    points: list[Point]
    chosen: Point | None
    runs: list[dict[str, Any]]  # per candidate: its directory, what was picked, its epochs' metrics
    state: ckpt.TrainState
    shipped: Shipped | None
    config: TrainConfig | None  # the chosen candidate's configuration
    base: TrainConfig | None = None  # what every candidate shares (the schedule), for the advice of miss()
    short_of_margin: bool = False  # chosen within the budget but not budget - margin (aim.choose_short_of_margin)

    def miss(self) -> str | None:
        return miss_line(self.points, self.budget, self.base) if self.chosen is None else None

    def warning(self) -> str | None:
        if self.chosen is None or not self.short_of_margin:
            return None
        return short_of_margin_line(self.chosen, self.budget)

    def to_json(self) -> dict[str, Any]:
        return frontier_json(self.points, self.chosen, self.budget, self.base, self.short_of_margin) | {
            "candidates": self.runs
        }


@dataclass
class TrainingRun:
    """What every training run of one `fix` shares: the prepared student, the data, the teachers' outputs."""

    request: FixRequest
    accelerator: Any
    model: Any  # the student, prepared by accelerate
    schedule: Any
    items: list[batches.Encoded]
    validation: Validation
    loaded: Any  # the new model's LoadedModel
    teachers: Any  # TeacherCache, computed once
    world: int
    say: Any
    start: dict[str, Any] | None = None  # the student's trainable weights before any step (the new model)

    @property
    def student(self) -> Any:
        return self.accelerator.unwrap_model(self.model)

    def objective(self, config: TrainConfig) -> Objective:
        return Objective(config, self.loaded.task, self.teachers, batches.pad_id_of(self.loaded.tokenizer))

    def trainer(self, config: TrainConfig, out: Path, state: ckpt.TrainState, optimizer: Any = None,
                scheduler: Any = None) -> Trainer:  # fmt: skip
        return Trainer(
            self.accelerator, self.model, optimizer, scheduler, self.schedule, config, self.objective(config),
            self.items, self.validation, out, state, self.request.callbacks, self.request.options.progress,
        )  # fmt: skip

    def validate(self, config: TrainConfig) -> tuple[dict[str, Any], dict[str, Prediction]]:
        """The current student's validation metrics and answers (before training: the new model's)."""
        trainer = self.trainer(config, self.request.out, ckpt.TrainState())
        metrics = trainer.validate()
        return metrics, gather(self.accelerator, trainer.predictions)

    def restart(self, seed: int) -> None:
        """Put the student back to the new model and reseed, so the next run starts where the first did."""
        import torch
        from accelerate.utils import set_seed

        params = {n: p for n, p in self.student.named_parameters() if p.requires_grad}
        if self.start is None:
            self.start = {n: p.detach().clone() for n, p in params.items()}
        else:
            with torch.no_grad():
                for name, param in params.items():
                    param.copy_(self.start[name])
        set_seed(seed)

    def train(self, config: TrainConfig, out: Path, resume: bool) -> tuple[ckpt.TrainState, Shipped]:
        """Train one configuration into `out`/checkpoints (resuming if asked); the weights validation picks."""
        optimizer, scheduler = make_optimizer(self.student, config, self.schedule)
        optimizer = self.accelerator.prepare(optimizer)
        key = fingerprint(self.request, config, self.world, self.validation.settings.to_json())
        state = ckpt.TrainState(fingerprint=key)
        if resume:
            state = resume_from(out, self.student, optimizer, scheduler, key, self.say)
        trainer = self.trainer(config, out, state, optimizer, scheduler)
        state = trainer.fit()
        if config.select != AVERAGE:
            selected = select_epoch(state.history, config.select)
            entry = next(h for h in state.history if h["epoch"] == selected)
            return state, Shipped(ckpt.epoch_dir(out, selected), f"epoch {selected}", selected, entry)
        epochs = averaged_epochs(config.epochs)
        load_average(self.student, out, epochs)
        if self.accelerator.is_main_process:
            save_average(out, self.student)
        self.accelerator.wait_for_everyone()
        metrics = trainer.validate()
        picked = f"average of epochs {epochs[0]}-{epochs[-1]}" if len(epochs) > 1 else f"epoch {epochs[0]}"
        if metrics:
            self.say(f"fix: {picked}: {val_text(metrics)}")
        return state, Shipped(average_dir(out), picked, None, metrics)


def val_text(metrics: dict[str, Any]) -> str:
    if "val_nfr" not in metrics:
        return f"val loss {metrics['val_loss']:.4f}"
    return (
        f"val NFR {metrics['val_nfr']:.2%} ({metrics['val_nf']}/{metrics['val_n']}) · val acc {metrics['val_acc']:.2%}"
    )


def search_budget(run: TrainingRun, config: TrainConfig, budget: Budget) -> Search:
    """`--aim budget`: one training run per candidate, the teachers shared; the most accurate within budget."""
    request, val = run.request, run.validation
    if val.old is None or not val.instances:
        raise FixError("--aim budget needs a validation split with NFR (set --val-fraction > 0)")
    sequence = config.strategy is Strategy.SEQUENCE  # generation across tokenizers: one candidate, no weights
    candidates = [SEQUENCE_CANDIDATE] if sequence else grid(request.ensemble_weights, request.ce_weights)
    new, new_answers = run.validate(config)
    old = tally(val.instances, val.settings, val.old, val.old)  # the old model against itself: its own scores
    n = old.n
    points = [Point(OLD_POINT, old.score_old / n, 0.0, 0, n), point_of(NEW_POINT, new)]
    refuse_blind_validation(old.can_regress, n, budget, val.instances[0].shape.is_continuous, float(new["val_acc"]))
    mixed = {i.id: mix_predictions(val.old[i.id], new_answers[i.id], CEILING_WEIGHT, i.choices, val.settings.mc_norm)
             for i in val.instances}  # fmt: skip
    if mixed and all(m is not None for m in mixed.values()):
        ceiling = tally(val.instances, val.settings, val.old, {k: m for k, m in mixed.items() if m is not None})
        points.append(point_of(CEILING_POINT, ceiling.metrics()))
    if old.can_regress < FEW_OLD_RIGHT:
        run.say(
            f"fix --aim budget: warning: the old model is right on only {old.can_regress} of the {n} validation "
            f"instances, so one flip moves validation NFR by {100 / n:.1f} points; more --train data or a larger "
            "--val-fraction would measure it finely"
        )
    run.say(
        f"fix --aim budget: {budget.describe(n)}; {counted(len(candidates), 'candidate')}; new model: {val_text(new)}"
    )
    runs: list[dict[str, Any]] = []
    trained: dict[str, tuple[ckpt.TrainState, Shipped, TrainConfig]] = {}
    for i, candidate in enumerate(candidates):
        run.restart(config.seed)
        cfg = (
            config
            if sequence
            else replace(config, ensemble_weight=candidate.ensemble_weight, ce_weight=candidate.ce_weight)
        )
        where = request.out / CANDIDATES / candidate.slug
        run.say(f"fix --aim budget: candidate {i + 1}/{len(candidates)}: {candidate.label}")
        # --resume continues the candidate that was interrupted; finished ones restore and train no further.
        resume = request.resume and ckpt.latest_checkpoint(where) is not None
        state, shipped = run.train(cfg, where, resume=resume)
        point = point_of(candidate.label, shipped.metrics, shipped.picked, candidate)
        points.append(point)
        trained[candidate.label] = (state, shipped, cfg)
        runs.append({"label": candidate.label, "dir": str(where), "picked": shipped.picked, "epochs": state.history})
    chosen = choose(points, budget, new_accuracy(points))
    short = chosen is None
    if chosen is None:
        chosen = choose_short_of_margin(points, budget, new_accuracy(points))
    if chosen is None:
        last = trained[candidates[-1].label][0]
        return Search(budget, points, None, runs, last, None, None, config)
    state, shipped, cfg = trained[chosen.label]
    return Search(budget, points, chosen, runs, state, shipped, cfg, config, short_of_margin=short)


def refuse_blind_validation(can_regress: int, n: int, budget: Budget, continuous: bool, acc_new: float) -> None:
    """Refuse, before any training, an aim that validation cannot measure: when even a student that lost every
    instance the old model gets right would meet it (so no candidate could be told apart from a broken one), or
    when both models score nothing on validation (the suite's settings do not fit this data)."""
    right = "scores above ε on" if continuous else "is right on"
    if can_regress == 0 and acc_new == 0:
        raise FixError(
            f"fix --aim budget: both models score 0 on all {n} validation instances, so validation cannot measure "
            "flips; check that the training data is the --suite's task and that its settings (labels, normaliser, "
            "scorer, prompt_template) fit it"
        )
    if can_regress / n <= budget.target(n):
        raise FixError(
            f"fix --aim budget: the old model {right} only {can_regress} of the {n} validation instances, so even a "
            f"model that lost all of them ({can_regress / n:.2%}) would meet the aim (validation NFR ≤ "
            f"{budget.target(n):.2%}): validation cannot measure it; give more --train data or a larger --val-fraction"
        )


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint(request: FixRequest, config: TrainConfig, world: int, settings: dict[str, Any]) -> str:
    """What a checkpoint was trained with: `--resume` refuses a checkpoint whose fingerprint differs. `settings` are
    the training suite's (rendering, labels, how validation is judged); the gates only choose, so they are left out."""
    payload = {
        "settings": {k: v for k, v in settings.items() if k != "gates"},
        "config": config.to_json(),
        "train": file_hash(request.train),
        "unlabelled": file_hash(request.unlabelled) if request.unlabelled is not None else None,
        "old": request.old,
        "new": request.new,
        "world": world,
        "split": 2,  # validation split by normalised input (2) instead of by id: another split, another run
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def resume_from(out: Path, model: Any, optimizer: Any, scheduler: Any, fingerprint: str, say: Any) -> ckpt.TrainState:
    directory = ckpt.latest_checkpoint(out)
    assert directory is not None
    if ckpt.read_state(directory).fingerprint != fingerprint:
        raise FixError(
            f"--resume: {directory} was trained with other settings, data, models or process count; "
            "resume with the same command, or start again with another --out"
        )
    state = ckpt.load_checkpoint(directory, model, optimizer, scheduler)
    say(f"fix: resuming from {directory} (epoch {state.epoch + 1}, step {state.global_step})")
    return state
