"""Every suite of an HTML run report has at least one picture, tags or not: NFR per slice, NFR per reference
answer, old-vs-new confidence coloured by outcome, or (free text without margins) where the instances landed."""

from __future__ import annotations

import re

import pytest

from muscle_guard.core.flips import InstanceOutcome, Outcome, compare, metrics_by_reference
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.scoring import Judgement
from muscle_guard.core.suite import Instance, Shape
from muscle_guard.reports.html.plots import MAX_POINTS, confidence_points
from muscle_guard.reports.html.run import render_html, suite_pictures

from .conftest import mc, run_report, suite_report, summary


def generated(id_: str, old_right: bool, new_right: bool) -> InstanceOutcome:
    """Free text judged by exact match: no margins, and every reference different."""
    item = Instance(id=id_, shape=Shape.GENERATE_EXACT, prompt=f"{id_}?", answer=f"answer {id_}")
    old = Judgement(f"answer {id_}" if old_right else "x", old_right, float(old_right))
    new = Judgement(f"answer {id_}" if new_right else "y", new_right, float(new_right))
    return compare(item, old, new, continuous=False, epsilon=0.0, new_evidence=Prediction(id_, text=new.answer))


def headings(parts: list[str]) -> list[str]:
    return [re.search(r"<h3>(.*?)</h3>", part).group(1) for part in parts if "<svg" in part]  # type: ignore[union-attr]


UNTAGGED = {
    "multiple choice": [mc("a", 0, 0), mc("b", 0, 1), mc("c", 1, 0), mc("d", 1, 1)],
    "scores": [summary("s1", 0.5, 0.25), summary("s2", 0.25, 0.5), summary("s3", 0.5, 0.5)],
    "free text": [generated("g1", True, False), generated("g2", False, True), generated("g3", True, True)],
}


@pytest.mark.parametrize("outcomes", UNTAGGED.values(), ids=UNTAGGED.keys())
def test_a_suite_without_tags_still_has_a_picture(outcomes: list[InstanceOutcome]) -> None:
    suite = suite_report(outcomes)
    assert not suite.slices

    shown = headings(suite_pictures(suite, 0))

    assert shown
    assert "NFR per slice" not in shown


def test_which_pictures_each_kind_of_suite_gets() -> None:
    pictures = {name: headings(suite_pictures(suite_report(o), 0)) for name, o in UNTAGGED.items()}

    assert pictures == {
        # two reference answers ("yes" is always right here): only one, so no per-answer bars
        "multiple choice": ["Old against new confidence"],
        "scores": ["Old against new score"],
        "free text": ["Outcomes"],
    }


def test_labels_get_nfr_per_reference_answer() -> None:
    outcomes = [mc("a", 0, 1), mc("b", 0, 0)]
    outcomes += [InstanceOutcome(**{**o.__dict__, "reference": "no", "id": f"n{o.id}"}) for o in outcomes]

    assert "NFR per reference answer" in headings(suite_pictures(suite_report(outcomes), 0))


def test_nfr_per_reference_counts_each_answer_s_own_flips() -> None:
    outcomes = [mc("a", 0, 1), mc("b", 0, 0), mc("c", 0, 0)]
    outcomes.append(InstanceOutcome(**{**mc("d", 0, 0).__dict__, "reference": "no"}))

    by_reference = metrics_by_reference(outcomes, continuous=False, epsilon=0.0)

    assert {ref: (m.n, m.nf) for ref, m in by_reference.items()} == {"no": (1, 0), "yes": (3, 1)}


def test_the_confidence_scatter_keeps_every_flip_and_stays_bounded() -> None:
    outcomes = [mc(f"i{k}", 0, 1 if k % 50 == 0 else 0) for k in range(20_000)]
    flips = sum(o.outcome is Outcome.NEGATIVE_FLIP for o in outcomes)

    points = confidence_points(outcomes, continuous=False)

    assert points is not None
    assert len(points) == MAX_POINTS
    assert sum(p[2] is Outcome.NEGATIVE_FLIP for p in points) == flips


def test_negative_flips_sit_in_the_lower_right() -> None:
    points = confidence_points([mc("a", 0, 1), mc("b", 1, 0), mc("c", 0, 0)], continuous=False)

    assert points is not None
    where = {outcome: (old > 0, new > 0) for old, new, outcome in points}
    assert where[Outcome.NEGATIVE_FLIP] == (True, False)
    assert where[Outcome.POSITIVE_FLIP] == (False, True)
    assert where[Outcome.BOTH_RIGHT] == (True, True)


def test_every_html_run_report_has_a_picture_per_suite() -> None:
    suites = [suite_report(o, name=name.replace(" ", "-")) for name, o in UNTAGGED.items()]

    html = render_html(run_report(suites))

    assert html.count("<svg") >= len(suites)


def test_nfr_per_slice_draws_each_rates_95_percent_interval() -> None:
    from muscle_guard.core.flips import compute_metrics
    from muscle_guard.reports.html.plots import slice_bars_svg

    small = compute_metrics([mc(f"s{i}", 0, 1 if i < 3 else 0) for i in range(40)], continuous=False, epsilon=0.0)
    svg = slice_bars_svg({"small": small}, small.nfr, salt="t", budget=0.05)

    assert "negative flip rate (%), with 95% intervals" in svg
    assert 'id="LineCollection_1"' in svg  # the error bars: 3 of 40 reaches 19.9%, past the 5% budget drawn beside
