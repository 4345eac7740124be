"""Run reports: every suite's metrics, verdict and outcomes, as versioned JSON written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, cast

from muscle_guard import __version__
from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import ConfigError, ReportError
from muscle_guard.core.flips import InstanceOutcome, Outcome, SuiteMetrics
from muscle_guard.core.gates import GateVerdict
from muscle_guard.core.intervals import suite_intervals
from muscle_guard.core.json_types import json_list, json_object, text
from muscle_guard.core.suite import Shape
from muscle_guard.core.versions import library_versions

SCHEMA_VERSION = 1
RunKind = Literal["check", "fix"]
_KINDS: tuple[RunKind, ...] = ("check", "fix")


@dataclass(frozen=True)
class ModelPairInfo:
    """The old and new model of one pair of a run."""

    old: ModelInfo
    new: ModelInfo

    def to_json(self) -> dict[str, Any]:
        return {"old": self.old.to_json(), "new": self.new.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelPairInfo:
        return cls(ModelInfo.from_json(json_object(data["old"])), ModelInfo.from_json(json_object(data["new"])))


def pair_title(name: str) -> str:
    """How reports name a pair: its name, "default" for the run's default pair beside named ones."""
    return name or "default"


@dataclass(frozen=True)
class SuiteReport:
    """One suite of a run: its settings, metrics (overall and per tag), gate verdict and instance outcomes.
    `pair` names the model pair that gated it ("" for the run's default pair)."""

    name: str
    path: str
    shape: Shape
    suite_hash: str
    settings: SuiteSettings
    metrics: SuiteMetrics
    verdict: GateVerdict
    slices: dict[str, SuiteMetrics] = field(default_factory=dict)
    outcomes: tuple[InstanceOutcome, ...] = ()
    pair: str = ""
    # The suite's noise floor (core.floor), when the run had a floor file that measured it
    floor: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        """What identifies the suite across runs: its pair and its path."""
        return (self.pair, self.path)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pair": self.pair,
            "path": self.path,
            "shape": self.shape.value,
            "suite_hash": self.suite_hash,
            "settings": self.settings.to_json(),
            "metrics": self.metrics.to_json(),
            # 95% intervals, computed from the metrics and outcomes (never read back: from_json ignores them)
            "intervals": {k: v.to_json() for k, v in suite_intervals(self.metrics, self.outcomes).items()},
            "verdict": self.verdict.to_json(),
            "slices": {tag: metrics.to_json() for tag, metrics in self.slices.items()},
            "outcomes": [outcome.to_json() for outcome in self.outcomes],
        } | ({} if self.floor is None else {"floor": self.floor})

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteReport:
        """Inverse of to_json; raises KeyError/TypeError/ValueError (or ConfigError) on malformed data."""
        return cls(
            name=text(data["name"]),
            path=text(data["path"]),
            shape=Shape(data["shape"]),
            suite_hash=text(data["suite_hash"]),
            settings=SuiteSettings.from_json(json_object(data["settings"])),
            metrics=SuiteMetrics.from_json(json_object(data["metrics"])),
            verdict=GateVerdict.from_json(json_object(data["verdict"])),
            slices={
                text(tag): SuiteMetrics.from_json(json_object(m))
                for tag, m in json_object(data.get("slices", {})).items()
            },
            outcomes=tuple(InstanceOutcome.from_json(json_object(o)) for o in json_list(data.get("outcomes", []))),
            pair=text(data.get("pair", "")),
            floor=_optional_rate(data.get("floor")),
        )


def _optional_rate(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise TypeError(f"floor: expected a rate between 0 and 1, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class RunReport:
    """Everything one `check` or `fix` run found. `fix` holds the before/after section of a fix run.

    `old`/`new` are the models of a run of one pair. A run of several model pairs lists each in `pairs` (pair name
    → models; "" is the default pair) and each suite names its pair; `old`/`new` are then the first pair's, so a
    reader that knows no pairs still reads a valid report.
    """

    schema_version: int = SCHEMA_VERSION
    tool_version: str
    created_at: str
    old: ModelInfo
    new: ModelInfo
    suites: tuple[SuiteReport, ...]
    environment: dict[str, str] = field(default_factory=dict)
    kind: RunKind = "check"
    fix: dict[str, Any] | None = None
    pairs: dict[str, ModelPairInfo] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        *,
        suites: Sequence[SuiteReport],
        old: ModelInfo | None = None,
        new: ModelInfo | None = None,
        pairs: Mapping[str, ModelPairInfo] | None = None,
        kind: RunKind = "check",
        fix: dict[str, Any] | None = None,
    ) -> RunReport:
        """A report of a run that finished now, in this environment: of one pair (`old`, `new`) or of `pairs`."""
        named = dict(pairs or {})
        if old is None or new is None:
            if not named:
                raise ValueError("a run report needs old and new, or pairs")
            first = named[min(named)]
            old, new = first.old, first.new
        if set(named) <= {""}:  # one unnamed pair: the report of a run without pairs
            named = {}
        return cls(
            tool_version=__version__,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            old=old,
            new=new,
            suites=tuple(suites),
            environment=collect_environment(),
            kind=kind,
            fix=fix,
            pairs=named,
        )

    @property
    def passed(self) -> bool:
        return all(suite.verdict.passed for suite in self.suites)

    def models_of(self, suite: SuiteReport) -> ModelPairInfo:
        """The old and new model that `suite` was gated with."""
        return self.pairs.get(suite.pair) or ModelPairInfo(self.old, self.new)

    def to_json(self) -> dict[str, Any]:
        # ModelInfo compares without `details`; the JSON keeps them all the same.
        return {
            "schema_version": self.schema_version,
            "tool_version": self.tool_version,
            "created_at": self.created_at,
            "kind": self.kind,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "environment": dict(self.environment),
            "suites": [suite.to_json() for suite in self.suites],
            "fix": self.fix,
            "pairs": {name: pair.to_json() for name, pair in self.pairs.items()},
        }

    @classmethod
    def from_json(cls, data: Any) -> RunReport:
        """Inverse of to_json; ReportError (one line) on an unknown schema version or malformed data."""
        if not isinstance(data, dict):
            raise ReportError(f"not a muscle-guard report (a JSON {type(data).__name__}, expected an object)")
        version = data.get("schema_version")
        if version is None:
            raise ReportError("not a muscle-guard report (no schema_version field)")
        if version != SCHEMA_VERSION or isinstance(version, bool):
            hint = (
                "upgrade muscle-guard"
                if isinstance(version, int) and version > SCHEMA_VERSION
                else "re-run to regenerate it"
            )
            raise ReportError(
                f"report schema version {version!r} is not supported; muscle-guard {__version__} reads version "
                f"{SCHEMA_VERSION} ({hint})"
            )
        try:
            kind = data.get("kind", "check")
            if kind not in _KINDS:
                raise ValueError(f"kind must be one of {', '.join(_KINDS)}, got {kind!r}")
            fix = data.get("fix")
            environment = json_object(data.get("environment", {}))
            return cls(
                schema_version=SCHEMA_VERSION,
                tool_version=text(data["tool_version"]),
                created_at=text(data["created_at"]),
                old=ModelInfo.from_json(json_object(data["old"])),
                new=ModelInfo.from_json(json_object(data["new"])),
                suites=tuple(SuiteReport.from_json(json_object(s)) for s in json_list(data["suites"])),
                environment={text(k): text(v) for k, v in environment.items()},
                kind=cast(RunKind, kind),
                fix=None if fix is None else dict(json_object(fix)),
                pairs={
                    text(k): ModelPairInfo.from_json(json_object(v))
                    for k, v in json_object(data.get("pairs", {})).items()
                },
            )
        except KeyError as exc:
            raise ReportError(f"malformed report (missing field {exc.args[0]!r})") from None
        except (TypeError, ValueError, ConfigError) as exc:
            raise ReportError(f"malformed report ({exc})") from None


def collect_environment() -> dict[str, str]:
    """Python, platform and the versions of the installed ML libraries, the same whichever of them this process
    has imported (it never imports one itself)."""
    env = {"python": platform.python_version(), "platform": platform.platform(), "muscle_guard": __version__}
    env.update(library_versions())
    return env


def write_report(report: RunReport, path: str | Path) -> None:
    """Write the report as JSON, atomically: readers see the old file or the whole new one, never a part."""
    path = Path(path)
    text = json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n"
    # Same directory as the target, so os.replace is a rename within one file system.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # os.open with 0o666 lets the umask decide the permissions, as for any file the user writes.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):  # nothing to clean up when the folder itself is unusable
            tmp.unlink(missing_ok=True)
        raise ReportError(
            f"{path}: cannot write report ({exc.strerror or exc}); check the path and permissions"
        ) from None


def read_report(path: str | Path) -> RunReport:
    """Read a report written by `write_report`; ReportError names the file and what is wrong with it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file; check the path") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory, expected a JSON report file") from None
    except UnicodeDecodeError:
        raise ReportError(f"{path}: not UTF-8 text; is it a muscle-guard JSON report?") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read report ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}:{exc.lineno}: invalid JSON ({exc.msg} at column {exc.colno}); is the file complete?"
        ) from None
    try:
        return RunReport.from_json(data)
    except ReportError as exc:
        raise ReportError(f"{path}: {exc}") from None


def worst_negative_flips(suite: SuiteReport, k: int) -> list[InstanceOutcome]:
    """The k most striking negative flips: largest drop |D| first for continuous suites, otherwise the
    ones where the new model was most confident in its wrong answer (largest margin; unknown margins last).
    Ties keep a stable order by instance id.
    """
    flips = [o for o in suite.outcomes if o.outcome is Outcome.NEGATIVE_FLIP]

    def severity(outcome: InstanceOutcome) -> tuple[bool, float, str]:
        value = abs(outcome.delta) if outcome.delta is not None else outcome.new.margin
        return (value is None, -(value or 0.0), outcome.id)

    return sorted(flips, key=severity)[: max(k, 0)]
