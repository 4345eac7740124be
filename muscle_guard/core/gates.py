"""Decide whether a suite's metrics stay within its gates (flip budgets, accuracy floor, significance)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from muscle_guard.core.config import Gates
from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.formatting import p_text, percent, points
from muscle_guard.core.json_types import strings

# Budgets compare whole flip counts with a float product (1% of 500 must allow exactly 5 flips although
# 0.01 is not exact in binary); the slack absorbs that rounding and nothing a flip count could change.
_SLACK = 1e-9


@dataclass(frozen=True)
class GateVerdict:
    """The outcome of a suite's gates.

    `flip_budget_exceeded` is true when the negative flips exceed the budget (and, when `alpha` is set, are
    also significant: McNemar p < alpha). `reasons` say why the suite failed, `notes` what was tolerated;
    `budget` describes the flip budget, e.g. for the xfail reason of a tolerated flip.
    """

    passed: bool
    flip_budget_exceeded: bool
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    budget: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "flip_budget_exceeded": self.flip_budget_exceeded,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "budget": self.budget,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateVerdict:
        """Inverse of to_json; raises KeyError/TypeError on malformed data."""
        passed, exceeded, budget = data["passed"], data["flip_budget_exceeded"], data.get("budget", "")
        if not isinstance(passed, bool) or not isinstance(exceeded, bool) or not isinstance(budget, str):
            raise TypeError("verdict: passed and flip_budget_exceeded must be true/false, budget a string")
        return cls(
            passed=passed,
            flip_budget_exceeded=exceeded,
            reasons=strings(data.get("reasons", ())),
            notes=strings(data.get("notes", ())),
            budget=budget,
        )


def uses_rate_budget(gates: Gates) -> bool:
    """Whether max_nfr applies: always, unless a count budget is set and max_nfr was left at its default 0.

    Without this, setting `max_negative_flips = 5` alone would be pointless: the default max_nfr = 0 would
    still fail on the first flip.
    """
    return gates.max_nfr > 0 or gates.max_negative_flips is None


def budget_text(gates: Gates) -> str:
    """The flip budget in words, e.g. "max_nfr 1.00%" or "max_negative_flips 5, alpha 0.05"."""
    parts = []
    if uses_rate_budget(gates):
        parts.append(f"max_nfr {percent(gates.max_nfr)}")
    if gates.max_negative_flips is not None:
        parts.append(f"max_negative_flips {gates.max_negative_flips}")
    if gates.alpha is not None:
        parts.append(f"alpha {gates.alpha:g}")
    return ", ".join(parts)


def evaluate_gates(metrics: SuiteMetrics, gates: Gates) -> GateVerdict:
    """Apply a suite's gates to its metrics.

    - flip budget: NFR > max_nfr (default 0: any negative flip fails) or #NF > max_negative_flips;
    - alpha: when set, an exceeded budget fails only if the flips are significant (McNemar p < alpha);
    - min_accuracy_delta: when set, fails when Δacc (a fraction; mean score change for continuous
      suites) is below it.
    """
    over: list[str] = []
    flips = f"({metrics.nf}/{metrics.n})"
    if uses_rate_budget(gates) and metrics.nf > gates.max_nfr * metrics.n + _SLACK:
        over.append(f"NFR {percent(metrics.nfr)} {flips} exceeds max_nfr {percent(gates.max_nfr)}")
    if gates.max_negative_flips is not None and metrics.nf > gates.max_negative_flips:
        over.append(f"{metrics.nf} negative flips exceed max_negative_flips {gates.max_negative_flips}")

    reasons: list[str] = []
    notes: list[str] = []
    exceeded = bool(over)
    if over and gates.alpha is not None:
        p_value = f"McNemar p={p_text(metrics.mcnemar_p)}"
        if metrics.mcnemar_p < gates.alpha:
            over.append(f"{p_value} < alpha {gates.alpha:g}")
        else:
            exceeded = False
            notes.extend(f"{line}, but not significantly ({p_value} >= alpha {gates.alpha:g})" for line in over)
    if exceeded:
        reasons.extend(over)

    if gates.min_accuracy_delta is not None and metrics.delta_acc < gates.min_accuracy_delta - _SLACK:
        what = "mean score change" if metrics.continuous else "accuracy change"
        reasons.append(
            f"{what} {points(metrics.delta_acc)} pts below min_accuracy_delta {points(gates.min_accuracy_delta)} pts"
        )
    return GateVerdict(
        passed=not reasons,
        flip_budget_exceeded=exceeded,
        reasons=tuple(reasons),
        notes=tuple(notes),
        budget=budget_text(gates),
    )
