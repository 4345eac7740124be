"""A team's upgrade in one run: every task adapter pair from `[tool.muscle-guard.pairs.NAME]` gates its suites.

Two pairs with their own fake models: `sentiment` (old_s → new_s) gates `reviews`, `sarcasm` (old_c → new_c) gates
`headlines`. Each pair's models answer only their own suite's prompts, so a suite gated by the wrong pair would
show other outcomes than the ones written here.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

from tests.plugin.conftest import CHOICES, PICKS, prompt

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

PAIRS = """
[tool.muscle-guard]
max_nfr = 0.0

[tool.muscle-guard.pairs.sentiment]
old = "fake:models/old_s.json"
new = "fake:models/new_s.json"
suites = ["reviews"]

[tool.muscle-guard.pairs.sarcasm]
old = "fake:models/old_c.json"
new = "fake:models/new_c.json"
suites = ["headlines"]
"""


def pair_suite(project: Project, name: str, models: tuple[str, str], **outcome_by_id: str) -> None:
    """Write suites/NAME.jsonl and teach only this pair's models (`models` = old, new) its answers."""
    picks = {i: PICKS[outcome] for i, outcome in outcome_by_id.items()}
    project.write_lines(
        f"suites/{name}.jsonl",
        [{"id": i, "prompt": prompt(i), "choices": CHOICES, "answer": right} for i, (right, _, _) in picks.items()],
    )
    project.teach(models[0], {prompt(i): old for i, (_, old, _) in picks.items()})
    project.teach(models[1], {prompt(i): new for i, (_, _, new) in picks.items()})


def team(project: Project, pyproject: str = PAIRS) -> None:
    project.write("pyproject.toml", pyproject)
    pair_suite(project, "reviews", ("old_s", "new_s"), good="negative_flip", bad="positive_flip", fine="both_right")
    pair_suite(project, "headlines", ("old_c", "new_c"), wry="both_right", dry="positive_flip")


def test_one_run_gates_each_suite_with_its_own_pair(project: Project, xdist_args: list[str]) -> None:
    team(project)

    run = project.run("--muscle-report=report.json", "--junitxml=junit.xml", *xdist_args, old=None, new=None)

    assert run.outcomes == {
        "suites/headlines.jsonl::wry": "passed",
        "suites/headlines.jsonl::dry": "passed",
        "suites/headlines.jsonl::[gate]": "passed",
        "suites/reviews.jsonl::good": "failed",
        "suites/reviews.jsonl::bad": "passed",
        "suites/reviews.jsonl::fine": "passed",
        "suites/reviews.jsonl::[gate]": "failed",
    }
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert {s["name"]: s["pair"] for s in report["suites"]} == {"headlines": "sarcasm", "reviews": "sentiment"}
    assert {name: (p["old"]["ref"], p["new"]["ref"]) for name, p in report["pairs"].items()} == {
        "sarcasm": ("fake:old_c", "fake:new_c"),
        "sentiment": ("fake:old_s", "fake:new_s"),
    }
    assert "muscle-guard: 2 model pairs" in run.stdout
    assert "pair sentiment: fake:old_s -> fake:new_s" in run.words
    assert "│ sentiment │ reviews │ 3 │" in run.words  # the summary's pair column
    cases = ET.parse(project.path / "junit.xml").getroot().iter("testcase")
    pairs = {
        case.get("name"): {p.get("value") for p in case.iter("property") if p.get("name") == "pair"} for case in cases
    }
    assert pairs["good"] == {"sentiment"}
    assert pairs["wry"] == {"sarcasm"}


def test_each_model_of_each_pair_predicts_its_suite_once(project: Project, xdist_args: list[str]) -> None:
    team(project)

    project.run(*xdist_args, old=None, new=None)
    project.run(*xdist_args, old=None, new=None)  # warm: everything comes from the cache

    cache_files = sorted((project.path / ".muscle-cache" / "predictions").rglob("*.jsonl"))
    assert sorted(len(p.read_text(encoding="utf-8").splitlines()) for p in cache_files) == [2, 2, 3, 3]


def test_the_command_line_pair_replaces_the_configured_pairs(project: Project) -> None:
    team(project)
    project.suite("reviews", good="both_right", bad="both_right", fine="both_right")
    project.suite("headlines", wry="negative_flip", dry="both_right")

    run = project.run("--muscle-report=report.json")  # --muscle-old/--muscle-new: fake:old -> fake:new for all

    assert run.outcomes["suites/reviews.jsonl::good"] == "passed"
    assert run.outcomes["suites/headlines.jsonl::wry"] == "failed"
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert report["pairs"] == {}
    assert {s["pair"] for s in report["suites"]} == {""}
    assert "2 model pairs" not in run.stdout


def test_a_default_pair_gates_the_suites_no_pair_lists(project: Project) -> None:
    team(
        project,
        PAIRS.replace("max_nfr = 0.0", 'max_nfr = 0.0\nold = "fake:models/old.json"\nnew = "fake:models/new.json"'),
    )
    project.suite("capitals", paris="negative_flip")

    run = project.run("--muscle-report=report.json", old=None, new=None)

    assert run.outcomes["suites/capitals.jsonl::paris"] == "failed"
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert {s["name"]: s["pair"] for s in report["suites"]} == {
        "capitals": "",
        "headlines": "sarcasm",
        "reviews": "sentiment",
    }
    assert "pair default: fake:old -> fake:new" in run.words


def test_a_suite_no_pair_gates_is_one_collection_error_and_the_others_still_run(project: Project) -> None:
    team(project)
    project.suite("capitals", paris="negative_flip")

    run = project.run(old=None, new=None)

    assert run.ret == pytest.ExitCode.TESTS_FAILED
    (error,) = run.collection_errors.values()
    assert "no model pair gates suite 'capitals'" in error
    assert "sentiment, sarcasm" in error
    assert run.outcomes["suites/headlines.jsonl::[gate]"] == "passed"


def test_a_pair_that_lists_a_suite_the_run_lacks_is_named(project: Project) -> None:
    team(project, PAIRS.replace('suites = ["headlines"]', 'suites = ["headlines", "headlnies"]'))

    run = project.run(old=None, new=None)

    assert "[tool.muscle-guard.pairs.sarcasm]: suite 'headlnies' is not in this run" in run.words


def test_update_baseline_writes_one_baseline_per_pair_that_then_stands_in_for_its_old_model(
    project: Project, xdist_args: list[str]
) -> None:
    team(project)

    live = project.run("--muscle-update-baseline=baselines", *xdist_args, old=None, new=None)
    frozen_pairs = PAIRS.replace("fake:models/old_s.json", "baselines/sentiment.jsonl").replace(
        "fake:models/old_c.json", "baselines/sarcasm.jsonl"
    )
    project.write("pyproject.toml", frozen_pairs)
    for name in ("old_s", "old_c"):
        (project.path / "models" / f"{name}.json").unlink()
    frozen = project.run(*xdist_args, old=None, new=None)

    assert sorted(p.name for p in (project.path / "baselines").iterdir()) == ["sarcasm.jsonl", "sentiment.jsonl"]
    header = json.loads((project.path / "baselines" / "sentiment.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert (header["model"]["ref"], list(header["suites"])) == ("fake:old_s", ["reviews"])
    assert frozen.outcomes == live.outcomes
    assert len(live.outcomes) == 7
    assert "muscle-guard wrote baselines/sarcasm.jsonl" in live.stdout


def test_one_baseline_file_for_several_pairs_is_refused(project: Project) -> None:
    team(project)

    run = project.run("--muscle-update-baseline=base.jsonl", old=None, new=None)

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "this run has 2 model pairs" in run.stderr
    assert "pass a directory" in run.stderr


def test_a_hand_written_test_picks_the_pair_of_the_suite_it_names(project: Project) -> None:
    team(project)
    project.teach("old_c", {"Sarcastic?": 0})
    project.teach("new_c", {"Sarcastic?": 1})
    project.write(
        "test_custom.py",
        "def test_sarcasm(muscle_no_flip):\n"
        "    muscle_no_flip({'id': 'x', 'prompt': 'Sarcastic?', 'choices': [' yes', ' no'], 'answer': 0},"
        " suite='headlines')\n"
        "def test_no_suite(muscle_no_flip):\n"
        "    muscle_no_flip({'id': 'y', 'prompt': 'Sarcastic?', 'choices': [' yes', ' no'], 'answer': 0})\n",
    )

    run = project.run("test_custom.py", old=None, new=None)

    assert "negative flip on x" in run.longrepr("test_custom.py::test_sarcasm")
    assert "or pass suite=NAME" in run.longrepr("test_custom.py::test_no_suite")


def test_each_model_of_a_pair_renders_prompts_its_own_way(project: Project) -> None:
    team(project, PAIRS.replace('suites = ["reviews"]', 'suites = ["reviews"]\nnew_prompt = "Q: {prompt}"'))
    # The new sentiment model now sees "Q: <prompt>": teach it the opposite of what it answers bare.
    project.teach("new_s", {f"Q: {prompt(i)}": 0 for i in ("good", "bad", "fine")})

    run = project.run("--muscle-report=report.json", old=None, new=None)

    assert run.outcomes["suites/reviews.jsonl::good"] == "passed"  # new answers 0 (right) for the templated prompt
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert report["pairs"]["sentiment"]["new"]["details"]["prompt"] == "Q: {prompt}"
    assert "prompt" not in report["pairs"]["sentiment"]["old"]["details"]


def test_a_changed_prompt_format_never_reads_the_old_predictions(project: Project) -> None:
    team(project)
    project.run(old=None, new=None)
    project.write(
        "pyproject.toml", PAIRS.replace('suites = ["reviews"]', 'suites = ["reviews"]\nnew_prompt = "Q: {prompt}"')
    )

    project.run(old=None, new=None)

    cache_files = sorted((project.path / ".muscle-cache" / "predictions").rglob("*.jsonl"))
    assert len(cache_files) == 5  # the templated new sentiment model has predictions of its own


def test_a_chat_format_on_a_backend_without_chat_templates_is_one_clear_error(project: Project) -> None:
    team(project, PAIRS.replace('suites = ["headlines"]', 'suites = ["headlines"]\nold_prompt = "chat"'))

    run = project.run(old=None, new=None)

    error = run.longrepr("suites/headlines.jsonl::[gate]")
    assert "[tool.muscle-guard.pairs.sarcasm]: old_prompt = 'chat': fake:old_c: this model's backend has no" in error
    assert run.outcomes["suites/reviews.jsonl::fine"] == "passed"


def test_a_prompt_option_without_a_default_pair_is_refused(project: Project) -> None:
    team(project)

    run = project.run("--muscle-new-prompt=chat", old=None, new=None)

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert "are the formats of the default pair" in run.stderr


def test_a_baseline_made_with_another_prompt_format_is_refused(project: Project) -> None:
    project.suite("capitals", paris="both_right")
    project.run("--muscle-update-baseline=base.jsonl", "--muscle-old-prompt=Q: {prompt}")

    run = project.run(old="base.jsonl")

    assert "model_prompt was 'Q: {prompt}', now None" in run.longrepr("suites/capitals.jsonl::[gate]")
