"""Decide whether a suite's metrics stay within its gates (flip budgets, accuracy floor, significance)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from muscle_guard.core.config import Gates
from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.formatting import p_text, percent, points
from muscle_guard.core.json_types import strings
from muscle_guard.core.stats import CORRECTIONS, wilson

# Budgets compare whole flip counts with a float product (1% of 500 must allow exactly 5 flips although
# 0.01 is not exact in binary); the slack absorbs that rounding and nothing a flip count could change.
_SLACK = 1e-9
# A rate budget is decided when the 95% interval of NFR stays off it, or at least within half and twice of it:
# 3 flips in 40 (7.5%, interval 2.6–19.9%) cannot tell a 5% budget from 10%, 2 flips in 2,000 can tell 0.1%.
UNDECIDED_FACTOR = 2.0
CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg", "none": "no correction"}


@dataclass(frozen=True)
class Adjustment:
    """One suite's place in a family of McNemar tests (every gated (pair, suite) with `alpha` in a run): the method
    that adjusted the p-values, how many tests it corrected for, and this suite's adjusted p."""

    method: str
    tests: int
    p: float
    raw: float  # the suite's own McNemar p (after waivers), before the adjustment

    def describe(self) -> str:
        if self.method == "none":
            return f"uncorrected over {self.tests} tests"
        return f"{CORRECTION_NAMES.get(self.method, self.method)}-adjusted over {self.tests} tests"


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
    # Why the suite is too small to decide its rate budget ("" when it is not), and what the verdict then did.
    undecided: str = ""
    # With `alpha` in a run of several gated suites: the family-wise correction that decided the verdict.
    adjustment: Adjustment | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "passed": self.passed,
            "flip_budget_exceeded": self.flip_budget_exceeded,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "budget": self.budget,
            "undecided": self.undecided,
        }
        if self.adjustment is not None:
            a = self.adjustment
            out["adjustment"] = {"method": a.method, "tests": a.tests, "p": a.p, "raw": a.raw}
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GateVerdict:
        """Inverse of to_json; raises KeyError/TypeError on malformed data."""
        passed, exceeded, budget = data["passed"], data["flip_budget_exceeded"], data.get("budget", "")
        if not isinstance(passed, bool) or not isinstance(exceeded, bool) or not isinstance(budget, str):
            raise TypeError("verdict: passed and flip_budget_exceeded must be true/false, budget a string")
        undecided, adjusted = data.get("undecided", ""), data.get("adjustment")
        if not isinstance(undecided, str):
            raise TypeError("verdict: undecided must be a string")
        adjustment = None
        if adjusted is not None:
            if not isinstance(adjusted, Mapping):
                raise TypeError("verdict: adjustment must be an object")
            method, tests = adjusted.get("method"), adjusted.get("tests")
            p, raw = adjusted.get("p"), adjusted.get("raw")
            if not (
                isinstance(method, str) and isinstance(tests, int) and all(isinstance(v, int | float) for v in (p, raw))
            ):
                raise TypeError("verdict: adjustment needs method (a string), tests (a count), p and raw (numbers)")
            adjustment = Adjustment(method, tests, float(p), float(raw))  # type: ignore[arg-type]
        return cls(
            passed=passed,
            flip_budget_exceeded=exceeded,
            reasons=strings(data.get("reasons", ())),
            notes=strings(data.get("notes", ())),
            budget=budget,
            undecided=undecided,
            adjustment=adjustment,
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


def instances_to_decide(budget: float) -> int:
    """About how many instances decide a rate budget: the smallest n at which an NFR right at the budget has a 95%
    interval within half and twice of it (UNDECIDED_FACTOR). 0 for a budget of 0 (any flip decides it)."""
    if budget <= 0:
        return 0

    def decided(n: int) -> bool:
        ci = wilson(min(n, round(budget * n)), n)
        return ci.low >= budget / UNDECIDED_FACTOR and ci.high <= budget * UNDECIDED_FACTOR

    high = 1
    while not decided(high) and high < 10**9:
        high *= 2
    low = high // 2
    while high - low > 1:  # the first n that decides, near enough: round(b·n) makes `decided` step, not slide
        mid = (low + high) // 2
        low, high = (low, mid) if decided(mid) else (mid, high)
    return high


def undecided(metrics: SuiteMetrics, gates: Gates) -> str:
    """Why `metrics` cannot decide the suite's rate budget, or "": the 95% (Wilson) interval of NFR holds max_nfr and
    reaches below half or above twice of it. A budget of 0 (any flip fails) and count budgets are rules, not
    estimates: always decided."""
    budget = gates.max_nfr
    if not uses_rate_budget(gates) or budget <= 0 or metrics.n == 0 or not 0 <= metrics.nf <= metrics.n:
        return ""
    ci = wilson(metrics.nf, metrics.n)
    if not ci.contains(budget):
        return ""
    if ci.low >= budget / UNDECIDED_FACTOR and ci.high <= budget * UNDECIDED_FACTOR:
        return ""
    return (
        f"not enough data: NFR {percent(metrics.nfr)} ({metrics.nf}/{metrics.n}) has a 95% interval of "
        f"{percent(ci.low)}–{percent(ci.high)}, which holds max_nfr {percent(budget)} and reaches past half or twice "
        f"it (about {instances_to_decide(budget):,} instances decide an NFR right at the budget)"
    )


def adjust_family(pvalues: Mapping[str, float], method: str) -> dict[str, Adjustment]:
    """Each test's adjusted p under `method` (holm, bh or none) over the whole family of `pvalues`."""
    keys = list(pvalues)
    adjusted = CORRECTIONS[method]([pvalues[k] for k in keys])
    return {k: Adjustment(method, len(keys), p, pvalues[k]) for k, p in zip(keys, adjusted, strict=True)}


def evaluate_gates(metrics: SuiteMetrics, gates: Gates, adjustment: Adjustment | None = None) -> GateVerdict:
    """Apply a suite's gates to its metrics.

    - flip budget: NFR > max_nfr (default 0: any negative flip fails) or #NF > max_negative_flips;
    - alpha: when set, an exceeded budget fails only if the flips are significant: McNemar p < alpha, where p is
      the family-wise `adjustment`'s when the run gates several suites with alpha (core.evaluate.decide_family);
    - not enough data: a rate budget the suite is too small to decide (`undecided`) keeps the budget's verdict,
      marked (not_enough_data = "budget"), fails the suite ("fail") or lets its flips pass ("pass");
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
        p = metrics.mcnemar_p if adjustment is None else adjustment.p
        p_value = f"McNemar p={p_text(metrics.mcnemar_p)}"
        if adjustment is not None and adjustment.method != "none":
            p_value += f", {adjustment.describe()} p={p_text(adjustment.p)}"
        if p < gates.alpha:
            over.append(f"{p_value} < alpha {gates.alpha:g}")
        else:
            exceeded = False
            notes.extend(f"{line}, but not significantly ({p_value} >= alpha {gates.alpha:g})" for line in over)

    why = undecided(metrics, gates)
    if why and gates.not_enough_data == "pass" and exceeded:
        exceeded = False
        notes.extend(f'{line}, but tolerated: {why} (not_enough_data = "pass")' for line in over)
    elif why and gates.not_enough_data == "fail":
        reasons.append(f'{why} (not_enough_data = "fail")')
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
        undecided=why,
        adjustment=adjustment if gates.alpha is not None else None,
    )
