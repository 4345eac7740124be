"""Compare two saved runs: which negative flips are new, fixed or persisting, and how every metric moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from muscle_guard.core.flips import InstanceOutcome, Outcome, SuiteMetrics
from muscle_guard.core.report import RunReport, SuiteReport
from muscle_guard.core.stats import paired_difference

MetricKind = Literal["count", "rate", "accuracy", "p"]

# (attribute, label, kind) in the order reports show them; NFR_mc and the ratios are None for continuous suites.
METRICS: tuple[tuple[str, str, MetricKind], ...] = (
    ("n", "N", "count"),
    ("acc_old", "acc old", "accuracy"),
    ("acc_new", "acc new", "accuracy"),
    ("delta_acc", "Δacc", "accuracy"),
    ("nf", "NF", "count"),
    ("nfr", "NFR", "rate"),
    ("pf", "PF", "count"),
    ("pfr", "PFR", "rate"),
    ("nfr_mc", "NFR_mc", "rate"),
    ("btc", "BTC", "rate"),
    ("bec", "BEC", "rate"),
    ("nfi", "NFI", "rate"),
    ("mcnemar_p", "McNemar p", "p"),
)


@dataclass(frozen=True)
class MetricChange:
    """One metric of one suite in run A and run B; `delta` is B − A (None when either side has no value)."""

    name: str
    label: str
    kind: MetricKind
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


@dataclass(frozen=True)
class SuiteDiff:
    """A suite present in both runs. Flip lists hold instance ids, sorted.

    `new_flips`: negative flips in B that A did not have (the instance was in A and not a flip there, or
    was not in A at all); `fixed_flips`: A's negative flips that B judges otherwise; `persisting_flips`:
    negative flips in both; `dropped_flips`: A's negative flips whose instance B no longer has.
    `outcomes_known` is False when a run saved only metrics for this suite: the flip lists are then empty.
    """

    name: str
    metrics: tuple[MetricChange, ...]
    passed_a: bool
    passed_b: bool
    new_flips: tuple[str, ...]
    fixed_flips: tuple[str, ...]
    persisting_flips: tuple[str, ...]
    dropped_flips: tuple[str, ...]
    outcomes_known: bool
    pair: str = ""  # the model pair that gated it in B (runs of named pairs)
    # The 95% interval of NFR_B − NFR_A, paired on the instances (known when both runs hold the same instances'
    # outcomes): an interval that holds 0 is a change not told apart from noise.
    nfr_change_ci: tuple[float, float] | None = None

    @property
    def label(self) -> str:
        """How reports name the suite: `PAIR/NAME` in runs of named pairs."""
        return f"{self.pair}/{self.name}" if self.pair else self.name


@dataclass(frozen=True)
class RunComparison:
    """Run A against run B, suite by suite (matched by suite name, in A's order, then B's new suites)."""

    a: RunReport
    b: RunReport
    suites: tuple[SuiteDiff, ...]
    only_in_a: tuple[str, ...]
    only_in_b: tuple[str, ...]

    @property
    def totals(self) -> dict[str, int]:
        """Flip counts summed over the suites both runs have."""
        return {
            "new": sum(len(s.new_flips) for s in self.suites),
            "fixed": sum(len(s.fixed_flips) for s in self.suites),
            "persisting": sum(len(s.persisting_flips) for s in self.suites),
            "dropped": sum(len(s.dropped_flips) for s in self.suites),
        }

    def outcome(self, side: Literal["a", "b"], suite: str, instance_id: str) -> InstanceOutcome | None:
        """The instance outcome in run A or B, for showing a flip's prompt and answers."""
        report = self.a if side == "a" else self.b
        for s in report.suites:
            if s.name == suite:
                return next((o for o in s.outcomes if o.id == instance_id), None)
        return None


def compare_runs(a: RunReport, b: RunReport) -> RunComparison:
    """Compare run A (before) with run B (after); pure: reads only the two reports."""
    by_name_b = {s.name: s for s in b.suites}
    names_a = {s.name for s in a.suites}
    diffs = tuple(_suite_diff(s, by_name_b[s.name]) for s in a.suites if s.name in by_name_b)
    return RunComparison(
        a=a,
        b=b,
        suites=diffs,
        only_in_a=tuple(s.name for s in a.suites if s.name not in by_name_b),
        only_in_b=tuple(s.name for s in b.suites if s.name not in names_a),
    )


def _suite_diff(a: SuiteReport, b: SuiteReport) -> SuiteDiff:
    known = _has_outcomes(a) and _has_outcomes(b)
    flips_a, flips_b = _negative_flips(a), _negative_flips(b)
    ids_b = {o.id for o in b.outcomes}
    if not known:
        flips_a = flips_b = set()
    return SuiteDiff(
        name=a.name,
        metrics=_metric_changes(a.metrics, b.metrics),
        passed_a=a.verdict.passed,
        passed_b=b.verdict.passed,
        new_flips=tuple(sorted(flips_b - flips_a)),
        fixed_flips=tuple(sorted(i for i in flips_a - flips_b if i in ids_b)),
        persisting_flips=tuple(sorted(flips_a & flips_b)),
        dropped_flips=tuple(sorted(i for i in flips_a - flips_b if i not in ids_b)),
        outcomes_known=known,
        pair=b.pair,
        nfr_change_ci=_paired_nfr_change(a, b, flips_a, flips_b) if known else None,
    )


def _paired_nfr_change(
    a: SuiteReport, b: SuiteReport, flips_a: set[str], flips_b: set[str]
) -> tuple[float, float] | None:
    """NFR_B − NFR_A's paired interval, when both runs judged the very same instances (else None: unpaired)."""
    ids = {o.id for o in a.outcomes}
    if not ids or ids != {o.id for o in b.outcomes}:
        return None
    both, only_a, only_b = len(flips_a & flips_b), len(flips_a - flips_b), len(flips_b - flips_a)
    ci = paired_difference(both, only_a, only_b, len(ids) - both - only_a - only_b)
    return (ci.low, ci.high)


def _has_outcomes(suite: SuiteReport) -> bool:
    # A report may keep metrics only; an empty suite (n = 0) still has all (none) of its outcomes.
    return bool(suite.outcomes) or suite.metrics.n == 0


def _negative_flips(suite: SuiteReport) -> set[str]:
    return {o.id for o in suite.outcomes if o.outcome is Outcome.NEGATIVE_FLIP}


def _metric_changes(a: SuiteMetrics, b: SuiteMetrics) -> tuple[MetricChange, ...]:
    return tuple(MetricChange(name, label, kind, _value(a, name), _value(b, name)) for name, label, kind in METRICS)


def _value(metrics: SuiteMetrics, name: str) -> float | None:
    value = getattr(metrics, name)
    return None if value is None else float(value)
