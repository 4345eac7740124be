"""What `muscle-guard fix` was asked to do: the one record every phase of a fix reads (`fix.run`, `fix.search`).

Its own module so that the phases import it downward and never each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from muscle_guard.core.backend import RunOptions
from muscle_guard.fix.aim import DEFAULT_CE_WEIGHTS, DEFAULT_WEIGHTS, Aim
from muscle_guard.fix.config import TrainConfig
from muscle_guard.fix.schedule import ScheduleRequest
from muscle_guard.fix.strategies import Level, Strategy

if TYPE_CHECKING:
    from muscle_guard.fix.train import EpochCallback


@dataclass(frozen=True)
class FixRequest:
    """Everything `muscle-guard fix` was asked to do."""

    old: str
    new: str
    train: Path
    out: Path
    config: TrainConfig
    # As requested (may be auto); None: the config's. config.strategy is set to the resolved one.
    strategy: Strategy | None = None
    level: Level = Level.AUTO  # as requested; config.choice_level is set once resolved
    suites: tuple[Path, ...] = ()
    resume: bool = False
    allow_overlap: bool = False
    unlabelled: Path | None = None  # --unlabelled: more inputs for the teacher terms (no labels; ensemble only)
    pyproject: Path = Path("pyproject.toml")
    options: RunOptions = field(default_factory=RunOptions)
    cache_dir: Path | None = None
    callbacks: tuple[EpochCallback, ...] = ()
    # --aim budget: the candidate grid (the ensemble's old weight w × the CE weight)
    # and the margin below each --suite's budget (NFR points; None: one standard error, see fix/aim.py).
    aim: Aim = Aim.NONE
    ensemble_weights: tuple[float, ...] = DEFAULT_WEIGHTS
    ce_weights: tuple[float, ...] = DEFAULT_CE_WEIGHTS
    budget_margin: float | None = None
    # The schedule's rule and the values the user set (fix.schedule); None: `config`'s values exactly, as given.
    schedule: ScheduleRequest | None = None

    @property
    def requested_strategy(self) -> Strategy:
        if self.strategy is not None:
            return self.strategy
        return Strategy.ENSEMBLE if self.aim in (Aim.BUDGET, Aim.AUTO) else self.config.strategy
