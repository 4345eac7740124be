"""`fix --aim budget` decisions, on hand-built validation points whose frontier is known (no models)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from muscle_guard.core.config import load_project_config
from muscle_guard.core.errors import FixError
from muscle_guard.core.suite import load_suite
from muscle_guard.fix.aim import (
    Budget,
    Candidate,
    Point,
    choose,
    choose_short_of_margin,
    frontier,
    frontier_json,
    grid,
    meets,
    miss_line,
    parse_floats,
    short_of_margin_line,
    suite_budget,
)


def suite(tmp_path: Path, name: str, n: int) -> Path:
    path = tmp_path / f"{name}.jsonl"
    rows = [{"id": f"{name}-{i}", "text": f"text {i}", "label": i % 2} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def project(tmp_path: Path, toml: str) -> Path:
    path = tmp_path / "pyproject.toml"
    path.write_text(toml, encoding="utf-8")
    return path


def test_the_budget_is_the_tightest_gate_over_the_suites(tmp_path: Path) -> None:
    a, b = load_suite(suite(tmp_path, "a", 200)), load_suite(suite(tmp_path, "b", 500))
    config = load_project_config(
        project(
            tmp_path,
            "[tool.muscle-guard]\nmax_nfr = 0.07\n"
            "[tool.muscle-guard.suites.b]\nmax_nfr = 0.5\nmax_negative_flips = 20\nmin_accuracy_delta = -0.01\n",
        )
    )
    budget = suite_budget([a, b], config, None)
    assert budget.max_nfr == pytest.approx(20 / 500)  # b's count budget as a rate is tighter than a's 7%
    assert "max_negative_flips 20 of 500" in budget.source
    assert budget.min_accuracy_delta == pytest.approx(-0.01)
    only_a = suite_budget([a], config, None)
    assert only_a.max_nfr == pytest.approx(0.07)
    assert "a.jsonl: max_nfr 7.00%" in only_a.source


def test_the_budget_needs_a_suite_and_a_non_negative_margin(tmp_path: Path) -> None:
    config = load_project_config(None)
    with pytest.raises(FixError, match="needs at least one --suite"):
        suite_budget([], config, None)
    with pytest.raises(FixError, match="--budget-margin must be >= 0"):
        suite_budget([load_suite(suite(tmp_path, "a", 10))], config, -1.0)


def test_the_default_margin_is_one_standard_error_at_the_budget() -> None:
    budget = Budget(0.07, "x")
    assert budget.margin(400) == pytest.approx(math.sqrt(0.07 * 0.93 / 400))  # 1.28 points
    assert budget.target(400) == pytest.approx(0.07 - math.sqrt(0.07 * 0.93 / 400))
    assert Budget(0.07, "x", margin_points=2.0).target(400) == pytest.approx(0.05)
    assert Budget(0.01, "x", margin_points=5.0).target(100) == 0.0  # never below 0


def cand(w: float, acc: float, nf: int, n: int = 200) -> Point:
    return Point(f"w={w:g} ce=0", acc, nf / n, nf, n, "average of epochs 2-3", Candidate(w, 0.0))


NEW = Point("new model", 0.80, 0.09, 18, 200)
OLD = Point("old model", 0.74, 0.0, 0, 200)


def test_ships_the_most_accurate_candidate_within_budget_minus_margin() -> None:
    budget = Budget(0.07, "x", margin_points=1.0)  # aim: validation NFR <= 6% (12 of 200)
    points = [OLD, NEW, cand(0.25, 0.81, 15), cand(0.5, 0.79, 12), cand(0.75, 0.76, 6)]
    assert choose(points, budget, NEW.acc) == points[3]  # 0.25 is more accurate but 7.5% > 6%
    assert [p.label for p in frontier(points)] == ["old model", "w=0.75 ce=0", "w=0.5 ce=0", "w=0.25 ce=0"]


def test_the_reference_rows_are_never_shipped_and_ties_go_to_lower_nfr_then_nearer_the_old_model() -> None:
    budget = Budget(0.5, "x", margin_points=0.0)
    assert choose([OLD, NEW], budget, NEW.acc) is None  # the old and new model are not candidates
    a, b, c = cand(0.25, 0.78, 10), cand(0.5, 0.78, 8), cand(0.75, 0.78, 8)
    assert choose([a, b, c], budget, None) is c  # b and c tie exactly: c (w = 0.75) is nearer the old model
    assert choose([c, b, a], budget, None) is c  # whatever the grid order


def test_an_accuracy_floor_from_the_gates_excludes_candidates() -> None:
    budget = Budget(0.07, "x", min_accuracy_delta=0.0, margin_points=0.0)
    low, ok = cand(0.75, 0.79, 4), cand(0.5, 0.80, 10)
    assert not meets(low, budget, NEW.acc)  # 79% is below the new model's 80%
    assert choose([OLD, NEW, low, ok], budget, NEW.acc) is ok


def test_when_nothing_qualifies_the_line_names_the_closest_point_and_what_would_help() -> None:
    budget = Budget(0.03, "suites/s.jsonl: max_nfr 3.00%", margin_points=1.0)
    points = [OLD, NEW, cand(0.25, 0.81, 15), cand(0.5, 0.79, 9)]
    assert choose(points, budget, NEW.acc) is None
    line = miss_line(points, budget)
    assert "no candidate met suites/s.jsonl: max_nfr 3.00%" in line
    assert "the closest was w=0.5 ce=0 with validation NFR 4.50% (9/200) at accuracy 79.00%" in line
    assert "the new model has validation NFR 9.00% (18/200) at accuracy 80.00%" in line
    assert "Nothing was shipped" in line
    assert "--ensemble-weights 0.9 (nearer the old model)" in line  # the grid stopped at 0.5
    assert "--unlabelled FILE" in line  # inputs without labels feed the teachers' term
    assert "docs/fix.md" in line  # where each piece of advice was measured


def test_the_advice_follows_the_ceiling_of_both_models_served_together() -> None:
    from muscle_guard.fix.aim import CEILING_POINT
    from muscle_guard.fix.config import TrainConfig

    budget = Budget(0.03, "s: max_nfr 3.00%", margin_points=1.0)
    base = TrainConfig(epochs=6, lr=2e-3)
    reachable = Point(CEILING_POINT, 0.81, 0.01, 2, 200)  # the teachers' mix meets the aim: train more
    line = miss_line([OLD, NEW, reachable, cand(0.9, 0.79, 9)], budget, base)
    assert "both models served and averaged (the ceiling of one distilled model) validation NFR 1.00% (2/200)" in line
    assert "more training (--epochs 12 or --lr 0.004" in line
    assert "--ensemble-weights" not in line  # 0.9 was tried
    beyond = Point(CEILING_POINT, 0.81, 0.05, 10, 200)  # even both models together miss it
    line = miss_line([OLD, NEW, beyond, cand(0.9, 0.79, 9)], budget, base)
    assert "a looser budget: even both models served together miss it" in line
    assert "more training" not in line


def test_the_grid_is_every_pair_once_and_refuses_weights_outside_0_1() -> None:
    assert grid([0.25, 0.5, 0.25], [0.0, 0.5]) == [
        Candidate(0.25, 0.0), Candidate(0.5, 0.0), Candidate(0.25, 0.5), Candidate(0.5, 0.5),
    ]  # fmt: skip
    with pytest.raises(FixError, match=r"--ensemble-weights: 1\.5 is not between 0 and 1"):
        grid([1.5], [0.0])
    with pytest.raises(FixError, match=r"--ce-weights: -0\.1"):
        grid([0.5], [-0.1])
    assert Candidate(0.25, 0.5).slug == "w0.25-ce0.5"


def test_lists_of_weights_parse_or_say_what_is_wrong() -> None:
    assert parse_floats("0.25, 0.5,0.75", "--ensemble-weights") == (0.25, 0.5, 0.75)
    with pytest.raises(FixError, match=r"--ensemble-weights: 'a,b' is not a comma-separated list"):
        parse_floats("a,b", "--ensemble-weights")
    with pytest.raises(FixError, match="--ce-weights: give at least one number"):
        parse_floats(" , ", "--ce-weights")


def test_the_grids_ce_weights_come_from_ce_weights_then_ce_weight_then_the_default() -> None:
    from muscle_guard.cli.fix import aim_ce_weights
    from muscle_guard.fix.aim import DEFAULT_CE_WEIGHTS

    assert aim_ce_weights("0,0.5", 0.3) == (0.0, 0.5)  # --ce-weights wins
    assert aim_ce_weights(None, 0.0) == (0.0,)  # an explicit --ce-weight 0 means no CE, not the default
    assert aim_ce_weights(None, None) == DEFAULT_CE_WEIGHTS


def test_when_nothing_meets_the_margin_the_most_accurate_within_the_budget_itself_ships_with_a_warning() -> None:
    budget = Budget(0.07, "suites/s.jsonl: max_nfr 7.00%", margin_points=2.0)  # aim: 5% (10 of 200)
    near, nearer, over = cand(0.9, 0.80, 13), cand(0.75, 0.79, 12), cand(0.5, 0.82, 15)  # 6.5%, 6%, 7.5%
    points = [OLD, NEW, near, nearer, over]
    assert choose(points, budget, NEW.acc) is None
    assert choose_short_of_margin(points, budget, NEW.acc) is near  # within 7%, the more accurate of the two
    line = short_of_margin_line(near, budget)
    assert "warning: no candidate met suites/s.jsonl: max_nfr 7.00%, aimed at validation NFR ≤ 5.00%" in line
    assert "shipped w=0.9 ce=0 (average of epochs 2-3)" in line
    assert "validation NFR 6.50% (13/200) is within +2.0 pts of 7.00%, so the gate may fail it" in line
    assert choose_short_of_margin([OLD, NEW, over], budget, NEW.acc) is None  # over the budget itself: nothing
    record = frontier_json(points, near, budget, short_of_margin=True)
    assert record["chosen"] == "w=0.9 ce=0"
    assert record["short_of_margin"]
    assert record["warning"] == line
    assert record["miss"] is None
    from muscle_guard.reports.fix_tables import frontier_rows

    verdicts = {row[0]: row[4] for row in frontier_rows(record)}
    assert verdicts == {"old model": "-", "new model": "-", "w=0.9 ce=0": "within the budget: shipped",
                        "w=0.75 ce=0": "no", "w=0.5 ce=0": "no"}  # fmt: skip
