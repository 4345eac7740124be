"""Instance outcomes and the MUSCLE metrics of docs/metrics.md, checked against hand-computed tables.

Binary suites are written as one word per instance: the old model's answer, then the new one's.
"R" is the right answer, any other letter a wrong answer: "Ra" = negative flip, "aR" = positive flip,
"aa" = the same mistake twice, "ab" = two different mistakes.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.evaluate import compare_predictions
from muscle_guard.core.flips import (
    InstanceOutcome,
    Outcome,
    SuiteMetrics,
    classify_binary,
    compare,
    compute_metrics,
    mcnemar_exact,
    metrics_by_tag,
)
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.scoring import Judgement, normalise_final_number
from muscle_guard.core.suite import Instance, Shape


def judgement(code: str) -> Judgement:
    """'R' is right (choice 0); another letter is that wrong answer (its own choice index)."""
    if code == "R":
        return Judgement(answer="R", correct=True, score=1.0, choice=0)
    return Judgement(answer=code, correct=False, score=0.0, choice=ord(code) - ord("a") + 1)


def wrong(answer: str, choice: int | None = None) -> Judgement:
    return Judgement(answer=answer, correct=False, score=0.0, choice=choice)


def instance(id_: str = "q1", tags: tuple[str, ...] = ()) -> Instance:
    return Instance(id=id_, shape=Shape.GENERATE_EXACT, prompt=f"prompt of {id_}", answer="R", tags=tags)


def binary(spec: str, tags: tuple[str, ...] = ()) -> list[InstanceOutcome]:
    return [
        compare(instance(f"i{k}", tags), judgement(word[0]), judgement(word[1]), continuous=False, epsilon=0.0)
        for k, word in enumerate(spec.split())
    ]


def scored(score: float) -> Judgement:
    return Judgement(answer=f"text scoring {score}", correct=score >= 1.0, score=score)


def continuous(pairs: list[tuple[float, float]], epsilon: float) -> list[InstanceOutcome]:
    return [
        compare(instance(f"i{k}"), scored(old), scored(new), continuous=True, epsilon=epsilon)
        for k, (old, new) in enumerate(pairs)
    ]


# --- outcomes of one instance ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("R", "R", Outcome.BOTH_RIGHT),
        ("R", "a", Outcome.NEGATIVE_FLIP),
        ("a", "R", Outcome.POSITIVE_FLIP),
        ("a", "a", Outcome.BOTH_WRONG_SAME),
        ("a", "b", Outcome.BOTH_WRONG_DIFFERENT),
    ],
)
def test_binary_quadrants(old: str, new: str, expected: Outcome) -> None:
    outcome = compare(instance(), judgement(old), judgement(new), continuous=False, epsilon=0.0)
    assert outcome.outcome is expected
    assert outcome.delta is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # With choice indices, the index decides: the display text may differ in whitespace or case.
        (wrong("Paris", choice=2), wrong(" paris", choice=2), Outcome.BOTH_WRONG_SAME),
        (wrong("Paris", choice=2), wrong("Paris", choice=3), Outcome.BOTH_WRONG_DIFFERENT),
        # Free text compares after normalisation (default: case, whitespace and trailing punctuation).
        (wrong(" 42\n"), wrong("42."), Outcome.BOTH_WRONG_SAME),
        (wrong("Rome"), wrong("ROME"), Outcome.BOTH_WRONG_SAME),
        (wrong("42"), wrong("43"), Outcome.BOTH_WRONG_DIFFERENT),
    ],
)
def test_same_or_different_mistake(old: Judgement, new: Judgement, expected: Outcome) -> None:
    assert classify_binary(old, new) is expected


def test_the_suite_normaliser_decides_whether_two_mistakes_are_the_same() -> None:
    old, new = wrong("The answer is 42"), wrong("42")
    assert classify_binary(old, new) is Outcome.BOTH_WRONG_DIFFERENT
    assert classify_binary(old, new, normalise_final_number) is Outcome.BOTH_WRONG_SAME


@pytest.mark.parametrize(
    ("old", "new", "epsilon", "expected", "delta"),
    [
        (0.5, 0.25, 0.0, Outcome.NEGATIVE_FLIP, -0.25),
        (0.5, 0.5 - 1e-6, 0.0, Outcome.NEGATIVE_FLIP, -1e-6),  # ε = 0: any drop counts, as in the paper
        (0.5, 0.5, 0.0, Outcome.UNCHANGED, 0.0),
        (0.25, 0.5, 0.0, Outcome.POSITIVE_FLIP, 0.25),
        (0.75, 0.5, 0.25, Outcome.UNCHANGED, -0.25),  # D exactly −ε is not a flip
        (0.5, 0.75, 0.25, Outcome.UNCHANGED, 0.25),  # D exactly +ε is not a flip
        (0.4, 0.1, 0.3, Outcome.UNCHANGED, -0.3),  # 0.1 − 0.4 rounds to −0.30000000000000004: still −ε
        (1.0, 0.5, 0.25, Outcome.NEGATIVE_FLIP, -0.5),
        (0.0, 1.0, 0.25, Outcome.POSITIVE_FLIP, 1.0),
    ],
)
def test_continuous_outcome_is_decided_by_d_and_epsilon(
    old: float, new: float, epsilon: float, expected: Outcome, delta: float
) -> None:
    outcome = compare(instance(), scored(old), scored(new), continuous=True, epsilon=epsilon)
    assert outcome.outcome is expected
    assert outcome.delta == pytest.approx(delta, abs=1e-15)


def test_negative_epsilon_is_rejected() -> None:
    with pytest.raises(ValueError, match="epsilon"):
        compare(instance(), scored(0.5), scored(0.5), continuous=True, epsilon=-0.1)


def test_compare_keeps_what_a_report_shows() -> None:
    item = Instance(id="q7", shape=Shape.MULTIPLE_CHOICE, prompt="2+2=", choices=("4", "5"), answer=0, tags=("math",))
    old_ev, new_ev = Prediction("q7", logliks=(-0.1, -2.0)), Prediction("q7", logliks=(-3.0, -0.2))
    outcome = compare(
        item,
        Judgement("4", True, 1.0, choice=0, margin=1.9),
        Judgement("5", False, 0.0, choice=1, margin=2.8),
        continuous=False,
        epsilon=0.0,
        old_evidence=old_ev,
        new_evidence=new_ev,
    )
    assert (outcome.id, outcome.outcome, outcome.tags) == ("q7", Outcome.NEGATIVE_FLIP, ("math",))
    assert (outcome.prompt, outcome.reference, outcome.choices) == ("2+2=", "4", ("4", "5"))
    assert (outcome.old_evidence, outcome.new_evidence) == (old_ev, new_ev)


def test_compare_predictions_renders_the_prompt_and_names_the_label() -> None:
    item = Instance(id="c1", shape=Shape.CLASSIFY, text="great movie", label=1)
    settings = SuiteSettings(prompt_template="Review: {prompt}", labels=("negative", "positive"))
    old, new = Prediction("c1", probs=(0.2, 0.8)), Prediction("c1", probs=(0.7, 0.3))
    outcome = compare_predictions(item, settings, old, new)
    assert outcome.prompt == "Review: great movie"
    assert outcome.reference == "positive"
    assert outcome.outcome is Outcome.NEGATIVE_FLIP
    assert (outcome.old_evidence, outcome.new_evidence) == (old, new)


def test_compare_predictions_uses_the_suite_normaliser_for_mistakes() -> None:
    item = Instance(id="g1", shape=Shape.GENERATE_EXACT, prompt="6*7?", answer="42")
    settings = SuiteSettings(normaliser="final_number")
    outcome = compare_predictions(item, settings, Prediction("g1", text="So: 41"), Prediction("g1", text="41.0"))
    assert outcome.outcome is Outcome.BOTH_WRONG_SAME


def test_compare_predictions_uses_epsilon_for_continuous_suites() -> None:
    item = Instance(id="s1", shape=Shape.GENERATE_SCORE, prompt="Summarise: ...", reference="a summary")
    old, new = Prediction("s1", text="a summary"), Prediction("s1", text="a summary, longer")
    outcome = compare_predictions(item, SuiteSettings(epsilon=0.5), old, new)
    assert outcome.outcome is Outcome.UNCHANGED
    assert outcome.delta is not None
    assert -0.5 <= outcome.delta < 0
    assert outcome.reference == "a summary"


# --- McNemar exact --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c", "p"),
    [
        (0, 0, 1.0),  # no discordant pairs
        (0, 7, 1.0),  # only positive flips
        (1, 0, 1 / 2),
        (1, 1, 3 / 4),  # (C(2,1) + C(2,2)) / 4
        (2, 2, 11 / 16),  # (6 + 4 + 1) / 16
        (3, 1, 5 / 16),  # (4 + 1) / 16
        (4, 1, 3 / 16),  # (5 + 1) / 32
        (5, 0, 1 / 32),
        (6, 2, 37 / 256),  # (28 + 8 + 1) / 256
        (10, 0, 1 / 1024),
    ],
)
def test_mcnemar_exact_one_sided(b: int, c: int, p: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


@pytest.mark.parametrize(("b", "c"), [(1, 0), (7, 3), (3, 7), (50, 50), (51, 49), (120, 880), (900, 100), (2, 2998)])
def test_mcnemar_exact_equals_the_rational_tail_rounded_once(b: int, c: int) -> None:
    n = b + c
    tail = Fraction(sum(math.comb(n, k) for k in range(b, n + 1)), 2**n)
    assert mcnemar_exact(b, c) == float(tail)


def test_mcnemar_at_fifty_thousand_discordant_pairs_is_a_probability_without_underflow_surprises() -> None:
    assert mcnemar_exact(25_000, 25_000) == pytest.approx(0.5, abs=0.01)
    assert mcnemar_exact(50_000, 0) == 0.0  # 2**-50000 underflows to zero, as a float must
    assert mcnemar_exact(1, 49_999) == 1.0


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError, match="flip counts"):
        mcnemar_exact(-1, 3)


# --- suite metrics --------------------------------------------------------------------------------

BINARY_CASES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "one_of_each",
        "RR RR Ra aR aa ab",
        # old right 3, new right 3, new wrong 3 (Ra aa ab), both wrong 2, discordant b=1 c=1
        dict(acc_old=3 / 6, acc_new=3 / 6, delta_acc=0.0, nf=1, pf=1, nfr=1 / 6, pfr=1 / 6, nfr_mc=2 / 6,
             btc=2 / 3, bec=2 / 3, nfi=1 / 3, mcnemar_p=3 / 4),
    ),
    (
        "better_new_model",
        "RR RR RR RR Ra aR aR ab",
        # BEC = both wrong 1 / new wrong 2; dividing by old wrong (3) would give 1/3 instead.
        dict(acc_old=5 / 8, acc_new=6 / 8, delta_acc=1 / 8, nf=1, pf=2, nfr=1 / 8, pfr=2 / 8, nfr_mc=2 / 8,
             btc=4 / 5, bec=1 / 2, nfi=1 / 2, mcnemar_p=7 / 8),
    ),
    (
        "no_discordant_pairs",
        "RR aa",
        dict(acc_old=1 / 2, acc_new=1 / 2, delta_acc=0.0, nf=0, pf=0, nfr=0.0, pfr=0.0, nfr_mc=0.0,
             btc=1.0, bec=1.0, nfi=0.0, mcnemar_p=1.0),
    ),
    (
        "all_negative_flips",
        "Ra Ra Ra Ra Ra",
        dict(acc_old=1.0, acc_new=0.0, delta_acc=-1.0, nf=5, pf=0, nfr=1.0, pfr=0.0, nfr_mc=1.0,
             btc=0.0, bec=0.0, nfi=1.0, mcnemar_p=1 / 32),
    ),
    (
        "three_lost_one_gained",
        "Ra Ra Ra aR",
        dict(acc_old=3 / 4, acc_new=1 / 4, delta_acc=-1 / 2, nf=3, pf=1, nfr=3 / 4, pfr=1 / 4, nfr_mc=3 / 4,
             btc=0.0, bec=0.0, nfi=1.0, mcnemar_p=5 / 16),
    ),
    (
        "all_positive_flips_old_never_right",
        "aR aR",
        # BTC: old right = 0; BEC and NFI: new wrong = 0 → undefined
        dict(acc_old=0.0, acc_new=1.0, delta_acc=1.0, nf=0, pf=2, nfr=0.0, pfr=1.0, nfr_mc=0.0,
             btc=None, bec=None, nfi=None, mcnemar_p=1.0),
    ),
    (
        "all_right",
        "RR RR RR",
        dict(acc_old=1.0, acc_new=1.0, delta_acc=0.0, nf=0, pf=0, nfr=0.0, pfr=0.0, nfr_mc=0.0,
             btc=1.0, bec=None, nfi=None, mcnemar_p=1.0),
    ),
    (
        "all_wrong",
        "ab cd aa",
        # NFR_mc also counts "wrong → a different wrong": 2 of 3
        dict(acc_old=0.0, acc_new=0.0, delta_acc=0.0, nf=0, pf=0, nfr=0.0, pfr=0.0, nfr_mc=2 / 3,
             btc=None, bec=1.0, nfi=0.0, mcnemar_p=1.0),
    ),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "expected"), [case[1:] for case in BINARY_CASES], ids=[c[0] for c in BINARY_CASES])
def test_binary_metrics(spec: str, expected: dict[str, Any]) -> None:
    metrics = compute_metrics(binary(spec), continuous=False, epsilon=0.0)
    assert metrics.n == len(spec.split())
    assert not metrics.continuous
    assert (metrics.epsilon, metrics.m_r, metrics.m_g) == (None, None, None)
    for name, value in expected.items():
        assert getattr(metrics, name) == (None if value is None else pytest.approx(value, rel=1e-12)), name


def test_binary_metrics_count_every_quadrant() -> None:
    metrics = compute_metrics(binary("RR RR Ra aR aa ab ab"), continuous=False, epsilon=0.0)
    quadrants = (metrics.both_right, metrics.nf, metrics.pf, metrics.both_wrong_same, metrics.both_wrong_different)
    assert quadrants == (2, 1, 1, 1, 2)
    assert metrics.unchanged == 0


# (old score, new score) pairs: D = −0.25, 0, +0.5, −0.5; mean old 2.25/4, mean new 2/4
SCORES = [(0.5, 0.25), (0.5, 0.5), (0.25, 0.75), (1.0, 0.5)]
CONTINUOUS_CASES: list[tuple[float, dict[str, Any]]] = [
    (0.0, dict(nf=2, pf=1, unchanged=1, nfr=2 / 4, pfr=1 / 4, m_r=0.375, m_g=0.5, mcnemar_p=1 / 2)),
    (0.25, dict(nf=1, pf=1, unchanged=2, nfr=1 / 4, pfr=1 / 4, m_r=0.5, m_g=0.5, mcnemar_p=3 / 4)),
    (0.5, dict(nf=0, pf=0, unchanged=4, nfr=0.0, pfr=0.0, m_r=None, m_g=None, mcnemar_p=1.0)),  # ±ε exactly
]


@pytest.mark.parametrize(("epsilon", "expected"), CONTINUOUS_CASES)
def test_continuous_metrics(epsilon: float, expected: dict[str, Any]) -> None:
    metrics = compute_metrics(continuous(SCORES, epsilon), continuous=True, epsilon=epsilon)
    assert metrics.continuous
    assert metrics.epsilon == epsilon
    assert (metrics.acc_old, metrics.acc_new, metrics.delta_acc) == (0.5625, 0.5, -0.0625)
    # Right/wrong ratios are undefined for continuous scores.
    assert (metrics.btc, metrics.bec, metrics.nfi, metrics.nfr_mc) == (None, None, None, None)
    assert (metrics.both_right, metrics.both_wrong_same, metrics.both_wrong_different) == (0, 0, 0)
    for name, value in expected.items():
        assert getattr(metrics, name) == (None if value is None else pytest.approx(value, rel=1e-12)), name


def test_empty_outcomes_have_no_flips() -> None:
    metrics = compute_metrics([], continuous=False, epsilon=0.0)
    assert (metrics.n, metrics.nf, metrics.nfr, metrics.acc_old, metrics.mcnemar_p) == (0, 0, 0.0, 0.0, 1.0)
    assert (metrics.btc, metrics.bec, metrics.nfi) == (None, None, None)


@pytest.mark.parametrize(
    ("outcomes", "continuous_flag"),
    [
        (continuous([(0.5, 0.25)], 0.0), False),  # continuous outcomes in a binary aggregate
        (binary("Ra"), True),  # binary outcomes in a continuous aggregate
    ],
)
def test_mixing_binary_and_continuous_outcomes_is_an_error(
    outcomes: list[InstanceOutcome], continuous_flag: bool
) -> None:
    with pytest.raises(ValueError, match="i0: outcome negative_flip"):
        compute_metrics(outcomes, continuous=continuous_flag, epsilon=0.0)


def test_metrics_by_tag_slices_the_suite() -> None:
    outcomes = binary("Ra RR", tags=("hard",)) + binary("aR", tags=("easy", "hard", "easy"))
    outcomes += binary("RR")  # untagged: in no slice
    slices = metrics_by_tag(outcomes, continuous=False, epsilon=0.0)
    assert list(slices) == ["easy", "hard"]
    assert (slices["hard"].n, slices["hard"].nf, slices["hard"].pf) == (3, 1, 1)
    assert (slices["easy"].n, slices["easy"].pf, slices["easy"].acc_new) == (1, 1, 1.0)  # listed twice, counted once


# --- JSON -----------------------------------------------------------------------------------------


def test_instance_outcome_json_round_trip_with_evidence() -> None:
    outcome = compare(
        instance("q2", tags=("t",)),
        Judgement("a", False, 0.0, choice=1, margin=0.5),
        Judgement("R", True, 1.0, choice=0, margin=None),
        continuous=False,
        epsilon=0.0,
        old_evidence=Prediction("q2", logliks=(-2.0, -1.5)),
        new_evidence=Prediction("q2", probs=(0.9, 0.1)),
    )
    assert InstanceOutcome.from_json(outcome.to_json()) == outcome


def test_suite_metrics_json_round_trip() -> None:
    for metrics in (
        compute_metrics(binary("RR Ra aR ab"), continuous=False, epsilon=0.0),
        compute_metrics(continuous(SCORES, 0.0), continuous=True, epsilon=0.0),
    ):
        assert SuiteMetrics.from_json(metrics.to_json()) == metrics


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("nf", 1.5, TypeError),
        ("nf", True, TypeError),
        ("nfr", "0.1", TypeError),
        ("continuous", 0, TypeError),
        ("n", None, TypeError),
    ],
)
def test_suite_metrics_from_json_rejects_wrong_types(field: str, value: Any, error: type[Exception]) -> None:
    data = compute_metrics(binary("RR Ra"), continuous=False, epsilon=0.0).to_json()
    data[field] = value
    with pytest.raises(error):
        SuiteMetrics.from_json(data)


def test_suite_metrics_from_json_names_a_missing_field() -> None:
    data = compute_metrics(binary("RR Ra"), continuous=False, epsilon=0.0).to_json()
    del data["mcnemar_p"]
    with pytest.raises(KeyError, match="mcnemar_p"):
        SuiteMetrics.from_json(data)
