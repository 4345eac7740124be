"""`fix --aim budget`: train a few candidates, pick the most accurate one whose validation NFR meets the budget.

Pure decisions only (no torch): the budget each `--suite`'s gates set, the candidate grid, the
accuracy-vs-NFR frontier, the choice, and the line said when no candidate qualifies.

- **Budget.** The tightest flip budget over the `--suite`s, read from the same `[tool.muscle-guard]` tables as
  pytest: `max_nfr` where it applies, `max_negative_flips / N` for a count budget, and `min_accuracy_delta` (the
  largest one). `alpha` only ever tolerates flips, so it is ignored here: the aim is stricter than the gate.
- **Margin.** A validation NFR is an estimate from a few hundred instances: a candidate must reach the budget
  minus a margin, by default one standard error of a binomial rate at the budget over the validation
  instances, √(b·(1 − b)/n) (1.3 points for a 7% budget on 400 instances); `--budget-margin` sets it in points.
- **Choice.** Among the candidates whose validation NFR ≤ budget − margin (and whose validation accuracy change
  against the new model is at least `min_accuracy_delta`, when set), the most accurate; ties go to the lower NFR,
  then to the candidate nearer the old model (larger w), then to the larger CE weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from muscle_guard.core.config import ProjectConfig
from muscle_guard.core.errors import FixError
from muscle_guard.core.formatting import percent, points
from muscle_guard.core.gates import uses_rate_budget
from muscle_guard.core.suite import Suite
from muscle_guard.fix.config import TrainConfig


class Aim(str, Enum):
    AUTO = "auto"  # budget when a --suite sets a flip budget and no --strategy is named, else none (the CLI's default)
    NONE = "none"  # train one model with the given settings
    BUDGET = "budget"  # train the candidate grid, ship the most accurate one that meets the suites' budget


NEW_POINT, OLD_POINT = "new model", "old model"  # the reference rows of the frontier
# Both models served, their distributions averaged at w = 0.5: the ceiling of a one-model fix (MUSCLE.md), shown as a
# reference row where the task has distributions to average (classes, choices; not generated text).
CEILING_POINT, CEILING_WEIGHT = "old+new averaged (2 models)", 0.5
# The default grid: the old teacher's weight w in the ensemble × the weight of cross-entropy on the labels. On the
# MiniLM pair over 3 seeds (docs/BENCHMARKS.md, issue #16) w ∈ {0.75, 0.9} with CE 0.5 removed about as many flips
# as w ∈ {0.5, 0.75} without CE (RT −28% against −33%, sarcasm −35% against −32%, within the seeds' spread) and kept
# +5.5 and +4.0 points of accuracy over the new model where that grid kept +1.2 and −0.3: where the old model is
# right, its teacher and the labels agree, so the two terms do not pull apart where it counts.
DEFAULT_WEIGHTS = (0.75, 0.9)
DEFAULT_CE_WEIGHTS = (0.5,)
# Without a budget to aim at, `fix` trains one candidate: the grid's point nearer the old model, which removed as many
# flips on the suite as w = 0.75 or more on every benchmark task (docs/BENCHMARKS.md).
SINGLE_WEIGHT, SINGLE_CE_WEIGHT = 0.9, 0.5


@dataclass(frozen=True)
class Budget:
    """What a candidate's validation metrics must meet. Rates are fractions."""

    max_nfr: float
    source: str  # e.g. "suites/sarcasm.jsonl: max_nfr 7.00%"
    min_accuracy_delta: float | None = None
    margin_points: float | None = None  # None: one standard error at the budget over the validation instances

    def margin(self, n: int) -> float:
        if self.margin_points is not None:
            return self.margin_points / 100.0
        return math.sqrt(self.max_nfr * (1.0 - self.max_nfr) / n) if n > 0 else 0.0

    def target(self, n: int) -> float:
        """The highest validation NFR a candidate may have (never below 0)."""
        return max(0.0, self.max_nfr - self.margin(n))

    def describe(self, n: int) -> str:
        text = (
            f"{self.source}, aimed at validation NFR ≤ {percent(self.target(n))} (margin {points(self.margin(n))} pts)"
        )
        if self.min_accuracy_delta is not None:
            text += f", accuracy change ≥ {points(self.min_accuracy_delta)} pts"
        return text


def suite_budget(suites: Sequence[Suite], project: ProjectConfig, margin_points: float | None) -> Budget:
    """The tightest budget over `suites`, from their gates in the project configuration."""
    if not suites:
        raise FixError("--aim budget needs at least one --suite: the budget is that suite's gate")
    if margin_points is not None and margin_points < 0:
        raise FixError("--budget-margin must be >= 0 (NFR points)")
    rates: list[tuple[float, str]] = []
    floors: list[float] = []
    for suite in suites:
        gates = project.settings_for(suite.name).gates
        if uses_rate_budget(gates):
            rates.append((gates.max_nfr, f"{suite.path}: max_nfr {percent(gates.max_nfr)}"))
        if gates.max_negative_flips is not None and len(suite):
            rate = gates.max_negative_flips / len(suite)
            rates.append((rate, f"{suite.path}: max_negative_flips {gates.max_negative_flips} of {len(suite)}"))
        if gates.min_accuracy_delta is not None:
            floors.append(gates.min_accuracy_delta)
    rate, source = min(rates)
    return Budget(rate, source, max(floors) if floors else None, margin_points)


@dataclass(frozen=True)
class Candidate:
    """One point of the grid: the ensemble's old weight and the cross-entropy weight it trains with. `sequence`:
    the one candidate of a generation task across tokenizers (sequence-level distillation has no weights)."""

    ensemble_weight: float
    ce_weight: float
    sequence: bool = False

    @property
    def label(self) -> str:
        return "sequence" if self.sequence else f"w={self.ensemble_weight:g} ce={self.ce_weight:g}"

    @property
    def slug(self) -> str:
        """A directory name: OUT/candidates/<slug>/."""
        return "sequence" if self.sequence else f"w{self.ensemble_weight:g}-ce{self.ce_weight:g}"


SEQUENCE_CANDIDATE = Candidate(0.0, 0.0, sequence=True)


def grid(weights: Sequence[float], ce_weights: Sequence[float]) -> list[Candidate]:
    """Every (w, ce) pair, in the order given, without repeats."""
    out: list[Candidate] = []
    for ce in ce_weights:
        for w in weights:
            for value, option in ((w, "--ensemble-weights"), (ce, "--ce-weights")):
                if not 0.0 <= value <= 1.0:
                    raise FixError(f"{option}: {value:g} is not between 0 and 1")
            candidate = Candidate(float(w), float(ce))
            if candidate not in out:
                out.append(candidate)
    if not out:
        raise FixError("--aim budget: the candidate grid is empty (give --ensemble-weights)")
    return out


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    """ "0.25,0.5" → (0.25, 0.5); one clear line naming the option otherwise."""
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise FixError(f"{option}: {text!r} is not a comma-separated list of numbers, e.g. 0.25,0.5,0.75") from None
    if not values:
        raise FixError(f"{option}: give at least one number, e.g. 0.25,0.5,0.75")
    return values


@dataclass(frozen=True)
class Point:
    """A model on the validation split: accuracy and NFR against the old model (n judged instances)."""

    label: str
    acc: float
    nfr: float
    nf: int
    n: int
    picked: str = ""  # which weights of the candidate: "epoch 3", "average of epochs 2-3"
    candidate: Candidate | None = None  # None for the reference rows (the old and the new model)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "acc": self.acc, "nfr": self.nfr, "nf": self.nf, "n": self.n}
        if self.picked:
            out["picked"] = self.picked
        if self.candidate is not None and not self.candidate.sequence:
            out["ensemble_weight"] = self.candidate.ensemble_weight
            out["ce_weight"] = self.candidate.ce_weight
        return out


def point_of(label: str, metrics: dict[str, Any], picked: str = "", candidate: Candidate | None = None) -> Point:
    return Point(label, metrics["val_acc"], metrics["val_nfr"], metrics["val_nf"], metrics["val_n"], picked, candidate)


def meets(point: Point, budget: Budget, acc_new: float | None) -> bool:
    if point.nfr > budget.target(point.n) + 1e-12:
        return False
    if budget.min_accuracy_delta is not None and acc_new is not None:
        return point.acc - acc_new >= budget.min_accuracy_delta - 1e-12
    return True


def choose(points: Sequence[Point], budget: Budget, acc_new: float | None) -> Point | None:
    """The most accurate candidate that meets the budget; else None. Ties on accuracy go to the lower NFR, then to
    the candidate nearer the old model (the larger old weight w: on every benchmark task w = 0.9 removed as many
    flips on the suite as w = 0.75 or more, docs/BENCHMARKS.md), then to the larger CE weight, then grid order."""
    ok = [(i, p) for i, p in enumerate(points) if p.candidate is not None and meets(p, budget, acc_new)]
    if not ok:
        return None

    def rank(ip: tuple[int, Point]) -> tuple[float, float, float, float, int]:
        i, p = ip
        assert p.candidate is not None
        return (-p.acc, p.nfr, -p.candidate.ensemble_weight, -p.candidate.ce_weight, i)

    return min(ok, key=rank)[1]


def choose_short_of_margin(points: Sequence[Point], budget: Budget, acc_new: float | None) -> Point | None:
    """When `choose` finds nothing: the most accurate candidate within the budget itself (no margin), same ties."""
    return choose(points, replace(budget, margin_points=0.0), acc_new)


def short_of_margin_line(point: Point, budget: Budget) -> str:
    """The warning said when the shipped candidate is within the budget but not its margin."""
    n = point.n
    return (
        f"fix --aim budget: warning: no candidate met {budget.describe(n)}; shipped {point.label} ({point.picked}), "
        f"the most accurate within the budget itself: validation NFR {percent(point.nfr)} ({point.nf}/{n}) is within "
        f"{points(budget.margin(n))} pts of {percent(budget.max_nfr)}, so the gate may fail it (see the before/after "
        "check); more --train data measures validation more finely"
    )


def frontier(points: Sequence[Point]) -> list[Point]:
    """The points no other point beats on both accuracy (higher) and NFR (lower), by increasing NFR."""
    keep = [
        p
        for p in points
        if not any((q.acc >= p.acc and q.nfr <= p.nfr) and (q.acc > p.acc or q.nfr < p.nfr) for q in points)
    ]
    return sorted(keep, key=lambda p: (p.nfr, -p.acc))


def miss_line(points: Sequence[Point], budget: Budget, base: TrainConfig | None = None) -> str:
    """Why nothing was shipped: what was measured on validation (the closest candidate, the new model, both models
    served together as the ceiling) and the flags that would help, each measured in docs/fix.md."""
    candidates = [p for p in points if p.candidate is not None]
    best = min(candidates, key=lambda p: (p.nfr, -p.acc))
    n = best.n

    def said(p: Point) -> str:
        return f"validation NFR {percent(p.nfr)} ({p.nf}/{p.n}) at accuracy {percent(p.acc)}"

    new = next((p for p in points if p.label == NEW_POINT), None)
    ceiling = next((p for p in points if p.label == CEILING_POINT), None)
    measured = [f"the closest was {best.label} with {said(best)}"]
    measured += [f"the new model has {said(new)}"] if new is not None else []
    measured += (
        [f"both models served and averaged (the ceiling of one distilled model) {said(ceiling)}"] if ceiling else []
    )
    helps = []
    if ceiling is None or meets(ceiling, budget, new.acc if new else None):
        # The teachers' mix meets the aim: the students stayed short of it, which more training closes.
        more = (
            f"--epochs {2 * base.epochs} or --lr {2 * base.lr:.2g}"
            if base is not None
            else "more --epochs or a larger --lr"
        )
        helps.append(f"more training ({more}: the students stayed short of their teachers)")
        weights = sorted({p.candidate.ensemble_weight for p in candidates if p.candidate and not p.candidate.sequence})
        if weights and weights[-1] < SINGLE_WEIGHT:
            helps.append(f"--ensemble-weights {SINGLE_WEIGHT:g} (nearer the old model)")
    else:
        helps.append("a looser budget: even both models served together miss it on validation")
    helps += [
        "more --train data (it also measures validation NFR more finely)",
        "inputs without labels for the teachers' term (--unlabelled FILE)",
    ]
    return (
        f"fix --aim budget: no candidate met {budget.describe(n)}; {'; '.join(measured)}. Nothing was shipped to "
        f'--out. What would help (measured in docs/fix.md, "When nothing meets the aim"): {", ".join(helps)}; every '
        "candidate is kept under candidates/ in --out"
    )


def new_accuracy(points: Sequence[Point]) -> float | None:
    """The new model's validation accuracy among `points` (its reference row), if there."""
    return next((p.acc for p in points if p.candidate is None and p.label == NEW_POINT), None)


def frontier_json(
    points: Sequence[Point],
    chosen: Point | None,
    budget: Budget,
    base: TrainConfig | None = None,
    short_of_margin: bool = False,
) -> dict[str, Any]:
    """The search's decisions as data, for the renderers (`muscle_guard.reports.fix_tables`) and the run report:
    each point with whether it meets the aim (None for the reference rows) and whether it is on the frontier."""
    n = max((p.n for p in points), default=0)
    on_frontier = {p.label for p in frontier(points)}
    acc_new = new_accuracy(points)
    return {
        "n": n,
        "budget": {
            "source": budget.source,
            "max_nfr": budget.max_nfr,
            "margin": budget.margin(n),
            "target_val_nfr": budget.target(n),
            "min_accuracy_delta": budget.min_accuracy_delta,
            "describe": budget.describe(n),
        },
        "points": [
            p.to_json()
            | {
                "meets": None if p.candidate is None else meets(p, budget, acc_new),
                "frontier": p.label in on_frontier,
            }
            for p in points
        ],
        "chosen": chosen.label if chosen is not None else None,
        "short_of_margin": short_of_margin,
        "warning": short_of_margin_line(chosen, budget) if chosen is not None and short_of_margin else None,
        "miss": None if chosen is not None else miss_line(points, budget, base),
    }
