"""`muscle-guard fix` end to end: data and guards, models and teachers, training, the adapter at OUT, before/after.

Output directory: OUT/ is a PEFT adapter (adapter_config.json + adapter_model.safetensors) usable as a model
reference, plus muscle_fix.json (configuration, data hashes, strategy, per-epoch metrics, what was shipped),
fix_report.json (a run report of kind "fix": old→fixed per --suite, with the before/after rows; `muscle-guard
report` renders it) and checkpoints/epoch-N/.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from muscle_guard.backends.distributed import accelerator_on_cpu, check_one_group, device_option
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.checks import refuse_unjudgeable, settings_problems
from muscle_guard.core.config import ProjectConfig, SuiteSettings, load_project_config
from muscle_guard.core.errors import FixError, MuscleGuardError, SuiteError
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.modelref import ModelRef
from muscle_guard.core.outputs import Place, check_outputs, model_places, places
from muscle_guard.core.progress import message
from muscle_guard.core.report import RunReport, write_report
from muscle_guard.core.suite import (
    Shape,
    Suite,
    first_problems,
    load_suite,
    refuse_duplicate_names,
    refuse_empty_suite_paths,
    suite_name,
)
from muscle_guard.fix import checkpoint as ckpt
from muscle_guard.fix import models
from muscle_guard.fix.aim import SINGLE_CE_WEIGHT, SINGLE_WEIGHT, Aim, Budget, grid, suite_budget
from muscle_guard.fix.compare import SuiteComparison, compare_suites
from muscle_guard.fix.config import TrainConfig, plan_schedule
from muscle_guard.fix.data import (
    Example,
    build_examples,
    find_overlaps,
    judging_settings,
    refuse_overlaps,
    split_validation,
)
from muscle_guard.fix.modes import Mode, mode_of
from muscle_guard.fix.notes import say_budgets_below_the_floor, say_prompt_formats_are_not_used
from muscle_guard.fix.prepare import prepare
from muscle_guard.fix.request import FixRequest
from muscle_guard.fix.schedule import model_width, resolve_schedule, validation_fraction
from muscle_guard.fix.search import CANDIDATES, Search, Shipped, TrainingRun, file_hash, search_budget
from muscle_guard.fix.strategies import Resolved, Strategy, resolve_strategy, tokenizer_difference
from muscle_guard.fix.train import Validation, epoch_batches
from muscle_guard.fix.unlabelled import unlabelled_inputs, unlabelled_refusal

FIX_JSON = "muscle_fix.json"
REPORT_JSON = "fix_report.json"


@dataclass(frozen=True)
class FixResult:
    out: Path
    strategy: Resolved
    shipped: Shipped | None  # None: --aim budget found no candidate within budget, and nothing was written
    history: list[dict[str, Any]]
    comparisons: list[SuiteComparison]
    search: Search | None = None
    # The before/after check failed after the adapter was written (it and muscle_fix.json are kept): why.
    check_error: str | None = None

    @property
    def passed(self) -> bool:
        return self.shipped is not None and all(c.passed_after for c in self.comparisons)

    @property
    def selected_epoch(self) -> int | None:
        return self.shipped.epoch if self.shipped is not None else None

    @property
    def selected(self) -> str:
        return self.shipped.picked if self.shipped is not None else "nothing"


@dataclass(frozen=True)
class FixData:
    """Phase 1: everything read and checked before a model loads."""

    project: ProjectConfig
    train: Suite
    suites: list[Suite]
    budget: Budget | None  # --aim budget: what every --suite's gate allows
    settings: (
        SuiteSettings  # the --suites' (fix.data.judging_settings): training renders and validation judges with them
    )
    examples: list[Example]  # every example the teachers see: labelled (train and validation), then unlabelled
    train_examples: list[Example]  # the labelled training part, then the unlabelled inputs
    val_examples: list[Example]
    unlabelled: int = 0  # how many of train_examples are --unlabelled inputs (the last ones)
    notes: tuple[str, ...] = ()  # said once the processes are up: the decisions taken for the user
    val_fraction: float = 0.2  # the validation share used (fix.schedule.validation_fraction)


@dataclass
class FixModels:
    """Phase 2: the processes, the loaded models and the strategy they allow. Mutable on purpose: each model is
    dropped (set to None) once no later phase needs it, so its memory is freed before the next one loads."""

    accelerator: Any
    options: RunOptions  # the request's, on this process's device
    new_ref: ModelRef
    old_ref: ModelRef
    student_loaded: Any
    old_loaded: Any
    same_tokenizer: bool
    resolved: Resolved
    config: TrainConfig  # the request's, with the resolved strategy
    say: Callable[[str], None]  # status lines, from the main process only


def run_fix(request: FixRequest) -> FixResult:
    """Read and check, load, compute the teachers once, train (or search), ship, compare before and after."""
    request, note = settle_aim(request)
    data = load_data(request)
    request = replace(request, config=replace(request.config, val_fraction=data.val_fraction))
    if note:
        data = replace(data, notes=(note, *data.notes))
    loaded = load_models(request, data)
    state, shipped, search = train_and_ship(request, data, loaded)
    comparisons: list[SuiteComparison] = []
    error: str | None = None
    if data.suites and shipped is not None and loaded.accelerator.is_main_process:
        comparisons, error = compare_and_report(request, data, loaded, shipped, search)
    return FixResult(request.out, loaded.resolved, shipped, state.history, comparisons, search, error)


def settle_aim(request: FixRequest) -> tuple[FixRequest, str | None]:
    """`--aim auto` (the CLI's default) decided: `budget` when no --strategy is named and a --suite sets a flip
    budget in the project configuration (the same tables pytest reads), else `none`; and the line that says why."""
    if request.aim is not Aim.AUTO:
        return request, None
    if request.strategy is not None:
        return replace(request, aim=Aim.NONE), None
    project = load_project_config(request.pyproject)
    budgeted = [str(p) for p in request.suites if project.sets_budget(suite_name(p))]
    if budgeted:
        return replace(request, aim=Aim.BUDGET), (
            f"fix: aiming at the flip budget of --suite {', '.join(budgeted)} (--aim budget, the default when a suite "
            "sets one: candidates of ensemble distillation, the most accurate one within budget on validation is "
            "shipped; --strategy NAME trains one strategy instead)"
        )
    where = "no --suite was given" if not request.suites else "no --suite sets a flip budget"
    return replace(request, aim=Aim.NONE), (
        f"fix: {where} (max_nfr or max_negative_flips in [tool.muscle-guard.suites.NAME] of {request.pyproject}), so "
        f"there is nothing to aim at: training the default ensemble candidate (old weight {SINGLE_WEIGHT:g}, CE "
        f"{SINGLE_CE_WEIGHT:g}; docs/fix.md) and shipping the mean of its last epochs; set a budget to have fix aim at it"
    )


def load_data(request: FixRequest) -> FixData:
    """Phase 1: data, guards and the validation split: everything that can fail fast, before a model loads."""
    project = load_project_config(request.pyproject)
    say_prompt_formats_are_not_used(project)
    train_suite = load_suite(request.train)
    refuse_empty_suite_paths(list(request.suites), "--suite")
    suites = [load_suite(p) for p in request.suites]
    refuse_duplicate_names(suites)
    for suite in suites:
        refuse_unjudgeable(suite, project)
    say_budgets_below_the_floor(project, suites, request.pyproject.parent)
    if not request.allow_overlap:
        refuse_overlaps(find_overlaps(train_suite, suites))
    _check_out(request)
    budget = suite_budget(suites, project, request.budget_margin) if request.aim is Aim.BUDGET else None
    if budget is not None:
        grid(request.ensemble_weights, request.ce_weights)  # refuse a bad grid now
    settings, table = judging_settings(project, suites, train_suite)
    unjudgeable = settings_problems(train_suite, settings, table)
    if unjudgeable:  # the training data is judged (validation) with the --suite's settings: the same guard
        raise SuiteError(first_problems(unjudgeable, str(train_suite.path)))
    examples = build_examples(train_suite, settings, table)
    fraction = validation_fraction(request.schedule, len(examples), request.config.val_fraction)
    train_ex, val_ex = split_validation(examples, fraction, request.config.seed)
    if fraction > 0 and not val_ex and len(examples) >= 2:
        raise FixError(
            f"{request.train}: every instance has the same input after normalisation, so no validation split can "
            "avoid copies of training rows; add varied training data or pass --val-fraction 0"
        )
    extra = unlabelled_inputs(request, train_suite, suites, settings, len(examples), val_ex)
    return FixData(
        project,
        train_suite,
        suites,
        budget,
        settings,
        [*examples, *extra],
        [*train_ex, *extra],
        list(val_ex),
        len(extra),
        val_fraction=fraction,
    )


def load_models(request: FixRequest, data: FixData) -> FixModels:
    """Phase 2: the student (new + a trainable copy of its adapter), the old teacher, the strategy they allow."""
    from accelerate import Accelerator
    from accelerate.utils import set_seed

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
    train_suite = data.train
    new_ref, old_ref = models.parse_ref(request.new, "--new"), models.parse_ref(request.old, "--old")
    student_loaded = models.load(new_ref, options, trainable=True)
    old_loaded = models.load(old_ref, options, trainable=False)
    _check_task(train_suite, student_loaded, old_loaded)
    _check_labels(data.examples, student_loaded)
    difference = tokenizer_difference(models.tokenizer_facts(old_loaded), models.tokenizer_facts(student_loaded))
    default = request.strategy is None  # fix's own choice: it may pick the level, or sequence level for generation
    resolved = resolve_strategy(request.requested_strategy, train_suite.shape, difference, request.level, default)
    weight, beta = request.config.ensemble_weight, request.config.ensemble_beta
    if default and resolved.strategy is not Strategy.ENSEMBLE:  # the ensemble's weights mean nothing there
        weight, beta = TrainConfig.ensemble_weight, TrainConfig.ensemble_beta
    config = replace(
        request.config, strategy=resolved.strategy, choice_level=resolved.choice_level, ensemble_weight=weight,
        ensemble_beta=beta,
    )  # fmt: skip
    if request.aim is Aim.BUDGET and resolved.strategy not in (Strategy.ENSEMBLE, Strategy.SEQUENCE):
        raise FixError(
            f"--aim budget searches the ensemble's weights; it trains --strategy ensemble, not {resolved.strategy.value}"
        )
    say = message if accelerator.is_main_process else (lambda _text: None)
    for note in data.notes:
        say(note)
    if request.schedule is not None:
        width = model_width(student_loaded.model.config)
        config, line = resolve_schedule(
            config, request.schedule, len(data.train_examples), width, student_loaded.task == "causal",
            accelerator.num_processes,
        )  # fmt: skip
        say(line)
    if request.unlabelled is not None:
        if resolved.strategy is not Strategy.ENSEMBLE:
            raise unlabelled_refusal(f"with --strategy {resolved.strategy.value}")
        if mode_of(config.strategy, student_loaded.task, config.choice_level) is Mode.TOKENS:
            raise unlabelled_refusal("at the token level")
    at = " (choice level)" if resolved.choice_level and resolved.strategy is not Strategy.CHOICE else ""
    say(f"fix: strategy {resolved.strategy.value}{at}: {resolved.reason}")
    labelled = len(data.train_examples) - data.unlabelled
    say(f"fix: {labelled} training and {len(data.val_examples)} validation instances from {request.train}")
    if data.unlabelled:
        say(f"fix: + {data.unlabelled} unlabelled inputs from {request.unlabelled} (the teachers' term only, no CE)")
    return FixModels(
        accelerator, options, new_ref, old_ref, student_loaded, old_loaded, difference is None, resolved, config, say
    )


def train_and_ship(
    request: FixRequest, data: FixData, loaded: FixModels
) -> tuple[ckpt.TrainState, Shipped | None, Search | None]:
    """Phases 3 and 4: the teachers' outputs, once, while the student still equals the new model (hence before
    any resume); then train each candidate (resuming if asked) and ship the weights validation picks."""
    accelerator, config, options, say = loaded.accelerator, loaded.config, loaded.options, loaded.say
    student_loaded = loaded.student_loaded
    student = models.make_student(student_loaded, config)
    if config.gradient_checkpointing:
        student.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    old_backend = models.as_backend(loaded.old_ref, options, loaded.old_loaded)
    want_val_nfr = not data.train.shape.is_generative or config.select == "val-nfr" or request.aim is Aim.BUDGET
    prep = prepare(
        accelerator, config, data.settings, examples=data.examples, val_examples=data.val_examples,
        student=student, student_loaded=student_loaded, old_loaded=loaded.old_loaded, old_backend=old_backend,
        same_tokenizer=loaded.same_tokenizer, want_val_nfr=want_val_nfr, say=say, progress=options.progress,
    )  # fmt: skip
    del old_backend
    loaded.old_loaded = None  # the old teacher's weights are not needed past this point
    _free_memory()

    student_backend = partial(models.live_backend, loaded.new_ref, options, student_loaded)
    items = [prep.encoded[e.index] for e in data.train_examples]
    val_items = [prep.encoded[e.index] for e in data.val_examples]
    instances = [e.instance for e in data.val_examples if e.instance is not None]
    validation = Validation(val_items, instances, prep.old_predictions, data.settings, student_backend)
    rank, world = accelerator.process_index, accelerator.num_processes
    schedule = plan_schedule(config, len(epoch_batches(len(items), config.batch_size, config.seed, 0, rank, world)))
    model = accelerator.prepare(student)
    say(
        f"fix: {config.epochs} epochs × {schedule.steps_per_epoch} optimizer steps (batch {config.batch_size} × "
        f"{world} process(es), accumulation {schedule.grad_accum}, warm-up {schedule.warmup_steps})"
    )
    run = TrainingRun(request, accelerator, model, schedule, items, validation, student_loaded, prep.cache, world, say)
    search = search_budget(run, config, data.budget) if data.budget is not None else None
    shipped: Shipped | None
    if search is None:
        state, shipped = run.train(config, request.out, request.resume)
    else:
        state, shipped = search.state, search.shipped
    if accelerator.is_main_process:
        base = models.base_reference(student_loaded)
        if shipped is not None:
            ckpt.export_adapter(shipped.directory, request.out, base[0])
            models.save_tokenizer_if_own(student_loaded, request.out)
        _write_fix_json(
            request, search.config if search and search.config else config, loaded.resolved, schedule.to_json(),
            state.history, shipped, data.train, data.suites, world, search, base,
        )  # fmt: skip
        if shipped is not None:
            say(f"fix: shipped {shipped.picked} (--select {config.select}); adapter written to {request.out}")
    accelerator.wait_for_everyone()
    del model, student, prep, validation, student_backend, run
    loaded.student_loaded = None
    _free_memory()
    return state, shipped, search


def compare_and_report(
    request: FixRequest, data: FixData, loaded: FixModels, shipped: Shipped, search: Search | None
) -> tuple[list[SuiteComparison], str | None]:
    """Phase 5, on the main process: every --suite old→new against old→fixed, written as the run report.

    The adapter and muscle_fix.json are written before this phase: whatever fails here (a model that no longer
    loads, a full disk, a bug) is reported in fix_report.json and returned, never raised, so no training is lost.
    """
    details: dict[str, Any] = {"strategy": loaded.resolved.strategy.value, "shipped": shipped.picked}
    if search is not None:
        details["frontier"] = search.to_json()
    try:
        cache = PredictionCache(request.cache_dir, "--cache-dir") if request.cache_dir is not None else None
        comparison = compare_suites(
            request.old, request.new, str(request.out), data.suites, data.project,
            replace(request.options, device=device_option(loaded.accelerator.device)), cache,
        )  # fmt: skip
        write_report(comparison.run_report(details), request.out / REPORT_JSON)
        return list(comparison.rows), None
    except Exception as exc:  # any failure here must keep the finished training
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, MuscleGuardError) else str(exc)
    try:
        write_report(failed_check_report(request, error, details), request.out / REPORT_JSON)
    except Exception as exc:  # the adapter is still there: say both
        error += f" (and {REPORT_JSON} could not be written: {exc})"
    return [], error


def failed_check_report(request: FixRequest, error: str, details: dict[str, Any]) -> RunReport:
    """fix_report.json of a fix whose before/after check failed: no suites, the error in its fix section."""
    from muscle_guard.core.backend import ModelInfo

    def info(ref: str) -> ModelInfo:
        return ModelInfo(ref=ref, kind="not loaded", fingerprint="")

    section = {"suites": [], "passed": False, "error": error, "before": info(request.new).to_json()}
    return RunReport.create(
        old=info(request.old), new=info(str(request.out)), suites=(), kind="fix", fix=section | details
    )


def _check_out(request: FixRequest) -> None:
    out = request.out
    cache = [Place("--cache-dir", request.cache_dir, directory=True, holds_inputs=True)] if request.cache_dir else []
    check_outputs(
        [Place("--out", out, directory=True), *cache],
        [
            *model_places("--old", request.old),
            *model_places("--new", request.new),
            Place("--train", request.train),
            *([Place("--unlabelled", request.unlabelled)] if request.unlabelled is not None else []),
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


def _write_fix_json(
    request: FixRequest, config: TrainConfig, resolved: Resolved, schedule: dict[str, int],
    history: list[dict[str, Any]], shipped: Shipped | None, train: Suite, suites: Sequence[Suite], world: int,
    search: Search | None, base: tuple[str, str],
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
            "train": {"path": str(request.train), "sha256": file_hash(request.train), "instances": len(train)},
            "unlabelled": (
                {"path": str(request.unlabelled), "sha256": file_hash(request.unlabelled)}
                if request.unlabelled is not None
                else None
            ),
            "suites": [{"path": str(s.path), "content_hash": s.content_hash(), "instances": len(s)} for s in suites],
        },
        # What OUT/adapter_config.json records as its base, and why (OUT must load from any directory).
        "adapter": {"base_model_name_or_path": base[0], "why": base[1]} if shipped is not None else None,
        "selected_epoch": shipped.epoch if shipped is not None else None,
        "shipped": shipped.picked if shipped is not None else None,
        "selection": config.select,
        "epochs": history,
    }
    if shipped is not None and shipped.epoch is None:
        record["shipped_metrics"] = shipped.metrics
    if search is not None:
        record["aim"] = search.to_json()
    atomic_write_text(request.out / FIX_JSON, json.dumps(record, indent=2) + "\n")


def _level_name(resolved: Resolved, train: Suite) -> str:
    if train.shape is Shape.CLASSIFY:
        return "class logits"
    if resolved.choice_level:
        return "choice"
    return "sequence" if resolved.strategy is Strategy.SEQUENCE else "token"
