"""Successive versions: the reports of the gates v1 → v2, v2 → v3, … read as one history.

Each report is one step, in the order given. Per suite, a step has its old and new accuracy, its negative and
positive flips and its gate, and the ids of the instances that regressed at that step; an instance that regressed
at more than one step is a repeat offender (the users who hit it once hit it again).
"""

from __future__ import annotations

from dataclasses import dataclass

from muscle_guard.core.errors import ReportError
from muscle_guard.core.flips import Outcome
from muscle_guard.core.report import RunReport, SuiteReport


@dataclass(frozen=True)
class StepRow:
    """One suite at one step (None: the step's report has no such suite)."""

    step: int
    old_ref: str
    new_ref: str
    suite: SuiteReport | None

    @property
    def regressed(self) -> tuple[str, ...]:
        """Ids of the suite's negative flips at this step, sorted."""
        if self.suite is None:
            return ()
        return tuple(sorted(o.id for o in self.suite.outcomes if o.outcome is Outcome.NEGATIVE_FLIP))


@dataclass(frozen=True)
class SuiteHistory:
    name: str
    steps: tuple[StepRow, ...]

    @property
    def repeated(self) -> tuple[str, ...]:
        """Instances that regressed at two or more steps, sorted."""
        seen: dict[str, int] = {}
        for row in self.steps:
            for id_ in row.regressed:
                seen[id_] = seen.get(id_, 0) + 1
        return tuple(sorted(i for i, count in seen.items() if count > 1))


@dataclass(frozen=True)
class VersionHistory:
    """The steps (reports, in order) and every suite any of them has, in first-seen order."""

    reports: tuple[RunReport, ...]
    suites: tuple[SuiteHistory, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """v1, v2, … : the first step's old model, then each step's new model."""
        return tuple(f"v{i + 1}" for i in range(len(self.reports) + 1))


def version_history(reports: list[RunReport]) -> VersionHistory:
    """The history of successive gate runs; a fix run's report is a step from old to the fixed model."""
    if len(reports) < 2:
        raise ReportError(f"a version history needs at least two reports, got {len(reports)}")
    names: dict[str, None] = {}
    for report in reports:
        names.update((s.name, None) for s in report.suites)
    suites = []
    for name in names:
        rows = []
        for step, report in enumerate(reports):
            suite = next((s for s in report.suites if s.name == name), None)
            models = report.models_of(suite) if suite is not None else None
            old = models.old.ref if models else report.old.ref
            new = models.new.ref if models else report.new.ref
            rows.append(StepRow(step, old, new, suite))
        suites.append(SuiteHistory(name, tuple(rows)))
    return VersionHistory(tuple(reports), tuple(suites))
