"""The two-model ensemble: w·p_old + (1 − w)·p_new, as one prediction the gate judges like any other.

Serving both models and averaging them is the ceiling a one-model distillation aims at (MUSCLE.md): `fix` shows it
on validation when nothing meets the aim, and bench/compat_table.py on the suites. Pure, torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from muscle_guard.core.predictions import Prediction


def mix_predictions(
    old: Prediction, new: Prediction, w: float, choices: Sequence[str] = (), mc_norm: str | None = None
) -> Prediction | None:
    """The mix of two predictions of one instance: over the class probabilities, or over the choices as the judge
    ranks them (softmax of the log-likelihoods, divided by each choice's length under acc_norm), written back as
    log-likelihoods the judge ranks in the mix's order. None for generated text, which has no distribution."""
    if old.probs and new.probs:
        return Prediction(old.id, probs=tuple(w * a + (1 - w) * b for a, b in zip(old.probs, new.probs, strict=True)))
    if not (old.logliks and new.logliks):
        return None
    lengths = [max(len(c), 1) if mc_norm == "acc_norm" else 1 for c in choices] or [1] * len(old.logliks)
    p_old, p_new = (_softmax([v / n for v, n in zip(p.logliks, lengths, strict=True)]) for p in (old, new))
    mixed = [w * a + (1 - w) * b for a, b in zip(p_old, p_new, strict=True)]
    return Prediction(
        old.id, logliks=tuple(math.log(m) * n if m > 0 else -math.inf for m, n in zip(mixed, lengths, strict=True))
    )


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    total = sum(exps)
    return [e / total for e in exps]
