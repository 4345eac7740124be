"""Gate verdicts: which budgets fail a suite, and the one-line reasons a user reads in CI."""

from __future__ import annotations

import pytest

from muscle_guard.core.config import Gates
from muscle_guard.core.flips import SuiteMetrics, compare, compute_metrics
from muscle_guard.core.formatting import counted, opt_percent, p_text, percent, points, quoted
from muscle_guard.core.gates import GateVerdict, budget_text, evaluate_gates
from muscle_guard.core.scoring import Judgement
from muscle_guard.core.suite import Instance, Shape

RIGHT = Judgement(answer="yes", correct=True, score=1.0, choice=0)
WRONG = Judgement(answer="no", correct=False, score=0.0, choice=1)


def metrics(n: int, nf: int, pf: int = 0) -> SuiteMetrics:
    """A binary suite of n instances: nf negative flips, pf positive flips, the rest right twice."""
    pairs = [(RIGHT, WRONG)] * nf + [(WRONG, RIGHT)] * pf + [(RIGHT, RIGHT)] * (n - nf - pf)
    outcomes = [
        compare(Instance(id=f"i{k}", shape=Shape.CLASSIFY, text="t", label=0), old, new, continuous=False, epsilon=0.0)
        for k, (old, new) in enumerate(pairs)
    ]
    return compute_metrics(outcomes, continuous=False, epsilon=0.0)


CASES: list[tuple[str, Gates, SuiteMetrics, bool, bool, tuple[str, ...]]] = [
    # name, gates, metrics, passed, flip_budget_exceeded, reasons
    ("no flips pass the default gate", Gates(), metrics(10, 0, pf=3), True, False, ()),
    ("default max_nfr 0: one flip fails", Gates(), metrics(500, 1), False, True,
     ("NFR 0.20% (1/500) exceeds max_nfr 0.00%",)),
    ("over the rate budget", Gates(max_nfr=0.01), metrics(500, 16), False, True,
     ("NFR 3.20% (16/500) exceeds max_nfr 1.00%",)),
    ("exactly at the rate budget", Gates(max_nfr=0.01), metrics(500, 5), True, False, ()),
    ("one flip over the rate budget", Gates(max_nfr=0.01), metrics(500, 6), False, True,
     ("NFR 1.20% (6/500) exceeds max_nfr 1.00%",)),
    ("count budget alone replaces the default max_nfr 0", Gates(max_negative_flips=5), metrics(500, 5),
     True, False, ()),
    ("over the count budget", Gates(max_negative_flips=5), metrics(500, 6), False, True,
     ("6 negative flips exceed max_negative_flips 5",)),
    ("both budgets apply when max_nfr is set", Gates(max_nfr=0.01, max_negative_flips=3), metrics(500, 4),
     False, True, ("4 negative flips exceed max_negative_flips 3",)),
    ("significant flips over budget fail", Gates(alpha=0.05), metrics(100, 5), False, True,
     ("NFR 5.00% (5/100) exceeds max_nfr 0.00%", "McNemar p=0.0312 < alpha 0.05")),
    ("flips over budget but not significant pass", Gates(alpha=0.05), metrics(100, 3, pf=1), True, False, ()),
    ("accuracy drop below the floor", Gates(max_negative_flips=100, min_accuracy_delta=-0.01),
     metrics(1000, 21), False, False, ("accuracy change -2.1 pts below min_accuracy_delta -1.0 pts",)),
    ("accuracy drop exactly at the floor", Gates(max_negative_flips=100, min_accuracy_delta=-0.01),
     metrics(1000, 10), True, False, ()),
    ("flips and accuracy both fail", Gates(min_accuracy_delta=0.0), metrics(100, 2, pf=1), False, True,
     ("NFR 2.00% (2/100) exceeds max_nfr 0.00%", "accuracy change -1.0 pts below min_accuracy_delta +0.0 pts")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("gates", "suite_metrics", "passed", "exceeded", "reasons"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_evaluate_gates(
    gates: Gates, suite_metrics: SuiteMetrics, passed: bool, exceeded: bool, reasons: tuple[str, ...]
) -> None:
    verdict = evaluate_gates(suite_metrics, gates)
    assert (verdict.passed, verdict.flip_budget_exceeded, verdict.reasons) == (passed, exceeded, reasons)
    assert verdict.budget == budget_text(gates)


def test_a_tolerated_insignificant_excess_is_noted() -> None:
    verdict = evaluate_gates(metrics(100, 3, pf=1), Gates(alpha=0.05))  # p = 5/16
    assert verdict.notes == (
        "NFR 3.00% (3/100) exceeds max_nfr 0.00%, but not significantly (McNemar p=0.312 >= alpha 0.05)",
    )


def test_alpha_within_budget_says_nothing() -> None:
    verdict = evaluate_gates(metrics(100, 1), Gates(max_nfr=0.05, alpha=0.05))
    assert (verdict.passed, verdict.reasons, verdict.notes) == (True, (), ())


def test_continuous_suites_speak_of_mean_score() -> None:
    base = metrics(100, 0)
    drop = SuiteMetrics(**{**base.to_json(), "continuous": True, "delta_acc": -0.05, "epsilon": 0.0})
    verdict = evaluate_gates(drop, Gates(min_accuracy_delta=0.0))
    assert verdict.reasons == ("mean score change -5.0 pts below min_accuracy_delta +0.0 pts",)


@pytest.mark.parametrize(
    ("gates", "text"),
    [
        (Gates(), "max_nfr 0.00%"),
        (Gates(max_nfr=0.01), "max_nfr 1.00%"),
        (Gates(max_negative_flips=5), "max_negative_flips 5"),
        (Gates(max_nfr=0.02, max_negative_flips=5, alpha=0.05), "max_nfr 2.00%, max_negative_flips 5, alpha 0.05"),
    ],
)
def test_budget_text(gates: Gates, text: str) -> None:
    assert budget_text(gates) == text


@pytest.mark.parametrize(
    ("fraction", "text"),
    [(0.0, "0.00%"), (0.032, "3.20%"), (1.0, "100.00%"), (1 / 3, "33.33%"), (1e-5, "0.001%"), (2e-6, "0.0002%")],
)
def test_percent(fraction: float, text: str) -> None:
    assert percent(fraction) == text


@pytest.mark.parametrize(("fraction", "text"), [(-0.021, "-2.1"), (0.005, "+0.5"), (0.0, "+0.0"), (0.1, "+10.0")])
def test_points(fraction: float, text: str) -> None:
    assert points(fraction) == text


@pytest.mark.parametrize(
    ("p", "text"), [(1.0, "1"), (5 / 16, "0.312"), (1 / 32, "0.0312"), (0.0025, "0.0025"), (1.2e-7, "1.2e-07")]
)
def test_p_text(p: float, text: str) -> None:
    assert p_text(p) == text


@pytest.mark.parametrize(
    ("n", "text"), [(0, "0 candidates"), (1, "1 candidate"), (2, "2 candidates"), (1200, "1,200 candidates")]
)
def test_counted_puts_the_noun_in_the_number_of_the_count(n: int, text: str) -> None:
    assert counted(n, "candidate") == text


@pytest.mark.parametrize(("fraction", "text"), [(None, "-"), (0.0, "0.00%"), (0.75, "75.00%")])
def test_opt_percent_shows_an_undefined_ratio_as_a_dash(fraction: float | None, text: str) -> None:
    assert opt_percent(fraction) == text


@pytest.mark.parametrize(
    ("text", "limit", "shown"),
    [
        ("new\nline", None, r"'new\nline'"),
        ("new line", None, "'new line'"),
        ("tab\there", None, r"'tab\there'"),
        ("no\u00a0break", None, r"'no\xa0break'"),
        ("zero\u200bwidth", None, r"'zero\u200bwidth'"),
        ("it's", None, '"it\'s"'),
        ("abcdef", 6, "'abcdef'"),
        ("ab\n  cdefgh\t", 6, r"'ab\n' ... 6 characters left out ... 'gh\t'"),
        ("x" * 10_005, 4, "'xx' ... 10,001 characters left out ... 'xx'"),
    ],
    ids=["newline", "space", "tab", "nbsp", "zero-width", "quote", "at the limit", "cut", "long"],
)
def test_quoted_keeps_every_character_visible(text: str, limit: int | None, shown: str) -> None:
    assert quoted(text, limit) == shown


@pytest.mark.parametrize("alpha", [0.5, 0.05])  # p = 5/16: a failure with reasons, a pass with notes
def test_verdict_json_round_trip(alpha: float) -> None:
    verdict = evaluate_gates(metrics(100, 3, pf=1), Gates(max_negative_flips=1, alpha=alpha))
    assert GateVerdict.from_json(verdict.to_json()) == verdict


def test_verdict_from_json_rejects_a_non_boolean_verdict() -> None:
    with pytest.raises(TypeError, match="true/false"):
        GateVerdict.from_json({"passed": "yes", "flip_budget_exceeded": False})
