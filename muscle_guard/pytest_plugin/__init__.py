"""The pytest plugin (entry point `pytest11`): dormant unless `--muscle-old/--muscle-new` are set."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("muscle-guard", "muscle-guard: gate model upgrades on negative flips")
    group.addoption("--muscle-old", dest="muscle_old", metavar="MODEL", default=None, help="old model reference")
    group.addoption("--muscle-new", dest="muscle_new", metavar="MODEL", default=None, help="new model reference")
