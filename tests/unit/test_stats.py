"""core.stats against references: Wilson intervals and Benjamini–Hochberg from scipy 1.17.1 (computed once and
written here), Holm by hand, the paired interval and the bootstrap by their definitions and their coverage."""

from __future__ import annotations

import random

import pytest

from muscle_guard.core.stats import Interval, benjamini_hochberg, bootstrap_mean, holm, paired_difference, wilson

# scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson"), scipy 1.17.1
WILSON = [
    ((0, 10), (0.0, 0.27753279986288926)),
    ((10, 10), (0.7224672001371109, 1.0)),
    ((3, 40), (0.025836025774588198, 0.19864233524310543)),
    ((44, 500), (0.06620598447492893, 0.11607647206539012)),
    ((1, 1), (0.20654931437723745, 1.0)),
    ((81, 263), (0.2552885198782742, 0.36620957698280004)),
    ((1234, 50000), (0.023356170624668954, 0.026076860652664253)),
]


@pytest.mark.parametrize(("counts", "expected"), WILSON)
def test_wilson_matches_scipy(counts: tuple[int, int], expected: tuple[float, float]) -> None:
    got = wilson(*counts)
    assert (got.low, got.high) == pytest.approx(expected, abs=1e-12)


def test_wilson_with_no_instances_knows_nothing_and_refuses_impossible_counts() -> None:
    assert wilson(0, 0) == Interval(0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(3, 2)


def test_holm_by_hand() -> None:
    # sorted 0.005, 0.01, 0.03, 0.04 → ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 → monotone: 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5]) == [0.5]
    assert holm([]) == []
    assert holm([0.6, 0.9]) == [1.0, 1.0]  # capped at 1


@pytest.mark.parametrize(
    ("pvalues", "expected"),
    [  # scipy.stats.false_discovery_control(pvalues), scipy 1.17.1
        ([0.01, 0.04, 0.03, 0.005], [0.02, 0.04, 0.04, 0.02]),
        ([0.2, 0.001, 0.7, 0.04, 0.04], [0.25, 0.005, 0.7, 0.06666666666666667, 0.06666666666666667]),
    ],
)
def test_benjamini_hochberg_matches_scipy(pvalues: list[float], expected: list[float]) -> None:
    assert benjamini_hochberg(pvalues) == pytest.approx(expected)


def test_the_paired_interval_holds_its_estimate_and_is_symmetric_when_the_flips_balance() -> None:
    both, only_old, only_new, neither = 300, 40, 70, 90  # the demo's shape: 40 negative, 70 positive flips
    got = paired_difference(both, only_old, only_new, neither)
    assert got.contains((only_new - only_old) / 500)
    assert -1 <= got.low < 0.06 < got.high <= 1
    balanced = paired_difference(50, 10, 10, 30)
    assert balanced.low == pytest.approx(-balanced.high)
    assert paired_difference(0, 0, 0, 0) == Interval(-1.0, 1.0)
    agree = paired_difference(10, 0, 0, 0)  # no discordant pair in 10: the difference is 0, known to within ±28%
    assert agree.low == pytest.approx(-agree.high)
    assert agree.high == pytest.approx(1 - wilson(10, 10).low)


def test_the_paired_interval_covers_the_truth_95_percent_of_the_time() -> None:
    # Coverage over simulated paired outcomes (n = 60, correlated as two models on the same items are).
    rng = random.Random(0)
    truth = 0.72 - 0.68
    hits, trials = 0, 1500
    for _ in range(trials):
        cells = [0, 0, 0, 0]
        for _ in range(60):
            first = rng.random() < 0.68
            second = rng.random() < (0.9 if first else 0.2875)  # P(second) = 0.68·0.9 + 0.32·0.2875 = 0.704 + ...
            cells[(0 if first else 2) + (0 if second else 1)] += 1
        a, b, c, d = cells[0], cells[1], cells[2], cells[3]
        hits += paired_difference(a, b, c, d).contains(0.68 * 0.9 + 0.32 * 0.2875 - 0.68)
    assert truth > 0
    assert 0.93 <= hits / trials <= 0.975


def test_the_bootstrap_is_seeded_and_brackets_the_mean() -> None:
    values = [0.1, -0.3, 0.0, 0.25, -0.05, 0.4, -0.2, 0.0, 0.15, -0.1]
    a, b = bootstrap_mean(values), bootstrap_mean(values)
    assert a == b  # the same report every time
    assert a.contains(sum(values) / len(values))
    assert bootstrap_mean([]) == Interval(0.0, 0.0)
    assert bootstrap_mean([0.2] * 5) == Interval(0.2, 0.2)
