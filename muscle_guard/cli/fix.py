"""`muscle-guard fix`: train a compatibility adapter (MUSCLE) and show each --suite before and after.

Runs data-parallel under `accelerate launch` (every process trains on its shard; only the main one writes).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from muscle_guard.cli.common import reported_errors
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.run_options import DTYPE_HELP
from muscle_guard.fix.aim import (
    DEFAULT_CE_WEIGHTS,
    DEFAULT_WEIGHTS,
    SINGLE_CE_WEIGHT,
    SINGLE_WEIGHT,
    Aim,
    parse_floats,
)
from muscle_guard.fix.averaging import AVERAGE
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.schedule import ScheduleRequest
from muscle_guard.fix.strategies import LEVEL_HELP, STRATEGY_HELP, Level, Strategy

if TYPE_CHECKING:
    from muscle_guard.fix.request import FixRequest

Opt = typer.Option
PAPER = "paper default"
TABLE_WIDTH = 160
CHECK_FAILED = 3  # the adapter was written, the before/after check could not run (documented in fix --help)
AIM_HTML = "aim.html"  # OUT/aim.html: the validation frontier of an --aim budget run, table and plot
WEIGHTS_TEXT = ",".join(f"{w:g}" for w in DEFAULT_WEIGHTS)
CE_WEIGHTS_TEXT = ",".join(f"{w:g}" for w in DEFAULT_CE_WEIGHTS)
_D = TrainConfig()  # every default below is TrainConfig's


def fix(
    old: Annotated[str, Opt("--old", help="Old model reference (the behaviour to stay compatible with).")],
    new: Annotated[str, Opt("--new", help="New model reference: its adapter is the student's starting point.")],
    train: Annotated[Path, Opt("--train", help="Training data, suite format (JSONL).")],
    out: Annotated[Path, Opt("--out", help="Output directory: the fixed PEFT adapter, report, checkpoints.")],
    suite: Annotated[
        list[Path] | None,
        Opt("--suite", metavar="SUITE", help="Suite to check before/after (repeatable); never trained on."),
    ] = None,
    strategy: Annotated[
        Strategy | None,
        Opt(
            help=STRATEGY_HELP + ". Default (none named): --aim auto's choice, ensemble distillation with CE; "
            "sequence level for generation across tokenizers",
            show_default=False,
        ),
    ] = None,
    level: Annotated[Level, Opt(help=LEVEL_HELP)] = Level.AUTO,
    schedule: Annotated[
        str,
        Opt(
            help="How --epochs, --lr, --batch-size, --grad-accum and --warmup-steps are chosen when not given: auto "
            '(from the data size and the model\'s width; docs/fix.md "The schedule") or paper (the MUSCLE '
            "paper's: 10 epochs, lr 1e-4, batch 8, accumulation 8, meant for 7B models and large data)."
        ),
    ] = "auto",
    epochs: Annotated[int | None, Opt(help="Training epochs (default: --schedule).", show_default=False)] = None,
    lr: Annotated[float | None, Opt(help="AdamW learning rate (default: --schedule).", show_default=False)] = None,
    lora_r: Annotated[int, Opt(help="Rank of a fresh LoRA (new model without adapter); as the paper.")] = _D.lora_r,
    lora_alpha: Annotated[int, Opt(help="Alpha of a fresh LoRA; as the paper.")] = _D.lora_alpha,
    temperature: Annotated[
        float, Opt(help=f"Distillation temperature T ({PAPER} {_D.temperature:g}).")
    ] = _D.temperature,
    ce_weight: Annotated[
        float | None,
        Opt(
            help=f"Weight w of ground-truth cross-entropy: (1−w)·L + w·CE, i.e. the paper's λ = 1−w; 0 = none "
            f"(default {SINGLE_CE_WEIGHT:g} with no --strategy, else {_D.ce_weight:g}; with --aim budget and no "
            "--ce-weights, the grid's one CE weight).",
            show_default=False,
        ),
    ] = None,
    ensemble_weight: Annotated[
        float | None,
        Opt(
            help=f"--strategy ensemble: weight w of the old teacher in w·p_old + (1−w)·p_new (default "
            f"{SINGLE_WEIGHT:g} with no --strategy, else {_D.ensemble_weight:g}).",
            show_default=False,
        ),
    ] = None,
    ensemble_beta: Annotated[
        float, Opt(help="--strategy ensemble: extra weight β where the old model is right (focal); 0 = none.")
    ] = _D.ensemble_beta,
    aim: Annotated[
        Aim,
        Opt(
            help="budget: train one ensemble candidate per --ensemble-weights × --ce-weights value (teachers computed "
            "once) and ship the most accurate whose validation NFR meets every --suite's gate with a margin (else "
            "the most accurate within the budget itself, with a warning; else nothing); "
            "none: train one model; auto (default): budget when no --strategy is named and a --suite sets a flip "
            "budget (max_nfr or max_negative_flips in pyproject.toml), else none."
        ),
    ] = Aim.AUTO,
    ensemble_weights: Annotated[
        str, Opt(help="--aim budget: the old teacher's weights w to try, comma-separated.")
    ] = WEIGHTS_TEXT,
    ce_weights: Annotated[
        str | None,
        Opt(
            help=f"--aim budget: the CE weights to try, comma-separated (default: --ce-weight if given, else "
            f"{CE_WEIGHTS_TEXT}).",
            show_default=False,
        ),
    ] = None,
    budget_margin: Annotated[
        float | None,
        Opt(help="--aim budget: NFR points below the budget a candidate must reach (default: one standard error)."),
    ] = None,
    val_fraction: Annotated[
        float | None,
        Opt(
            help="Validation split of the training data, chosen by seed (default: --schedule; auto: 20%, raised "
            "to 100 rows up to 40%).",
            show_default=False,
        ),
    ] = None,
    select: Annotated[
        str | None,
        Opt(
            help="What to ship: val-loss (the epoch with the lowest validation loss, as the paper; the default with a "
            "named --strategy), val-nfr (the epoch with the lowest validation NFR vs old) or average (the mean "
            "adapter of the last half of the epochs; the default otherwise).",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int | None, Opt(help="Micro-batch size per process (default: --schedule).", show_default=False)
    ] = None,
    grad_accum: Annotated[
        int | None, Opt(help="Gradient accumulation (default: --schedule).", show_default=False)
    ] = None,
    warmup_steps: Annotated[
        int | None, Opt(help="Warm-up optimizer steps (default: 10% of all steps, at most 500).", show_default=False)
    ] = None,
    seed: Annotated[int, Opt(help="Seed of the split, data order and initialisation.")] = _D.seed,
    resume: Annotated[bool, Opt("--resume", help="Continue from the last checkpoint in OUT.")] = False,
    allow_overlap: Annotated[
        bool, Opt("--allow-overlap", help="Train even on instances whose prompt/text is in a --suite.")
    ] = False,
    unlabelled: Annotated[
        Path | None,
        Opt(
            "--unlabelled",
            help='More inputs for the teachers\' term only, no labels needed (JSONL: {"text": ...} or {"prompt": ..., '
            '"choices": [...]}): --strategy ensemble and --aim budget distil the old+new mix on them too.',
            show_default=False,
        ),
    ] = None,
    no_check: Annotated[
        bool, Opt("--no-check", help="Exit 0 even when the fixed model fails a suite's gates.")
    ] = False,
    gradient_checkpointing: Annotated[
        bool, Opt("--gradient-checkpointing", help="Trade compute for memory on long inputs.")
    ] = _D.gradient_checkpointing,
    max_length: Annotated[int, Opt(help="Longest training sequence in tokens (cut from the left).")] = _D.max_length,
    teacher_topk: Annotated[
        int, Opt(help="Keep the teachers' top-k logits per token when full logits exceed --teacher-cache-gb.")
    ] = _D.teacher_topk,
    teacher_cache_gb: Annotated[
        float, Opt(help="Memory (GiB) the teachers' full-vocabulary logits may take; above it, top-k.")
    ] = _D.teacher_cache_gb,
    device: Annotated[str, Opt(help="auto, cpu, cuda, cuda:N or mps (default auto).", show_default=False)] = "auto",
    dtype: Annotated[str, Opt(help=DTYPE_HELP + ".", show_default=False)] = "auto",
    cache_dir: Annotated[Path | None, Opt(help="Prediction cache for the before/after check.")] = None,
    pyproject: Annotated[Path, Opt(help="pyproject.toml with the tool.muscle-guard table.")] = Path("pyproject.toml"),
) -> None:
    """Train a compatibility adapter on the new base, write it to OUT as a PEFT adapter, and check each --suite
    before and after.

    The default, with no flags: when a --suite sets a flip budget in pyproject.toml, fix trains ensemble
    distillation candidates (the student learns w·p_old + (1−w)·p_new of the two frozen models, w = 0.75 and 0.9,
    with cross-entropy 0.5) and ships the most accurate one whose validation NFR, judged as the gate judges the
    suite, meets the budget with a margin (else the most accurate within the budget itself, with a warning), or
    nothing; without a budget, one candidate (w = 0.9). The schedule
    follows the data size and the model (--schedule auto). docs/fix.md and docs/BENCHMARKS.md ("No flags") have
    the numbers; --strategy muscle is the paper's method (MUSCLE, Echterhoff et al. 2024) on request.

    Exit codes: 0 fixed (or --no-check), 1 a suite still fails its gates (or nothing met the aim), 2 bad input
    (before any training), 3 the adapter was written but the before/after check failed (fix_report.json says
    why; gate it by hand), 130 interrupted (a checkpoint is kept: rerun with --resume).
    """
    from muscle_guard.fix.request import FixRequest

    # Every refusal is "bad input" (2), a broken --train suite too: 1 means a suite still fails its gates.
    with reported_errors(exit_code=2):
        default = strategy is None  # fix's own choice: the aim's ensemble, or its one default candidate
        named = Strategy.MUSCLE if strategy is Strategy.AUTO else strategy
        # The schedule's placeholders are the paper's; the values given are checked now, before any work.
        config = TrainConfig(
            strategy=Strategy.ENSEMBLE if named is None else named,
            epochs=_D.epochs if epochs is None else epochs, lr=_D.lr if lr is None else lr,
            lora_r=lora_r, lora_alpha=lora_alpha, temperature=temperature,
            ce_weight=ce_weight if ce_weight is not None else SINGLE_CE_WEIGHT if default else _D.ce_weight,
            val_fraction=_D.val_fraction if val_fraction is None else val_fraction, select=select or (AVERAGE if default or aim is Aim.BUDGET else "val-loss"),
            batch_size=_D.batch_size if batch_size is None else batch_size,
            grad_accum=grad_accum, warmup_steps=warmup_steps, max_length=max_length, seed=seed,
            gradient_checkpointing=gradient_checkpointing, teacher_topk=teacher_topk, teacher_cache_gb=teacher_cache_gb,
            ensemble_weight=ensemble_weight if ensemble_weight is not None else SINGLE_WEIGHT if default else _D.ensemble_weight,
            ensemble_beta=ensemble_beta,
        )  # fmt: skip
        plan = ScheduleRequest(schedule, epochs, lr, batch_size, grad_accum, warmup_steps, val_fraction)
        request = FixRequest(
            old=old, new=new, train=train, out=out, config=config, strategy=strategy, level=level, suites=tuple(suite or ()),
            resume=resume, allow_overlap=allow_overlap, unlabelled=unlabelled, pyproject=pyproject, options=RunOptions(device=device, dtype=dtype),
            cache_dir=cache_dir, aim=aim, ensemble_weights=parse_floats(ensemble_weights, "--ensemble-weights"),
            ce_weights=aim_ce_weights(ce_weights, ce_weight),
            budget_margin=budget_margin, schedule=plan,
        )  # fmt: skip
        raise typer.Exit(run_request(request, check=not no_check))


def aim_ce_weights(ce_weights: str | None, ce_weight: float | None) -> tuple[float, ...]:
    """The aim grid's CE weights: --ce-weights, else the one --ce-weight given, else the default."""
    if ce_weights is not None:
        return parse_floats(ce_weights, "--ce-weights")
    return DEFAULT_CE_WEIGHTS if ce_weight is None else (ce_weight,)


def run_request(request: FixRequest, check: bool) -> int:
    """Run a FixRequest, print the before/after table; the exit code."""
    from muscle_guard.fix.run import run_fix
    from muscle_guard.fix.train import TrainingInterrupted
    from muscle_guard.reports.fix_tables import comparison_table, frontier_page, frontier_table

    try:
        result = run_fix(request)
    except TrainingInterrupted as stop:
        if stop.checkpoint is not None:
            print(
                f"Interrupted: checkpoint {stop.checkpoint} (epoch {stop.state.epoch}, step {stop.state.global_step}) is a "
                f"usable adapter; continue with the same command and --resume",
                file=sys.stderr,
            )
        elif stop.state.global_step == 0:
            print("Interrupted before the first optimizer step; nothing to keep.", file=sys.stderr)
        return 130
    wide = Console(highlight=False, width=None if sys.stdout.isatty() else TABLE_WIDTH)
    # Logs and pipes get wide tables rather than ones wrapped at rich's default 80 columns.
    if result.search is not None:
        frontier = result.search.to_json()
        wide.print(frontier_table(frontier))
        if request.out.is_dir():
            page = frontier_page(frontier, f"muscle-guard fix --aim budget: {request.out}")
            atomic_write_text(request.out / AIM_HTML, page)
        warning = result.search.warning()
        if warning is not None:
            print(warning, file=sys.stderr)
        miss = result.search.miss()
        if miss is not None:
            print(miss, file=sys.stderr)
            return 1 if check else 0
    if result.check_error is not None:
        suites = " ".join(str(p) for p in request.suites)
        print(
            f"fix: the fixed adapter is in {request.out} (muscle_fix.json says how it was trained), but the "
            f"before/after check failed: {result.check_error}\n"
            f"fix: {request.out / 'fix_report.json'} records the error; gate the adapter by hand with\n"
            f"  pytest {suites} --muscle-old={request.old} --muscle-new={request.out}",
            file=sys.stderr,
        )
        return CHECK_FAILED
    if result.comparisons:
        wide.print(comparison_table([row.to_json() for row in result.comparisons]))
        for row in result.comparisons:
            for reason in row.reasons_after:
                print(f"{row.suite}: {reason}", file=sys.stderr)
    if check and not result.passed:
        print(
            "fix: the fixed model still fails the gates of some suites (see above); --no-check ignores this",
            file=sys.stderr,
        )
        return 1
    return 0
