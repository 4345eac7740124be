"""The one guard for every command and option that writes: no output lands on, or inside, an input.

`fix --out` equal to the `--new` adapter used to overwrite the adapter, `predict -o suites/mc.jsonl` replaced a
suite with a baseline, and a baseline or cache written under a suites folder was collected as suites on the
next run. Every front end names its outputs and inputs as `Place`s and calls `check_outputs` before it writes
anything; the rule is the same everywhere:

- an output may not be an input, nor lie inside an input directory (a model directory, training data);
- inside a suites folder, nothing that suite discovery would collect: a `.jsonl` file (a baseline) or a
  directory (a cache, a fix run), unless a hidden directory (`.muscle-cache`) keeps it out of discovery;
- a directory output (`fix --out`) may not contain an input either, since it fills the directory; a cache may
  (the demo keeps its models there).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from muscle_guard.core.errors import ConfigError, MuscleGuardError


@dataclass(frozen=True)
class Place:
    """A path a command reads or writes, with the option or argument that named it (for the message)."""

    label: str
    path: Path
    directory: bool = False  # an output directory that the command fills (its contents are all outputs)
    holds_inputs: bool = False  # a directory output that may contain inputs (a cache: the demo's models live there)
    suites: bool = False  # an input of suites: only what suite discovery would collect is refused inside it

    @property
    def shown(self) -> str:
        return f"{self.label} {self.path}"


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def check_outputs(outputs: Iterable[Place], inputs: Iterable[Place]) -> None:
    """Raise ConfigError (one line, naming both options) when an output would land on an input."""
    ins = [(place, _resolved(place.path)) for place in inputs]
    for out in outputs:
        target = _resolved(out.path)
        for place, source in ins:
            if target == source:
                raise ConfigError(
                    f"{out.shown} is also {place.shown}; write it elsewhere, outputs never replace inputs"
                )
            if source.is_dir() and _inside(target, source):
                if not place.suites:
                    raise ConfigError(f"{out.shown} is inside {place.shown}; write it elsewhere")
                if _collected(out, target.relative_to(source)):
                    raise ConfigError(
                        f"{out.shown} is inside {place.shown}: it would be collected as a suite on the next run; "
                        "write it elsewhere"
                    )
            if out.directory and not out.holds_inputs and _inside(source, target):
                raise ConfigError(f"{out.shown} contains {place.shown}; pass a directory that holds no input")


def _collected(out: Place, below: Path) -> bool:
    """Would suite discovery pick `out` up, `below` a suites folder? Hidden directories are never searched."""
    if any(part.startswith(".") for part in below.parts[:-1]) or (out.directory and below.name.startswith(".")):
        return False
    return out.directory or below.suffix == ".jsonl"


def model_places(label: str, raw: str | None) -> list[Place]:
    """The local files and directories a model reference reads (none for a hub id or an unknown scheme)."""
    if not raw:
        return []
    from muscle_guard.core.modelref import parse_model_ref

    candidates: list[str] = [raw]
    try:
        ref = parse_model_ref(raw, label)
        candidates += [c for c in (ref.target, ref.base, ref.adapter) if c]
    except MuscleGuardError:
        pass  # the command reports a bad reference itself; guard what exists
    return [Place(label, Path(c)) for c in dict.fromkeys(candidates) if Path(c).exists()]


def places(label: str, paths: Sequence[Path | None], suites: bool = False) -> list[Place]:
    return [Place(label, p, suites=suites) for p in paths if p is not None]


def shown_path(path: Path, base: Path) -> str:
    """`path` as the user would type it: relative to `base` when inside it (also through symlinks), else as given."""
    for candidate, root in ((path, base), (path.resolve(), base.resolve())):
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return str(path)
