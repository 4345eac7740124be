"""Turn a raw Prediction into a Judgement: the chosen answer, whether it is right, its score."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import ConfigError
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.suite import Instance, Shape

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def normalise_exact(text: str) -> str:
    """Surrounding whitespace removed; nothing else changes."""
    return text.strip()


def normalise_lower(text: str) -> str:
    """Case-folded, NFKC-normalised, inner whitespace collapsed, trailing punctuation dropped."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.split()).rstrip(".!?;:,")


def normalise_final_number(text: str) -> str:
    """The last number in the text (GSM8K convention), without thousands separators or trailing zeros."""
    matches = _NUMBER.findall(text)
    if not matches:
        return ""
    # Decimal, not float: "12345678901234567890" and "...891" are different answers.
    value = Decimal(matches[-1].replace(",", ""))
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")


NORMALISERS: dict[str, Callable[[str], str]] = {
    "exact": normalise_exact,
    "lower": normalise_lower,
    "final_number": normalise_final_number,
}


def score_exact(prediction: str, reference: str) -> float:
    return 1.0 if normalise_lower(prediction) == normalise_lower(reference) else 0.0


@cache
def _rouge_scorer(kind: str) -> Any:
    from rouge_score import rouge_scorer  # imported on first use: keeps `import muscle_guard` light

    return rouge_scorer.RougeScorer([kind], use_stemmer=True)


def _rouge(kind: str) -> Callable[[str, str], float]:
    def score(prediction: str, reference: str) -> float:
        return float(_rouge_scorer(kind).score(reference, prediction)[kind].fmeasure)

    return score


SCORERS: dict[str, Callable[[str, str], float]] = {
    "rouge1": _rouge("rouge1"),
    "rouge2": _rouge("rouge2"),
    "rougeL": _rouge("rougeL"),
    "exact": score_exact,
}


def get_normaliser(name: str) -> Callable[[str], str]:
    try:
        return NORMALISERS[name]
    except KeyError:
        raise ConfigError(f"unknown normaliser {name!r}; choose one of {', '.join(NORMALISERS)}") from None


def get_scorer(name: str) -> Callable[[str, str], float]:
    try:
        return SCORERS[name]
    except KeyError:
        raise ConfigError(f"unknown scorer {name!r}; choose one of {', '.join(SCORERS)}") from None


@dataclass(frozen=True)
class Judgement:
    """One model's result on one instance.

    `choice` is the picked index (multiple choice, classification), `answer` its display text,
    `score` is 1/0 for right/wrong or the continuous score, `margin` the gap between the best and the
    runner-up log-likelihood (or probability): how close the model was to answering otherwise.
    """

    answer: str
    correct: bool
    score: float
    choice: int | None = None
    margin: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "correct": self.correct,
            "score": self.score,
            "choice": self.choice,
            "margin": self.margin,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Judgement:
        return cls(
            answer=str(data["answer"]),
            correct=bool(data["correct"]),
            score=float(data["score"]),
            choice=None if data.get("choice") is None else int(data["choice"]),
            margin=None if data.get("margin") is None else float(data["margin"]),
        )


def choose(values: tuple[float, ...]) -> tuple[int, float | None]:
    """Index of the largest value (first on ties, like argmax) and its margin over the runner-up.

    NaN (a numerically broken score) ranks below everything, so it is never the pick.
    """
    values = tuple(-math.inf if math.isnan(v) else v for v in values)
    best = max(range(len(values)), key=lambda i: (values[i], -i))
    rest = [v for i, v in enumerate(values) if i != best]
    return best, (values[best] - max(rest)) if rest else None


def judge(instance: Instance, prediction: Prediction, settings: SuiteSettings) -> Judgement:
    """Score one prediction of one instance under the suite's settings (or take the evaluating tool's verdict,
    when the prediction carries one: `Prediction.score`)."""
    if prediction.score is not None:
        return _tool_verdict(instance, prediction, settings)
    if instance.shape is Shape.MULTIPLE_CHOICE:
        if len(prediction.logliks) != len(instance.choices):
            raise ValueError(
                f"{instance.id}: {len(prediction.logliks)} log-likelihoods for {len(instance.choices)} choices"
            )
        values = prediction.logliks
        if settings.mc_norm == "acc_norm":
            # lm-evaluation-harness acc_norm: divide by the continuation's length in characters.
            values = tuple(ll / max(len(c), 1) for ll, c in zip(values, instance.choices, strict=True))
        picked, margin = choose(values)
        return Judgement(
            answer=instance.choices[picked].strip(),
            correct=picked == instance.answer,
            score=1.0 if picked == instance.answer else 0.0,
            choice=picked,
            margin=margin,
        )
    if instance.shape is Shape.CLASSIFY:
        if not prediction.probs:
            raise ValueError(f"{instance.id}: no class probabilities")
        assert instance.label is not None
        target = settings.label_index(instance.label)
        picked, margin = choose(prediction.probs)
        name = settings.labels[picked] if picked < len(settings.labels) else str(picked)
        return Judgement(
            answer=name, correct=picked == target, score=float(picked == target), choice=picked, margin=margin
        )
    text = prediction.text if prediction.text is not None else ""
    if instance.shape is Shape.GENERATE_EXACT:
        normalise = get_normaliser(instance.normaliser or settings.normaliser)
        correct = normalise(text) == normalise(str(instance.answer))
        return Judgement(answer=text, correct=correct, score=float(correct))
    assert instance.reference is not None
    score = get_scorer(instance.scorer or settings.scorer)(text, instance.reference)
    return Judgement(answer=text, correct=score >= 1.0, score=score)


def _tool_verdict(instance: Instance, prediction: Prediction, settings: SuiteSettings) -> Judgement:
    """The judgement an evaluation log already made: right when its per-sample metric is 1 (binary shapes), the
    metric itself as the score when continuous; the answer shown is the pick or the text the tool recorded."""
    assert prediction.score is not None
    score = prediction.score
    picked: int | None = None
    margin: float | None = None
    answer = prediction.text or ""
    if prediction.logliks and len(prediction.logliks) == len(instance.choices):
        values = prediction.logliks
        if settings.mc_norm == "acc_norm":
            values = tuple(ll / max(len(c), 1) for ll, c in zip(values, instance.choices, strict=True))
        picked, margin = choose(values)
        answer = instance.choices[picked].strip()
    correct = score >= 1.0
    return Judgement(answer=answer, correct=correct, score=score, choice=picked, margin=margin)


def reference_text(instance: Instance, settings: SuiteSettings) -> str:
    """What the right answer looks like, for diffs and reports."""
    if instance.shape is Shape.MULTIPLE_CHOICE:
        assert isinstance(instance.answer, int)
        return instance.choices[instance.answer].strip()
    if instance.shape is Shape.CLASSIFY:
        assert instance.label is not None
        if isinstance(instance.label, str):
            return instance.label
        return settings.labels[instance.label] if instance.label < len(settings.labels) else str(instance.label)
    if instance.shape is Shape.GENERATE_EXACT:
        return str(instance.answer)
    return instance.reference or ""
