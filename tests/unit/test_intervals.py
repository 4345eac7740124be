"""The 95% intervals a report shows beside its rates: which interval each rate gets, and none for counts that
cannot be right (a hand-edited report) rather than a wrong one."""

from __future__ import annotations

import dataclasses

from muscle_guard.core.flips import InstanceOutcome, Outcome, compute_metrics
from muscle_guard.core.intervals import interval_text, suite_intervals
from muscle_guard.core.scoring import Judgement
from muscle_guard.core.stats import Interval, paired_difference, wilson


def outcome(i: int, kind: Outcome, delta: float | None = None) -> InstanceOutcome:
    return InstanceOutcome(f"q{i}", kind, Judgement("a", True, 1.0), Judgement("a", True, 1.0), delta=delta)


def binary(nf: int, pf: int, right: int, wrong: int) -> list[InstanceOutcome]:
    kinds = [Outcome.NEGATIVE_FLIP] * nf + [Outcome.POSITIVE_FLIP] * pf
    kinds += [Outcome.BOTH_RIGHT] * right + [Outcome.BOTH_WRONG_SAME] * wrong
    return [outcome(i, k) for i, k in enumerate(kinds)]


def test_rates_get_wilson_and_the_accuracy_change_a_paired_interval() -> None:
    metrics = compute_metrics(binary(nf=3, pf=5, right=30, wrong=12), continuous=False, epsilon=0.0)

    got = suite_intervals(metrics)

    assert got["nfr"] == wilson(3, 50)
    assert got["pfr"] == wilson(5, 50)
    assert got["acc_old"] == wilson(33, 50)
    assert got["acc_new"] == wilson(35, 50)
    assert got["delta_acc"] == paired_difference(30, 3, 5, 12)
    assert got["delta_acc"].contains(metrics.delta_acc)


def test_a_continuous_suite_bootstraps_the_mean_score_change_and_has_no_accuracy_intervals() -> None:
    deltas = [-0.4, -0.1, 0.0, 0.2, 0.3, 0.5, 0.1, 0.0]
    kinds = [Outcome.NEGATIVE_FLIP if d < 0 else Outcome.POSITIVE_FLIP if d > 0 else Outcome.UNCHANGED for d in deltas]
    outcomes = [outcome(i, k, d) for i, (k, d) in enumerate(zip(kinds, deltas, strict=True))]
    metrics = compute_metrics(outcomes, continuous=True, epsilon=0.0)

    got = suite_intervals(metrics, outcomes)

    assert set(got) == {"nfr", "pfr", "delta_acc"}
    assert got["delta_acc"].contains(sum(deltas) / len(deltas))
    assert suite_intervals(metrics, outcomes) == got  # seeded: the same report every time


def test_counts_that_do_not_add_up_give_no_interval() -> None:
    metrics = compute_metrics(binary(nf=2, pf=1, right=5, wrong=2), continuous=False, epsilon=0.0)

    assert suite_intervals(dataclasses.replace(metrics, n=7)) == {}
    assert suite_intervals(dataclasses.replace(metrics, nf=-1)) == {}


def test_interval_text_is_in_percent_points_and_signed_for_a_difference() -> None:
    assert interval_text(Interval(0.066, 0.1164)) == "6.6–11.6"
    assert interval_text(Interval(-0.02, 0.051), signed=True) == "-2.0, +5.1"
