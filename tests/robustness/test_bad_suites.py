"""Catalogue: broken suite files. Each is one message per problem, as `path:line: what; what to do`.

Every case is checked through three front ends: `muscle-guard validate` (exit 1, the problems on stderr),
`muscle-guard predict` (exit 1, no baseline file written) and a pytest run over two suites (the broken one
is one collection error with the same text; the good one still runs and passes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest

from muscle_guard.core.errors import SuiteError
from muscle_guard.core.suite import load_suite
from tests.robustness.conftest import assert_no_traceback, passing

if TYPE_CHECKING:
    from tests.robustness.conftest import Project

BROKEN = "suites/broken.jsonl"
GOOD = json.dumps({"id": "a", "prompt": "Is a right?", "choices": [" yes", " no"], "answer": 0})
TEN_MB = 10 * 1024 * 1024


@dataclass(frozen=True)
class Case:
    content: bytes
    problems: tuple[str, ...]  # every line the user sees, `suites/broken.jsonl` standing for the path


def line(text: str) -> bytes:
    return (text + "\n").encode()


CASES: dict[str, Case] = {
    "invalid JSON line": Case(
        line(GOOD) + line('{"id": "b", "prompt": }'),
        (f"{BROKEN}:2: invalid JSON (Expecting value at column 23)",),
    ),
    "byte-order mark": Case(
        b"\xef\xbb\xbf" + line(GOOD),
        (f"{BROKEN}:1: starts with a UTF-8 byte-order mark; save the file as UTF-8 without BOM",),
    ),
    "non-UTF-8 bytes": Case(
        line(GOOD)
        + line('{"id": "b", "prompt": "caf\xe9?", "choices": [" yes", " no"], "answer": 0}').replace(
            b"\xc3\xa9", b"\xe9"
        ),  # Latin-1 é
        (f"{BROKEN}:2: invalid UTF-8 byte 0xe9; re-encode the file as UTF-8",),
    ),
    "empty file": Case(b"", (f"{BROKEN}: empty suite (no instances); add lines or remove the file",)),
    "blank lines": Case(
        line(GOOD) + b"\n   \n",
        (
            f"{BROKEN}:2: blank line; remove it (every line must be one JSON object)",
            f"{BROKEN}:3: blank line; remove it (every line must be one JSON object)",
        ),
    ),
    "duplicate ids": Case(
        line(GOOD) + line(GOOD.replace("Is a", "Is b")),
        (f"{BROKEN}:2: duplicate id 'a' (first on line 1); ids must be unique",),
    ),
    "non-string id": Case(
        line(GOOD.replace('"a"', "7")),
        (f"{BROKEN}:1: 'id' must be a non-empty string, got 7",),
    ),
    "id that breaks a node id": Case(
        line(GOOD.replace('"a"', '"a::b"')),
        (f"{BROKEN}:1: 'id' 'a::b' must not contain tabs, newlines, '::' or brackets (it becomes a pytest node id)",),
    ),
    "missing field": Case(
        line('{"id": "a", "prompt": "Is a right?", "choices": [" yes", " no"]}'),
        (f"{BROKEN}:1: missing field 'answer' for a multiple_choice instance",),
    ),
    "unknown field": Case(
        line(GOOD[:-1] + ', "promt": "typo"}'),
        (
            f"{BROKEN}:1: unknown field 'promt'; allowed: answer, choices, id, label, meta, normaliser, prompt, "
            "reference, scorer, tags, text (put extras under 'meta')",
        ),
    ),
    "no recognisable shape": Case(
        line('{"id": "a", "prompt": "Is a right?"}'),
        (
            f"{BROKEN}:1: cannot tell the task shape: expected prompt+choices+answer, prompt+answer, "
            "prompt+reference or text+label",
        ),
    ),
    "one-choice question": Case(
        line('{"id": "a", "prompt": "Is a right?", "choices": [" yes"], "answer": 0}'),
        (f"{BROKEN}:1: 'choices' needs at least two options, got 1",),
    ),
    "answer index out of range": Case(
        line(GOOD.replace('"answer": 0', '"answer": 2')),
        (f"{BROKEN}:1: 'answer' index 2 out of range for 2 choices (0..1)",),
    ),
    "answer given as a boolean": Case(
        line(GOOD.replace('"answer": 0', '"answer": true')),
        (f"{BROKEN}:1: 'answer' must be the index of the right choice, got true",),
    ),
    "a line that is not an object": Case(
        line(GOOD) + line('["b", "Is b right?"]'),
        (f"{BROKEN}:2: expected a JSON object, got list",),
    ),
    "mixed shapes": Case(
        line(GOOD) + line('{"id": "b", "text": "b", "label": 1}'),
        (
            f"{BROKEN}:2: classify instance in a multiple_choice suite (set by line 1); one suite holds one task "
            "shape, split the file",
        ),
    ),
    "a 10 MB line cut short": Case(
        line(GOOD) + b'{"id": "b", "prompt": "' + b"x" * TEN_MB + b"\n",
        (f"{BROKEN}:2: invalid JSON (Unterminated string starting at column 23)",),
    ),
    "a line nested 100,000 deep": Case(
        line(GOOD) + b"[" * 100_000 + b"\n",
        (f"{BROKEN}:2: invalid JSON (nested too deeply); an instance is one flat JSON object",),
    ),
    "several problems at once": Case(
        line(GOOD) + line(GOOD) + b"\n" + line('{"id": 3}'),
        (
            f"{BROKEN}:2: duplicate id 'a' (first on line 1); ids must be unique",
            f"{BROKEN}:3: blank line; remove it (every line must be one JSON object)",
            f"{BROKEN}:4: cannot tell the task shape: expected prompt+choices+answer, prompt+answer, "
            "prompt+reference or text+label",
        ),
    ),
    # Issue #35: lines that used to pass and then end in a traceback, a tie or a silently wrong verdict.
    "a lone surrogate escaped in JSON": Case(
        line(GOOD) + line('{"id": "b", "prompt": "Is b \\ud800 right?", "choices": [" yes", " no"], "answer": 0}'),
        (
            f"{BROKEN}:2: 'prompt' holds a lone surrogate (\\ud800 escaped in the JSON), which is not a Unicode "
            "character and cannot be encoded for a model; fix or remove it",
        ),
    ),
    "a lone surrogate in a choice": Case(
        line('{"id": "a", "prompt": "Is a right?", "choices": [" yes", " n\\udfffo"], "answer": 0}'),
        (
            f"{BROKEN}:1: 'choices[1]' holds a lone surrogate (\\udfff escaped in the JSON), which is not a Unicode "
            "character and cannot be encoded for a model; fix or remove it",
        ),
    ),
    "a key twice in one line": Case(
        line(GOOD[:-1] + ', "answer": 1}'),
        (f"{BROKEN}:1: key 'answer' appears twice in one object; JSON keeps the last one silently, so keep one",),
    ),
    "ids apart only by case": Case(
        line(GOOD) + line(GOOD.replace('"a"', '"A"').replace("Is a", "Is b")),
        (
            f"{BROKEN}:2: id 'A' differs from 'a' (line 1) only by case or Unicode normalisation: their test ids "
            "look the same and pytest -k selects both; make them differ",
        ),
    ),
    "ids apart only by Unicode form": Case(  # NFC "café" and NFD "café": escaped, so the message shows how they differ
        line(GOOD.replace('"a"', '"caf\\u00e9"')) + line(GOOD.replace('"a"', '"cafe\\u0301"').replace("Is a", "Is b")),
        (
            f"{BROKEN}:2: id 'cafe\\u0301' differs from 'caf\\xe9' (line 1) only by case or Unicode normalisation: "
            "their test ids look the same and pytest -k selects both; make them differ",
        ),
    ),
    "a choice twice": Case(
        line('{"id": "a", "prompt": "Is a right?", "choices": [" yes", " yes"], "answer": 0}'),
        (
            f"{BROKEN}:1: 'choices' holds ' yes' twice (options 0 and 1): both get the same log-likelihood, so "
            "the model's answer is a tie; make every option distinct",
        ),
    ),
    "an empty exact-match answer": Case(
        line('{"id": "a", "prompt": "Say nothing.", "answer": ""}'),
        (f"{BROKEN}:1: 'answer' must not be empty: an empty answer is matched by an empty output",),
    ),
    "a misspelt normaliser on a line": Case(
        line('{"id": "a", "prompt": "2 + 2?", "answer": "4", "normaliser": "nope"}'),
        (f"{BROKEN}:1: 'normaliser' 'nope' is not one of exact, lower, final_number",),
    ),
    "a misspelt scorer on a line": Case(
        line('{"id": "a", "prompt": "Summarise.", "reference": "A summary.", "scorer": "bleu"}'),
        (f"{BROKEN}:1: 'scorer' 'bleu' is not one of rouge1, rouge2, rougeL, exact",),
    ),
    "a lone surrogate in a tag": Case(
        line(GOOD[:-1] + ', "tags": ["ok", "b\\udc80d"]}'),
        (
            f"{BROKEN}:1: 'tags[1]' holds a lone surrogate (\\udc80 escaped in the JSON), which is not a Unicode "
            "character and cannot be encoded for a model; fix or remove it",
        ),
    ),
    "a key twice inside meta": Case(
        line(GOOD[:-1] + ', "meta": {"source": "a", "source": "b"}}'),
        (f"{BROKEN}:1: key 'source' appears twice in one object; JSON keeps the last one silently, so keep one",),
    ),
    "a blank exact-match answer": Case(
        line('{"id": "a", "prompt": "Say something.", "answer": "   "}'),
        (f"{BROKEN}:1: 'answer' must not be empty: an empty answer is matched by an empty output",),
    ),
    "a number of 5,000 digits": Case(
        line('{"id": "a", "prompt": "How many?", "answer": ' + "9" * 5000 + "}"),
        (
            f"{BROKEN}:1: invalid JSON (Exceeds the limit (4300 digits) for integer string conversion: value has "
            "5000 digits); write the number as a string",
        ),
    ),
}
IDS = list(CASES)


@pytest.mark.parametrize("name", IDS)
def test_the_loader_reports_every_problem_with_its_line(project: Project, name: str) -> None:
    case = CASES[name]
    path = project.write(BROKEN, case.content)

    with pytest.raises(SuiteError) as info:
        load_suite(path)

    assert info.value.problems == tuple(p.replace(BROKEN, str(path)) for p in case.problems)
    assert all(len(p) < 300 for p in info.value.problems)  # never the 10 MB line itself


@pytest.mark.parametrize("name", IDS)
def test_validate_lists_the_problems_and_exits_1(project: Project, name: str) -> None:
    case = CASES[name]
    project.write(BROKEN, case.content)

    result = project.cli("validate", "suites")

    assert result.exit_code == 1
    assert result.error_lines() == [f"error {p}" for p in case.problems]
    assert_no_traceback(result.output)


@pytest.mark.parametrize("name", IDS)
def test_predict_refuses_and_writes_no_baseline(project: Project, name: str) -> None:
    case = CASES[name]
    project.write(BROKEN, case.content)
    before = project.files()

    result = project.cli("predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl")

    assert result.exit_code == 1
    assert result.error_lines() == [f"Error: {p}" for p in case.problems]
    assert_no_traceback(result.output)
    assert project.files() == before  # no baseline, no temporary file, no cache entry


@pytest.mark.parametrize("name", IDS)
def test_pytest_reports_a_collection_error_and_runs_the_other_suites(project: Project, name: str) -> None:
    case = CASES[name]
    project.write(BROKEN, case.content)

    run = project.pytest("--muscle-report=report.json")

    assert run.collection_errors == {BROKEN: "\n".join(case.problems)}
    assert run.outcomes == passing("capitals", "rivers")
    assert run.ret == pytest.ExitCode.TESTS_FAILED
    assert_no_traceback(run.output)
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in report["suites"]] == ["capitals", "rivers"]


def test_a_valid_10_mb_prompt_runs_and_its_failure_stays_readable(project: Project) -> None:
    prompt = "Is this long one right? " + "word " * (TEN_MB // 5)
    project.write_lines(
        "suites/long.jsonl", [{"id": "long", "prompt": prompt, "choices": [" yes", " no"], "answer": 0}]
    )
    project.teach([{"prompt": prompt, "choices": [], "answer": 0}])
    answers = json.loads((project.path / "models/new.json").read_text(encoding="utf-8"))
    answers["answers"][prompt] = 1  # the new model flips it
    project.write("models/new.json", json.dumps(answers))

    run = project.pytest("suites/long.jsonl")

    assert run.outcomes == {"suites/long.jsonl::long": "failed", "suites/long.jsonl::[gate]": "failed"}
    failure = run.longrepr("suites/long.jsonl::long")
    assert failure.startswith("negative flip: the old model was right, the new one is wrong")
    assert len(failure) < 2000  # the prompt is elided in the middle, not dumped
    assert_no_traceback(run.output)
