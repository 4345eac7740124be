"""Reading the before/after of a fix run from the shapes `fix` writes."""

from __future__ import annotations

from typing import Any

import pytest

from muscle_guard.reports.fix import FixPoint, fix_points


@pytest.mark.parametrize(
    ("fix", "points"),
    [
        (None, ()),
        ({}, ()),
        ({"suites": [], "passed": True}, ()),
        (
            {"suites": [{"suite": "arc", "acc_new": 0.8, "acc_fixed": 0.79, "nfr": 0.05, "nfr_c": 0.01, "nf": 5,
                         "nf_c": 1, "passed_before": False, "passed_after": True, "reasons_after": []}]},
            (FixPoint("arc", 0.8, 0.79, 0.05, 0.01, 5, 1, False, True),),
        ),
        (
            {"before": {"arc": {"acc_new": 0.8, "nfr": 0.05}, "gone": {"acc_new": 1, "nfr": 0}},
             "after": {"arc": {"acc": 0.79, "nfr": 0.01, "nf": 1, "passed": True}}},
            (FixPoint("arc", 0.8, 0.79, 0.05, 0.01, None, 1, None, True),),
        ),
    ],
    ids=["none", "empty", "no-suites", "fix-comparisons", "before-after"],
)  # fmt: skip
def test_fix_points(fix: dict[str, Any] | None, points: tuple[FixPoint, ...]) -> None:
    assert fix_points(fix) == points


@pytest.mark.parametrize(
    ("fix", "message"),
    [
        ({"epochs": 3}, 'expected "suites"'),
        ({"suites": [{"suite": "arc", "acc_new": 0.8}]}, "'acc_fixed' missing; expected a number"),
        ({"suites": ["arc"]}, "expected a JSON object, got str"),
        ({"before": {"arc": {"nfr": 0.1}}, "after": {"arc": {"nfr": 0.0}}}, "'acc' missing"),
        (
            {"suites": [{"suite": "arc", "acc_new": True, "acc_fixed": 1, "nfr": 0, "nfr_c": 0}]},
            "'acc_new': expected a number, got bool",
        ),
    ],
)
def test_unreadable_fix_sections_say_what_is_missing(fix: dict[str, Any], message: str) -> None:
    with pytest.raises((TypeError, ValueError), match=message):
        fix_points(fix)
