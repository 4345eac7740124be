"""The stash key of the run state; a module of its own so that dormant runs import nothing more."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from muscle_guard.pytest_plugin.session import MuscleSession

SESSION_KEY = pytest.StashKey["MuscleSession"]()


def muscle_session(config: pytest.Config) -> MuscleSession:
    return config.stash[SESSION_KEY]


def active_session(config: pytest.Config) -> MuscleSession | None:
    return config.stash.get(SESSION_KEY, None)
