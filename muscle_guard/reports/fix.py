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

from muscle_guard.core.json_types import boolean, json_object, number, optional, whole


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
    # The paired 95% interval of NFR_c − NFR (fractions), when the fix recorded one
    delta_nfr_ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class Frontier:
    """`fix --aim budget`'s validation points (label, accuracy, NFR, whether it is a candidate), its aim and
    the candidate it shipped."""

    points: tuple[tuple[str, float, float, bool], ...]
    target_nfr: float
    chosen: str | None


def fix_frontier(fix: Mapping[str, Any] | None) -> Frontier | None:
    """The frontier of a fix section written with `--aim budget`; None without one. TypeError when malformed."""
    frontier = (fix or {}).get("frontier")
    if frontier is None:
        return None
    frontier = json_object(frontier)
    points = tuple(
        (str(p.get("label", "?")), number(p.get("acc"), "acc"), number(p.get("nfr"), "nfr"), "ensemble_weight" in p)
        for p in map(json_object, frontier.get("points") or [])
    )
    chosen = frontier.get("chosen")
    return Frontier(
        points,
        number(json_object(frontier.get("budget")).get("target_val_nfr"), "target_val_nfr"),
        chosen if isinstance(chosen, str) else None,
    )


def fix_error(fix: Mapping[str, Any] | None) -> str | None:
    """Why the before/after check of a fix failed (its adapter was written all the same); None if it ran."""
    error = (fix or {}).get("error")
    return None if error is None else str(error)


def fix_points(fix: Mapping[str, Any] | None) -> tuple[FixPoint, ...]:
    """The points of a fix section; () when there is none. TypeError or ValueError names what is missing otherwise."""
    if not fix:
        return ()
    if isinstance(fix.get("suites"), list):
        return tuple(_from_comparison(row) for row in fix["suites"])
    before, after = fix.get("before"), fix.get("after")
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        return tuple(
            _from_metrics(str(name), json_object(before[name]), json_object(after[name]))
            for name in before
            if name in after
        )
    raise ValueError('expected "suites" (a list) or "before"/"after" (objects of metrics per suite)')


def _from_comparison(row: Any) -> FixPoint:
    row = json_object(row)
    return FixPoint(
        suite=str(row.get("suite", "?")),
        acc_before=number(row.get("acc_new"), "acc_new"),
        acc_after=number(row.get("acc_fixed"), "acc_fixed"),
        nfr_before=number(row.get("nfr"), "nfr"),
        nfr_after=number(row.get("nfr_c"), "nfr_c"),
        nf_before=optional(whole, row.get("nf")),
        nf_after=optional(whole, row.get("nf_c")),
        passed_before=optional(boolean, row.get("passed_before")),
        passed_after=optional(boolean, row.get("passed_after")),
        delta_nfr_ci=_pair(row.get("delta_nfr_c_ci")),
    )


def _pair(value: Any) -> tuple[float, float] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise TypeError(f"delta_nfr_c_ci: expected [low, high], got {value!r}")
    return number(value[0], "delta_nfr_c_ci"), number(value[1], "delta_nfr_c_ci")


def _from_metrics(suite: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> FixPoint:
    def acc(metrics: Mapping[str, Any]) -> float:
        key = "acc_new" if "acc_new" in metrics else "acc"
        return number(metrics.get(key), key)

    return FixPoint(
        suite=suite,
        acc_before=acc(before),
        acc_after=acc(after),
        nfr_before=number(before.get("nfr"), "nfr"),
        nfr_after=number(after.get("nfr"), "nfr"),
        nf_before=optional(whole, before.get("nf")),
        nf_after=optional(whole, after.get("nf")),
        passed_before=optional(boolean, before.get("passed")),
        passed_after=optional(boolean, after.get("passed")),
    )
