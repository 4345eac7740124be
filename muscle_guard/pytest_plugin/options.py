"""Command-line options and ini keys of the plugin, parsed once into a frozen MuscleOptions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.config import DEFAULT_CACHE_DIR, ProjectConfig, load_project_config, parse_setting
from muscle_guard.core.errors import ConfigError
from muscle_guard.core.outputs import Place, check_outputs, model_places, places
from muscle_guard.core.suite import refuse_empty_suite_paths

# (option name, dest/ini key, metavar, help). Every option is also an ini key of the same dest.
_OPTIONS: tuple[tuple[str, str, str, str], ...] = (
    (
        "--muscle-old",
        "muscle_old",
        "MODEL",
        "old model: adapter dir, base=DIR,adapter=DIR, model dir, baseline file or scheme:target",
    ),
    ("--muscle-new", "muscle_new", "MODEL", "new model reference (same forms as --muscle-old)"),
    ("--muscle-suites", "muscle_suites", "PATHS", "comma-separated suite files or directories (default: suites/)"),
    (
        "--muscle-max-nfr",
        "muscle_max_nfr",
        "FRACTION",
        "negative-flip-rate budget per suite, 0..1 (default 0: any flip fails)",
    ),
    ("--muscle-max-negative-flips", "muscle_max_negative_flips", "N", "negative-flip count budget per suite"),
    (
        "--muscle-min-accuracy-delta",
        "muscle_min_accuracy_delta",
        "DELTA",
        "fail a suite whose accuracy changes by less than DELTA (e.g. -0.01)",
    ),
    ("--muscle-alpha", "muscle_alpha", "ALPHA", "fail the flip budget only when McNemar's exact p < ALPHA"),
    (
        "--muscle-epsilon",
        "muscle_epsilon",
        "EPS",
        "tolerance for continuous scores: a drop larger than EPS is a negative flip",
    ),
    ("--muscle-waivers", "muscle_waivers", "FILE", "TOML file of waived negative flips (suite, id, reason, expires)"),
    ("--muscle-cache-dir", "muscle_cache_dir", "DIR", f"prediction cache directory (default {DEFAULT_CACHE_DIR}/)"),
    (
        "--muscle-batch-size",
        "muscle_batch_size",
        "N",
        "model batch size (default: automatic, backing off on out-of-memory)",
    ),
    (
        "--muscle-device",
        "muscle_device",
        "DEVICE",
        "auto, map (spread a big model over GPUs/CPU), cpu, cuda, cuda:N or mps (default auto)",
    ),
    (
        "--muscle-dtype",
        "muscle_dtype",
        "DTYPE",
        "auto, float32, bfloat16 or float16 (default auto: bf16 on CUDA, fp32 elsewhere)",
    ),
    ("--muscle-report", "muscle_report", "PATH.json", "write the run report as JSON"),
    ("--muscle-markdown", "muscle_markdown", "PATH.md", "write a Markdown summary (for GitHub step summaries)"),
    (
        "--muscle-update-baseline",
        "muscle_update_baseline",
        "PATH",
        "write the old side's predictions as a baseline file",
    ),
)
_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--muscle-no-cache", "muscle_no_cache", "do not read or write the prediction cache"),
    ("--muscle-trust-remote-code", "muscle_trust_remote_code", "allow models that need remote code (off by default)"),
    ("--muscle-allow-pickle", "muscle_allow_pickle", "allow pickle (.bin) weights (safetensors only by default)"),
)
_GATE_OPTIONS = {
    "muscle_max_nfr": "max_nfr",
    "muscle_max_negative_flips": "max_negative_flips",
    "muscle_min_accuracy_delta": "min_accuracy_delta",
    "muscle_alpha": "alpha",
    "muscle_epsilon": "epsilon",
}
DEVICES = ("auto", "map", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("muscle-guard", "muscle-guard: gate model upgrades on negative flips")
    for name, dest, metavar, help_ in _OPTIONS:
        group.addoption(name, dest=dest, metavar=metavar, default=None, help=help_)
        parser.addini(dest, help=f"muscle-guard: {help_}", default=None)
    for name, dest, help_ in _FLAGS:
        group.addoption(name, dest=dest, action="store_true", default=None, help=help_)
        parser.addini(dest, help=f"muscle-guard: {help_}", type="bool", default=None)


@dataclass(frozen=True)
class MuscleOptions:
    """Everything the plugin was told, validated. `active` is False when no old/new model is set."""

    old: str | None = None
    new: str | None = None
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

    @property
    def active(self) -> bool:
        return bool(self.old and self.new)


def read_options(config: pytest.Config) -> MuscleOptions:
    """Merge command line > ini > `[tool.muscle-guard]`; bad values raise pytest.UsageError (one line)."""
    try:
        return _read(config)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _read(config: pytest.Config) -> MuscleOptions:
    rootpath = config.rootpath
    pyproject = rootpath / "pyproject.toml"
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

    def model(dest: str) -> str | None:
        raw = value(dest)
        if raw is None or config.getoption(dest, default=None) is not None:
            return None if raw is None else str(raw)
        configured = rootpath / str(raw)
        return str(configured) if configured.exists() else str(raw)

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
    for dest, key in _GATE_OPTIONS.items():
        raw = value(dest)
        if raw is not None:
            option = "--" + dest.replace("_", "-")
            overrides[key] = parse_setting(key, raw, option)
    suites_raw = value("muscle_suites")
    suites = _paths(suites_raw, base("muscle_suites")) if suites_raw else (rootpath / "suites",)
    if suites_raw and value("muscle_old") and value("muscle_new"):
        # A mistyped suite path would otherwise check nothing, and the gate would pass.
        refuse_empty_suite_paths(suites, "--muscle-suites")
    no_cache = bool(value("muscle_no_cache"))
    cache_dir = parsed("muscle_cache_dir", lambda v: _path(v, base("muscle_cache_dir"))) or rootpath / DEFAULT_CACHE_DIR
    options = MuscleOptions(
        old=model("muscle_old"),
        new=model("muscle_new"),
        suites=suites,
        overrides=overrides,
        waivers=parsed("muscle_waivers", lambda v: _path(v, base("muscle_waivers"))),
        cache_dir=None if no_cache else cache_dir,
        batch_size=parsed("muscle_batch_size", _batch_size),
        device=parsed("muscle_device", _device) or "auto",
        dtype=parsed("muscle_dtype", _dtype) or "auto",
        report=parsed("muscle_report", lambda v: _path(v, base("muscle_report"))),
        markdown=parsed("muscle_markdown", lambda v: _path(v, base("muscle_markdown"))),
        update_baseline=parsed("muscle_update_baseline", lambda v: _path(v, base("muscle_update_baseline"))),
        trust_remote_code=bool(value("muscle_trust_remote_code")),
        allow_pickle=bool(value("muscle_allow_pickle")),
        project=project,
    )
    if options.active:
        named = [Path(a.split("::")[0]) for a in config.args if a.split("::")[0].endswith(".jsonl")]
        _check_outputs(options, pyproject, [invocation / p for p in named])
    return options


def _check_outputs(options: MuscleOptions, pyproject: Path, named_suites: list[Path]) -> None:
    """No report, summary, baseline or cache lands on a model, a suite, the waivers or the configuration."""
    cache_dir = options.cache_dir
    cache = [] if cache_dir is None else [Place("--muscle-cache-dir", cache_dir, directory=True, holds_inputs=True)]
    check_outputs(
        [
            *places("--muscle-report", [options.report]),
            *places("--muscle-markdown", [options.markdown]),
            *places("--muscle-update-baseline", [options.update_baseline]),
            *cache,
        ],
        [
            *model_places("--muscle-old", options.old),
            *model_places("--muscle-new", options.new),
            *places("--muscle-suites", list(options.suites), suites=True),
            *places("suite", named_suites, suites=True),  # suite files named on the command line
            *places("--muscle-waivers", [options.waivers]),
            Place("pyproject.toml", pyproject),
        ],
    )


def _path(raw: Any, root: Path) -> Path:
    path = Path(str(raw))
    return path if path.is_absolute() else root / path


def _paths(raw: Any, root: Path) -> tuple[Path, ...]:
    items = raw if isinstance(raw, list) else str(raw).replace("\n", ",").split(",")
    return tuple(_path(item.strip(), root) for item in items if str(item).strip())


def _batch_size(raw: Any) -> int | None:
    if str(raw) == "auto":
        return None
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise ValueError("expected a whole number >= 1 or 'auto'") from None
    if number < 1:
        raise ValueError("expected a whole number >= 1 or 'auto'")
    return number


def _device(raw: Any) -> str:
    text = str(raw)
    if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ValueError(f"expected one of {', '.join(DEVICES)} or cuda:N")


def _dtype(raw: Any) -> str:
    text = str(raw)
    if text not in DTYPES:
        raise ValueError(f"expected one of {', '.join(DTYPES)}")
    return text
