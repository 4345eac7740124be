"""The pytest plugin (entry point `pytest11`): every suite instance becomes a test, flip budgets gate CI.

Dormant unless `--muscle-old`/`--muscle-new` (or their ini/pyproject keys, or model pairs) are set: it then registers
nothing, changes no collection and imports nothing heavy. When active, `runtime.MusclePlugin` is
registered and does the work.
"""

from __future__ import annotations

import pytest

from muscle_guard.pytest_plugin.fixtures import muscle_new, muscle_no_flip, muscle_old
from muscle_guard.pytest_plugin.options import add_options, read_options

__all__ = ["muscle_new", "muscle_no_flip", "muscle_old"]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "muscle_guard: an instance of a muscle-guard suite")
    options = read_options(config)
    if options.active:
        from muscle_guard.pytest_plugin.runtime import MusclePlugin
        from muscle_guard.reports.console import install_console

        install_console()

        config.pluginmanager.register(MusclePlugin(config, options), MusclePlugin.NAME)
