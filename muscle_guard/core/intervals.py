"""The 95% intervals every view of a suite shows beside its rates (core.stats does the arithmetic):
NFR, PFR and both accuracies (Wilson), Δacc paired between the old and the new model on the same instances
(Newcombe), and, for continuous suites, the mean score change D by a seeded bootstrap over the instances."""

from __future__ import annotations

from collections.abc import Sequence

from muscle_guard.core.flips import InstanceOutcome, SuiteMetrics
from muscle_guard.core.stats import Interval, bootstrap_mean, paired_difference, wilson


def suite_intervals(metrics: SuiteMetrics, outcomes: Sequence[InstanceOutcome] = ()) -> dict[str, Interval]:
    """Name → interval: nfr, pfr, acc_old, acc_new, delta_acc (continuous: from `outcomes`' D, when given)."""
    m = metrics
    wrong = m.both_wrong_same + m.both_wrong_different
    cells = (m.both_right, m.nf, m.pf, wrong)
    if min(cells) < 0 or (not m.continuous and sum(cells) != m.n) or max(m.nf, m.pf) > m.n:
        return {}  # counts that do not add up (a hand-edited report): no interval rather than a wrong one
    out = {"nfr": wilson(m.nf, m.n), "pfr": wilson(m.pf, m.n)}
    if not m.continuous:
        out["acc_old"] = wilson(m.both_right + m.nf, m.n)
        out["acc_new"] = wilson(m.both_right + m.pf, m.n)
        out["delta_acc"] = paired_difference(*cells)
    elif outcomes:
        out["delta_acc"] = bootstrap_mean([o.delta or 0.0 for o in outcomes])
    return out


def interval_text(interval: Interval, signed: bool = False, digits: int = 1) -> str:
    """ "6.6–11.6" in percent points; signed ("-2.0, +5.1") for a difference."""
    low, high = interval.low * 100, interval.high * 100
    if signed:
        return f"{low:+.{digits}f}, {high:+.{digits}f}"
    return f"{low:.{digits}f}–{high:.{digits}f}"
