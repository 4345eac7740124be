"""Comparing two runs: new, fixed, persisting and dropped negative flips by instance id, metrics A → B."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.core.stats import paired_difference
from muscle_guard.reports.compare import MetricChange, RunComparison, compare_runs
from muscle_guard.reports.compare_text import delta_text, metric_text

from .conftest import mc, run_report, suite_report, summary

Save = Callable[..., Path]


def pair() -> RunComparison:
    """Run A → run B, by hand:
    binary suite   a: right→right (both) · b: NF in A, both right in B (fixed) · d: NF in both (persisting)
                   e: both right in A, NF in B (new) · x: NF in A, gone from B (dropped) · y: only in B, NF (new)
                   z: only in B, both right
    scores suite   s1: NF in A, PF in B (fixed) · s2: unchanged in A, NF in B (new)
    A has a suite "old-only", B has "new-only".
    """
    a = run_report([
        suite_report([mc("a", 0, 0), mc("b", 0, 1), mc("d", 0, 1), mc("e", 0, 0), mc("x", 0, 1)], name="qa"),
        suite_report([summary("s1", 0.5, 0.25), summary("s2", 0.5, 0.5)], name="sums"),
        suite_report([mc("o", 0, 1)], name="old-only"),
    ])  # fmt: skip
    b = run_report([
        suite_report([mc("a", 0, 0), mc("b", 0, 0), mc("d", 0, 1), mc("e", 0, 1), mc("y", 0, 1), mc("z", 0, 0)], name="qa"),
        suite_report([summary("s1", 0.5, 0.75), summary("s2", 0.5, 0.25)], name="sums"),
        suite_report([mc("n", 0, 1)], name="new-only"),
    ], created_at="2025-02-01T00:00:00+00:00")  # fmt: skip
    return compare_runs(a, b)


def test_flips_are_new_fixed_persisting_or_dropped_by_instance_id() -> None:
    qa, sums = pair().suites
    assert (qa.name, qa.new_flips, qa.fixed_flips, qa.persisting_flips, qa.dropped_flips) == (
        "qa", ("e", "y"), ("b",), ("d",), ("x",),
    )  # fmt: skip
    assert (sums.new_flips, sums.fixed_flips, sums.persisting_flips, sums.dropped_flips) == (("s2",), ("s1",), (), ())
    assert qa.outcomes_known
    assert sums.outcomes_known


def test_the_nfr_change_on_the_same_instances_has_a_paired_interval() -> None:
    a = run_report([suite_report([mc(f"i{k}", 0, 1 if k < 12 else 0) for k in range(100)], name="qa")])
    b = run_report([suite_report([mc(f"i{k}", 0, 1 if k < 2 else 0) for k in range(100)], name="qa")])

    (qa,) = compare_runs(a, b).suites

    # 12 → 2 flips of 100 on the same instances: 2 flip in both runs, 10 in A only, none in B only
    ci = paired_difference(2, 10, 0, 88)
    assert qa.nfr_change_ci == (ci.low, ci.high)
    assert ci.high < 0  # a real improvement, told apart from noise


def test_suites_are_matched_by_name_and_the_rest_listed() -> None:
    comparison = pair()
    assert [s.name for s in comparison.suites] == ["qa", "sums"]
    assert (comparison.only_in_a, comparison.only_in_b) == (("old-only",), ("new-only",))
    assert comparison.totals == {"new": 3, "fixed": 2, "persisting": 1, "dropped": 1}


def test_every_metric_moves_from_a_to_b() -> None:
    qa = pair().suites[0]
    by_name = {c.name: c for c in qa.metrics}
    assert [c.name for c in qa.metrics] == [
        "n", "acc_old", "acc_new", "delta_acc", "nf", "nfr", "pf", "pfr", "nfr_mc", "btc", "bec", "nfi", "mcnemar_p",
    ]  # fmt: skip
    assert (by_name["nf"].a, by_name["nf"].b, by_name["nf"].delta) == (3, 3, 0)
    assert (by_name["n"].a, by_name["n"].b, by_name["n"].delta) == (5, 6, 1)
    assert (by_name["acc_new"].a, by_name["acc_new"].b) == pytest.approx((0.4, 0.5))
    assert by_name["acc_new"].delta == pytest.approx(0.1)
    assert (qa.passed_a, qa.passed_b) == (False, False)
    sums = pair().suites[1]
    assert {c.name: c.a for c in sums.metrics}["btc"] is None  # continuous suites have no BTC
    assert {c.name: c.delta for c in sums.metrics}["btc"] is None


def test_runs_without_instance_outcomes_compare_metrics_only() -> None:
    outcomes = [mc("a", 0, 1), mc("b", 0, 0)]
    a = run_report([suite_report(outcomes, keep_outcomes=False)])
    b = run_report([suite_report(outcomes)])
    (diff,) = compare_runs(a, b).suites
    assert not diff.outcomes_known
    assert diff.new_flips == diff.fixed_flips == diff.persisting_flips == ()
    assert {c.name: c.delta for c in diff.metrics}["nf"] == 0


def test_a_run_compared_with_itself_has_only_persisting_flips() -> None:
    a = run_report()
    (binary, _scores) = compare_runs(a, a).suites
    assert (binary.new_flips, binary.fixed_flips, binary.persisting_flips) == ((), (), ("b",))
    assert all(c.delta in (0, None) for c in binary.metrics)


@pytest.mark.parametrize(
    ("kind", "a", "b", "shown_b", "delta"),
    [
        ("count", 3, 5, "5", "+2"),
        ("count", 5, 3, "3", "-2"),
        ("rate", 0.05, 0.02, "2.00%", "-3.00 pts"),
        ("accuracy", 0.5, 0.625, "0.6250", "+0.1250"),
        ("p", 0.5, 0.03125, "0.0312", "-0.469"),
        ("rate", None, 0.02, "2.00%", "-"),
    ],
)
def test_metric_values_and_changes_read_like_the_run_tables(
    kind: str, a: float | None, b: float, shown_b: str, delta: str
) -> None:
    change = MetricChange("m", "m", kind, a, b)  # type: ignore[arg-type]
    assert (metric_text(change.kind, b), delta_text(change)) == (shown_b, delta)


# --- through the CLI ---------------------------------------------------------------------------------


def compare_cli(save: Save, fmt: str) -> str:
    comparison = pair()
    a, b = save(comparison.a, "a.json"), save(comparison.b, "b.json")
    result = CliRunner().invoke(app, ["report", str(a), str(b), "--format", fmt])
    assert (result.exit_code, result.stderr) == (0, ""), result.output
    return result.stdout


def test_terminal_comparison(save: Save) -> None:
    out = compare_cli(save, "terminal")
    assert "new negative flips (2): e, y" in out
    assert "fixed negative flips (1): b" in out
    assert "persisting negative flips (1): d" in out
    assert "dropped (instance gone) negative flips (1): x" in out
    assert "only in A: old-only" in out
    assert "only in B: new-only" in out
    assert "0.4000" in out
    assert "0.5000" in out
    assert "+0.1000" in out


def test_markdown_comparison(save: Save) -> None:
    out = compare_cli(save, "markdown")
    assert "**3 new**, **2 fixed**, 1 persisting" in out
    assert "| qa | FAIL → FAIL | 3 → 3 | - | 2 | 1 | 1 |" in out  # different instances: no paired interval
    assert "| sums | FAIL → FAIL | 1 → 1 | -81.1, +81.1 pts (holds 0) | 1 | 1 | 0 |" in out  # 1 flip swapped in 2
    assert "-81.1, +81.1 pts (holds 0)" in compare_cli(save, "html")
    assert "| acc new | 0.4000 | 0.5000 | +0.1000 |" in out
    assert "- new negative flips (2): `e`, `y`" in out


def test_html_comparison(save: Save) -> None:
    page = compare_cli(save, "html")
    assert "<b>3</b> new negative flips · <b>2</b> fixed · <b>1</b> persisting · 1 dropped" in page
    assert "New negative flips (in B, not in A): 2" in page
    assert page.count('data-item="cmp"') == 3 + 2 + 1  # cards for new, fixed and persisting flips
    assert "qa::e" in page
    assert "qa::b" in page
    assert "sums::s1" in page
    assert '<span class="up">+0.1000</span>' in page  # accuracy up is good news
    assert "http://" not in page
    assert page.count("<script") == 1


def test_comparison_text_is_bounded_in_length(save: Save) -> None:
    many = [mc(f"q{i}", 0, 1) for i in range(3000)]
    a = save(run_report([suite_report(many[:1500] + [mc(f"q{i}", 0, 0) for i in range(1500, 3000)])]), "a.json")
    b = save(run_report([suite_report(many)]), "b.json")
    for fmt, limit in (("markdown", 6_000), ("terminal", 12_000)):
        out = CliRunner().invoke(app, ["report", str(a), str(b), "--format", fmt]).stdout
        assert "and 1480 more" in out
        assert len(out) < limit
