"""fix's schedule with no flags (fix.schedule): the rule's numbers on the data sizes and widths it was chosen
and checked on, and every value the user sets kept."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from muscle_guard.core.errors import FixError
from muscle_guard.fix.config import TrainConfig, plan_schedule
from muscle_guard.fix.schedule import ScheduleRequest, model_width, resolve_schedule


@pytest.mark.parametrize(
    ("rows", "width", "causal", "epochs", "lr", "batch", "accum"),
    [
        (800, 384, False, 6, 2e-3, 32, 1),  # MiniLM on 1,000 fix rows: exactly the schedule tuned in issue #16
        (1600, 384, False, 3, 2e-3, 32, 1),
        (200, 32, False, 10, 1e-2, 13, 1),  # the tiny test pair: lr capped at 1e-2, an epoch still 15 steps
        (800, 640, True, 6, 1.2e-3, 8, 4),  # Gemma-3-270M: micro-batches of 8, lr 2e-3 × 384/640
        (50_000, 4096, True, 2, 1.875e-4, 8, 4),  # a 7B model on large data: few epochs, the usual LoRA lr
        (20, 384, False, 10, 2e-3, 8, 1),
    ],
)
def test_the_auto_rule(rows: int, width: int, causal: bool, epochs: int, lr: float, batch: int, accum: int) -> None:
    config, line = resolve_schedule(TrainConfig(), ScheduleRequest(), rows, width, causal)
    assert (config.epochs, config.batch_size, config.grad_accum) == (epochs, batch, accum)
    assert config.lr == pytest.approx(lr)
    assert config.warmup_steps is None  # 10% of the steps, at most 500 (plan_schedule)
    assert f"from {rows} training rows and hidden width {width}" in line


def test_values_the_user_sets_are_kept_and_named() -> None:
    config, line = resolve_schedule(TrainConfig(), ScheduleRequest(epochs=3, lr=5e-4), 800, 384, False)
    assert (config.epochs, config.lr, config.batch_size) == (3, 5e-4, 32)
    assert "set by you: --epochs, --lr" in line


def test_the_paper_rule_is_the_papers_and_capped_for_small_data() -> None:
    config, _ = resolve_schedule(TrainConfig(), ScheduleRequest(rule="paper"), 800, 384, False)
    assert (config.epochs, config.lr, config.batch_size, config.grad_accum) == (10, 1e-4, 8, None)
    schedule = plan_schedule(config, 100)  # 800 rows / batch 8
    assert (schedule.grad_accum, schedule.steps_per_epoch) == (8, 13)  # the 13 steps an epoch #34 measured


@pytest.mark.parametrize(
    ("rows", "rule", "given", "fraction"),
    [
        (1000, "auto", None, 0.2),  # the MiniLM tasks: 200 rows already
        (300, "auto", None, 1 / 3),  # small data: 100 rows to judge a budget of a few percent on
        (150, "auto", None, 0.4),  # never more than 40%
        (300, "paper", None, 0.2),
        (300, "auto", 0.1, 0.1),  # the user's --val-fraction
    ],
)
def test_the_validation_split(rows: int, rule: str, given: float | None, fraction: float) -> None:
    from muscle_guard.fix.schedule import validation_fraction

    assert validation_fraction(ScheduleRequest(rule=rule, val_fraction=given), rows, 0.5) == pytest.approx(fraction)
    assert validation_fraction(None, rows, 0.5) == 0.5  # a programmatic request without a schedule: its config's


def test_an_unknown_rule_is_refused() -> None:
    with pytest.raises(FixError, match="--schedule must be one of auto, paper"):
        ScheduleRequest(rule="fast")


def test_the_width_is_read_from_any_config_spelling() -> None:
    assert model_width(SimpleNamespace(hidden_size=640)) == 640
    assert model_width(SimpleNamespace(n_embd=768)) == 768
    assert model_width(SimpleNamespace(text_config=SimpleNamespace(hidden_size=2048))) == 2048
