"""What the fix trains on and keeps of the teachers: closed sets of names, as enums rather than strings."""

from __future__ import annotations

from enum import Enum

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
