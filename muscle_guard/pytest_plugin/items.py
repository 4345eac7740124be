"""Suite files as pytest collectors: one item per instance, plus one `[gate]` item per suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.checks import refuse_unjudgeable
from muscle_guard.core.errors import MuscleGuardError, SuiteError
from muscle_guard.core.flips import Outcome
from muscle_guard.core.formatting import percent
from muscle_guard.core.outputs import shown_path
from muscle_guard.core.suite import Instance, Suite, load_suite
from muscle_guard.pytest_plugin.diff import flip_diff, gate_failure
from muscle_guard.pytest_plugin.state import muscle_session

GATE_NAME = "[gate]"


class MuscleFailure(Exception):
    """A failure whose text is shown as is, without a traceback."""


class SuiteFile(pytest.File):
    """A `.jsonl` suite. An invalid suite is one collection error listing every problem; others still run."""

    suite: Suite

    def collect(self) -> Iterator[pytest.Item]:
        try:
            self.suite = load_suite(self.path)
            muscle_session(self.config).claim_name(self.suite)
            session = muscle_session(self.config)
            session.settings_for(self.suite)  # bad per-suite settings fail here, once
            refuse_unjudgeable(self.suite, session.options.project, session.options.overrides)
            muscle_session(self.config).pair_for(self.suite)  # as a suite no model pair gates
        except MuscleGuardError as exc:
            muscle_session(self.config).broken_suites += 1
            problems = exc.problems if isinstance(exc, SuiteError) else (str(exc),)
            raise self.CollectError("\n".join(_relative(p, self.path, self.config) for p in problems)) from None
        for instance in self.suite.instances:
            yield InstanceItem.from_parent(self, name=instance.id, instance=instance)
        # Built from its string id: pytest 9 reads a stored id `x.jsonl::[gate]` (--lf, --sw) as an empty name
        # with parameters "gate", and matches only items whose id was made the same way.
        yield GateItem.from_parent(self, name=GATE_NAME, nodeid=f"{self.nodeid}::{GATE_NAME}")


class LogSuite(pytest.Collector):
    """A suite made from two evaluation logs (no file of its own): its node id is the task's name, so its tests
    are `TASK::doc-17`. Collected by the plugin when a run has no suite files (runtime.log_suite_items)."""

    def __init__(self, *, suite: Suite, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite

    def collect(self) -> Iterator[pytest.Item]:
        for instance in self.suite.instances:
            yield InstanceItem.from_parent(self, name=instance.id, instance=instance)
        yield GateItem.from_parent(self, name=GATE_NAME, nodeid=f"{self.nodeid}::{GATE_NAME}")


def _relative(problem: str, path: Path, config: pytest.Config) -> str:
    """`problem` with the suite's path (where it starts with it) as the user would type it: relative to where
    pytest runs."""
    absolute = str(path)
    if not problem.startswith(absolute):
        return problem
    return shown_path(path, config.invocation_params.dir) + problem[len(absolute) :]


class _MuscleItem(pytest.Item):
    parent: SuiteFile | LogSuite

    @property
    def suite(self) -> Suite:
        return self.parent.suite

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        # An outcome the plugin decided (a within-budget flip's xfail, a gate failure) is its message; pytest's
        # default would parse the source of every frame of its own runner for each one (seconds per 100 xfails).
        if isinstance(excinfo.value, (MuscleFailure, pytest.xfail.Exception)):
            return str(excinfo.value)
        if isinstance(excinfo.value, MuscleGuardError):
            return _relative(str(excinfo.value), self.path, self.config)
        return str(super().repr_failure(excinfo, style=style))


def _add_pair(item: pytest.Item, pair: str) -> None:
    """JUnit carries the model pair of a run of named pairs (a property `pair` on each test case)."""
    if pair:
        item.user_properties.append(("pair", pair))


class InstanceItem(_MuscleItem):
    """One instance: fails on a negative flip when the suite is over its budget, else xfails or passes."""

    def __init__(self, *, instance: Instance, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.instance = instance
        self.add_marker(pytest.mark.muscle_guard)

    def runtest(self) -> None:
        session = muscle_session(self.config)
        evaluation = session.evaluate(self.suite)
        outcome = evaluation.by_id[self.instance.id]
        _add_pair(self, session.pair_for(self.suite).label)
        self.user_properties.extend(
            [
                ("outcome", outcome.outcome.value),
                ("old_answer", outcome.old.answer),
                ("new_answer", outcome.new.answer),
                ("old_score", outcome.old.score),
                ("new_score", outcome.new.score),
            ]
        )
        if outcome.delta is not None:
            self.user_properties.append(("delta", outcome.delta))
        if outcome.outcome is not Outcome.NEGATIVE_FLIP:
            return
        waiver = evaluation.waived.get(self.instance.id)
        if waiver is not None:
            until = f", until {waiver.expires.isoformat()}" if waiver.expires else ""
            pytest.xfail(f"waived negative flip: {waiver.reason}{until}")
        if evaluation.verdict.flip_budget_exceeded:
            raise MuscleFailure(flip_diff(outcome, evaluation))
        m = evaluation.metrics
        if evaluation.verdict.notes:  # over the budget, but alpha says the flips are not significant
            pytest.xfail(f"negative flip tolerated: {evaluation.verdict.notes[0]}")
        pytest.xfail(
            f"negative flip within budget ({evaluation.verdict.budget}; suite NFR {percent(m.nfr)} = {m.nf}/{m.n})"
        )

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, max(self.instance.line - 1, 0), f"{self.suite.name}::{self.instance.id}"


class GateItem(_MuscleItem):
    """The suite's aggregate gates; its report carries the suite report to the controller."""

    payload: dict[str, Any] | None = None

    def runtest(self) -> None:
        session = muscle_session(self.config)
        evaluation = session.evaluate(self.suite)
        self.payload = session.gate_payload(evaluation)
        _add_pair(self, session.pair_for(self.suite).label)
        m = evaluation.metrics
        self.user_properties.extend(
            [("acc_old", m.acc_old), ("acc_new", m.acc_new), ("nf", m.nf), ("pf", m.pf), ("nfr", m.nfr)]
        )
        if not evaluation.verdict.passed:
            raise MuscleFailure(gate_failure(evaluation))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{self.suite.name}::{GATE_NAME}"
