"""What the fix trains on and keeps of the teachers: closed sets of names, as enums rather than strings.

`correct_on` lives here too: the prepare phase (the old model on the validation split) and the training loop
(the student on it) judge with it, exactly as the gate does.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Any

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.pipeline import run_instances
from muscle_guard.core.scoring import judge
from muscle_guard.core.suite import Instance
from muscle_guard.fix.strategies import Strategy


class Mode(str, Enum):
    """How a batch is fed to the loss."""

    CLASSIFY = "classify"  # one distribution per instance: its class logits
    CHOICE = "choice"  # one distribution per instance: its choices' log-likelihoods
    TOKENS = "tokens"  # every context and target position, padding excluded
    SEQUENCE = "sequence"  # the target's tokens only (sequence-level distillation)
    NONE = "none"  # no teacher outputs at all (--strategy ce)


class TeacherForm(str, Enum):
    """What the teacher cache holds per instance."""

    FULL = "full"  # full-vocabulary next-token logits
    TOPK = "topk"  # the top-k logits per token and the tail's mass
    SCORES = "scores"  # class logits or choice log-likelihoods
    NONE = "none"


def mode_of(strategy: Strategy, task: str, choice_level: bool = False) -> Mode:
    """How a batch is fed: class logits, choice log-likelihoods, every token, or the target's tokens only."""
    if task == "classify":
        return Mode.CLASSIFY
    if strategy is Strategy.CHOICE or choice_level:
        return Mode.CHOICE
    return Mode.SEQUENCE if strategy is Strategy.SEQUENCE else Mode.TOKENS


def correct_on(backend: Any, instances: Sequence[Instance], settings: SuiteSettings) -> dict[str, bool]:
    """Whether `backend` answers each instance right, predicted and judged exactly as the gate does."""
    if not instances:
        return {}
    predictions = run_instances(backend, instances[0].shape, instances, settings)
    return {i.id: judge(i, p, settings).correct for i, p in zip(instances, predictions, strict=True)}
