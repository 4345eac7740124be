"""`fix --unlabelled`: inputs without labels for the ensemble's teacher term, and the strategies that refuse them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import FixError
from muscle_guard.core.progress import message
from muscle_guard.core.suite import Shape, Suite
from muscle_guard.fix.data import Example, find_input_overlaps, load_unlabelled, normalise_for_overlap, refuse_overlaps
from muscle_guard.fix.request import FixRequest
from muscle_guard.fix.strategies import Strategy


def unlabelled_inputs(
    request: FixRequest, train: Suite, suites: Sequence[Suite], settings: SuiteSettings, start: int,
    validation: Sequence[Example],
) -> list[Example]:  # fmt: skip
    """--unlabelled inputs: none of a --suite's (unless --allow-overlap), none equal to a validation input."""
    if request.unlabelled is None:
        return []
    if request.requested_strategy is not Strategy.ENSEMBLE:
        raise unlabelled_refusal(f"with --strategy {request.requested_strategy.value}")
    if train.shape not in (Shape.CLASSIFY, Shape.MULTIPLE_CHOICE):
        raise FixError(
            f"--unlabelled: the teachers' term is distilled on class logits or choices; {request.train} is "
            f"{train.shape.value}, so drop --unlabelled"
        )
    extra = load_unlabelled(request.unlabelled, train.shape, settings, start)
    if not request.allow_overlap:
        refuse_overlaps(find_input_overlaps([(e.where, e.id, e.raw) for e in extra], suites))
    # A validation input distilled in training would make validation NFR measure memorisation of the teachers.
    seen = {normalise_for_overlap(e.context) for e in validation}
    kept = [e for e in extra if normalise_for_overlap(e.context) not in seen]
    if len(kept) < len(extra):
        message(
            f"fix: {len(extra) - len(kept)} --unlabelled input(s) equal a validation input and are left out, so "
            "validation stays unseen"
        )
    return [replace(e, index=start + i) for i, e in enumerate(kept)]


def unlabelled_refusal(how: str) -> FixError:
    return FixError(
        f"--unlabelled inputs have no labels, so they train only the ensemble's teacher term on class logits or "
        f"choices, not {how}: use --strategy ensemble (or --aim budget), with --level choice for multiple choice"
    )
