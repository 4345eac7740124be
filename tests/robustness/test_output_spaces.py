"""Catalogue: a model whose output space does not fit a suite is refused before anything is scored.

A 3-class classifier scored against a 2-label suite used to give answers such as '2' that were counted wrong:
a verdict without a word of warning. Now that suite fails (every item, one line naming the model, the suite
and what to do), the other suites run, and `muscle-guard predict` exits 2 and writes no baseline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BackendError
from muscle_guard.core.output_space import check_output_space
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.suite import load_suite
from muscle_guard.testing import tiny_models as tm
from tests.robustness.conftest import Project, TinyModels, assert_no_traceback


@dataclass(frozen=True)
class Case:
    classes: int  # of the new model (a fake classifier); the old one has `fits` classes, which fit the suite
    fits: int
    labels: list[int | str]  # of the suite's lines
    settings: str  # the suite's table in [tool.muscle-guard.suites.reviews]
    what: str  # how the message describes the suite's side


CASES = {
    "3 classes, 2 labels configured": Case(3, 2, ["neg", "pos"], 'labels = ["neg", "pos"]', "2 labels (neg, pos)"),
    "2 classes, 3 labels configured": Case(
        2, 3, ["neg", "pos"], 'labels = ["neg", "pos", "mixed"]', "3 labels (neg, pos, mixed)"
    ),
    "2 classes, integer labels up to 2": Case(2, 3, [0, 1, 2], "", "labels up to 2"),
    "4 classes, 3 labels configured": Case(4, 3, [0, 1, 2], 'labels = ["a", "b", "c"]', "3 labels (a, b, c)"),
}


def write_reviews(project: Project, case: Case) -> None:
    lines = [{"id": f"r{i}", "text": f"review {i}", "label": label} for i, label in enumerate(case.labels)]
    project.write_lines("suites/reviews.jsonl", lines)
    table = f"[tool.muscle-guard.suites.reviews]\n{case.settings}\n" if case.settings else ""
    project.write("pyproject.toml", "[tool.muscle-guard]\n" + table)
    for side, classes in (("old", case.fits), ("new", case.classes)):
        project.write(f"models/cls-{side}.json", json.dumps({"answers": {}, "classes": classes}))


def message(case: Case, model: str, classes: int, suite: str = "suites/reviews.jsonl") -> str:
    return (
        f"{suite}: model {model} has {classes} classes but the suite has {case.what}; use a classifier "
        "trained for this suite's labels, or set 'labels' for suite 'reviews' in [tool.muscle-guard]"
    )


@pytest.mark.parametrize("name", list(CASES))
def test_pytest_fails_the_suite_with_one_line(project: Project, name: str) -> None:
    case = CASES[name]
    write_reviews(project, case)
    run = project.pytest("suites/reviews.jsonl", old="fake:models/cls-old.json", new="fake:models/cls-new.json")

    items = {f"suites/reviews.jsonl::r{i}" for i in range(len(case.labels))} | {"suites/reviews.jsonl::[gate]"}
    assert run.outcomes == dict.fromkeys(items, "failed")
    assert {run.longrepr(n) for n in items} == {message(case, "fake:cls-new", case.classes)}
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert_no_traceback(run.output)


@pytest.mark.parametrize("name", list(CASES))
def test_predict_refuses_and_writes_no_baseline(project: Project, name: str) -> None:
    case = CASES[name]
    write_reviews(project, case)
    before = project.files()

    result = project.cli("predict", "fake:models/cls-new.json", "suites/reviews.jsonl", "-o", "baseline.jsonl")

    assert result.exit_code == 2
    assert result.error_lines() == ["Error: " + message(case, "fake:cls-new", case.classes)]
    assert project.files() == before
    assert_no_traceback(result.output)


def test_a_real_classifier_is_refused_before_it_runs(project: Project, tiny: TinyModels) -> None:
    # transformers models say how many classes they have (config.num_labels): no text is classified at all.
    model = tm.build_classifier(project.path / "models/cls", tiny.tokenizer, seed=0, max_positions=64)
    case = CASES["2 classes, 3 labels configured"]
    write_reviews(project, case)

    result = project.cli("predict", str(model), "suites/reviews.jsonl", "-o", "baseline.jsonl", "--device", "cpu")

    assert result.exit_code == 2
    assert result.error_lines() == ["Error: " + message(case, str(model), 2)]
    assert not (project.path / "baseline.jsonl").exists()


def test_predictions_that_do_not_fit_are_refused_whatever_their_source(project: Project) -> None:
    # A source that does not say how many classes it has (a baseline file, a plugin backend) is checked on its
    # predictions, before any scoring; so are log-likelihoods against the choices of each question.
    write_reviews(project, CASES["3 classes, 2 labels configured"])
    suite = load_suite(project.path / "suites/reviews.jsonl")
    settings = SuiteSettings(labels=("neg", "pos"))
    model = ModelInfo("baseline:old.jsonl", "baseline", "f" * 32)
    check_output_space(model, suite, settings, {i.id: Prediction(i.id, probs=(0.4, 0.6)) for i in suite.instances})
    wide = {i.id: Prediction(i.id, probs=(0.2, 0.3, 0.5)) for i in suite.instances}
    with pytest.raises(BackendError, match=r"reviews\.jsonl: model baseline:old\.jsonl has 3 classes but the suite"):
        check_output_space(model, suite, settings, wide)

    project.write_lines("suites/mc.jsonl", [{"id": "q", "prompt": "Sky?", "choices": [" red", " blue"], "answer": 1}])
    mc = load_suite(project.path / "suites/mc.jsonl")
    with pytest.raises(BackendError, match=r"mc\.jsonl:1 \(id 'q'\): model baseline:old\.jsonl gave 3 log-lik"):
        check_output_space(model, mc, SuiteSettings(), {"q": Prediction("q", logliks=(-1.0, -2.0, -3.0))})
