"""The gate's statistics: a rate budget a suite is too small to decide, and McNemar tests corrected as a family
of many (pair, suite) tests, so that noise alone fails a run no more often than alpha."""

from __future__ import annotations

import functools
import random
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.config import Gates, SuiteSettings
from muscle_guard.core.evaluate import SuiteEvaluation, decide_family, evaluate_suite
from muscle_guard.core.gates import (
    Adjustment,
    GateVerdict,
    adjust_family,
    evaluate_gates,
    instances_to_decide,
    undecided,
)
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.stats import wilson
from muscle_guard.core.suite import Instance, Shape, Suite
from tests.unit.test_gates import metrics

# --- not enough data ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "nf", "budget", "decided"),
    [
        (40, 3, 0.05, False),  # 7.5%, interval 2.6–19.9%: the coin
        (40, 0, 0.05, False),  # 0–8.8%: 40 instances cannot show a rate under 5% either
        (400, 30, 0.05, True),  # 7.5%, interval 5.3–10.5%: over the budget, decided
        (2000, 100, 0.05, True),  # right at the budget, 4.1–6.0%: within half and twice of it
        (40, 3, 0.0, True),  # max_nfr 0 is a rule (no flip at all), not an estimate
        (0, 0, 0.05, True),  # an empty suite has nothing to decide
    ],
)
def test_a_rate_budget_is_undecided_when_its_interval_reaches_past_half_or_twice_it(
    n: int, nf: int, budget: float, decided: bool
) -> None:
    assert (undecided(metrics(n, nf), Gates(max_nfr=budget)) == "") is decided


def test_a_count_budget_is_always_decided() -> None:
    assert undecided(metrics(40, 3), Gates(max_negative_flips=2)) == ""


@pytest.mark.parametrize("budget", [0.005, 0.01, 0.02, 0.05, 0.1, 0.2])
def test_instances_to_decide_is_where_an_nfr_at_the_budget_becomes_decided(budget: float) -> None:
    n = instances_to_decide(budget)
    ci = wilson(round(budget * n), n)
    assert budget / 2 <= ci.low
    assert ci.high <= 2 * budget
    assert n < instances_to_decide(budget / 2)  # a tighter budget needs more instances
    assert 7 / budget < n < 10 / budget  # about 8.5/b: the rule of thumb docs/statistics.md gives


def test_instances_to_decide_a_budget_of_zero_is_zero() -> None:
    assert instances_to_decide(0.0) == 0


@pytest.mark.parametrize(
    ("policy", "nf", "passed", "exceeded"),
    [
        ("budget", 3, False, True),  # the budget decides, the verdict is marked
        ("budget", 1, True, False),
        ("fail", 1, False, False),  # 1/40 under budget, but undecidable: fails
        ("pass", 3, True, False),  # over budget, but undecidable: its flips are tolerated
    ],
)
def test_not_enough_data_decides_what_an_undecidable_suite_does(
    policy: str, nf: int, passed: bool, exceeded: bool
) -> None:
    verdict = evaluate_gates(metrics(40, nf), Gates(max_nfr=0.05, not_enough_data=policy))

    assert (verdict.passed, verdict.flip_budget_exceeded) == (passed, exceeded)
    assert verdict.undecided.startswith(f"not enough data: NFR {nf * 2.5:.2f}% ({nf}/40) has a 95% interval of ")
    said = verdict.reasons if policy == "fail" else verdict.notes if policy == "pass" else ()
    assert all(f'(not_enough_data = "{policy}")' in line for line in said)


def test_a_verdict_keeps_its_statistics_through_json_and_reads_older_reports() -> None:
    verdict = evaluate_gates(metrics(40, 3, pf=1), Gates(max_nfr=0.05, alpha=0.05), Adjustment("holm", 20, 1.0, 0.3))

    assert GateVerdict.from_json(verdict.to_json()) == verdict
    older = {"passed": True, "flip_budget_exceeded": False, "reasons": [], "notes": [], "budget": "max_nfr 0.00%"}
    assert GateVerdict.from_json(older) == GateVerdict(True, False, budget="max_nfr 0.00%")


# --- a family of tests --------------------------------------------------------------------------------------------


def test_the_adjusted_p_decides_and_both_are_said() -> None:
    m = metrics(100, 8, pf=1)  # McNemar p = 10/512
    adjustment = adjust_family({"s00": m.mcnemar_p, **{f"s{k}": 0.75 for k in range(1, 20)}}, "holm")["s00"]

    verdict = evaluate_gates(m, Gates(alpha=0.05), adjustment)

    assert verdict.passed
    assert verdict.notes == (
        "NFR 8.00% (8/100) exceeds max_nfr 0.00%, but not significantly "
        "(McNemar p=0.0195, Holm-adjusted over 20 tests p=0.391 >= alpha 0.05)",
    )
    assert evaluate_gates(m, Gates(alpha=0.05)).passed is False  # alone, the same suite fails


def noise_suite(
    name: str, rng: random.Random, n: int = 60, accuracy: float = 0.7
) -> tuple[Suite, dict[str, Any], dict[str, Any]]:
    """A suite where the old and the new model are equally good and independently wrong: every flip is noise."""
    instances = tuple(Instance(id=f"{name}-{i}", shape=Shape.CLASSIFY, text=f"t{i}", label=0) for i in range(n))

    def side() -> dict[str, Prediction]:
        out = {}
        for instance in instances:
            right = rng.random() < accuracy
            out[instance.id] = Prediction(instance.id, probs=(0.9, 0.1) if right else (0.1, 0.9))
        return out

    return (
        Suite(name=name, path=Path(f"suites/{name}.jsonl"), shape=Shape.CLASSIFY, instances=instances),
        side(),
        side(),
    )


@functools.cache
def noise_run(seed: int, suites: int = 20, alpha: float = 0.05) -> tuple[SuiteEvaluation, ...]:
    """The evaluations of a run of `suites` noise-only suites, each gated with max_nfr 0 and alpha."""
    rng = random.Random(seed)
    settings = SuiteSettings(gates=Gates(alpha=alpha))
    evaluations = []
    for k in range(suites):
        suite, old, new = noise_suite(f"s{k}", rng)
        evaluations.append(evaluate_suite(suite, settings, old, new))
    return tuple(evaluations)


def run_fails(seed: int, correction: str) -> bool:
    """Whether that run fails any suite once its McNemar tests are decided as one family under `correction`."""
    return not all(e.verdict.passed for e in decide_family(noise_run(seed), correction))


SEEDS = range(300)


@pytest.mark.parametrize("correction", ["holm", "bh"])
def test_twenty_suites_of_noise_fail_a_run_no_more_often_than_alpha(correction: str) -> None:
    failures = sum(run_fails(seed, correction) for seed in SEEDS)
    # alpha = 0.05 of 300 runs is 15; 25 is 2.6 standard deviations above it (5 fail here). Holm guarantees at
    # most alpha (McNemar's exact test is conservative, so fewer); under independent noise BH controls the same.
    assert failures <= 25, f"{failures} of {len(SEEDS)} noise-only runs failed"


def test_without_correction_noise_fails_most_runs() -> None:
    failures = sum(run_fails(seed, "none") for seed in SEEDS)
    assert failures > 0.25 * len(SEEDS)  # 128 of 300 here: each suite's exact test is at ~0.03, not 0.05
