"""`muscle-guard predict MODEL SUITES... -o baseline.jsonl`: one model's predictions as a baseline file.

Scale-out: under `accelerate launch` (or with `--num-processes N`, which re-launches itself through
accelerate) every process predicts its shard of the missing instances into the shared cache; after a
barrier the main process writes the baseline from the cache, identical to a single-process run.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from muscle_guard.backends.distributed import check_one_group, device_option, launched_world_size, partial_state
from muscle_guard.cli.common import reported_errors, stderr
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.baseline import BaselineFile, write_baseline
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.checks import refuse_unjudgeable
from muscle_guard.core.config import load_project_config, pair_plan
from muscle_guard.core.errors import ConfigError, ModelRefError
from muscle_guard.core.outputs import Place, check_outputs, model_places, places
from muscle_guard.core.pairs import ModelPair
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.prompt_format import NONE, PromptFormat, parse_prompt_format
from muscle_guard.core.run_options import DEFAULT_CACHE_DIR, DEVICE_HELP, DTYPE_HELP, split_list
from muscle_guard.core.sources import close_source, open_source
from muscle_guard.core.suite import (
    discover_suites,
    load_suite,
    refuse_duplicate_names,
    refuse_empty_suite_paths,
    suite_name,
)

Opt = typer.Option


def _distributed() -> tuple[int, int] | None:
    world = launched_world_size()
    return (int(os.environ.get("RANK", "0")), world) if world > 1 else None


def predict(
    model: Annotated[
        str | None,
        typer.Argument(
            help="Model reference (adapter dir, base=DIR,adapter=DIR, model dir, scheme:target).", show_default=False
        ),
    ] = None,
    suites: Annotated[list[Path] | None, typer.Argument(help="Suite files or directories.", show_default=False)] = None,
    output: Annotated[
        Path,
        Opt(
            "--output",
            "-o",
            help="Baseline file to write (JSONL); with --pairs a directory. Required.",
            show_default=False,
        ),
    ] = Path(),
    pairs: Annotated[
        bool, Opt("--pairs", help="Every configured pair's old model on its suites: one OUTPUT/PAIR.jsonl each.")
    ] = False,
    prompt: Annotated[
        str | None, Opt(help="MODEL's prompt format: none, chat, chat:SYSTEM or a {prompt} template.")
    ] = None,
    cache_dir: Annotated[Path, Opt(help="Prediction cache (shared by all processes).")] = DEFAULT_CACHE_DIR,
    batch_size: Annotated[int | None, Opt(min=1, help="Model batch size (default: automatic).")] = None,
    device: Annotated[str, Opt(help=DEVICE_HELP + ".", show_default=False)] = "auto",
    dtype: Annotated[str, Opt(help=DTYPE_HELP + ".", show_default=False)] = "auto",
    num_processes: Annotated[int | None, Opt(help="Shard the work over N processes (runs accelerate launch).")] = None,
    pyproject: Annotated[Path, Opt(help="pyproject.toml with the tool.muscle-guard table.")] = Path("pyproject.toml"),
    trust_remote_code: Annotated[bool, Opt(help="Allow models that need remote code.")] = False,
    allow_pickle: Annotated[bool, Opt(help="Allow pickle (.bin) weights.")] = False,
) -> None:
    """Predict SUITES with MODEL and write a baseline file (a frozen old side for CI); with --pairs, write one
    baseline per configured model pair."""
    if num_processes is not None and num_processes > 1 and _distributed() is None:
        raise typer.Exit(_relaunch(num_processes))
    with reported_errors():
        if output == Path():
            raise ConfigError("--output: name the baseline file to write (a directory with --pairs)")
        if pairs:
            if model is not None or suites:
                raise ConfigError("--pairs takes the models and suites from pyproject.toml: pass no MODEL or SUITES")
            for pair, pair_suites in _configured_pairs(pyproject):
                _predict(
                    pair.old, pair_suites, output / f"{pair.name or 'default'}.jsonl", cache_dir, batch_size, device,
                    dtype, pyproject, trust_remote_code, allow_pickle, pair.old_prompt, pair.option("old"),
                )  # fmt: skip
            return
        if model is None or not suites:
            raise ConfigError("pass MODEL and SUITES (or --pairs for every configured pair)")
        _predict(
            model, suites, output, cache_dir, batch_size, device, dtype, pyproject, trust_remote_code, allow_pickle,
            parse_prompt_format(prompt, "--prompt"),
        )  # fmt: skip


def _configured_pairs(pyproject: Path) -> list[tuple[ModelPair, list[Path]]]:
    """Each configured pair with the suite files it gates (of the configured suites)."""
    project = load_project_config(pyproject if pyproject.is_file() else None)
    root = pyproject.parent
    run = project.run
    plan = pair_plan(project, root)
    if not plan.active:
        raise ConfigError(f"{pyproject}: no model pairs configured; add [tool.muscle-guard.pairs.NAME] tables")
    configured = [root / p for p in split_list(run.get("suites", "suites"))]
    files = discover_suites(configured)
    by_pair: dict[str, list[Path]] = {}
    for path in files:
        by_pair.setdefault(plan.for_suite(suite_name(path)).name, []).append(path)
    return [(pair, by_pair[pair.name]) for pair in plan.pairs if pair.name in by_pair]


def _relaunch(n: int) -> int:
    argv = [a for a in sys.argv[1:] if not a.startswith("--num-processes")]
    if "--num-processes" in sys.argv:
        i = sys.argv.index("--num-processes") - 1
        argv = sys.argv[1 : i + 1] + sys.argv[i + 3 :]
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(n)]
    command += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["-m", "muscle_guard.cli", *argv]
    stderr.print(f"launching {n} processes: accelerate launch --num_processes {n} -m muscle_guard.cli {' '.join(argv)}")
    return subprocess.call(command)


def _predict(
    model: str,
    suite_paths: list[Path],
    output: Path,
    cache_dir: Path,
    batch_size: int | None,
    device: str,
    dtype: str,
    pyproject: Path,
    trust_remote_code: bool,
    allow_pickle: bool,
    prompt: PromptFormat = NONE,
    label: str = "MODEL",
) -> None:
    shard = _distributed()
    state = None
    if shard is not None:
        state = partial_state()
        check_one_group(state.num_processes, "predict")
        shard = (state.process_index, state.num_processes)
        if device == "auto":
            device = device_option(state.device)
    check_outputs(
        [Place("-o", output), Place("--cache-dir", cache_dir, directory=True, holds_inputs=True)],
        [*model_places(label, model), *places("SUITES", suite_paths, suites=True), Place("--pyproject", pyproject)],
    )
    refuse_empty_suite_paths(suite_paths, "SUITES")
    project = load_project_config(pyproject if pyproject.is_file() else None)
    files = discover_suites(suite_paths)
    suites = [load_suite(path) for path in files]
    refuse_duplicate_names(suites)
    for suite in suites:
        refuse_unjudgeable(suite, project)
    options = RunOptions(
        device=device, dtype=dtype, batch_size=batch_size, trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle, progress=shard is None or shard[0] == 0,
        extra={"hash_cache_dir": str(cache_dir / "hashes")},
    )  # fmt: skip
    cache = PredictionCache(cache_dir, "--cache-dir")
    cache.check_writable()  # before any model loads: one line, not an error after the first suite is predicted
    source = open_source(model, options, label)
    if isinstance(source, BaselineFile):
        raise ModelRefError(f"{label}: {model} is already a baseline file; pass a model to predict with")
    try:
        for suite in suites:
            settings = project.settings_for(suite.name)
            predict_suite(source, suite, settings, cache=cache, shard=shard, progress=options.progress, prompt=prompt)
        if state is not None:
            state.wait_for_everyone()
            if not state.is_main_process:
                return
        runs = []
        for suite in suites:
            settings = project.settings_for(suite.name)
            runs.append(
                (suite, settings, predict_suite(source, suite, settings, cache=cache, progress=False, prompt=prompt))
            )
        write_baseline(output, source.info, runs)
    finally:
        close_source(source)
    total = sum(len(s) for s in suites)
    stderr.print(f"wrote {output}: {total} predictions of {len(suites)} suite(s) by {source.info.ref}")
