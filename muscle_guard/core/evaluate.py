"""Compare two models' predictions on a suite: outcomes, metrics, slices and the gate verdict.

Shared by the pytest plugin, `muscle-guard check` and `muscle-guard fix` (before/after tables).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.flips import (
    InstanceOutcome,
    Outcome,
    SuiteMetrics,
    compare,
    compute_metrics,
    mcnemar_exact,
    metrics_by_tag,
)
from muscle_guard.core.gates import GateVerdict, adjust_family, evaluate_gates
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.report import SuiteReport
from muscle_guard.core.scoring import get_normaliser, judge, normalise_lower, reference_text
from muscle_guard.core.suite import Instance, Shape, Suite
from muscle_guard.core.waivers import Waiver, Waivers


@dataclass(frozen=True)
class SuiteEvaluation:
    """Everything the gate decided about one suite; `waived` maps instance id → its active waiver."""

    suite: Suite
    settings: SuiteSettings
    outcomes: tuple[InstanceOutcome, ...]
    metrics: SuiteMetrics
    slices: dict[str, SuiteMetrics]
    verdict: GateVerdict
    waived: Mapping[str, Waiver]
    by_id: Mapping[str, InstanceOutcome]


def compare_predictions(
    instance: Instance, settings: SuiteSettings, old: Prediction, new: Prediction
) -> InstanceOutcome:
    """Judge both models' raw predictions of one instance and compare them under the suite's settings:
    continuity, ε, the normaliser that also decides when two mistakes are the same one, the rendered prompt and
    the settings' reference (evidence kept)."""
    normalise: Callable[[str], str] = normalise_lower
    if instance.shape is Shape.GENERATE_EXACT:
        normalise = get_normaliser(instance.normaliser or settings.normaliser)
    return compare(
        instance,
        judge(instance, old, settings),
        judge(instance, new, settings),
        continuous=instance.shape.is_continuous,
        epsilon=settings.epsilon,
        normalise=normalise,
        prompt=settings.render(instance.inputs),
        reference=reference_text(instance, settings),
        old_evidence=old,
        new_evidence=new,
    )


def evaluate_suite(
    suite: Suite,
    settings: SuiteSettings,
    old: Mapping[str, Prediction],
    new: Mapping[str, Prediction],
    waivers: Waivers | None = None,
) -> SuiteEvaluation:
    """Judge both sides, compare instance by instance, aggregate and apply the gates.

    Waived negative flips stay in the reported metrics but do not count against the flip budget.
    """
    outcomes = [compare_predictions(i, settings, old[i.id], new[i.id]) for i in suite.instances]
    continuous = suite.shape.is_continuous
    metrics = compute_metrics(outcomes, continuous=continuous, epsilon=settings.epsilon)
    slices = metrics_by_tag(outcomes, continuous=continuous, epsilon=settings.epsilon)
    waived: dict[str, Waiver] = {}
    if waivers is not None:
        for outcome in outcomes:
            waiver = waivers.lookup(suite.name, outcome.id)
            if waiver is not None and outcome.outcome is Outcome.NEGATIVE_FLIP:
                waived[outcome.id] = waiver
    verdict = evaluate_gates(_without_waived(metrics, len(waived)), settings.gates)
    return SuiteEvaluation(
        suite, settings, tuple(outcomes), metrics, slices, verdict, waived, {o.id: o for o in outcomes}
    )


def decide_family(evaluations: Sequence[SuiteEvaluation], correction: str) -> list[SuiteEvaluation]:
    """Decide the verdicts of a run's gated suites together: when two or more set `alpha`, their McNemar p-values
    form one family and `correction` (holm, bh or none) adjusts them before each is compared with its alpha, so
    that noise across many (pair, suite) tests does not fail the run more often than alpha (docs/statistics.md).
    Suites without alpha, and a family of one, keep their own verdicts."""
    family = {str(i): e for i, e in enumerate(evaluations) if e.settings.gates.alpha is not None}
    if len(family) < 2:
        return list(evaluations)
    pvalues = {k: _without_waived(e.metrics, len(e.waived)).mcnemar_p for k, e in family.items()}
    adjusted = adjust_family(pvalues, correction)
    out = list(evaluations)
    for key, evaluation in family.items():
        gated = _without_waived(evaluation.metrics, len(evaluation.waived))
        verdict = evaluate_gates(gated, evaluation.settings.gates, adjusted[key])
        out[int(key)] = dataclasses.replace(evaluation, verdict=verdict)
    return out


def _without_waived(metrics: SuiteMetrics, waived: int) -> SuiteMetrics:
    if not waived:
        return metrics
    nf = metrics.nf - waived
    return dataclasses.replace(
        metrics, nf=nf, nfr=nf / metrics.n if metrics.n else 0.0, mcnemar_p=mcnemar_exact(nf, metrics.pf)
    )


def to_suite_report(
    evaluation: SuiteEvaluation, path: str | None = None, *, pair: str = "", floor: float | None = None
) -> SuiteReport:
    """The serialisable report of one evaluated suite (gated by model pair `pair`; `floor`: its noise floor)."""
    suite = evaluation.suite
    return SuiteReport(
        name=suite.name,
        path=path or str(suite.path),
        shape=suite.shape,
        suite_hash=suite.content_hash(),
        settings=evaluation.settings,
        metrics=evaluation.metrics,
        verdict=evaluation.verdict,
        slices=evaluation.slices,
        outcomes=evaluation.outcomes,
        pair=pair,
        floor=floor,
    )
