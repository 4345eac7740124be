"""Fixtures for hand-written tests: lazy handles to the old and new models and a no-flip assertion.

def test_capital_of_france(muscle_no_flip):
    muscle_no_flip({"id": "paris", "prompt": "The capital of France is", "choices": [" Paris", " Rome"], "answer": 0})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from muscle_guard.pytest_plugin.state import active_session

if TYPE_CHECKING:
    from muscle_guard.core.config import SuiteSettings
    from muscle_guard.core.flips import InstanceOutcome
    from muscle_guard.core.predictions import Prediction
    from muscle_guard.core.scoring import Judgement
    from muscle_guard.core.suite import Instance
    from muscle_guard.pytest_plugin.session import MuscleSession


@dataclass(frozen=True)
class ModelHandle:
    """The old or new model of the run; it loads on first use (shared with the suites). In a run of several model
    pairs, `suite` picks the pair that gates that suite."""

    session: MuscleSession
    side: str

    def settings(self, suite: str = "") -> SuiteSettings:
        """The project's settings for `suite` ([tool.muscle-guard] defaults when empty), with overrides."""
        return self.session.options.project.settings_for(suite, self.session.options.overrides)

    def predict(
        self, instance: Instance | Mapping[str, Any], settings: SuiteSettings | None = None, suite: str = ""
    ) -> Prediction:
        from muscle_guard.core.baseline import BaselineFile
        from muscle_guard.core.errors import ConfigError
        from muscle_guard.core.pipeline import run_instances
        from muscle_guard.core.suite import parse_instance

        item = instance if not isinstance(instance, Mapping) else parse_instance(dict(instance))
        try:
            pair = self.session.pair_for(suite)
        except ConfigError as exc:
            pytest.fail(f"{exc}; or pass suite=NAME to pick the pair of that suite", pytrace=False)
        source = self.session.source(self.side, pair)
        if isinstance(source, BaselineFile):
            pytest.fail(
                f"{pair.option(self.side)} is a baseline file: custom instances need a live model", pytrace=False
            )
        return run_instances(source, item.shape, [item], settings or self.settings(suite), pair.prompt(self.side))[0]

    def judge(
        self, instance: Instance | Mapping[str, Any], settings: SuiteSettings | None = None, suite: str = ""
    ) -> Judgement:
        from muscle_guard.core.scoring import judge
        from muscle_guard.core.suite import parse_instance

        item = instance if not isinstance(instance, Mapping) else parse_instance(dict(instance))
        resolved = settings or self.settings(suite)
        return judge(item, self.predict(item, resolved, suite), resolved)


def _session(request: pytest.FixtureRequest) -> MuscleSession:
    session = active_session(request.config)
    if session is None:
        pytest.skip("muscle-guard is not active: pass --muscle-old and --muscle-new")
    return session


@pytest.fixture(scope="session")
def muscle_old(request: pytest.FixtureRequest) -> ModelHandle:
    """The old model of this run (`--muscle-old`)."""
    return ModelHandle(_session(request), "old")


@pytest.fixture(scope="session")
def muscle_new(request: pytest.FixtureRequest) -> ModelHandle:
    """The new model of this run (`--muscle-new`)."""
    return ModelHandle(_session(request), "new")


@pytest.fixture
def muscle_no_flip(muscle_old: ModelHandle, muscle_new: ModelHandle) -> Callable[..., InstanceOutcome]:
    """Assert that a custom instance does not flip negatively; returns the comparison."""

    def check(
        instance: Instance | Mapping[str, Any], settings: SuiteSettings | None = None, suite: str = ""
    ) -> InstanceOutcome:
        """`suite` names a suite whose [tool.muscle-guard] settings (template, normaliser, labels) and model pair
        apply."""
        from muscle_guard.core.evaluate import compare_predictions
        from muscle_guard.core.flips import Outcome
        from muscle_guard.core.suite import parse_instance
        from muscle_guard.pytest_plugin.diff import trim

        item = instance if not isinstance(instance, Mapping) else parse_instance(dict(instance))
        resolved = settings or muscle_old.settings(suite)
        outcome = compare_predictions(
            item, resolved, muscle_old.predict(item, resolved, suite), muscle_new.predict(item, resolved, suite)
        )
        if outcome.outcome is Outcome.NEGATIVE_FLIP:
            pytest.fail(
                f"negative flip on {item.id}: old {outcome.old.answer!r} (right), new {outcome.new.answer!r} "
                f"(wrong); reference {outcome.reference!r}; prompt {trim(outcome.prompt, 200)!r}",
                pytrace=False,
            )
        return outcome

    return check
