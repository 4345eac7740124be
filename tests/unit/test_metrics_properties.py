"""Properties of the metrics that must hold for any suite, checked on generated outcomes (hypothesis)."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import Gates, SuiteSettings
from muscle_guard.core.flips import InstanceOutcome, Outcome, SuiteMetrics, compare, compute_metrics, mcnemar_exact
from muscle_guard.core.gates import evaluate_gates
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.report import RunReport, SuiteReport
from muscle_guard.core.scoring import Judgement
from muscle_guard.core.suite import Instance, Shape

finite = st.floats(allow_nan=False, allow_infinity=False)
unit = st.floats(min_value=0.0, max_value=1.0)
texts = st.text(max_size=20)
tags = st.lists(st.sampled_from(["easy", "hard", "math", "long"]), max_size=3).map(tuple)


@st.composite
def binary_outcome(draw: st.DrawFn, index: int = 0) -> InstanceOutcome:
    """Four-choice instance, right answer 0: each model picks any choice."""
    picks = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    old, new = (Judgement(f"choice {p}", p == 0, float(p == 0), choice=p, margin=draw(unit)) for p in picks)
    item = Instance(id=f"i{index}", shape=Shape.MULTIPLE_CHOICE, prompt="?", choices=("a", "b", "c", "d"), answer=0)
    return compare(item, old, new, continuous=False, epsilon=0.0)


@st.composite
def continuous_outcome(draw: st.DrawFn, epsilon: float, index: int = 0) -> InstanceOutcome:
    old, new = draw(unit), draw(unit)
    item = Instance(id=f"i{index}", shape=Shape.GENERATE_SCORE, prompt="?", reference="r")
    return compare(item, Judgement("o", old >= 1, old), Judgement("n", new >= 1, new), continuous=True, epsilon=epsilon)


def numbered(outcomes: list[InstanceOutcome]) -> list[InstanceOutcome]:
    return [InstanceOutcome(**{**vars(o), "id": f"i{k}"}) for k, o in enumerate(outcomes)]


binary_suites = st.lists(binary_outcome(), max_size=40).map(numbered)
epsilons = st.sampled_from([0.0, 0.05, 0.25])


@st.composite
def continuous_suites(draw: st.DrawFn) -> tuple[float, list[InstanceOutcome]]:
    epsilon = draw(epsilons)
    return epsilon, numbered(draw(st.lists(continuous_outcome(epsilon), max_size=40)))


# --- partition and order --------------------------------------------------------------------------


@given(binary_suites)
def test_binary_outcomes_partition_the_suite(outcomes: list[InstanceOutcome]) -> None:
    m = compute_metrics(outcomes, continuous=False, epsilon=0.0)
    assert m.both_right + m.nf + m.pf + m.both_wrong_same + m.both_wrong_different == m.n == len(outcomes)
    assert m.unchanged == 0
    assert math.isclose(m.delta_acc, m.pfr - m.nfr, abs_tol=1e-12)  # Δacc = PFR − NFR
    assert m.nfr <= m.nfr_mc if m.nfr_mc is not None else m.n == 0  # inconsistency includes every NF
    for ratio in (m.btc, m.bec, m.nfi):
        assert ratio is None or 0.0 <= ratio <= 1.0


@given(continuous_suites())
def test_continuous_outcomes_partition_the_suite(case: tuple[float, list[InstanceOutcome]]) -> None:
    epsilon, outcomes = case
    m = compute_metrics(outcomes, continuous=True, epsilon=epsilon)
    assert m.nf + m.pf + m.unchanged == m.n == len(outcomes)
    assert (m.m_r is None) == (m.nf == 0)
    assert (m.m_g is None) == (m.pf == 0)
    assert m.m_r is None or m.m_r > epsilon  # every counted drop is larger than ε
    assert m.m_g is None or m.m_g > epsilon


@given(st.data(), binary_suites)
def test_binary_metrics_do_not_depend_on_instance_order(data: st.DataObject, outcomes: list[InstanceOutcome]) -> None:
    shuffled = data.draw(st.permutations(outcomes))
    assert compute_metrics(shuffled, continuous=False, epsilon=0.0) == compute_metrics(
        outcomes, continuous=False, epsilon=0.0
    )


@given(st.data(), continuous_suites())
def test_continuous_metrics_do_not_depend_on_instance_order(
    data: st.DataObject, case: tuple[float, list[InstanceOutcome]]
) -> None:
    epsilon, outcomes = case
    shuffled = data.draw(st.permutations(outcomes))
    # Exactly equal, not approximately: sums are exactly rounded.
    assert compute_metrics(shuffled, continuous=True, epsilon=epsilon) == compute_metrics(
        outcomes, continuous=True, epsilon=epsilon
    )


# --- McNemar --------------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=300)


@given(counts, counts)
def test_mcnemar_p_is_a_probability(b: int, c: int) -> None:
    assert 0.0 <= mcnemar_exact(b, c) <= 1.0


@given(counts, counts, counts)
def test_mcnemar_p_does_not_decrease_as_positive_flips_grow(b: int, c: int, more: int) -> None:
    assert mcnemar_exact(b, c) <= mcnemar_exact(b, c + more)


@given(counts, counts, counts)
def test_mcnemar_p_does_not_increase_as_negative_flips_grow(b: int, c: int, more: int) -> None:
    assert mcnemar_exact(b + more, c) <= mcnemar_exact(b, c)


# --- exact JSON round trips -----------------------------------------------------------------------

judgements = st.builds(
    Judgement,
    answer=texts,
    correct=st.booleans(),
    score=finite,
    choice=st.none() | st.integers(0, 10),
    margin=st.none() | finite,
)
predictions = st.builds(
    Prediction,
    id=texts,
    logliks=st.lists(finite, max_size=4).map(tuple),
    probs=st.lists(finite, max_size=4).map(tuple),
    text=st.none() | texts,
)
instance_outcomes = st.builds(
    InstanceOutcome,
    id=texts,
    outcome=st.sampled_from(Outcome),
    old=judgements,
    new=judgements,
    delta=st.none() | finite,
    tags=st.lists(texts, max_size=3).map(tuple),
    prompt=texts,
    reference=texts,
    choices=st.lists(texts, max_size=4).map(tuple),
    old_evidence=st.none() | predictions,
    new_evidence=st.none() | predictions,
)
optional = st.none() | finite
suite_metrics = st.builds(
    SuiteMetrics,
    n=st.integers(0, 10**6),
    continuous=st.booleans(),
    acc_old=finite,
    acc_new=finite,
    delta_acc=finite,
    nf=st.integers(0, 10**6),
    pf=st.integers(0, 10**6),
    nfr=finite,
    pfr=finite,
    both_right=st.integers(0, 10**6),
    both_wrong_same=st.integers(0, 10**6),
    both_wrong_different=st.integers(0, 10**6),
    unchanged=st.integers(0, 10**6),
    nfr_mc=optional,
    btc=optional,
    bec=optional,
    nfi=optional,
    mcnemar_p=unit,
    epsilon=optional,
    m_r=optional,
    m_g=optional,
)
gates = st.builds(
    Gates,
    max_nfr=unit,
    max_negative_flips=st.none() | st.integers(0, 1000),
    min_accuracy_delta=st.none() | st.floats(-1, 1),
    alpha=st.none() | st.floats(0, 1, exclude_min=True),
)
suite_settings = st.builds(
    SuiteSettings,
    scorer=st.sampled_from(["rouge1", "rougeL", "exact"]),
    normaliser=st.sampled_from(["exact", "lower", "final_number"]),
    epsilon=st.floats(0, 1),
    mc_norm=st.sampled_from(["acc", "acc_norm"]),
    prompt_template=texts.map(lambda t: t + "{prompt}"),
    max_new_tokens=st.integers(1, 512),
    stop=st.lists(texts, max_size=3).map(tuple),
    labels=st.lists(texts.filter(str.strip), max_size=3, unique=True).map(tuple),  # distinct, non-empty names
    gates=gates,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=10,
)


@st.composite
def suite_reports(draw: st.DrawFn) -> SuiteReport:
    metrics = draw(suite_metrics)
    return SuiteReport(
        name=draw(texts),
        path=draw(texts),
        shape=draw(st.sampled_from(Shape)),
        suite_hash=draw(texts),
        settings=draw(suite_settings),
        metrics=metrics,
        verdict=evaluate_gates(metrics, draw(gates)),
        slices=draw(st.dictionaries(texts, suite_metrics, max_size=2)),
        outcomes=tuple(draw(st.lists(instance_outcomes, max_size=3))),
    )


model_infos = st.builds(
    ModelInfo, ref=texts, kind=texts, fingerprint=texts, details=st.dictionaries(texts, json_values)
)
run_reports = st.builds(
    RunReport,
    tool_version=texts,
    created_at=texts,
    old=model_infos,
    new=model_infos,
    suites=st.lists(suite_reports(), max_size=2).map(tuple),
    environment=st.dictionaries(texts, texts, max_size=3),
    kind=st.sampled_from(["check", "fix"]),
    fix=st.none() | st.dictionaries(texts, json_values, max_size=3),
)


def through_json(data: dict[str, Any]) -> Any:
    return json.loads(json.dumps(data))


@given(instance_outcomes)
def test_instance_outcome_round_trip_is_exact(outcome: InstanceOutcome) -> None:
    assert InstanceOutcome.from_json(through_json(outcome.to_json())) == outcome


@given(suite_metrics)
def test_suite_metrics_round_trip_is_exact(metrics: SuiteMetrics) -> None:
    assert SuiteMetrics.from_json(through_json(metrics.to_json())) == metrics


@settings(max_examples=50)
@given(run_reports)
def test_run_report_round_trip_is_exact(report: RunReport) -> None:
    back = RunReport.from_json(through_json(report.to_json()))
    assert back == report
    assert (back.old.details, back.new.details) == (report.old.details, report.new.details)
