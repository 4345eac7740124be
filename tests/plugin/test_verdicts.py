"""What each instance and each suite's gate report: failures with a readable diff, xfails, passes."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.plugin.conftest import Project

CAPITALS = {"paris": "negative_flip", "rome": "positive_flip", "berlin": "both_right", "madrid": "both_wrong"}


def test_a_negative_flip_over_budget_fails_with_a_compact_diff(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)

    run = project.run(*xdist_args)

    assert run.outcomes == {
        "suites/capitals.jsonl::paris": "failed",
        "suites/capitals.jsonl::rome": "passed",
        "suites/capitals.jsonl::berlin": "passed",
        "suites/capitals.jsonl::madrid": "passed",
        "suites/capitals.jsonl::[gate]": "failed",
    }
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    diff = run.longrepr("suites/capitals.jsonl::paris").splitlines()
    assert diff[0] == (
        "negative flip: the old model was right, the new one is wrong "
        "(suite capitals: NFR 25.00% = 1/4, budget max_nfr 0.00%)"
    )
    assert diff[1:5] == [
        "  prompt:    'Is paris right?'",
        "  reference: 'yes'",
        "  old:       'yes'  (right)",
        "  new:       'no'  (WRONG)",
    ]
    assert diff[5].split() == ["log-likelihood", "per", "choice:", "old", "new"]
    assert diff[6].split() == ["[0]", "'", "yes'", "-0.500", "-1.000", "<old"]
    assert diff[7].split() == ["[1]", "'", "no'", "-1.010", "-0.500", "<new"]
    for noise in ("Traceback", "def runtest", "Captured"):
        assert noise not in run.stdout


def test_answers_that_differ_only_in_whitespace_read_differently(project: Project, xdist_args: list[str]) -> None:
    prompt = "Two lines\n\tor one?"
    choices = ["new\nline", "new line", "new\u00a0line"]
    project.write_lines("suites/lines.jsonl", [{"id": "nl", "prompt": prompt, "choices": choices, "answer": 0}])
    project.teach("old", {prompt: 0})
    project.teach("new", {prompt: 1})

    run = project.run(*xdist_args)

    diff = run.longrepr("suites/lines.jsonl::nl").splitlines()
    assert diff[1:5] == [
        "  prompt:    'Two lines\\n\\tor one?'",
        "  reference: 'new\\nline'",
        "  old:       'new\\nline'  (right)",
        "  new:       'new line'  (WRONG)",
    ]
    assert [line.split()[:2] for line in diff[6:9]] == [
        ["[0]", "'new\\nline'"],
        ["[1]", "'new"],
        ["[2]", "'new\\xa0line'"],
    ]


def test_a_long_prompt_is_cut_in_the_middle_visibly_and_keeps_its_whitespace(project: Project) -> None:
    prompt = "Start\n" + "word\t" * 500 + "end?"
    project.write_lines("suites/long.jsonl", [{"id": "q", "prompt": prompt, "choices": [" yes", " no"], "answer": 0}])
    project.teach("old", {prompt: 0})
    project.teach("new", {prompt: 1})

    run = project.run()

    line = run.longrepr("suites/long.jsonl::q").splitlines()[1]
    shown = repr(prompt[:200]) + f" ... {len(prompt) - 400:,} characters left out ... " + repr(prompt[-200:])
    assert line == f"  prompt:    {shown}"


def test_a_negative_flip_within_budget_is_an_xfail_naming_budget_and_rate(
    project: Project, xdist_args: list[str]
) -> None:
    project.suite("capitals", **CAPITALS)

    run = project.run("--muscle-max-nfr=0.5", *xdist_args)

    assert run.outcomes["suites/capitals.jsonl::paris"] == "xfailed"
    reason = "negative flip within budget (max_nfr 50.00%; suite NFR 25.00% = 1/4)"
    assert run.longrepr("suites/capitals.jsonl::paris") == reason
    # No traceback is rendered for an outcome the plugin decided: pytest's would parse its runner's source.
    assert str(run.report("suites/capitals.jsonl::paris").longrepr) == reason
    assert run.outcomes["suites/capitals.jsonl::[gate]"] == "passed"
    assert run.ret == pytest.ExitCode.OK


def waiver(expires: dt.date | None) -> str:
    until = f"expires = {expires.isoformat()}\n" if expires else ""
    return f'[[waiver]]\nsuite = "capitals"\nid = "paris"\nreason = "label noise, see #123"\n{until}'


def test_a_waived_negative_flip_is_an_xfail_with_the_waiver_reason(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)
    project.write("waivers.toml", waiver(expires=None))

    run = project.run("--muscle-waivers=waivers.toml", *xdist_args)

    assert run.outcomes["suites/capitals.jsonl::paris"] == "xfailed"
    assert run.longrepr("suites/capitals.jsonl::paris") == "waived negative flip: label noise, see #123"
    assert run.outcomes["suites/capitals.jsonl::[gate]"] == "passed"  # the waived flip does not count
    assert run.ret == pytest.ExitCode.OK


def test_an_expired_waiver_no_longer_applies(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)
    project.write("waivers.toml", waiver(expires=dt.date.today()))

    run = project.run("--muscle-waivers=waivers.toml", *xdist_args)

    assert run.outcomes["suites/capitals.jsonl::paris"] == "failed"
    assert run.outcomes["suites/capitals.jsonl::[gate]"] == "failed"
    assert "expired waiver no longer applies: capitals::paris (label noise, see #123)" in run.stdout


def test_waiver_until_a_future_day_says_so(project: Project) -> None:
    project.suite("capitals", **CAPITALS)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    project.write("waivers.toml", waiver(expires=tomorrow))

    run = project.run("--muscle-waivers=waivers.toml")

    assert run.longrepr("suites/capitals.jsonl::paris") == (
        f"waived negative flip: label noise, see #123, until {tomorrow.isoformat()}"
    )


GATES = {
    "rate budget": ([], "NFR 25.00% (1/4) exceeds max_nfr 0.00%"),
    "count budget": (["--muscle-max-negative-flips=0"], "1 negative flips exceed max_negative_flips 0"),
    "accuracy floor": (
        ["--muscle-max-nfr=1", "--muscle-min-accuracy-delta=0"],
        "accuracy change -25.0 pts below min_accuracy_delta +0.0 pts",
    ),
}


@pytest.mark.parametrize(("options", "reason"), GATES.values(), ids=GATES.keys())
def test_the_gate_fails_with_its_reasons(
    project: Project, options: list[str], reason: str, xdist_args: list[str]
) -> None:
    project.suite("capitals", paris="negative_flip", berlin="both_right", madrid="both_wrong", lima="both_right")

    run = project.run(*options, *xdist_args)

    assert run.outcomes["suites/capitals.jsonl::[gate]"] == "failed"
    failure = run.longrepr("suites/capitals.jsonl::[gate]").splitlines()
    assert failure[0] == "suite capitals fails its gate:"
    assert f"  - {reason}" in failure
    assert failure[-1].startswith("  accuracy 0.7500 -> 0.5000 (-0.2500); NF 1, PF 0, NFR 25.00%")
    assert "Traceback" not in run.stdout


def test_alpha_lets_a_non_significant_flip_through(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)

    run = project.run("--muscle-alpha=0.05", *xdist_args)

    # One negative flip against one positive flip: McNemar p = 0.75, not significant at 0.05.
    assert run.outcomes["suites/capitals.jsonl::paris"] == "xfailed"
    assert run.outcomes["suites/capitals.jsonl::[gate]"] == "passed"
    assert "but not significantly (McNemar p=0.75 >= alpha 0.05)" in run.words


def test_alpha_still_fails_a_significant_loss(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **{f"city{i}": "negative_flip" for i in range(6)})

    run = project.run("--muscle-alpha=0.05", *xdist_args)

    # Six negative flips and no positive one: McNemar p = 1/64 < 0.05.
    assert set(run.outcomes.values()) == {"failed"}
    assert "  - McNemar p=0.0156 < alpha 0.05" in run.longrepr("suites/capitals.jsonl::[gate]").splitlines()


def test_junit_xml_carries_the_outcome_and_both_answers(project: Project, xdist_args: list[str]) -> None:
    project.suite("capitals", **CAPITALS)

    project.run("--junitxml=junit.xml", *xdist_args)

    cases = ET.parse(project.path / "junit.xml").getroot().iter("testcase")
    properties = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")} for case in cases}
    assert {
        name: (p["outcome"], p["old_answer"], p["new_answer"]) for name, p in properties.items() if name != "[gate]"
    } == {
        "paris": ("negative_flip", "yes", "no"),
        "rome": ("positive_flip", "no", "yes"),
        "berlin": ("both_right", "yes", "yes"),
        "madrid": ("both_wrong_same", "no", "no"),
    }
    assert properties["[gate]"]["nf"] == "1"
