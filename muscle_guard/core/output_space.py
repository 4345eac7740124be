"""A model's output space against a suite's: checked before anything is scored.

A classifier with 3 classes scored against a suite with 2 labels would give answers such as '2' that are
simply counted wrong, and a baseline with 3 log-likelihoods for a 2-choice question would be scored on the
first two: a verdict that is silently wrong. Every source of predictions (a live model, the cache, a baseline
file) passes through `check_output_space` before evaluation.
"""

from __future__ import annotations

from collections.abc import Mapping

from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BackendError
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.suite import Shape, Suite


def expected_classes(suite: Suite, settings: SuiteSettings) -> tuple[int, str]:
    """(the fewest classes a classifier needs for `suite`, where that number comes from); exact with labels."""
    if settings.labels:
        return len(settings.labels), f"{len(settings.labels)} labels ({', '.join(settings.labels)})"
    top = max((i.label for i in suite.instances if isinstance(i.label, int)), default=0)
    return top + 1, f"labels up to {top}"


def _classes_fit(n_classes: int, suite: Suite, settings: SuiteSettings) -> bool:
    needed, _ = expected_classes(suite, settings)
    return n_classes == needed if settings.labels else n_classes >= needed


def _refuse(model: ModelInfo, n_classes: int, suite: Suite, settings: SuiteSettings) -> BackendError:
    _, what = expected_classes(suite, settings)
    return BackendError(
        f"{suite.path}: model {model.ref} has {n_classes} classes but the suite has {what}; use a classifier "
        f"trained for this suite's labels, or set 'labels' for suite '{suite.name}' in [tool.muscle-guard]"
    )


def check_model_classes(model: ModelInfo, suite: Suite, settings: SuiteSettings) -> None:
    """Before any model call: a classifier that says how many classes it has must fit the suite."""
    n = model.details.get("num_labels")
    if suite.shape is Shape.CLASSIFY and isinstance(n, int) and not _classes_fit(n, suite, settings):
        raise _refuse(model, n, suite, settings)


def check_output_space(
    model: ModelInfo, suite: Suite, settings: SuiteSettings, predictions: Mapping[str, Prediction]
) -> None:
    """Every prediction has one probability per class of the suite, or one log-likelihood per choice."""
    if suite.shape is Shape.CLASSIFY:
        sizes = {len(p.probs) for p in predictions.values() if p.probs}
        for n in sorted(sizes):
            if not _classes_fit(n, suite, settings):
                raise _refuse(model, n, suite, settings)
        if len(sizes) > 1:
            raise BackendError(f"{suite.path}: the predictions of model {model.ref} have {sorted(sizes)} classes")
        return
    if suite.shape is Shape.MULTIPLE_CHOICE:
        for instance in suite.instances:
            prediction = predictions.get(instance.id)
            if prediction is not None and prediction.logliks and len(prediction.logliks) != len(instance.choices):
                raise BackendError(
                    f"{suite.path}:{instance.line} (id {instance.id!r}): model {model.ref} gave "
                    f"{len(prediction.logliks)} log-likelihoods for {len(instance.choices)} choices; its "
                    "predictions are for another version of this suite: predict it again"
                )
