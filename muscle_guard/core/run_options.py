"""The one table of run options: every setting a gate run takes, with its type, parser, help and default.

Each row is read four ways: the pytest option `--muscle-KEY` and ini key `muscle_KEY` (pytest_plugin/options.py),
the `[tool.muscle-guard]` key `KEY` (core/config.py checks its TOML type), and `muscle-guard check --KEY`
(cli/check.py builds its options from here). Gate rows (`max_nfr`, ...) are suite settings: their values go
through core.config's suite-settings parser, so `[tool.muscle-guard]` reads them as suite defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

DEFAULT_CACHE_DIR = Path(".muscle-cache")


DEVICES = ("auto", "map", "cpu", "cuda", "mps")
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEVICE_HELP = "auto, map (spread a big model over GPUs/CPU), cpu, cuda, cuda:N or mps (default auto)"
DTYPE_HELP = "auto, float32, bfloat16 or float16 (default auto: bf16 on CUDA, fp32 elsewhere)"

Kind = Literal["model", "paths", "path", "gate", "value", "flag"]


@dataclass(frozen=True)
class RunOption:
    """One setting of a gate run.

    `kind` says how a raw value becomes a typed one: model references stay text, paths resolve against where
    they were given, gate values go through the suite-settings parser, `value`s through `parse`, flags are
    booleans. `toml` is the TOML type `[tool.muscle-guard]` accepts; None: not a key of that table (gate rows are
    suite settings there, checked as such).
    `check` is False for the rows `muscle-guard check` sets itself; `type` is the Python type its option takes
    (Typer refuses a value that is not one, with exit 2).
    """

    key: str
    metavar: str
    help: str
    kind: Kind
    toml: tuple[str, Callable[[Any], bool]] | None = None
    parse: Callable[[Any], Any] | None = None
    check: bool = True
    type: type = str  # what `muscle-guard check` converts its value to before passing it on

    @property
    def dest(self) -> str:
        """The pytest dest and ini key."""
        return f"muscle_{self.key}"

    @property
    def flag(self) -> str:
        """The pytest option."""
        return "--muscle-" + self.key.replace("_", "-")

    @property
    def cli_flag(self) -> str:
        """The option of `muscle-guard check`."""
        return "--" + self.key.replace("_", "-")


def parse_batch_size(raw: Any) -> int | None:
    if str(raw) == "auto":
        return None
    try:
        number = int(raw)
    except (TypeError, ValueError):
        raise ValueError("expected a whole number >= 1 or 'auto'") from None
    if number < 1:
        raise ValueError("expected a whole number >= 1 or 'auto'")
    return number


def parse_device(raw: Any) -> str:
    text = str(raw)
    if text in DEVICES or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise ValueError(f"expected one of {', '.join(DEVICES)} or cuda:N")


def parse_dtype(raw: Any) -> str:
    text = str(raw)
    if text not in DTYPES:
        raise ValueError(f"expected one of {', '.join(DTYPES)}")
    return text


CORRECTIONS = ("holm", "bh", "none")
FLOOR_FILE = "muscle-floor.json"  # where `muscle-guard floor` writes, and where a gate run looks by default


def parse_correction(raw: Any) -> str:
    text = str(raw)
    if text not in CORRECTIONS:
        raise ValueError(f"expected one of {', '.join(CORRECTIONS)}")
    return text


def split_list(raw: Any) -> list[str]:
    """A TOML list, or a comma- (or newline-) separated string, as its non-empty stripped items."""
    items = raw if isinstance(raw, list) else str(raw).replace("\n", ",").split(",")
    return [str(item).strip() for item in items if str(item).strip()]


_TEXT = ("a string", lambda v: isinstance(v, str))
_BOOL = ("true or false", lambda v: isinstance(v, bool))
_LIST = (
    "a string or a list of strings",
    lambda v: isinstance(v, str) or (isinstance(v, list) and all(isinstance(x, str) for x in v)),
)
_BATCH = ("a whole number or 'auto'", lambda v: v == "auto" or (isinstance(v, int) and not isinstance(v, bool)))

RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption("old", "MODEL", "old model: adapter dir, base=DIR,adapter=DIR, model dir, baseline file or scheme:target",
              "model", _TEXT),
    RunOption("new", "MODEL", "new model reference (the same forms as the old model's)", "model", _TEXT),
    RunOption("old_prompt", "FORMAT", "the old model's prompt format: none, chat, chat:SYSTEM or a template with "
              "{prompt} (default none)", "value", _TEXT),
    RunOption("new_prompt", "FORMAT", "the new model's prompt format (the same forms as the old model's)", "value",
              _TEXT),
    RunOption("suites", "PATHS", "comma-separated suite files or directories (default: suites/)", "paths", _LIST,
              check=False),
    RunOption("max_nfr", "FRACTION", "negative-flip-rate budget per suite, 0..1 (default 0: any flip fails)", "gate",
              type=float),
    RunOption("max_negative_flips", "N", "negative-flip count budget per suite", "gate", type=int),
    RunOption("min_accuracy_delta", "DELTA", "fail a suite whose accuracy changes by less than DELTA (e.g. -0.01)",
              "gate", type=float),
    RunOption("alpha", "ALPHA", "fail the flip budget only when McNemar's exact p < ALPHA", "gate", type=float),
    RunOption("correction", "METHOD", "family-wise correction when alpha gates several (pair, suite) tests: holm "
              "(default), bh (Benjamini–Hochberg) or none", "value", _TEXT, parse_correction),
    RunOption("not_enough_data", "POLICY", "a suite too small to decide its max_nfr: budget (default: the budget "
              "decides, the verdict is marked), fail or pass", "gate"),
    RunOption("epsilon", "EPS", "tolerance for continuous scores: a drop larger than EPS is a negative flip", "gate",
              type=float),
    RunOption("floor", "FILE", f"noise floor file written by `muscle-guard floor` (default {FLOOR_FILE} at the "
              "root, when it exists)", "path", _TEXT),
    RunOption("waivers", "FILE", "TOML file of waived negative flips (suite, id, reason, expires)", "path", _TEXT),
    RunOption("cache_dir", "DIR", f"prediction cache directory (default {DEFAULT_CACHE_DIR}/)", "path", _TEXT),
    RunOption("batch_size", "N", "model batch size (default: automatic, backing off on out-of-memory)", "value",
              _BATCH, parse_batch_size),
    RunOption("device", "DEVICE", DEVICE_HELP, "value", _TEXT, parse_device),
    RunOption("dtype", "DTYPE", DTYPE_HELP, "value", _TEXT, parse_dtype),
    RunOption("report", "PATH.json", "write the run report as JSON", "path", _TEXT, check=False),
    RunOption("markdown", "PATH.md", "write a Markdown summary (for GitHub step summaries)", "path", _TEXT),
    RunOption("update_baseline", "PATH", "write the old side's predictions as a baseline file (a directory of PAIR.jsonl for several pairs)", "path"),
    RunOption("no_cache", "", "do not read or write the prediction cache", "flag"),
    RunOption("trust_remote_code", "", "allow models that need remote code (off by default)", "flag", _BOOL),
    RunOption("allow_pickle", "", "allow pickle (.bin) weights (safetensors only by default)", "flag", _BOOL),
)  # fmt: skip
BY_KEY = {option.key: option for option in RUN_OPTIONS}
# Keys of `[tool.muscle-guard]` that configure a run rather than a suite, with the TOML type each accepts.
RUN_KEYS: dict[str, tuple[str, Callable[[Any], bool]]] = {o.key: o.toml for o in RUN_OPTIONS if o.toml is not None}
