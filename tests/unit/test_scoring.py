"""Scoring: how a raw prediction becomes right or wrong, with a score and a margin, for each task shape."""

from __future__ import annotations

import math
from typing import Any

import pytest

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import ConfigError
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.scoring import (
    Judgement,
    choose,
    judge,
    normalise_exact,
    normalise_final_number,
    normalise_lower,
    reference_text,
)
from muscle_guard.core.suite import Instance, parse_instance


def instance(**fields: Any) -> Instance:
    return parse_instance({"id": "x", **fields})


# --- normalisers ---------------------------------------------------------------------------------------------------

FINAL_NUMBER = [
    ("The answer is 1,234.", "1234"),
    ("3.50", "3.5"),
    ("-2", "-2"),
    ("no number here", ""),
    ("", ""),
    ("first 3, then 7", "7"),
    ("It costs $1,000.00 in total", "1000"),
    ("10.0", "10"),
    ("100", "100"),
    (".5", "0.5"),
    ("-0", "0"),
    ("12345678901234567890", "12345678901234567890"),
    ("0.1 + 0.2 = 0.30000000000000004", "0.30000000000000004"),
]


@pytest.mark.parametrize(("text", "normalised"), FINAL_NUMBER)
def test_final_number(text: str, normalised: str) -> None:
    assert normalise_final_number(text) == normalised


@pytest.mark.parametrize(
    ("text", "normalised"),
    [("  Paris \n", "Paris"), ("Paris.", "Paris."), ("PARIS", "PARIS")],
)
def test_exact_only_strips_surrounding_whitespace(text: str, normalised: str) -> None:
    assert normalise_exact(text) == normalised


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("  PARIS. ", "paris"),
        ("Straße", "strasse"),
        ("a   b\tc", "a b c"),
        ("\ufb01ne", "fine"),  # the "fi" ligature, NFKC-normalised
        ("Really?!", "really"),
    ],
)
def test_lower_folds_case_width_spacing_and_final_punctuation(text: str, normalised: str) -> None:
    assert normalise_lower(text) == normalised


# --- choose: argmax with a margin ------------------------------------------------------------------------------

CHOOSE: list[tuple[tuple[float, ...], int, float | None]] = [
    ((-0.5, -1.5, -3.0), 0, 1.0),
    ((-3.0, -1.5, -0.5), 2, 1.0),
    ((-1.0, -1.0, -2.0), 0, 0.0),  # a tie picks the first, like argmax
    ((0.2, 0.8), 1, pytest.approx(0.6)),  # type: ignore[list-item]
    ((math.nan, -1.0, -2.0), 1, 1.0),  # a numerically broken score never wins
    ((0.7,), 0, None),
]


@pytest.mark.parametrize(("values", "picked", "margin"), CHOOSE)
def test_choose_picks_the_largest_and_its_lead(values: tuple[float, ...], picked: int, margin: float | None) -> None:
    assert choose(values) == (picked, margin)


# --- multiple choice -----------------------------------------------------------------------------------------------

MC = instance(prompt="Capital of France?", choices=[" Paris", " the city of Lyon in France"], answer=1)


def test_multiple_choice_picks_the_most_likely_choice() -> None:
    judgement = judge(MC, Prediction("x", logliks=(-2.0, -3.0)), SuiteSettings())

    assert judgement == Judgement(answer="Paris", correct=False, score=0.0, choice=0, margin=1.0)


def test_acc_norm_divides_by_choice_length_and_can_change_the_pick() -> None:
    prediction = Prediction("x", logliks=(-2.0, -3.0))  # -2/6 = -0.33 vs -3/27 = -0.11 per character

    plain = judge(MC, prediction, SuiteSettings(mc_norm="acc"))
    normed = judge(MC, prediction, SuiteSettings(mc_norm="acc_norm"))

    assert (plain.choice, plain.correct) == (0, False)
    assert (normed.choice, normed.correct) == (1, True)
    assert normed.answer == "the city of Lyon in France"
    assert normed.margin == pytest.approx(-3.0 / 27 - -2.0 / 6)


def test_multiple_choice_ties_pick_the_first_choice() -> None:
    judgement = judge(MC, Prediction("x", logliks=(-1.0, -1.0)), SuiteSettings())

    assert (judgement.choice, judgement.margin) == (0, 0.0)


def test_multiple_choice_needs_one_loglik_per_choice() -> None:
    with pytest.raises(ValueError, match="x: 3 log-likelihoods for 2 choices"):
        judge(MC, Prediction("x", logliks=(-1.0, -2.0, -3.0)), SuiteSettings())


# --- classification --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "labels", "answer", "correct"),
    [
        (1, (), "1", True),
        (0, (), "1", False),
        ("pos", ("neg", "pos"), "pos", True),
        ("neg", ("neg", "pos"), "pos", False),
        (1, ("neg", "pos"), "pos", True),
    ],
)
def test_classification_compares_the_top_class_with_the_label(
    label: int | str, labels: tuple[str, ...], answer: str, correct: bool
) -> None:
    item = instance(text="what a lovely day", label=label)

    judgement = judge(item, Prediction("x", probs=(0.3, 0.7)), SuiteSettings(labels=labels))

    assert (judgement.answer, judgement.correct, judgement.score, judgement.choice) == (
        answer,
        correct,
        float(correct),
        1,
    )
    assert judgement.margin == pytest.approx(0.4)


def test_a_string_label_without_configured_labels_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="label 'pos' is not one of the suite's labels"):
        judge(instance(text="t", label="pos"), Prediction("x", probs=(0.3, 0.7)), SuiteSettings())


def test_classification_needs_probabilities() -> None:
    with pytest.raises(ValueError, match="x: no class probabilities"):
        judge(instance(text="t", label=0), Prediction("x"), SuiteSettings())


# --- generation, exact match ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generated", "answer", "normaliser", "correct"),
    [
        ("The answer is 1,234.", "1234", "final_number", True),
        ("The answer is 1,234.", "1234", "exact", False),
        (" 1234\n", "1234", "exact", True),
        ("PARIS.", "Paris", "lower", True),
        ("PARIS.", "Paris", "exact", False),
        ("", "0", "final_number", False),
    ],
)
def test_generate_exact_compares_after_the_normaliser(
    generated: str, answer: str, normaliser: str, correct: bool
) -> None:
    judgement = judge(
        instance(prompt="q", answer=answer), Prediction("x", text=generated), SuiteSettings(normaliser=normaliser)
    )

    assert judgement == Judgement(answer=generated, correct=correct, score=float(correct))


def test_an_instances_normaliser_wins_over_the_suites() -> None:
    item = instance(prompt="q", answer="1234", normaliser="final_number")

    assert judge(item, Prediction("x", text="It is 1,234"), SuiteSettings(normaliser="exact")).correct


def test_an_unknown_normaliser_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown normaliser 'fuzzy'; choose one of exact, lower, final_number"):
        judge(instance(prompt="q", answer="1"), Prediction("x", text="1"), SuiteSettings(normaliser="fuzzy"))


def test_no_generated_text_counts_as_empty() -> None:
    judgement = judge(instance(prompt="q", answer="1"), Prediction("x"), SuiteSettings())

    assert (judgement.answer, judgement.correct) == ("", False)


# --- generation, continuous score ----------------------------------------------------------------------------------

ROUGE1: list[tuple[str, str, float]] = [
    ("a cat sat on the mat", "a cat sat on the mat", 1.0),
    ("the cat sat", "a cat sat on the mat", 2 * 1.0 * 0.5 / 1.5),  # precision 3/3, recall 3/6
    ("dogs bark", "a cat sat on the mat", 0.0),
    ("", "a cat sat on the mat", 0.0),
]


@pytest.mark.parametrize(("generated", "reference", "score"), ROUGE1)
def test_rouge1_gives_a_continuous_score(generated: str, reference: str, score: float) -> None:
    judgement = judge(instance(prompt="q", reference=reference), Prediction("x", text=generated), SuiteSettings())

    assert judgement.score == pytest.approx(score)
    assert judgement.correct is (score >= 1.0)
    assert judgement.choice is None


def test_an_instances_scorer_wins_over_the_suites() -> None:
    item = instance(prompt="q", reference="Paris", scorer="exact")

    assert judge(item, Prediction("x", text="paris."), SuiteSettings(scorer="rouge1")).score == 1.0


def test_an_unknown_scorer_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown scorer 'bleu'"):
        judge(instance(prompt="q", reference="r"), Prediction("x", text="r"), SuiteSettings(scorer="bleu"))


# --- what reports show ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "labels", "shown"),
    [
        ({"prompt": "q", "choices": [" a", " b "], "answer": 1}, (), "b"),
        ({"text": "t", "label": 1}, ("neg", "pos"), "pos"),
        ({"text": "t", "label": 1}, (), "1"),
        ({"text": "t", "label": "pos"}, ("neg", "pos"), "pos"),
        ({"prompt": "q", "answer": 42}, (), "42"),
        ({"prompt": "q", "reference": "a cat"}, (), "a cat"),
    ],
)
def test_reference_text(fields: dict[str, Any], labels: tuple[str, ...], shown: str) -> None:
    assert reference_text(instance(**fields), SuiteSettings(labels=labels)) == shown


def test_judgement_round_trips_through_json() -> None:
    judgement = Judgement(answer="Paris", correct=True, score=1.0, choice=0, margin=0.25)

    assert Judgement.from_json(judgement.to_json()) == judgement


def test_the_names_settings_accept_are_the_ones_scoring_implements() -> None:
    from muscle_guard.core import names
    from muscle_guard.core.scoring import NORMALISERS, SCORERS

    assert tuple(NORMALISERS) == names.NORMALISERS
    assert tuple(SCORERS) == names.SCORERS
