"""How `fix` judges its validation split: exactly as the gate judges the `--suite`s it aims at.

One place for the rule, pure and torch-free: the old model's and a student's raw predictions of each validation
instance go through the gate's own comparison (`core.evaluate.compare_predictions`: the suite's labels,
normaliser, scorer, ε and mc_norm), so a negative flip on validation is what the gate would call one
(continuous scores: D < −ε, not "a perfect score lost"), and accuracy is the gate's (mean score when continuous).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.evaluate import compare_predictions
from muscle_guard.core.flips import Outcome
from muscle_guard.core.pipeline import run_instances
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.suite import Instance


@dataclass(frozen=True)
class Tally:
    """Sums over validation instances (they add up across processes): flips both ways, the scores of both
    models (1/0 when right/wrong), how many instances the old model could lose (right, or a score above ε)."""

    n: int = 0
    nf: int = 0
    pf: int = 0
    score_old: float = 0.0
    score_new: float = 0.0
    can_regress: int = 0

    def as_list(self) -> list[float]:
        return [self.n, self.nf, self.pf, self.score_old, self.score_new, self.can_regress]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> Tally:
        n, nf, pf, old, new, can = values
        return cls(int(n), int(nf), int(pf), float(old), float(new), int(can))

    def metrics(self) -> dict[str, Any]:
        """The validation metrics every epoch records (rates over n)."""
        n = max(self.n, 1)
        return {
            "val_nf": self.nf,
            "val_nfr": self.nf / n,
            "val_pfr": self.pf / n,
            "val_acc": self.score_new / n,
            "val_n": self.n,
        }


def tally(
    instances: Sequence[Instance],
    settings: SuiteSettings,
    old: Mapping[str, Prediction],
    new: Mapping[str, Prediction],
) -> Tally:
    """Compare `old` and `new` on `instances` as the gate does, and add up what validation reports."""
    n = nf = pf = can = 0
    score_old = score_new = 0.0
    for instance in instances:
        outcome = compare_predictions(instance, settings, old[instance.id], new[instance.id])
        n += 1
        nf += outcome.outcome is Outcome.NEGATIVE_FLIP
        pf += outcome.outcome is Outcome.POSITIVE_FLIP
        score_old += outcome.old.score
        score_new += outcome.new.score
        continuous = instance.shape.is_continuous
        can += outcome.old.score > settings.epsilon if continuous else outcome.old.correct
    return Tally(n, nf, pf, score_old, score_new, can)


def predict_on(backend: Any, instances: Sequence[Instance], settings: SuiteSettings) -> dict[str, Prediction]:
    """`backend`'s raw predictions of `instances`, made exactly as the gate makes them (batched, rendered)."""
    if not instances:
        return {}
    predictions = run_instances(backend, instances[0].shape, instances, settings)
    return {i.id: p for i, p in zip(instances, predictions, strict=True)}
