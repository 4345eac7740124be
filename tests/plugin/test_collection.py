"""Which files become tests: suite instances in file order plus a gate per suite; nothing without models."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

CAPITALS = {"paris": "negative_flip", "rome": "positive_flip", "berlin": "both_right", "madrid": "both_wrong"}
STABLE = {"oslo": "both_right", "bern": "both_right"}


def test_every_instance_is_a_test_in_file_order_then_the_gate(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)

    run = project.run("--collect-only", "-q", *xdist_args)

    assert [line for line in run.stdout.splitlines() if "::" in line] == [
        "suites/capitals.jsonl::paris",
        "suites/capitals.jsonl::rome",
        "suites/capitals.jsonl::berlin",
        "suites/capitals.jsonl::madrid",
        "suites/capitals.jsonl::[gate]",
    ]


def test_without_models_the_plugin_is_dormant(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)
    project.pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")

    run = project.run(*xdist_args, old=None, new=None)

    assert run.outcomes == {"test_plain.py::test_plain": "passed"}
    assert "== muscle-guard ==" not in run.stdout  # no summary section


def test_help_lists_every_option_in_the_muscle_guard_group(project: Project) -> None:
    run = project.run("--help", old=None, new=None)

    group = run.stdout.split("muscle-guard: gate model upgrades on negative flips:")[1]
    for option in (
        "--muscle-old=MODEL",
        "--muscle-new=MODEL",
        "--muscle-suites=PATHS",
        "--muscle-max-nfr=FRACTION",
        "--muscle-max-negative-flips=N",
        "--muscle-min-accuracy-delta=DELTA",
        "--muscle-alpha=ALPHA",
        "--muscle-epsilon=EPS",
        "--muscle-waivers=FILE",
        "--muscle-cache-dir=DIR",
        "--muscle-batch-size=N",
        "--muscle-device=DEVICE",
        "--muscle-dtype=DTYPE",
        "--muscle-report=PATH.json",
        "--muscle-markdown=PATH.md",
        "--muscle-update-baseline=PATH",
        "--muscle-no-cache",
        "--muscle-trust-remote-code",
        "--muscle-allow-pickle",
    ):
        assert option in group
    assert "muscle_old (string)" in group  # every option is an ini key too


@pytest.mark.parametrize("unset", ["old", "new"])
def test_only_one_model_is_a_usage_error(project: Project, unset: str) -> None:
    project.suite("capitals", **CAPITALS)

    run = project.run(**{unset: None})

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: muscle-guard needs both models: --muscle-{unset} is not set" in run.stderr


CONFIG_FILES = {
    "pytest.ini": (
        "pytest.ini",
        "[pytest]\nmuscle_old = fake:models/old.json\nmuscle_new = fake:models/new.json\nmuscle_max_nfr = 0.5\n",
    ),
    "pyproject ini_options": (
        "pyproject.toml",
        "[tool.pytest.ini_options]\n"
        'muscle_old = "fake:models/old.json"\nmuscle_new = "fake:models/new.json"\nmuscle_max_nfr = "0.5"\n',
    ),
    "tool.muscle-guard": (
        "pyproject.toml",
        '[tool.muscle-guard]\nold = "fake:models/old.json"\nnew = "fake:models/new.json"\nmax_nfr = 0.5\n',
    ),
}


@pytest.mark.parametrize(("name", "text"), CONFIG_FILES.values(), ids=CONFIG_FILES.keys())
def test_models_and_budgets_can_come_from_config_files(
    project: Project, name: str, text: str, xdist_args: list[str]
) -> None:
    project.write(name, text)
    project.suite("capitals", **CAPITALS)

    run = project.run(*xdist_args, old=None, new=None)

    # One negative flip in four is within the configured 50% budget: an xfail, and the gate passes.
    assert run.outcomes["suites/capitals.jsonl::paris"] == "xfailed"
    assert run.outcomes["suites/capitals.jsonl::[gate]"] == "passed"
    assert run.ret == pytest.ExitCode.OK


def test_a_jsonl_outside_the_suites_is_collected_only_when_named(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **STABLE)
    project.suite("notes", folder="data", **STABLE)

    by_default = project.run(*xdist_args)
    named = project.run("data/notes.jsonl", *xdist_args)

    assert sorted(by_default.outcomes) == [
        "suites/capitals.jsonl::[gate]",
        "suites/capitals.jsonl::bern",
        "suites/capitals.jsonl::oslo",
    ]
    assert sorted(named.outcomes) == ["data/notes.jsonl::[gate]", "data/notes.jsonl::bern", "data/notes.jsonl::oslo"]


def test_muscle_suites_points_at_another_folder(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **STABLE)
    project.suite("rivers", folder="other", **STABLE)

    run = project.run("--muscle-suites=other/", *xdist_args)

    assert sorted(run.outcomes) == [
        "other/rivers.jsonl::[gate]",
        "other/rivers.jsonl::bern",
        "other/rivers.jsonl::oslo",
    ]


def test_a_broken_suite_is_one_collection_error_and_other_suites_still_run(
    project: Project, xdist_args: list[str]
) -> None:
    project.suite("capitals", **CAPITALS)
    project.write_lines(
        "suites/broken.jsonl",
        [{"id": "fine", "prompt": "p", "choices": [" a", " b"], "answer": 0}, '{"id": "oops", "prompt": }'],
    )

    run = project.run(*xdist_args)

    assert list(run.collection_errors) == ["suites/broken.jsonl"]
    assert "suites/broken.jsonl:2: invalid JSON" in run.collection_errors["suites/broken.jsonl"]
    assert run.outcomes == {
        "suites/capitals.jsonl::paris": "failed",
        "suites/capitals.jsonl::rome": "passed",
        "suites/capitals.jsonl::berlin": "passed",
        "suites/capitals.jsonl::madrid": "passed",
        "suites/capitals.jsonl::[gate]": "failed",
    }
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert "Traceback" not in run.stdout
