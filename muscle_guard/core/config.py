"""Suite settings from `[tool.muscle-guard]` in pyproject.toml, per-suite tables and overrides.

Precedence, lowest to highest (documented in the README, tested in tests/unit/test_config.py):
built-in defaults < `[tool.muscle-guard]` < `[tool.muscle-guard.suites.<name>]` < overrides
(pytest ini keys and command-line options, applied to every suite).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import ConfigError
from muscle_guard.core.names import NORMALISERS, SCORERS
from muscle_guard.core.pairs import ModelPair, PairPlan, parse_pairs, plan_pairs
from muscle_guard.core.prompt_format import parse_prompt_format
from muscle_guard.core.run_options import RUN_KEYS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOOL_KEY = "muscle-guard"
# The run key `suites` (paths) spelled another way: TOML cannot hold `suites = [...]` and [tool.muscle-guard.suites.X]
# tables in one file (pytest itself stops on "Cannot declare ... twice" before any plugin runs).
SUITE_PATHS = "suite_paths"
MC_NORMS = ("acc", "acc_norm")


@dataclass(frozen=True)
class Gates:
    """Aggregate budgets of one suite. `max_nfr=0` (the default) fails on any negative flip."""

    max_nfr: float = 0.0
    max_negative_flips: int | None = None
    min_accuracy_delta: float | None = None
    alpha: float | None = None
    # A rate budget the suite is too small to decide (core.gates.undecided): "budget" keeps the budget's verdict
    # and marks it, "fail" fails the suite, "pass" lets its flips pass (docs/statistics.md argues the default).
    not_enough_data: str = "budget"


NOT_ENOUGH_DATA = ("budget", "fail", "pass")


@dataclass(frozen=True)
class SuiteSettings:
    """Everything that decides how one suite is rendered, scored and gated."""

    scorer: str = "rouge1"
    normaliser: str = "exact"
    epsilon: float = 0.0
    mc_norm: str = "acc"
    prompt_template: str = "{prompt}"
    max_new_tokens: int = 64
    stop: tuple[str, ...] = ("\n\n",)
    labels: tuple[str, ...] = ()
    # Evaluation logs (`lm-eval:`, `inspect:`): which per-sample metric decides right/wrong, under which filter
    # ("": the documented default of the task's shape, docs/logs.md).
    log_metric: str = ""
    log_filter: str = ""
    gates: Gates = field(default_factory=Gates)

    def render(self, text: str) -> str:
        """Put an instance's prompt into the template. Plain substitution: suite text never executes."""
        return self.prompt_template.replace("{prompt}", text)

    def label_index(self, label: int | str) -> int:
        """The class index of a label given as an index or as one of `labels`."""
        if isinstance(label, int):
            return label
        if label not in self.labels:
            known = ", ".join(self.labels) or "none configured"
            raise ConfigError(
                f"label {label!r} is not one of the suite's labels ({known}); set 'labels' in [tool.muscle-guard]"
            )
        return self.labels.index(label)

    def rendering_key(self) -> dict[str, Any]:
        """The settings that change what a model computes (part of the prediction fingerprint)."""
        return {
            "prompt_template": self.prompt_template,
            "max_new_tokens": self.max_new_tokens,
            "stop": list(self.stop),
        }

    def to_json(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "gates"}
        out["stop"] = list(self.stop)
        out["labels"] = list(self.labels)
        out["gates"] = {f.name: getattr(self.gates, f.name) for f in fields(self.gates)}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteSettings:
        flat = {k: v for k, v in data.items() if k != "gates"}
        flat.update(data.get("gates", {}))
        return apply_settings(cls(), flat, "report", text=True)  # JSON: nulls for unset gates


def _fraction(value: Any) -> float:
    number = _float(value)
    if not 0.0 <= number <= 1.0:
        raise ValueError("a fraction between 0 and 1")
    return number


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError("a number") from None
    if math.isnan(number):  # TOML and float() accept nan; every comparison with it is silently false
        raise ValueError("a number")
    return number


def _nonneg_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("a whole number >= 0")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError("a whole number >= 0") from None
    if number < 0 or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("a whole number >= 0")
    return number


def _pos_int(value: Any) -> int:
    number = _nonneg_int(value)
    if number == 0:
        raise ValueError("a whole number >= 1")
    return number


def _nonneg_float(value: Any) -> float:
    number = _float(value)
    if number < 0:
        raise ValueError("a number >= 0")
    return number


def _alpha(value: Any) -> float:
    number = _float(value)
    if not 0.0 < number <= 1.0:
        raise ValueError("a significance level in (0, 1]")
    return number


def _str_list(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("a string or a list of strings")


def _labels(value: Any) -> tuple[str, ...]:
    labels = _str_list(value)
    seen: dict[str, int] = {}
    for i, label in enumerate(labels):
        if not label.strip():
            raise ValueError("a list of non-empty label names")
        if label in seen:
            raise ValueError(f"distinct label names (class {seen[label]} and class {i} are both {label!r})")
        seen[label] = i
    return labels


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in options:
            raise ValueError("one of " + ", ".join(options))
        return str(value)

    return parse


def _template(value: Any) -> str:
    if not isinstance(value, str) or "{prompt}" not in value:
        raise ValueError("a string containing {prompt}")
    return value


def _name(value: Any) -> str:
    """A metric or filter name of an evaluation log; "" is the default's."""
    if not isinstance(value, str) or value != value.strip():
        raise ValueError("a name")
    return value


def _accuracy_delta(value: Any) -> float:
    number = _float(value)
    if not -1.0 <= number <= 1.0:
        raise ValueError(
            f"a change of accuracy as a fraction between -1 and 1 ({number / 100:g} for {number:g} points)"
        )
    return number


def _optional(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def wrapped(value: Any) -> Any:
        return None if value is None or value == "none" else parse(value)

    return wrapped


_SUITE_KEYS: dict[str, Callable[[Any], Any]] = {
    "scorer": _choice(SCORERS),
    "normaliser": _choice(NORMALISERS),
    "epsilon": _nonneg_float,
    "mc_norm": _choice(MC_NORMS),
    "prompt_template": _template,
    "max_new_tokens": _pos_int,
    "stop": _str_list,
    "labels": _labels,
    "log_metric": _name,
    "log_filter": _name,
}
_GATE_KEYS: dict[str, Callable[[Any], Any]] = {
    "max_nfr": _fraction,
    "max_negative_flips": _optional(_nonneg_int),
    "min_accuracy_delta": _optional(_accuracy_delta),
    "alpha": _optional(_alpha),
    "not_enough_data": _choice(NOT_ENOUGH_DATA),
}
SETTING_KEYS = frozenset(_SUITE_KEYS) | frozenset(_GATE_KEYS)

# The one TOML type of each setting in pyproject.toml. The command line and pytest's ini keys are text and go
# through the parsers above only; a TOML value of another type is an error, never converted: `labels =
# "neg,pos"` would be one label and `max_nfr = "0.6"` a string that only happens to parse.
_NUMBER, _WHOLE, _TEXT, _TEXTS = "a number", "a whole number", "a string", "a list of strings"
_TOML_TYPES: dict[str, str] = {
    "scorer": _TEXT,
    "normaliser": _TEXT,
    "epsilon": _NUMBER,
    "mc_norm": _TEXT,
    "prompt_template": _TEXT,
    "max_new_tokens": _WHOLE,
    "stop": _TEXTS,
    "labels": _TEXTS,
    "log_metric": _TEXT,
    "log_filter": _TEXT,
    "max_nfr": _NUMBER,
    "max_negative_flips": _WHOLE,
    "min_accuracy_delta": _NUMBER,
    "alpha": _NUMBER,
    "not_enough_data": _TEXT,
}
_OPTIONAL = frozenset({"max_negative_flips", "min_accuracy_delta", "alpha"})  # "none" unsets an inherited gate


def toml_type_name(value: Any) -> str:
    """How TOML calls the type of a parsed value, for messages."""
    for kind, name in ((bool, "a boolean"), (str, "a string"), (int, "an integer"), (float, "a float")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date or time"


def _has_toml_type(expected: str, value: Any) -> bool:
    if expected == _TEXT:
        return isinstance(value, str)
    if expected == _TEXTS:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if expected == _WHOLE else isinstance(value, int | float)


def _type_hint(key: str, expected: str, value: Any) -> str:
    if expected == _TEXTS and isinstance(value, str):
        split = key.replace("-", "_") == "labels" and "," in value  # stop strings may hold commas
        items = [v.strip() for v in value.split(",")] if split else [value]
        return "; write " + key + " = [" + ", ".join(json.dumps(v) for v in items) + "]"
    if expected in (_NUMBER, _WHOLE) and isinstance(value, str):
        return "; write it without quotes"
    return ""


def parse_setting(key: str, value: Any, where: str, *, text: bool = True) -> Any:
    """Validate one setting value; ConfigError names where it came from and what is expected.

    `key` may be kebab-case (`max-nfr`); messages show it as the user wrote it. `text=True` (the command line,
    pytest's ini keys) parses strings; `text=False` (pyproject.toml) first requires the setting's TOML type.
    """
    name = key.replace("-", "_")
    parser = _SUITE_KEYS.get(name) or _GATE_KEYS.get(name)
    if parser is None:
        raise ConfigError(f"{where}: unknown setting {key!r}; known: {', '.join(sorted(SETTING_KEYS))}")
    expected = _TOML_TYPES[name]
    unset = name in _OPTIONAL and value == "none"
    if not text and not unset and not _has_toml_type(expected, value):
        also = " or 'none'" if name in _OPTIONAL else ""
        raise ConfigError(
            f"{where}: {key} = {value!r} is {toml_type_name(value)}; expected {expected}{also}"
            + _type_hint(key, expected, value)
        )
    try:
        return parser(value)
    except ValueError as exc:
        raise ConfigError(f"{where}: {key} = {value!r} is invalid; expected {exc}") from None


def apply_settings(base: SuiteSettings, values: Mapping[str, Any], where: str, *, text: bool = False) -> SuiteSettings:
    """Return `base` with `values` (setting name → raw value) applied and validated (see `parse_setting`)."""
    suite_updates: dict[str, Any] = {}
    gate_updates: dict[str, Any] = {}
    for raw_key, value in values.items():
        key = raw_key.replace("-", "_")
        parsed = parse_setting(raw_key, value, where, text=text)
        (gate_updates if key in _GATE_KEYS else suite_updates)[key] = parsed
    return replace(base, gates=replace(base.gates, **gate_updates), **suite_updates)


@dataclass(frozen=True)
class ProjectConfig:
    """The `[tool.muscle-guard]` table of a pyproject.toml, split into its parts."""

    path: Path | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    suites: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    run: Mapping[str, Any] = field(default_factory=dict)
    pairs: tuple[ModelPair, ...] = ()

    def table_of(self, suite: str | None) -> str:
        """Where `suite`'s settings are set (None: the global table), for messages that say what to change."""
        where = str(self.path) if self.path else "pyproject.toml"
        return f"[tool.{TOOL_KEY}{'' if suite is None else f'.suites.{suite}'}] in {where}"

    def sets_budget(self, suite: str) -> bool:
        """Whether the configuration gives `suite` a flip budget (max_nfr or max_negative_flips, in the global table
        or the suite's own), rather than the built-in default of no flip at all."""
        keys = ("max_nfr", "max_negative_flips")
        tables = (self.defaults, self.suites.get(suite, {}))
        return any(k.replace("-", "_") in keys and v != "none" for table in tables for k, v in table.items())

    def global_settings(self) -> SuiteSettings:
        """The settings of `[tool.muscle-guard]` alone: what a suite without its own table gets."""
        where = str(self.path) if self.path else "pyproject.toml"
        return apply_settings(SuiteSettings(), self.defaults, f"{where} [tool.{TOOL_KEY}]")

    def settings_for(self, suite: str, overrides: Mapping[str, Any] | None = None) -> SuiteSettings:
        """Resolve one suite's settings: defaults < global table < suite table < overrides."""
        where = str(self.path) if self.path else "pyproject.toml"
        settings = apply_settings(SuiteSettings(), self.defaults, f"{where} [tool.{TOOL_KEY}]")
        if suite in self.suites:
            settings = apply_settings(settings, self.suites[suite], f"{where} [tool.{TOOL_KEY}.suites.{suite}]")
        if overrides:
            settings = apply_settings(settings, overrides, "command line", text=True)
        return settings


def pair_plan(
    project: ProjectConfig,
    root: Path,
    models: tuple[str | None, str | None] = (None, None),
    formats: tuple[str | None, str | None] = (None, None),
) -> PairPlan:
    """The pairs as configured in `project` (model references relative to `root`, where its pyproject.toml is);
    `models` given on a command line (with their `formats`) replace them, as `--muscle-old/--muscle-new` do."""

    def resolve(raw: str) -> str:
        return str(root / raw) if (root / raw).exists() else raw

    given = models != (None, None)
    run = project.run
    if not given:
        models = tuple(None if run.get(k) is None else resolve(str(run[k])) for k in ("old", "new"))  # type: ignore[assignment]
        formats = (run.get("old_prompt"), run.get("new_prompt"))
    prompts = (parse_prompt_format(formats[0], "old_prompt"), parse_prompt_format(formats[1], "new_prompt"))
    return plan_pairs(models, project.pairs, command_line=given, resolve=resolve, prompts=prompts)


def _check_run_value(raw_key: str, value: Any, where: str, key: str | None = None) -> None:
    """A run key of `[tool.muscle-guard]` has one TOML type: `trust_remote_code = "false"` is not False. `key`: the
    run key `raw_key` spells (default: itself)."""
    expected, fits = RUN_KEYS[key or raw_key.replace("-", "_")]
    if not fits(value):
        hint = "; write it without quotes" if isinstance(value, str) and expected != "a string" else ""
        raise ConfigError(f"{where}: {raw_key} = {value!r} is {toml_type_name(value)}; expected {expected}{hint}")


def has_tool_table(pyproject: Path) -> bool:
    """Whether `pyproject` holds a [tool.muscle-guard] table (False for a file that is not valid TOML)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return False
    tool = data.get("tool")
    return isinstance(tool, dict) and TOOL_KEY in tool


def load_project_config(pyproject: Path | None) -> ProjectConfig:
    """Read `[tool.muscle-guard]` from `pyproject` (None or a file without the table → defaults)."""
    if pyproject is None or not pyproject.is_file():
        return ProjectConfig()
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{pyproject}: not valid TOML ({exc}); fix the file") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise ConfigError(f"{pyproject}: [tool] must be a table")
    table = tool.get(TOOL_KEY, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.{TOOL_KEY}] must be a table")
    defaults: dict[str, Any] = {}
    run: dict[str, Any] = {}
    suites: dict[str, Mapping[str, Any]] = {}
    pairs: tuple[ModelPair, ...] = ()
    for raw_key, value in table.items():
        key = raw_key.replace("-", "_")
        if key == "pairs":
            pairs = parse_pairs(value, f"{pyproject} [tool.{TOOL_KEY}")
        elif key == "suites" and isinstance(value, dict):
            for name, sub in value.items():
                if not isinstance(sub, dict):
                    raise ConfigError(f"{pyproject}: [tool.{TOOL_KEY}.suites.{name}] must be a table")
                where = f"{pyproject} [tool.{TOOL_KEY}.suites.{name}]"
                for sub_key in sub:
                    if sub_key in ("old", "new", "pair"):
                        raise ConfigError(
                            f"{where}: {sub_key!r} is not a suite setting; models are set per pair: "
                            f"[tool.{TOOL_KEY}.pairs.NAME] with old = ..., new = ... and suites = [{json.dumps(name)}]"
                        )
                    if sub_key.replace("-", "_") not in SETTING_KEYS:
                        parse_setting(sub_key, sub[sub_key], where, text=False)
                suites[name] = sub
        elif key == SUITE_PATHS:  # `suites` spelled so that [tool.muscle-guard.suites.NAME] tables can sit beside it
            if "suites" in run:
                raise ConfigError(
                    f"{pyproject} [tool.{TOOL_KEY}]: both 'suites' and {raw_key!r} list suite paths; keep one"
                )
            _check_run_value(raw_key, value, f"{pyproject} [tool.{TOOL_KEY}]", "suites")
            run["suites"] = value
        elif key in RUN_KEYS:
            if key == "suites" and "suites" in run:
                raise ConfigError(
                    f"{pyproject} [tool.{TOOL_KEY}]: both 'suites' and {SUITE_PATHS!r} list suite paths; keep one"
                )
            _check_run_value(raw_key, value, f"{pyproject} [tool.{TOOL_KEY}]")
            run[key] = value
        elif key in SETTING_KEYS:
            defaults[raw_key] = value  # as written, so errors quote the user's spelling
        else:
            known = ", ".join(sorted(SETTING_KEYS | set(RUN_KEYS) | {"pairs", "suites", SUITE_PATHS}))
            raise ConfigError(f"{pyproject} [tool.{TOOL_KEY}]: unknown key {raw_key!r}; known: {known}")
    config = ProjectConfig(path=pyproject, defaults=defaults, suites=suites, run=run, pairs=pairs)
    config.settings_for("")  # validate the global table eagerly
    for name in suites:
        config.settings_for(name)
    return config


def unmatched_tables(project: ProjectConfig, suite_paths: Sequence[Path]) -> list[str]:
    """One line per `[tool.muscle-guard.suites.NAME]` table that names none of the suites: a typo configures
    nothing, and its budget would silently not apply."""
    from muscle_guard.core.suite import suite_name

    names = sorted({suite_name(p) for p in suite_paths})
    where = project.path or "pyproject.toml"
    return [
        f"{where}: [tool.{TOOL_KEY}.suites.{name}] matches no suite (suites: {', '.join(names) or 'none'}); "
        "check the name: a suite is named by its file name without .jsonl"
        for name in project.suites
        if name not in names
    ]
