"""Command-line options and ini keys of the plugin, parsed once into a frozen MuscleOptions."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.config import TOOL_KEY, ProjectConfig, has_tool_table, load_project_config, parse_setting
from muscle_guard.core.errors import ConfigError
from muscle_guard.core.outputs import Place, check_outputs, model_places, places
from muscle_guard.core.pairs import PairPlan, plan_pairs
from muscle_guard.core.prompt_format import parse_prompt_format
from muscle_guard.core.run_options import (
    DEFAULT_CACHE_DIR,
    FLOOR_FILE,
    RUN_OPTIONS,
    parse_batch_size,
    parse_correction,
    parse_device,
    parse_dtype,
    split_list,
)
from muscle_guard.core.suite import refuse_empty_suite_paths


def add_options(parser: pytest.Parser) -> None:
    """Every row of the run-options table as `--muscle-KEY` and ini key `muscle_KEY`."""
    group = parser.getgroup("muscle-guard", "muscle-guard: gate model upgrades on negative flips")
    for option in RUN_OPTIONS:
        if option.kind == "flag":
            group.addoption(option.flag, dest=option.dest, action="store_true", default=None, help=option.help)
            parser.addini(option.dest, help=f"muscle-guard: {option.help}", type="bool", default=None)
        else:
            group.addoption(option.flag, dest=option.dest, metavar=option.metavar, default=None, help=option.help)
            parser.addini(option.dest, help=f"muscle-guard: {option.help}", default=None)


@dataclass(frozen=True)
class MuscleOptions:
    """Everything the plugin was told, validated. `active` is False when no model pair is set."""

    pairs: PairPlan = field(default_factory=PairPlan)
    suites: tuple[Path, ...] = (Path("suites"),)
    overrides: dict[str, Any] = field(default_factory=dict)
    waivers: Path | None = None
    cache_dir: Path | None = DEFAULT_CACHE_DIR
    batch_size: int | None = None
    device: str = "auto"
    dtype: str = "auto"
    report: Path | None = None
    markdown: Path | None = None
    update_baseline: Path | None = None
    trust_remote_code: bool = False
    allow_pickle: bool = False
    project: ProjectConfig = field(default_factory=ProjectConfig)
    correction: str = "holm"
    floor: Path | None = None  # the noise floor file, when one is configured or sits at the root

    @property
    def active(self) -> bool:
        return self.pairs.active


def read_options(config: pytest.Config) -> MuscleOptions:
    """Merge command line > ini > `[tool.muscle-guard]`; bad values raise pytest.UsageError (one line)."""
    try:
        return _read(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _read(config: pytest.Config) -> MuscleOptions:
    rootpath = config.rootpath
    pyproject = rootpath / "pyproject.toml"
    told = getattr(config.option, "rootdir", None) or getattr(config.option, "inifilename", None)
    if not told:  # pytest was not told where to root
        _refuse_an_unread_table(_start_dir(config), rootpath)
    project = load_project_config(pyproject if pyproject.is_file() else None)
    run = project.run

    def value(dest: str) -> Any:
        cli = config.getoption(dest, default=None)
        if cli is not None:
            return cli
        ini = config.getini(dest)
        if ini not in (None, "", []):
            return ini
        return run.get(dest.removeprefix("muscle_"))

    invocation = config.invocation_params.dir

    def base(dest: str) -> Path:
        """Paths typed on the command line are relative to where pytest runs; configured ones to the root."""
        return invocation if config.getoption(dest, default=None) is not None else rootpath

    def configured_ref(raw: str) -> str:
        """A configured model reference is relative to the project root (a hub id or scheme stays as is)."""
        at_root = rootpath / raw
        return str(at_root) if at_root.exists() else raw

    def model(dest: str) -> str | None:
        raw = value(dest)
        if raw is None or config.getoption(dest, default=None) is not None:
            return None if raw is None else str(raw)
        return configured_ref(str(raw))

    def parsed(dest: str, parse: Callable[[Any], Any]) -> Any:
        raw = value(dest)
        if raw is None:
            return None
        try:
            return parse(raw)
        except ValueError as exc:
            option = "--" + dest.replace("_", "-")
            raise ConfigError(f"{option}={raw!r}: {exc}") from None

    overrides: dict[str, Any] = {}
    for option in RUN_OPTIONS:
        raw = value(option.dest) if option.kind == "gate" else None
        if raw is not None:
            overrides[option.key] = parse_setting(option.key, raw, option.flag)
    command_line = any(config.getoption(d, default=None) is not None for d in ("muscle_old", "muscle_new"))
    prompts = (
        parse_prompt_format(value("muscle_old_prompt"), "--muscle-old-prompt"),
        parse_prompt_format(value("muscle_new_prompt"), "--muscle-new-prompt"),
    )
    pairs = plan_pairs(
        (model("muscle_old"), model("muscle_new")),
        project.pairs,
        command_line=command_line,
        resolve=configured_ref,
        prompts=prompts,
    )
    suites_raw = value("muscle_suites")
    suites = _paths(suites_raw, base("muscle_suites")) if suites_raw else (rootpath / "suites",)
    if suites_raw and pairs.active:
        # A mistyped suite path would otherwise check nothing, and the gate would pass.
        refuse_empty_suite_paths(suites, "--muscle-suites")
    no_cache = bool(value("muscle_no_cache"))
    cache_dir = parsed("muscle_cache_dir", lambda v: _path(v, base("muscle_cache_dir"))) or rootpath / DEFAULT_CACHE_DIR
    options = MuscleOptions(
        pairs=pairs,
        suites=suites,
        overrides=overrides,
        waivers=parsed("muscle_waivers", lambda v: _path(v, base("muscle_waivers"))),
        cache_dir=None if no_cache else cache_dir,
        batch_size=parsed("muscle_batch_size", parse_batch_size),
        device=parsed("muscle_device", parse_device) or "auto",
        dtype=parsed("muscle_dtype", parse_dtype) or "auto",
        report=parsed("muscle_report", lambda v: _path(v, base("muscle_report"))),
        markdown=parsed("muscle_markdown", lambda v: _path(v, base("muscle_markdown"))),
        update_baseline=parsed("muscle_update_baseline", lambda v: _path(v, base("muscle_update_baseline"))),
        trust_remote_code=bool(value("muscle_trust_remote_code")),
        allow_pickle=bool(value("muscle_allow_pickle")),
        project=project,
        correction=parsed("muscle_correction", parse_correction) or "holm",
        floor=parsed("muscle_floor", lambda v: _path(v, base("muscle_floor")))
        or ((rootpath / FLOOR_FILE) if (rootpath / FLOOR_FILE).is_file() else None),
    )
    if options.active:
        named = [Path(a.split("::")[0]) for a in config.args if a.split("::")[0].endswith(".jsonl")]
        _check_outputs(options, pyproject, [invocation / p for p in named])
    return options


def _start_dir(config: pytest.Config) -> Path:
    """Where pytest's own search for a configuration file starts: the common ancestor of the test paths typed
    on the command line (positional arguments only), else the directory it runs in."""
    invocation = config.invocation_params.dir
    given = [invocation / str(arg).split("::")[0] for arg in (getattr(config.option, "file_or_dir", None) or ())]
    paths = [p.resolve() for p in given if p.exists()]
    if not paths:
        return invocation
    common = Path(os.path.commonpath(paths))
    return common if common.is_dir() else common.parent


def _refuse_an_unread_table(invocation: Path, rootpath: Path) -> None:
    """A [tool.muscle-guard] table nearer than pytest's rootdir would be ignored without a word (pytest roots at
    the first pyproject.toml *with* [tool.pytest.ini_options], and muscle-guard reads the rootdir's): a gate
    that is not the one configured, or none at all. Checked even while dormant; costs nothing when pytest runs
    at its rootdir."""
    if invocation == rootpath or not invocation.is_relative_to(rootpath):
        return
    for directory in (invocation, *invocation.parents):
        if directory == rootpath:
            return
        candidate = directory / "pyproject.toml"
        if candidate.is_file() and has_tool_table(candidate):
            raise ConfigError(
                f"{candidate} has a [tool.{TOOL_KEY}] table, but pytest's rootdir is {rootpath}, whose pyproject.toml "
                f"is what muscle-guard reads, so that table would be ignored; add a [tool.pytest.ini_options] table "
                f"to {candidate} (pytest then roots there), or run pytest with --rootdir={directory}"
            )


def _check_outputs(options: MuscleOptions, pyproject: Path, named_suites: list[Path]) -> None:
    """No report, summary, baseline or cache lands on a model, a suite, the waivers or the configuration."""
    cache_dir = options.cache_dir
    cache = [] if cache_dir is None else [Place("--muscle-cache-dir", cache_dir, directory=True, holds_inputs=True)]
    check_outputs(
        [
            *places("--muscle-report", [options.report]),
            *places("--muscle-markdown", [options.markdown]),
            *_baseline_places(options),
            *cache,
        ],
        [
            *_model_places(options),
            *places("--muscle-suites", list(options.suites), suites=True),
            *places("suite", named_suites, suites=True),  # suite files named on the command line
            *places("--muscle-waivers", [options.waivers]),
            Place("pyproject.toml", pyproject),
        ],
    )


def _model_places(options: MuscleOptions) -> list[Place]:
    """What every pair's models read."""
    return [
        place
        for pair in options.pairs.pairs
        for side in ("old", "new")
        for place in model_places(pair.option(side), pair.ref(side))
    ]


def _baseline_places(options: MuscleOptions) -> list[Place]:
    """`--muscle-update-baseline` is a file for a run of one pair, a directory of PAIR.jsonl files for several."""
    path = options.update_baseline
    if path is None:
        return []
    if len(options.pairs.pairs) > 1:
        if path.is_file() or path.suffix == ".jsonl":
            raise ConfigError(
                f"--muscle-update-baseline {path}: this run has {len(options.pairs.pairs)} model pairs, each with "
                "its own old model; pass a directory, which gets one PAIR.jsonl baseline per pair"
            )
        return [Place("--muscle-update-baseline", path, directory=True)]
    return places("--muscle-update-baseline", [path])


def _path(raw: Any, root: Path) -> Path:
    path = Path(str(raw))
    return path if path.is_absolute() else root / path


def _paths(raw: Any, root: Path) -> tuple[Path, ...]:
    return tuple(_path(item, root) for item in split_list(raw))
