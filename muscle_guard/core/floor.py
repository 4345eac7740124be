"""The noise floor: how often two trainings of the same adapter (another seed, nothing else changed) flip each
other's answers on a suite. No upgrade and no fix gets below it, so a `max_nfr` under it fails on training noise.

`muscle-guard floor OLD OLD-RESEEDED` measures it (cli/floor.py) and writes a floor file; gate runs read the file
(`floor` run key, default ./muscle-floor.json when it exists), reports show each suite's floor beside its NFR, and
`fix` says when a --suite's budget is below it.

The two models play symmetric roles, so the floor of a suite is the flip rate in either direction,
(#NF + #PF) / 2N: both directions measure the same noise, and their mean halves its variance.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import ConfigError
from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.formatting import percent
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.json_types import json_object
from muscle_guard.core.stats import Interval, wilson

FLOOR_VERSION = 1


@dataclass(frozen=True)
class SuiteFloor:
    """One suite's flips between two trainings of the same adapter."""

    n: int
    nf: int
    pf: int

    @property
    def rate(self) -> float:
        """The floor: the mean flip rate of both directions, (#NF + #PF) / 2N."""
        return (self.nf + self.pf) / (2 * self.n) if self.n else 0.0

    @property
    def interval(self) -> Interval:
        """A 95% interval of the floor (Wilson on the 2N directed comparisons: slightly narrow, since the two
        directions share their instances; shown as a guide, not used by the gate)."""
        return wilson(self.nf + self.pf, 2 * self.n)

    @classmethod
    def of(cls, metrics: SuiteMetrics) -> SuiteFloor:
        return cls(metrics.n, metrics.nf, metrics.pf)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "nf": self.nf, "pf": self.pf, "floor": self.rate, "interval": self.interval.to_json()}


@dataclass(frozen=True)
class NoiseFloor:
    """A floor file: per suite name, its floor, and the two models that measured it."""

    suites: Mapping[str, SuiteFloor]
    models: tuple[str, str] = ("", "")
    written: str = ""
    path: Path | None = field(default=None, compare=False)

    def rate(self, suite: str) -> float | None:
        found = self.suites.get(suite)
        return None if found is None else found.rate

    def to_json(self) -> dict[str, Any]:
        return {
            "muscle_guard_floor": FLOOR_VERSION,
            "written": self.written or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "models": list(self.models),
            "suites": {name: floor.to_json() for name, floor in sorted(self.suites.items())},
        }


def write_floor(path: Path, floor: NoiseFloor) -> None:
    atomic_write_text(path, json.dumps(floor.to_json(), indent=2, ensure_ascii=False) + "\n")


def read_floor(path: Path) -> NoiseFloor:
    """Read a floor file; ConfigError names the file and what to do when it is not one."""
    redo = "write it again with `muscle-guard floor OLD OLD-RESEEDED`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such floor file; {redo}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the floor file ({exc}); {redo}") from None
    if not isinstance(data, dict) or data.get("muscle_guard_floor") != FLOOR_VERSION:
        raise ConfigError(f"{path}: not a muscle-guard floor file (version {FLOOR_VERSION}); {redo}")
    try:
        suites = {}
        for name, row in json_object(data.get("suites")).items():
            row = json_object(row)
            n, nf, pf = (row.get(k) for k in ("n", "nf", "pf"))
            if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (n, nf, pf)):
                raise TypeError(f"suite {name!r}: n, nf and pf must be whole numbers >= 0")
            suites[str(name)] = SuiteFloor(n, nf, pf)  # type: ignore[arg-type]
        models = data.get("models") or ["", ""]
        return NoiseFloor(suites, (str(models[0]), str(models[1])), str(data.get("written", "")), path)
    except (TypeError, IndexError) as exc:
        raise ConfigError(f"{path}: malformed floor file ({exc}); {redo}") from None


def configured_floor(run: Mapping[str, Any], root: Path) -> Path | None:
    """The floor file of a project: its `floor` run key (relative to `root`, where pyproject.toml is), else
    ROOT/muscle-floor.json when that exists, else None."""
    from muscle_guard.core.run_options import FLOOR_FILE

    given = run.get("floor")
    if given:
        return root / str(given)
    default = root / FLOOR_FILE
    return default if default.is_file() else None


def below_floor(suite: str, max_nfr: float, floor: float | None) -> str:
    """A warning when a rate budget sits under the suite's noise floor ("" otherwise, and for a budget of 0, which
    asks for no flip at all by choice)."""
    if floor is None or max_nfr <= 0 or max_nfr >= floor:
        return ""
    return (
        f"{suite}: max_nfr {percent(max_nfr)} is below the noise floor {percent(floor)} (two trainings of the old "
        "adapter flip that often), so training noise alone can fail it; set max_nfr at or above the floor"
    )
