"""What the gate would refuse or silently misjudge about a suite under its settings, knowable without a model.

One guard for every front end (`validate`, the pytest plugin's collection, `predict`, `fix`): a label name the
settings do not define, or an exact-match answer that its normaliser turns into nothing (`final_number` on
"grape": every output without a number would then count as right).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from muscle_guard.core.config import ProjectConfig, SuiteSettings
from muscle_guard.core.errors import SuiteError
from muscle_guard.core.scoring import get_normaliser
from muscle_guard.core.suite import Shape, Suite, first_problems


def settings_problems(suite: Suite, settings: SuiteSettings, table: str) -> list[str]:
    """`path:line: message` for each problem the gate could not judge as meant under `settings` (set in `table`,
    e.g. "[tool.muscle-guard.suites.qa] in pyproject.toml"), at its first line, with how many more lines have it:
    a suite of 10,000 rows with string labels and no `labels` is one line, not 10,000."""
    found: dict[str, list[int]] = {}
    for message, line in _problems(suite, settings, table):
        found.setdefault(message, []).append(line)
    out = []
    for message, lines in found.items():
        more = f" (and {len(lines) - 1} more line{'s' if len(lines) > 2 else ''} like it)" if len(lines) > 1 else ""
        out.append(f"{suite.path}:{lines[0]}: {message}{more}")
    return out


def _problems(suite: Suite, settings: SuiteSettings, table: str) -> Iterator[tuple[str, int]]:
    for instance in suite.instances:
        where = instance.line
        if instance.shape is Shape.CLASSIFY:
            label = instance.label
            if isinstance(label, str) and label not in settings.labels:
                known = ", ".join(repr(name) for name in settings.labels) or "none are set"
                yield (
                    (
                        f"label {label!r} is not one of the labels ({known}); set labels = [...] in {table}, "
                        "or write the label as a class index"
                    ),
                    where,
                )
            elif isinstance(label, int) and settings.labels and label >= len(settings.labels):
                yield f"label {label} is out of range for the {len(settings.labels)} labels set in {table}", where
        elif instance.shape is Shape.GENERATE_EXACT:
            name = instance.normaliser or settings.normaliser
            if not get_normaliser(name)(str(instance.answer)):
                why = " (it holds no number)" if name == "final_number" else ""
                yield (
                    (
                        f"answer {instance.answer!r} is empty under the {name!r} normaliser{why}, so every "
                        "output that normalises to nothing would count as right; fix the answer or the normaliser"
                    ),
                    where,
                )


def refuse_unjudgeable(suite: Suite, project: ProjectConfig, overrides: Mapping[str, Any] | None = None) -> None:
    """SuiteError listing `settings_problems` of `suite` under its settings in `project` (with `overrides`)."""
    problems = settings_problems(suite, project.settings_for(suite.name, overrides), project.table_of(suite.name))
    if problems:
        raise SuiteError(first_problems(problems, str(suite.path)))
