"""`muscle-guard fix` end to end: data and guards, models and teachers, training, the adapter at OUT, before/after.

Output directory: OUT/ is a PEFT adapter (adapter_config.json + adapter_model.safetensors) usable as a model
reference, plus muscle_fix.json (configuration, data hashes, strategy, per-epoch metrics, selected epoch),
fix_report.json (before/after per --suite) and checkpoints/epoch-N/.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from muscle_guard.backends.base import RunOptions
from muscle_guard.cache import PredictionCache
from muscle_guard.config import load_project_config
from muscle_guard.distributed import accelerator_on_cpu, check_one_group, device_option
from muscle_guard.errors import FixError
from muscle_guard.fix import batches as B
from muscle_guard.fix import checkpoint as ckpt
from muscle_guard.fix import models
from muscle_guard.fix.aim import (
    DEFAULT_WEIGHTS,
    NEW_POINT,
    OLD_POINT,
    Aim,
    Budget,
    Point,
    choose,
    frontier_html,
    grid,
    miss_line,
    point_of,
    suite_budget,
)
from muscle_guard.fix.averaging import AVERAGE, average_dir, averaged_epochs, load_average, save_average
from muscle_guard.fix.compare import SuiteComparison, compare_suites
from muscle_guard.fix.config import TrainConfig, plan_schedule
from muscle_guard.fix.data import (
    Example,
    build_examples,
    find_overlaps,
    refuse_overlaps,
    split_validation,
)
from muscle_guard.fix.prepare import prepare
from muscle_guard.fix.strategies import Level, Resolved, Strategy, resolve_strategy, tokenizer_difference
from muscle_guard.fix.train import (
    EpochCallback,
    Objective,
    Trainer,
    Validation,
    epoch_batches,
    make_optimizer,
    select_epoch,
)
from muscle_guard.fsutil import atomic_write_text
from muscle_guard.outputs import Place, check_outputs, model_places, places
from muscle_guard.progress import message
from muscle_guard.suite import Shape, Suite, load_suite, refuse_duplicate_names, refuse_empty_suite_paths

FIX_JSON = "muscle_fix.json"
REPORT_JSON = "fix_report.json"
CANDIDATES = "candidates"
AIM_HTML = "aim.html"
FEW_OLD_RIGHT = 50  # fewer validation instances the old model gets right, and validation NFR is too coarse to aim


@dataclass(frozen=True)
class FixRequest:
    """Everything `muscle-guard fix` was asked to do."""

    old: str
    new: str
    train: Path
    out: Path
    config: TrainConfig
    # As requested (may be auto); None: the config's. config.strategy is set to the resolved one.
    strategy: Strategy | None = None
    level: Level = Level.AUTO  # as requested; config.choice_level is set once resolved
    suites: tuple[Path, ...] = ()
    resume: bool = False
    allow_overlap: bool = False
    pyproject: Path = Path("pyproject.toml")
    options: RunOptions = field(default_factory=RunOptions)
    cache_dir: Path | None = None
    callbacks: tuple[EpochCallback, ...] = ()
    # --aim budget: the candidate grid (the ensemble's old weight w × the CE weight; None: the config's CE weight)
    # and the margin below each --suite's budget (NFR points; None: one standard error, see fix/aim.py).
    aim: Aim = Aim.NONE
    ensemble_weights: tuple[float, ...] = DEFAULT_WEIGHTS
    ce_weights: tuple[float, ...] | None = None
    budget_margin: float | None = None

    @property
    def requested_strategy(self) -> Strategy:
        if self.strategy is not None:
            return self.strategy
        return Strategy.ENSEMBLE if self.aim is Aim.BUDGET else self.config.strategy


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

    def miss(self) -> str | None:
        return miss_line(self.points, self.budget) if self.chosen is None else None

    def to_json(self) -> dict[str, Any]:
        n = max((p.n for p in self.points), default=0)
        return {
            "budget": {
                "source": self.budget.source,
                "max_nfr": self.budget.max_nfr,
                "margin": self.budget.margin(n),
                "target_val_nfr": self.budget.target(n),
                "min_accuracy_delta": self.budget.min_accuracy_delta,
            },
            "points": [p.to_json() for p in self.points],
            "chosen": self.chosen.label if self.chosen is not None else None,
            "candidates": self.runs,
        }


@dataclass(frozen=True)
class FixResult:
    out: Path
    strategy: Resolved
    shipped: Shipped | None  # None: --aim budget found no candidate within budget, and nothing was written
    history: list[dict[str, Any]]
    comparisons: list[SuiteComparison]
    search: Search | None = None

    @property
    def passed(self) -> bool:
        return self.shipped is not None and all(c.passed_after for c in self.comparisons)

    @property
    def selected_epoch(self) -> int | None:
        return self.shipped.epoch if self.shipped is not None else None

    @property
    def selected(self) -> str:
        return self.shipped.picked if self.shipped is not None else "nothing"


def run_fix(request: FixRequest) -> FixResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    # 1. Data, guards and the validation split: everything that can fail fast, before a model loads.
    project = load_project_config(request.pyproject)
    train_suite = load_suite(request.train)
    refuse_empty_suite_paths(list(request.suites), "--suite")
    suites = [load_suite(p) for p in request.suites]
    refuse_duplicate_names(suites)
    if not request.allow_overlap:
        refuse_overlaps(find_overlaps(train_suite, suites))
    _check_out(request)
    budget = suite_budget(suites, project, request.budget_margin) if request.aim is Aim.BUDGET else None
    if budget is not None:
        grid(request.ensemble_weights, request.ce_weights or (request.config.ce_weight,))  # refuse a bad grid now
    settings = project.settings_for(train_suite.name)
    examples = build_examples(train_suite, settings)
    train_ex, val_ex = split_validation(examples, request.config.val_fraction, request.config.seed)
    if request.config.val_fraction > 0 and not val_ex and len(examples) >= 2:
        raise FixError(
            f"{request.train}: every instance has the same input after normalisation, so no validation split can "
            "avoid copies of training rows; add varied training data or pass --val-fraction 0"
        )

    # 2. Models: student (new + a trainable copy of its adapter), old teacher; the strategy they allow.
    accelerator = Accelerator(
        mixed_precision=_mixed_precision(request.options), cpu=accelerator_on_cpu(request.options.device)
    )
    check_one_group(accelerator.num_processes, "fix")
    set_seed(request.config.seed)
    options = replace(
        request.options,
        device=device_option(accelerator.device),
        progress=request.options.progress and accelerator.is_main_process,
    )
    new_ref, old_ref = models.parse_ref(request.new, "--new"), models.parse_ref(request.old, "--old")
    student_loaded = models.load(new_ref, options, trainable=True)
    old_loaded = models.load(old_ref, options, trainable=False)
    _check_task(train_suite, student_loaded, old_loaded)
    for suite in suites:
        if (suite.shape is Shape.CLASSIFY) != (train_suite.shape is Shape.CLASSIFY):
            raise FixError(
                f"--suite {suite.path} is {suite.shape.value} but the training data is {train_suite.shape.value}"
            )
    _check_labels(examples, student_loaded)
    difference = tokenizer_difference(models.tokenizer_facts(old_loaded), models.tokenizer_facts(student_loaded))
    resolved = resolve_strategy(request.requested_strategy, train_suite.shape, difference, request.level)
    config = replace(request.config, strategy=resolved.strategy, choice_level=resolved.choice_level)
    if request.aim is Aim.BUDGET and resolved.strategy is not Strategy.ENSEMBLE:
        raise FixError(
            f"--aim budget searches the ensemble's weights; it trains --strategy ensemble, not {resolved.strategy.value}"
        )
    say = message if accelerator.is_main_process else (lambda _text: None)
    at = " (choice level)" if resolved.choice_level and resolved.strategy is not Strategy.CHOICE else ""
    say(f"fix: strategy {resolved.strategy.value}{at}: {resolved.reason}")
    say(f"fix: {len(train_ex)} training and {len(val_ex)} validation instances from {request.train}")

    # 3. Teachers' outputs, once, while the student still equals the new model (hence before any resume).
    student = models.make_student(student_loaded, config)
    if config.gradient_checkpointing:
        student.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    old_backend = models.as_backend(old_ref, options, old_loaded)
    want_val_nfr = not train_suite.shape.is_generative or config.select == "val-nfr" or request.aim is Aim.BUDGET
    prep = prepare(
        accelerator, config, settings, examples, val_ex, student, student_loaded, old_loaded, old_backend,
        difference is None, want_val_nfr, say,
    )  # fmt: skip
    del old_loaded, old_backend
    _free_memory()

    # 4. Train (resuming from the last checkpoint if asked) each candidate; ship the weights validation picks.
    student_backend = partial(models.live_backend, new_ref, options, student_loaded)
    items = [prep.encoded[e.index] for e in train_ex]
    val_items = [prep.encoded[e.index] for e in val_ex]
    instances = [e.instance for e in val_ex if e.instance is not None]
    validation = Validation(val_items, instances, prep.old_correct, settings, student_backend)
    rank, world = accelerator.process_index, accelerator.num_processes
    schedule = plan_schedule(config, len(epoch_batches(len(items), config.batch_size, config.seed, 0, rank, world)))
    model = accelerator.prepare(student)
    say(
        f"fix: {config.epochs} epochs × {schedule.steps_per_epoch} optimizer steps (batch {config.batch_size} × "
        f"{world} process(es), accumulation {schedule.grad_accum}, warm-up {schedule.warmup_steps})"
    )
    run = _Run(request, accelerator, model, schedule, items, validation, student_loaded, prep.cache, world, say)
    search = _search(run, config, budget, prep.old_correct) if budget is not None else None
    shipped: Shipped | None
    if search is None:
        state, shipped = run.train(config, request.out, request.resume)
    else:
        state, shipped = search.state, search.shipped
    if accelerator.is_main_process:
        if shipped is not None:
            ckpt.export_adapter(shipped.directory, request.out, models.base_reference(student_loaded))
            models.save_tokenizer_if_own(student_loaded, request.out)
        _write_fix_json(
            request, search.config if search and search.config else config, resolved, schedule.to_json(),
            state.history, shipped, train_suite, suites, world, search,
        )  # fmt: skip
        if shipped is not None:
            say(f"fix: shipped {shipped.picked} (--select {config.select}); adapter written to {request.out}")
    accelerator.wait_for_everyone()
    del model, student, student_loaded, prep, validation, student_backend, run
    _free_memory()

    # 5. Before/after on every --suite (old→new against old→fixed), on the main process.
    comparisons: list[SuiteComparison] = []
    if suites and shipped is not None and accelerator.is_main_process:
        cache = PredictionCache(request.cache_dir) if request.cache_dir is not None else None
        comparisons = compare_suites(
            request.old,
            request.new,
            str(request.out),
            suites,
            project,
            replace(request.options, device=device_option(accelerator.device)),
            cache,
        )
        write_report(request.out, comparisons)
    return FixResult(request.out, resolved, shipped, state.history, comparisons, search)


@dataclass
class _Run:
    """What every training run of one `fix` shares: the prepared student, the data, the teachers' outputs."""

    request: FixRequest
    accelerator: Any
    model: Any  # the student, prepared by accelerate
    schedule: Any
    items: list[B.Encoded]
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
        return Objective(config, self.loaded.task, self.teachers, B.pad_id_of(self.loaded.tokenizer))

    def trainer(self, config: TrainConfig, out: Path, state: ckpt.TrainState, optimizer: Any = None,
                scheduler: Any = None) -> Trainer:  # fmt: skip
        return Trainer(
            self.accelerator, self.model, optimizer, scheduler, self.schedule, config, self.objective(config),
            self.items, self.validation, out, state, self.request.callbacks, self.request.options.progress,
        )  # fmt: skip

    def validate(self, config: TrainConfig) -> dict[str, Any]:
        """The current student's validation metrics (before training: the new model's)."""
        return self.trainer(config, self.request.out, ckpt.TrainState()).validate()

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
        fingerprint = _fingerprint(self.request, config, self.world)
        state = ckpt.TrainState(fingerprint=fingerprint)
        if resume:
            state = _resume(out, self.student, optimizer, scheduler, fingerprint, self.say)
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
            self.say(f"fix: {picked}: {_val_text(metrics)}")
        return state, Shipped(average_dir(out), picked, None, metrics)


def _val_text(metrics: dict[str, Any]) -> str:
    if "val_nfr" not in metrics:
        return f"val loss {metrics['val_loss']:.4f}"
    return (
        f"val NFR {metrics['val_nfr']:.2%} ({metrics['val_nf']}/{metrics['val_n']}) · val acc {metrics['val_acc']:.2%}"
    )


def _search(run: _Run, config: TrainConfig, budget: Budget, old_correct: dict[str, bool] | None) -> Search:
    """`--aim budget`: one training run per candidate, the teachers shared; the most accurate within budget."""
    request = run.request
    if old_correct is None or not run.validation.instances:
        raise FixError("--aim budget needs a validation split with NFR (set --val-fraction > 0)")
    candidates = grid(request.ensemble_weights, request.ce_weights or (config.ce_weight,))
    new = run.validate(config)
    old_right = sum(old_correct[i.id] for i in run.validation.instances)
    n = int(new["val_n"])
    points = [Point(OLD_POINT, old_right / n, 0.0, 0, n), point_of(NEW_POINT, new)]
    if old_right < FEW_OLD_RIGHT:
        run.say(
            f"fix --aim budget: warning: the old model is right on only {old_right} of the {n} validation instances, "
            f"so one flip moves validation NFR by {100 / n:.1f} points; more --train data or a larger --val-fraction "
            "would measure it finely"
        )
    run.say(f"fix --aim budget: {budget.describe(n)}; {len(candidates)} candidates; new model: {_val_text(new)}")
    runs: list[dict[str, Any]] = []
    trained: dict[str, tuple[ckpt.TrainState, Shipped, TrainConfig]] = {}
    for i, candidate in enumerate(candidates):
        run.restart(config.seed)
        cfg = replace(config, ensemble_weight=candidate.ensemble_weight, ce_weight=candidate.ce_weight)
        where = request.out / CANDIDATES / candidate.slug
        run.say(f"fix --aim budget: candidate {i + 1}/{len(candidates)}: {candidate.label}")
        # --resume continues the candidate that was interrupted; finished ones restore and train no further.
        resume = request.resume and ckpt.latest_checkpoint(where) is not None
        state, shipped = run.train(cfg, where, resume=resume)
        point = point_of(candidate.label, shipped.metrics, shipped.picked, candidate)
        points.append(point)
        trained[candidate.label] = (state, shipped, cfg)
        runs.append({"label": candidate.label, "dir": str(where), "picked": shipped.picked, "epochs": state.history})
    chosen = choose(points, budget, points[1].acc)
    if chosen is None:
        last = trained[candidates[-1].label][0]
        return Search(budget, points, None, runs, last, None, None)
    state, shipped, cfg = trained[chosen.label]
    return Search(budget, points, chosen, runs, state, shipped, cfg)


def _check_out(request: FixRequest) -> None:
    out = request.out
    cache = [Place("--cache-dir", request.cache_dir, directory=True, holds_inputs=True)] if request.cache_dir else []
    check_outputs(
        [Place("--out", out, directory=True), *cache],
        [
            *model_places("--old", request.old),
            *model_places("--new", request.new),
            Place("--train", request.train),
            *places("--suite", list(request.suites), suites=True),
            Place("--pyproject", request.pyproject),
        ],
    )
    if out.exists() and not out.is_dir():
        raise FixError(f"--out {out} is a file; pass a directory")
    previous = any((out / name).exists() for name in (ckpt.CHECKPOINTS, CANDIDATES, FIX_JSON))
    if request.resume and request.aim is Aim.BUDGET:
        if not (out / CANDIDATES).is_dir():
            raise FixError(f"--resume: no --aim budget candidates in {out / CANDIDATES}; start without --resume")
    elif request.resume:
        if ckpt.latest_checkpoint(out) is None:
            raise FixError(f"--resume: no checkpoint in {out / ckpt.CHECKPOINTS}; start without --resume")
    elif previous:
        raise FixError(f"--out {out} holds a previous fix run; continue it with --resume or pass another --out")


def _check_task(suite: Suite, new: Any, old: Any) -> None:
    want = "classify" if suite.shape is Shape.CLASSIFY else "causal"
    for name, loaded in (("--new", new), ("--old", old)):
        if loaded.task != want:
            raise FixError(
                f"{name} is a {loaded.task} model but the training data is {suite.shape.value}; they must match"
            )
    if want == "classify":
        n_old, n_new = old.model.config.num_labels, new.model.config.num_labels
        if n_old != n_new:
            raise FixError(f"--old has {n_old} classes and --new has {n_new}; a classifier fix needs the same classes")


def _check_labels(examples: Sequence[Example], loaded: Any) -> None:
    if loaded.task != "classify":
        return
    classes = int(loaded.model.config.num_labels)
    for example in examples:
        if example.label is not None and not 0 <= example.label < classes:
            raise FixError(f"{example.where}: label {example.label} is out of range for a {classes}-class model")


def _mixed_precision(options: RunOptions) -> str:
    import torch

    if options.device != "cpu" and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "no"


def _free_memory() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fingerprint(request: FixRequest, config: TrainConfig, world: int) -> str:
    payload = {
        "config": config.to_json(),
        "train": _file_hash(request.train),
        "old": request.old,
        "new": request.new,
        "world": world,
        "split": 2,  # validation split by normalised input (2) instead of by id: another split, another run
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _resume(out: Path, model: Any, optimizer: Any, scheduler: Any, fingerprint: str, say: Any) -> ckpt.TrainState:
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


def _write_fix_json(
    request: FixRequest, config: TrainConfig, resolved: Resolved, schedule: dict[str, int],
    history: list[dict[str, Any]], shipped: Shipped | None, train: Suite, suites: Sequence[Suite], world: int,
    search: Search | None,
) -> None:  # fmt: skip
    from muscle_guard import __version__

    record: dict[str, Any] = {
        "muscle_guard_version": __version__,
        "old": request.old,
        "new": request.new,
        "strategy": {
            "requested": request.requested_strategy.value,
            "used": resolved.strategy.value,
            "level": _level_name(resolved, train),
            "reason": resolved.reason,
        },
        "config": config.to_json(),
        "schedule": schedule,
        "processes": world,
        "data": {
            "train": {"path": str(request.train), "sha256": _file_hash(request.train), "instances": len(train)},
            "suites": [{"path": str(s.path), "content_hash": s.content_hash(), "instances": len(s)} for s in suites],
        },
        "selected_epoch": shipped.epoch if shipped is not None else None,
        "shipped": shipped.picked if shipped is not None else None,
        "selection": config.select,
        "epochs": history,
    }
    if shipped is not None and shipped.epoch is None:
        record["shipped_metrics"] = shipped.metrics
    if search is not None:
        record["aim"] = search.to_json()
        page = frontier_html(
            search.points, search.chosen, search.budget, f"muscle-guard fix --aim budget: {request.out}"
        )
        atomic_write_text(request.out / AIM_HTML, page)
    atomic_write_text(request.out / FIX_JSON, json.dumps(record, indent=2) + "\n")


def _level_name(resolved: Resolved, train: Suite) -> str:
    if train.shape is Shape.CLASSIFY:
        return "class logits"
    if resolved.choice_level:
        return "choice"
    return "sequence" if resolved.strategy is Strategy.SEQUENCE else "token"


def write_report(out: Path, comparisons: Sequence[SuiteComparison]) -> None:
    record = {"suites": [c.to_json() for c in comparisons], "passed": all(c.passed_after for c in comparisons)}
    atomic_write_text(out / REPORT_JSON, json.dumps(record, indent=2) + "\n")
