"""Compare the old and the new model instance by instance, and aggregate the MUSCLE metrics of a suite.

The formulas are in docs/metrics.md; rates are over all N instances of a suite, not over the
instances the old model got right.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from enum import Enum
from typing import Any

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.json_types import boolean, number, optional, text, whole
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.scoring import Judgement, normalise_lower, reference_text
from muscle_guard.core.suite import Instance

# Continuous scores are F-measures in [0, 1]; differences this small are floating-point noise from
# computing D, not model behaviour. The slack keeps "D exactly −ε is not a flip" true after rounding.
_SLACK = 1e-12


class Outcome(str, Enum):
    """Where one instance lands when the old and the new model are compared."""

    BOTH_RIGHT = "both_right"
    POSITIVE_FLIP = "positive_flip"
    NEGATIVE_FLIP = "negative_flip"
    BOTH_WRONG_SAME = "both_wrong_same"
    BOTH_WRONG_DIFFERENT = "both_wrong_different"
    UNCHANGED = "unchanged"  # continuous scores only: |D| <= ε


_BINARY = frozenset(Outcome) - {Outcome.UNCHANGED}
_CONTINUOUS = frozenset({Outcome.NEGATIVE_FLIP, Outcome.POSITIVE_FLIP, Outcome.UNCHANGED})


@dataclass(frozen=True)
class InstanceOutcome:
    """The comparison of one instance, with everything a report needs to show it.

    `delta` is D = S_new − S_old for continuous suites and None otherwise. `prompt` is the model input,
    `choices` the options of a multiple-choice instance; `old_evidence`/`new_evidence` are the raw
    predictions (per-choice log-likelihoods, class probabilities, generated text) when available.
    """

    id: str
    outcome: Outcome
    old: Judgement
    new: Judgement
    delta: float | None = None
    tags: tuple[str, ...] = ()
    prompt: str = ""
    reference: str = ""
    choices: tuple[str, ...] = ()
    old_evidence: Prediction | None = None
    new_evidence: Prediction | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outcome": self.outcome.value,
            "old": self.old.to_json(),
            "new": self.new.to_json(),
            "delta": self.delta,
            "tags": list(self.tags),
            "prompt": self.prompt,
            "reference": self.reference,
            "choices": list(self.choices),
            "old_evidence": None if self.old_evidence is None else self.old_evidence.to_json(),
            "new_evidence": None if self.new_evidence is None else self.new_evidence.to_json(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> InstanceOutcome:
        """Inverse of to_json; raises KeyError/TypeError/ValueError on malformed data."""
        old_ev, new_ev = data.get("old_evidence"), data.get("new_evidence")
        return cls(
            id=text(data["id"]),
            outcome=Outcome(data["outcome"]),
            old=Judgement.from_json(data["old"]),
            new=Judgement.from_json(data["new"]),
            delta=optional(number, data.get("delta")),
            tags=tuple(text(t) for t in data.get("tags", ())),
            prompt=text(data.get("prompt", "")),
            reference=text(data.get("reference", "")),
            choices=tuple(text(c) for c in data.get("choices", ())),
            old_evidence=None if old_ev is None else Prediction.from_json(old_ev),
            new_evidence=None if new_ev is None else Prediction.from_json(new_ev),
        )


def classify_binary(old: Judgement, new: Judgement, normalise: Callable[[str], str] = normalise_lower) -> Outcome:
    """The quadrant of a right/wrong comparison; two mistakes are the same when they pick the same answer."""
    if old.correct and new.correct:
        return Outcome.BOTH_RIGHT
    if old.correct:
        return Outcome.NEGATIVE_FLIP
    if new.correct:
        return Outcome.POSITIVE_FLIP
    if old.choice is not None and new.choice is not None:
        same = old.choice == new.choice
    else:
        same = normalise(old.answer) == normalise(new.answer)
    return Outcome.BOTH_WRONG_SAME if same else Outcome.BOTH_WRONG_DIFFERENT


def classify_delta(delta: float, epsilon: float) -> Outcome:
    """D < −ε is a negative flip, D > ε a positive one; |D| <= ε is unchanged (ε = 0: any drop counts)."""
    if delta < -epsilon - _SLACK:
        return Outcome.NEGATIVE_FLIP
    if delta > epsilon + _SLACK:
        return Outcome.POSITIVE_FLIP
    return Outcome.UNCHANGED


def compare(
    instance: Instance,
    old: Judgement,
    new: Judgement,
    *,
    continuous: bool,
    epsilon: float,
    normalise: Callable[[str], str] = normalise_lower,
    prompt: str | None = None,
    reference: str | None = None,
    old_evidence: Prediction | None = None,
    new_evidence: Prediction | None = None,
) -> InstanceOutcome:
    """Compare the two models' judgements of one instance.

    `normalise` decides when two wrong free-text answers are the same mistake (answers with a `choice`
    compare by index). `prompt` defaults to the instance's raw input and `reference` to its right answer
    under default settings; pass the rendered prompt and the settings' reference for reports
    (`muscle_guard.core.evaluate.compare_predictions` does).
    """
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    delta: float | None = None
    if continuous:
        delta = new.score - old.score
        outcome = classify_delta(delta, epsilon)
    else:
        outcome = classify_binary(old, new, normalise)
    return InstanceOutcome(
        id=instance.id,
        outcome=outcome,
        old=old,
        new=new,
        delta=delta,
        tags=instance.tags,
        prompt=instance.inputs if prompt is None else prompt,
        reference=reference_text(instance, SuiteSettings()) if reference is None else reference,
        choices=instance.choices,
        old_evidence=old_evidence,
        new_evidence=new_evidence,
    )


def mcnemar_exact(b: int, c: int) -> float:
    """One-sided exact McNemar test: P(X >= b) with X ~ Binomial(b + c, 1/2); 1.0 without discordant pairs.

    b counts negative flips and c positive ones, so a small p says the new model loses significantly more
    instances than it gains. Exact rather than χ² because flip counts in CI are small.

    Computed in integers, Σ C(n, k) over the shorter tail, and rounded to a float once (Python's int
    division rounds correctly): exact for every n, and no scipy import on the gate's path (2 s and 70 MiB).
    """
    if b < 0 or c < 0:
        raise ValueError(f"flip counts must be >= 0, got b={b}, c={c}")
    if b == 0:
        return 1.0
    n = b + c
    # P(X >= b) = P(X <= n - b) by symmetry; sum whichever tail has fewer terms, and complement if needed.
    upper = n - b + 1 <= b
    last = n - b if upper else b - 1  # sum C(n, k) for k = 0 .. last
    term, total = 1, 1
    for k in range(last):
        term = term * (n - k) // (k + 1)
        total += term
    hits = total if upper else (1 << n) - total
    return min(1.0, hits / (1 << n))


@dataclass(frozen=True)
class SuiteMetrics:
    """The MUSCLE metrics of a set of instance outcomes (a suite or one tag's slice of it).

    Binary suites (multiple choice, exact match, classification): `acc_old`/`acc_new` are accuracies;
    NFR, PFR and NFR_mc (inconsistency: new wrong and a different answer) are over N; BTC = #both right /
    #old right; BEC = #both wrong / #new wrong (the docs' definition: one public implementation divides by
    #old wrong instead); NFI = NFR / error rate of new = #NF / #new wrong. Each ratio is None when its
    denominator is zero. `epsilon`, `m_r` and `m_g` are None.

    Continuous suites (a score S such as ROUGE-1): `acc_old`/`acc_new` are mean scores and `delta_acc`
    their difference; NFR = mean 1[D < −ε], PFR = mean 1[D > ε]; m_r = mean |D| over the negative flips and
    m_g = mean D over the positive flips (None when there are none). BTC, BEC, NFR_mc and NFI are None: they
    need a right/wrong verdict per instance, and thresholding a continuous score would invent one.
    `mcnemar_p` is then the sign test on D, which is the same exact binomial test on b = #NF, c = #PF.

    An empty set of outcomes has no flips: every rate and accuracy is 0 and p is 1.
    """

    n: int
    continuous: bool
    acc_old: float
    acc_new: float
    delta_acc: float
    nf: int
    pf: int
    nfr: float
    pfr: float
    both_right: int
    both_wrong_same: int
    both_wrong_different: int
    unchanged: int
    nfr_mc: float | None
    btc: float | None
    bec: float | None
    nfi: float | None
    mcnemar_p: float
    epsilon: float | None = None
    m_r: float | None = None
    m_g: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SuiteMetrics:
        """Inverse of to_json; raises KeyError/TypeError/ValueError on malformed data."""
        return cls(
            n=whole(data["n"]),
            continuous=boolean(data["continuous"]),
            acc_old=number(data["acc_old"]),
            acc_new=number(data["acc_new"]),
            delta_acc=number(data["delta_acc"]),
            nf=whole(data["nf"]),
            pf=whole(data["pf"]),
            nfr=number(data["nfr"]),
            pfr=number(data["pfr"]),
            both_right=whole(data["both_right"]),
            both_wrong_same=whole(data["both_wrong_same"]),
            both_wrong_different=whole(data["both_wrong_different"]),
            unchanged=whole(data["unchanged"]),
            nfr_mc=optional(number, data.get("nfr_mc")),
            btc=optional(number, data.get("btc")),
            bec=optional(number, data.get("bec")),
            nfi=optional(number, data.get("nfi")),
            mcnemar_p=number(data["mcnemar_p"]),
            epsilon=optional(number, data.get("epsilon")),
            m_r=optional(number, data.get("m_r")),
            m_g=optional(number, data.get("m_g")),
        )


def compute_metrics(outcomes: Sequence[InstanceOutcome], *, continuous: bool, epsilon: float) -> SuiteMetrics:
    """Aggregate instance outcomes into SuiteMetrics. `epsilon` is the one `compare` used (recorded)."""
    allowed = _CONTINUOUS if continuous else _BINARY
    for item in outcomes:
        if item.outcome not in allowed or (item.delta is None) == continuous:
            kind = "continuous" if continuous else "binary"
            raise ValueError(f"{item.id}: outcome {item.outcome.value} (delta {item.delta}) in a {kind} comparison")
    n = len(outcomes)
    count = {o: 0 for o in Outcome}
    for item in outcomes:
        count[item.outcome] += 1
    nf, pf = count[Outcome.NEGATIVE_FLIP], count[Outcome.POSITIVE_FLIP]
    both_right = count[Outcome.BOTH_RIGHT]
    wrong_same, wrong_diff = count[Outcome.BOTH_WRONG_SAME], count[Outcome.BOTH_WRONG_DIFFERENT]

    common: dict[str, Any] = {
        "n": n,
        "continuous": continuous,
        "nf": nf,
        "pf": pf,
        "nfr": _rate(nf, n),
        "pfr": _rate(pf, n),
        "both_right": both_right,
        "both_wrong_same": wrong_same,
        "both_wrong_different": wrong_diff,
        "unchanged": count[Outcome.UNCHANGED],
        "mcnemar_p": mcnemar_exact(nf, pf),
    }
    if continuous:
        drops = [abs(item.delta or 0.0) for item in outcomes if item.outcome is Outcome.NEGATIVE_FLIP]
        gains = [item.delta or 0.0 for item in outcomes if item.outcome is Outcome.POSITIVE_FLIP]
        olds = [item.old.score for item in outcomes]
        news = [item.new.score for item in outcomes]
        # math.fsum is exactly rounded, so the metrics do not depend on the order of the instances.
        return SuiteMetrics(
            acc_old=_mean(olds, n),
            acc_new=_mean(news, n),
            delta_acc=_mean(news + [-s for s in olds], n),
            nfr_mc=None,
            btc=None,
            bec=None,
            nfi=None,
            epsilon=epsilon,
            m_r=_mean(drops, len(drops)) if drops else None,
            m_g=_mean(gains, len(gains)) if gains else None,
            **common,
        )
    old_right, new_right = both_right + nf, both_right + pf
    new_wrong = n - new_right
    return SuiteMetrics(
        acc_old=_rate(old_right, n),
        acc_new=_rate(new_right, n),
        # From counts, not acc_new − acc_old, which would add a rounding error.
        delta_acc=_rate(new_right - old_right, n),
        nfr_mc=_rate(nf + wrong_diff, n),
        btc=_ratio(both_right, old_right),
        bec=_ratio(wrong_same + wrong_diff, new_wrong),
        # NFR / (#new wrong / N): the N cancels.
        nfi=_ratio(nf, new_wrong),
        **common,
    )


def metrics_by_tag(outcomes: Sequence[InstanceOutcome], *, continuous: bool, epsilon: float) -> dict[str, SuiteMetrics]:
    """SuiteMetrics of each tag's slice (an instance with several tags is in several slices), sorted by tag."""
    slices: dict[str, list[InstanceOutcome]] = {}
    for item in outcomes:
        for tag in dict.fromkeys(item.tags):  # a tag listed twice still counts the instance once
            slices.setdefault(tag, []).append(item)
    return {tag: compute_metrics(slices[tag], continuous=continuous, epsilon=epsilon) for tag in sorted(slices)}


def metrics_by_reference(
    outcomes: Sequence[InstanceOutcome], *, continuous: bool, epsilon: float
) -> dict[str, SuiteMetrics]:
    """SuiteMetrics per reference answer (the label of a classifier, the right choice of a multiple-choice
    question): which answers the update broke. Sorted by reference."""
    groups: dict[str, list[InstanceOutcome]] = {}
    for item in outcomes:
        groups.setdefault(item.reference, []).append(item)
    return {ref: compute_metrics(groups[ref], continuous=continuous, epsilon=epsilon) for ref in sorted(groups)}


def _ratio(numerator: int, denominator: int) -> float | None:
    """A ratio that is undefined (None) when its denominator is zero."""
    return numerator / denominator if denominator else None


def _rate(count: int, n: int) -> float:
    """A rate over N; an empty set of outcomes has none of anything."""
    return count / n if n else 0.0


def _mean(values: list[float], n: int) -> float:
    return math.fsum(values) / n if n else 0.0
