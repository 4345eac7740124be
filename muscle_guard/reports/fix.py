"""The before/after points of a fix run (RunReport.fix), read from the shapes `fix` writes.

Two shapes are understood:
- what `muscle_guard.fix` records: ``{"suites": [SuiteComparison.to_json(), ...], "passed": bool}``, where each
  row has ``suite``, ``acc_new`` (before), ``acc_fixed`` (after), ``nfr``/``nfr_c``, ``nf``/``nf_c``,
  ``passed_before``/``passed_after``;
  ``"frontier"`` (optional) is `fix --aim budget`'s search: its budget, validation points and chosen label;
- a generic one: ``{"before": {SUITE: METRICS}, "after": {SUITE: METRICS}}`` where METRICS has at least
  ``acc_new`` (or ``acc``) and ``nfr`` (SuiteMetrics.to_json() qualifies). Other keys are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FixPoint:
    """One suite before the fix (old→new) and after it (old→fixed)."""

    suite: str
    acc_before: float
    acc_after: float
    nfr_before: float
    nfr_after: float
    nf_before: int | None = None
    nf_after: int | None = None
    passed_before: bool | None = None
    passed_after: bool | None = None


@dataclass(frozen=True)
class Frontier:
    """`fix --aim budget`'s validation points (label, accuracy, NFR, whether it is a candidate), its aim and
    the candidate it shipped."""

    points: tuple[tuple[str, float, float, bool], ...]
    target_nfr: float
    chosen: str | None


def fix_frontier(fix: Mapping[str, Any] | None) -> Frontier | None:
    """The frontier of a fix section written with `--aim budget`; None without one. ValueError when malformed."""
    frontier = (fix or {}).get("frontier")
    if frontier is None:
        return None
    frontier = _mapping(frontier)
    points = tuple(
        (str(p.get("label", "?")), _number(p, "acc"), _number(p, "nfr"), "ensemble_weight" in p)
        for p in map(_mapping, frontier.get("points") or [])
    )
    chosen = frontier.get("chosen")
    return Frontier(
        points, _number(_mapping(frontier.get("budget")), "target_val_nfr"), chosen if isinstance(chosen, str) else None
    )


def fix_points(fix: Mapping[str, Any] | None) -> tuple[FixPoint, ...]:
    """The points of a fix section; () when there is none. ValueError names what is missing otherwise."""
    if not fix:
        return ()
    if isinstance(fix.get("suites"), list):
        return tuple(_from_comparison(row) for row in fix["suites"])
    before, after = fix.get("before"), fix.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        return tuple(
            _from_metrics(str(name), _mapping(before[name]), _mapping(after[name])) for name in before if name in after
        )
    raise ValueError('expected "suites" (a list) or "before"/"after" (objects of metrics per suite)')


def _from_comparison(row: Any) -> FixPoint:
    row = _mapping(row)
    return FixPoint(
        suite=str(row.get("suite", "?")),
        acc_before=_number(row, "acc_new"),
        acc_after=_number(row, "acc_fixed"),
        nfr_before=_number(row, "nfr"),
        nfr_after=_number(row, "nfr_c"),
        nf_before=_opt_int(row.get("nf")),
        nf_after=_opt_int(row.get("nf_c")),
        passed_before=_opt_bool(row.get("passed_before")),
        passed_after=_opt_bool(row.get("passed_after")),
    )


def _from_metrics(suite: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> FixPoint:
    def acc(metrics: Mapping[str, Any]) -> float:
        return _number(metrics, "acc_new" if "acc_new" in metrics else "acc")

    return FixPoint(
        suite=suite,
        acc_before=acc(before),
        acc_after=acc(after),
        nfr_before=_number(before, "nfr"),
        nfr_after=_number(after, "nfr"),
        nf_before=_opt_int(before.get("nf")),
        nf_after=_opt_int(after.get("nf")),
        passed_before=_opt_bool(before.get("passed")),
        passed_after=_opt_bool(after.get("passed")),
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"expected an object per suite, got {type(value).__name__}")
    return value


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} missing or not a number")
    return float(value)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _opt_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None
