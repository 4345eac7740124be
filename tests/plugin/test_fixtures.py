"""Fixtures for hand-written tests: `muscle_no_flip` checks one instance, `muscle_old`/`muscle_new` are the models."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

CUSTOM_TESTS = """
PARIS = {"id": "paris", "prompt": "Capital of France?", "choices": [" Paris", " Rome"], "answer": 0}
ROME = {"id": "rome", "prompt": "Capital of Italy?", "choices": [" Paris", " Rome"], "answer": 1}


def test_paris_stays_right(muscle_no_flip):
    outcome = muscle_no_flip(PARIS)
    assert outcome.outcome.value == "both_right"


def test_rome_stays_right(muscle_no_flip):
    muscle_no_flip(ROME)


def test_the_models_answer_directly(muscle_old, muscle_new):
    assert muscle_old.judge(ROME).correct
    assert not muscle_new.judge(ROME).correct
"""


def test_muscle_no_flip_fails_on_a_negative_flip_and_passes_on_a_stable_instance(
    project: Project, xdist_args: list[str]
) -> None:
    project.teach("old", {"Capital of France?": 0, "Capital of Italy?": 1})
    project.teach("new", {"Capital of France?": 0, "Capital of Italy?": 0})
    project.pytester.makepyfile(test_custom=CUSTOM_TESTS)

    run = project.run(*xdist_args)

    assert run.outcomes == {
        "test_custom.py::test_paris_stays_right": "passed",
        "test_custom.py::test_rome_stays_right": "failed",
        "test_custom.py::test_the_models_answer_directly": "passed",
    }
    assert run.longrepr("test_custom.py::test_rome_stays_right") == (
        "negative flip on rome: old 'Rome' (right), new 'Paris' (wrong); reference 'Rome'; prompt 'Capital of Italy?'"
    )


def test_model_fixtures_skip_when_the_plugin_is_not_active(project: Project, xdist_args: list[str]) -> None:
    project.pytester.makepyfile(test_custom=CUSTOM_TESTS)

    run = project.run("-rs", *xdist_args, old=None, new=None)

    assert set(run.outcomes.values()) == {"skipped"}
    assert len(run.outcomes) == 3
    assert "muscle-guard is not active: pass --muscle-old and --muscle-new" in run.stdout
