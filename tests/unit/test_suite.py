"""The suite format: what loads, and the `path:line: message` a user gets for everything that does not."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.errors import SuiteError
from muscle_guard.core.suite import MAX_REPORTED_PROBLEMS, Shape, discover_suites, load_suite, parse_instance

GOOD = {"id": "good", "prompt": "2+2=", "choices": [" 3", " 4"], "answer": 1}


def problems_of(path: Path) -> tuple[str, ...]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return info.value.problems


def only_problem(path: Path) -> str:
    problems = problems_of(path)
    assert len(problems) == 1, problems
    return problems[0]


# --- one bad line after a good one: the message names the file and the bad line ------------------------------

BAD_LINES: list[tuple[str, Any, str]] = [
    # (case, the bad second line, what the message says)
    ("invalid JSON", '{"id": "b", "prompt": ', "invalid JSON (Expecting value at column 23)"),
    ("trailing garbage", '{"id": "b"} x', "invalid JSON (Extra data at column 13)"),
    ("a JSON array", '["b", "2+2=", 1]', "expected a JSON object, got list"),
    ("a JSON string", '"just text"', "expected a JSON object, got str"),
    ("id is a number", {**GOOD, "id": 5}, "'id' must be a non-empty string, got 5"),
    ("id is null", {**GOOD, "id": None}, "'id' must be a non-empty string, got null"),
    ("id is empty", {**GOOD, "id": ""}, "'id' must be a non-empty string"),
    ("id is blank", {**GOOD, "id": "   "}, "'id' must be a non-empty string"),
    ("id with ::", {**GOOD, "id": "a::b"}, "must not contain tabs, newlines, '::' or brackets"),
    ("id with [", {**GOOD, "id": "a[1"}, "must not contain tabs, newlines, '::' or brackets"),
    ("id with ]", {**GOOD, "id": "a]"}, "must not contain tabs, newlines, '::' or brackets"),
    ("id with a tab", {**GOOD, "id": "a\tb"}, "must not contain tabs, newlines, '::' or brackets"),
    ("id with a newline", {**GOOD, "id": "a\nb"}, "must not contain tabs, newlines, '::' or brackets"),
    ("no id", {"prompt": "p", "choices": ["a", "b"], "answer": 0}, "missing field 'id' for a multiple_choice instance"),
    ("no shape", {"id": "b", "prompt": "p"}, "cannot tell the task shape"),
    ("unknown field", {**GOOD, "id": "b", "difficulty": 3}, "unknown field 'difficulty'"),
    (
        "field of another shape",
        {**GOOD, "id": "b", "normaliser": "lower"},
        "field 'normaliser' does not belong to a multiple_choice instance",
    ),
    ("prompt not a string", {**GOOD, "id": "b", "prompt": ["2+2="]}, "'prompt' must be a string, got [\"2+2=\"]"),
    ("prompt empty", {**GOOD, "id": "b", "prompt": ""}, "'prompt' must not be empty"),
    ("choices not a list", {**GOOD, "id": "b", "choices": "3 or 4"}, "'choices' must be a list of strings"),
    ("choices not strings", {**GOOD, "id": "b", "choices": [3, 4]}, "'choices' must be a list of strings"),
    ("an empty choice", {**GOOD, "id": "b", "choices": ["3", ""]}, "'choices' must not contain an empty string"),
    ("one choice", {**GOOD, "id": "b", "choices": [" 4"], "answer": 0}, "'choices' needs at least two options, got 1"),
    ("no choices", {**GOOD, "id": "b", "choices": [], "answer": 0}, "'choices' needs at least two options, got 0"),
    (
        "answer a string",
        {**GOOD, "id": "b", "answer": "1"},
        "'answer' must be the index of the right choice, got \"1\"",
    ),
    ("answer a float", {**GOOD, "id": "b", "answer": 1.0}, "'answer' must be the index of the right choice, got 1.0"),
    ("answer a bool", {**GOOD, "id": "b", "answer": True}, "'answer' must be the index of the right choice, got true"),
    ("answer too large", {**GOOD, "id": "b", "answer": 2}, "'answer' index 2 out of range for 2 choices (0..1)"),
    ("answer negative", {**GOOD, "id": "b", "answer": -1}, "'answer' index -1 out of range for 2 choices (0..1)"),
    ("tags not a list", {**GOOD, "id": "b", "tags": "easy"}, "'tags' must be a list of strings"),
    ("tags not strings", {**GOOD, "id": "b", "tags": [1]}, "'tags' must be a list of strings"),
    ("meta not an object", {**GOOD, "id": "b", "meta": [1]}, "'meta' must be a JSON object"),
]


@pytest.mark.parametrize(("bad", "message"), [case[1:] for case in BAD_LINES], ids=[case[0] for case in BAD_LINES])
def test_a_bad_line_is_reported_with_its_file_and_line(
    write_suite: Callable[..., Path], bad: Any, message: str
) -> None:
    path = write_suite([GOOD, bad])

    problem = only_problem(path)

    assert problem.startswith(f"{path}:2: ")
    assert message in problem


MISSING_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    (
        "multiple_choice",
        {"id": "b", "prompt": "p", "choices": ["a", "b"]},
        "missing field 'answer' for a multiple_choice instance",
    ),
    (
        "multiple_choice",
        {"id": "b", "choices": ["a", "b"], "answer": 0},
        "missing field 'prompt' for a multiple_choice instance",
    ),
    ("generate_exact", {"id": "b", "answer": "42"}, "missing field 'prompt' for a generate_exact instance"),
    ("generate_score", {"id": "b", "reference": "a cat"}, "missing field 'prompt' for a generate_score instance"),
    ("classify", {"id": "b", "label": 1}, "missing field 'text' for a classify instance"),
    ("classify", {"id": "b", "text": "lovely"}, "missing field 'label' for a classify instance"),
]


@pytest.mark.parametrize(("shape", "line", "message"), MISSING_FIELDS)
def test_a_missing_field_is_named_with_the_shape_it_belongs_to(
    write_suite: Callable[..., Path], shape: str, line: dict[str, Any], message: str
) -> None:
    path = write_suite([line])

    assert only_problem(path) == f"{path}:1: {message}"


WRONG_TYPES_PER_SHAPE: list[tuple[str, dict[str, Any], str]] = [
    (
        "generate answer a bool",
        {"id": "b", "prompt": "p", "answer": False},
        "'answer' must be a string or a number, got false",
    ),
    (
        "generate answer a list",
        {"id": "b", "prompt": "p", "answer": [4]},
        "'answer' must be a string or a number, got [4]",
    ),
    (
        "normaliser not a string",
        {"id": "b", "prompt": "p", "answer": "4", "normaliser": 1},
        "'normaliser' must be a string, got 1",
    ),
    ("reference not a string", {"id": "b", "prompt": "p", "reference": 4}, "'reference' must be a string, got 4"),
    ("reference empty", {"id": "b", "prompt": "p", "reference": ""}, "'reference' must not be empty"),
    (
        "scorer not a string",
        {"id": "b", "prompt": "p", "reference": "r", "scorer": 3},
        "'scorer' must be a string, got 3",
    ),
    ("text not a string", {"id": "b", "text": 4, "label": 0}, "'text' must be a string, got 4"),
    ("text empty", {"id": "b", "text": "", "label": 0}, "'text' must not be empty"),
    (
        "label a bool",
        {"id": "b", "text": "t", "label": True},
        "'label' must be a class index or a label name, got true",
    ),
    ("label a float", {"id": "b", "text": "t", "label": 0.5}, "'label' must be a class index or a label name, got 0.5"),
    ("label negative", {"id": "b", "text": "t", "label": -1}, "'label' must be >= 0, got -1"),
]


@pytest.mark.parametrize(
    ("line", "message"), [c[1:] for c in WRONG_TYPES_PER_SHAPE], ids=[c[0] for c in WRONG_TYPES_PER_SHAPE]
)
def test_a_wrong_type_is_reported_for_every_shape(
    write_suite: Callable[..., Path], line: dict[str, Any], message: str
) -> None:
    path = write_suite([line])

    assert only_problem(path) == f"{path}:1: {message}"


# --- problems that concern the file as a whole ----------------------------------------------------------------


def test_a_blank_line_is_reported_at_its_line(write_suite: Callable[..., Path]) -> None:
    path = write_suite([GOOD, "   ", {**GOOD, "id": "other"}])

    assert only_problem(path) == f"{path}:2: blank line; remove it (every line must be one JSON object)"


def test_a_duplicate_id_names_the_line_it_first_appeared_on(write_suite: Callable[..., Path]) -> None:
    path = write_suite([GOOD, {**GOOD, "id": "other"}, GOOD])

    assert only_problem(path) == f"{path}:3: duplicate id 'good' (first on line 1); ids must be unique"


def test_mixed_shapes_name_the_line_that_set_the_suites_shape(write_suite: Callable[..., Path]) -> None:
    path = write_suite([GOOD, {"id": "c", "text": "lovely", "label": 1}])

    problem = only_problem(path)

    assert problem.startswith(f"{path}:2: classify instance in a multiple_choice suite (set by line 1)")


def test_every_problem_is_reported_in_file_order(write_suite: Callable[..., Path]) -> None:
    path = write_suite(["not json", GOOD, {**GOOD, "answer": 5, "id": "x"}, GOOD])

    problems = problems_of(path)

    assert [p.split(": ", 1)[0] for p in problems] == [f"{path}:1", f"{path}:3", f"{path}:4"]


def test_a_file_full_of_errors_stops_after_a_readable_number(write_suite: Callable[..., Path]) -> None:
    path = write_suite(["not json"] * (MAX_REPORTED_PROBLEMS + 30))

    problems = problems_of(path)

    assert len(problems) == MAX_REPORTED_PROBLEMS + 1
    assert problems[-1] == f"{path}: stopped after {MAX_REPORTED_PROBLEMS} problems"


def test_a_byte_order_mark_is_refused_on_line_1(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")

    assert only_problem(path) == f"{path}:1: starts with a UTF-8 byte-order mark; save the file as UTF-8 without BOM"


def test_non_utf8_bytes_are_reported_at_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(GOOD).encode() + b"\n"
    path.write_bytes(good + json.dumps({**GOOD, "id": "b"}).encode() + b"\n" + b'{"id": "caf\xe9"}\n')

    assert only_problem(path) == f"{path}:3: invalid UTF-8 byte 0xe9; re-encode the file as UTF-8"


def test_an_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")

    assert only_problem(path) == f"{path}: empty suite (no instances); add lines or remove the file"


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.jsonl"

    assert only_problem(path) == f"{path}: no such file; check the suite path"


def test_a_directory_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "dir.jsonl"
    path.mkdir()

    assert only_problem(path) == f"{path}: is a directory, expected a .jsonl file"


def test_a_10_mb_line_loads(write_suite: Callable[..., Path]) -> None:
    # Long documents are legitimate inputs (summarisation); there is no line-length limit.
    prompt = "word " * 2_000_000
    path = write_suite([{"id": "long", "prompt": prompt, "reference": "words"}])

    suite = load_suite(path)

    assert suite.instances[0].prompt == prompt


def test_windows_line_endings_load(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\r\n" + json.dumps({**GOOD, "id": "b"}).encode() + b"\r\n")

    assert [i.id for i in load_suite(path)] == ["good", "b"]


def test_a_missing_final_newline_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(GOOD), encoding="utf-8")

    assert len(load_suite(path)) == 1


# --- the four valid shapes -------------------------------------------------------------------------------------

VALID: list[tuple[dict[str, Any], Shape, dict[str, Any]]] = [
    (
        {"id": "mc", "prompt": "2+2=", "choices": [" 3", " 4"], "answer": 1, "tags": ["math"], "meta": {"src": "x"}},
        Shape.MULTIPLE_CHOICE,
        {"prompt": "2+2=", "choices": (" 3", " 4"), "answer": 1},
    ),
    (
        {
            "id": "gen",
            "prompt": "6*7=",
            "answer": 42,
            "normaliser": "final_number",
            "tags": ["math"],
            "meta": {"src": "x"},
        },
        Shape.GENERATE_EXACT,
        {"prompt": "6*7=", "answer": "42", "normaliser": "final_number"},
    ),
    (
        {
            "id": "sum",
            "prompt": "Summarise:",
            "reference": "a cat",
            "scorer": "rougeL",
            "tags": ["math"],
            "meta": {"src": "x"},
        },
        Shape.GENERATE_SCORE,
        {"prompt": "Summarise:", "reference": "a cat", "scorer": "rougeL"},
    ),
    (
        {"id": "cls", "text": "lovely", "label": "positive", "tags": ["math"], "meta": {"src": "x"}},
        Shape.CLASSIFY,
        {"text": "lovely", "label": "positive"},
    ),
]


@pytest.mark.parametrize(("line", "shape", "fields"), VALID, ids=[v[1].value for v in VALID])
def test_each_shape_loads_with_its_fields_tags_and_meta(
    write_suite: Callable[..., Path], line: dict[str, Any], shape: Shape, fields: dict[str, Any]
) -> None:
    suite = load_suite(write_suite([line], name="mine"))

    (instance,) = suite.instances
    assert (suite.name, suite.shape, instance.shape, instance.line) == ("mine", shape, shape, 1)
    assert {name: getattr(instance, name) for name in fields} == fields
    assert instance.tags == ("math",)
    assert instance.meta == {"src": "x"}


def test_instances_keep_their_line_numbers(write_suite: Callable[..., Path]) -> None:
    suite = load_suite(write_suite([GOOD, {**GOOD, "id": "b"}]))

    assert [(i.id, i.line) for i in suite] == [("good", 1), ("b", 2)]


def test_an_instance_round_trips_through_its_json(write_suite: Callable[..., Path]) -> None:
    line = VALID[0][0]
    (instance,) = load_suite(write_suite([line])).instances

    assert instance.to_json() == line
    assert parse_instance(instance.to_json(), instance.line) == instance


# --- content hashes: the identity of an instance and of a suite version ---------------------------------------


def test_content_hash_ignores_key_order_meta_and_tags() -> None:
    a = parse_instance({"id": "x", "prompt": "p", "choices": ["a", "b"], "answer": 0})
    b = parse_instance({"answer": 0, "choices": ["a", "b"], "prompt": "p", "id": "x", "tags": ["t"], "meta": {"m": 1}})

    assert a.content_hash() == b.content_hash()


@pytest.mark.parametrize(
    "change",
    [{"prompt": "q"}, {"choices": ["a", "c"]}, {"answer": 1}, {"id": "y"}],
    ids=["prompt", "choices", "answer", "id"],
)
def test_content_hash_changes_with_what_defines_the_instance(change: dict[str, Any]) -> None:
    line = {"id": "x", "prompt": "p", "choices": ["a", "b"], "answer": 0}

    assert parse_instance(line).content_hash() != parse_instance({**line, **change}).content_hash()


def test_suite_hash_changes_with_one_instance_and_with_the_order(write_suite: Callable[..., Path]) -> None:
    other = {**GOOD, "id": "b"}
    base = load_suite(write_suite([GOOD, other], name="a")).content_hash()

    assert load_suite(write_suite([GOOD, other], name="b")).content_hash() == base
    assert load_suite(write_suite([GOOD, {**other, "prompt": "3+3="}], name="c")).content_hash() != base
    assert load_suite(write_suite([other, GOOD], name="d")).content_hash() != base


# --- discovery ----------------------------------------------------------------------------------------------------


def test_discover_expands_directories_to_sorted_jsonl_files_once_each(tmp_path: Path) -> None:
    for rel in ["b.jsonl", "a.jsonl", "nested/c.jsonl", "notes.txt", "data.json"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    single = tmp_path / "elsewhere.jsonl"

    found = discover_suites([tmp_path / "nested", single, tmp_path])

    assert found == [tmp_path / "nested/c.jsonl", single, tmp_path / "a.jsonl", tmp_path / "b.jsonl"]


def test_discover_skips_hidden_directories(tmp_path: Path) -> None:
    # `muscle-guard validate .` must not pick up the prediction cache or a virtualenv as suites.
    for rel in ["suites/a.jsonl", ".muscle-cache/predictions/x/a-1.jsonl", ".venv/lib/data.jsonl"]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")

    assert discover_suites([tmp_path]) == [tmp_path / "suites/a.jsonl"]


def test_discover_works_inside_a_hidden_directory(tmp_path: Path) -> None:
    folder = tmp_path / ".hidden" / "suites"
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("", encoding="utf-8")

    assert discover_suites([folder]) == [folder / "a.jsonl"]
