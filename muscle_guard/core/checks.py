"""What the gate would refuse or silently misjudge about a suite under its settings, knowable without a model.

One guard for every front end (`validate`, the pytest plugin's collection, `predict`, `fix`): a label name the
settings do not define, or an exact-match answer that its normaliser turns into nothing (`final_number` on
"grape": every output without a number would then count as right).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from muscle_guard.core.config import ProjectConfig, SuiteSettings
from muscle_guard.core.errors import SuiteError
from muscle_guard.core.scoring import get_normaliser
from muscle_guard.core.suite import Shape, Suite, first_problems


def settings_problems(suite: Suite, settings: SuiteSettings, table: str) -> list[str]:
    """`path:line: message` for each instance the gate could not judge as meant under `settings` (set in `table`,
    e.g. "[tool.muscle-guard.suites.qa] in pyproject.toml")."""
    problems: list[str] = []
    for instance in suite.instances:
        where = f"{suite.path}:{instance.line}"
        if instance.shape is Shape.CLASSIFY:
            label = instance.label
            if isinstance(label, str) and label not in settings.labels:
                known = ", ".join(repr(name) for name in settings.labels) or "none are set"
                problems.append(
                    f"{where}: label {label!r} is not one of the labels ({known}); set labels = [...] in {table}, "
                    "or write the label as a class index"
                )
            elif isinstance(label, int) and settings.labels and label >= len(settings.labels):
                problems.append(
                    f"{where}: label {label} is out of range for the {len(settings.labels)} labels set in {table}"
                )
        elif instance.shape is Shape.GENERATE_EXACT:
            name = instance.normaliser or settings.normaliser
            if not get_normaliser(name)(str(instance.answer)):
                why = " (it holds no number)" if name == "final_number" else ""
                problems.append(
                    f"{where}: answer {instance.answer!r} is empty under the {name!r} normaliser{why}, so every "
                    "output that normalises to nothing would count as right; fix the answer or the normaliser"
                )
    return problems


def refuse_unjudgeable(suite: Suite, project: ProjectConfig, overrides: Mapping[str, Any] | None = None) -> None:
    """SuiteError listing `settings_problems` of `suite` under its settings in `project` (with `overrides`)."""
    problems = settings_problems(suite, project.settings_for(suite.name, overrides), project.table_of(suite.name))
    if problems:
        raise SuiteError(first_problems(problems, str(suite.path)))
