"""Fuzzing (hypothesis) of every input a user hands muscle-guard: suite lines (any JSON value in any field, odd
Unicode, huge and empty strings), pyproject tables, waiver files, report files and import sources, through the
front ends that read them: `validate`, `suite import`, the gate on the fake backend and `report`. Whatever the
input, no traceback: each refusal is lines that name the file (and line) or the option.

And `validate` agrees with the gate: a suite `validate` accepts never makes the gate raise anything (every
instance gets a verdict), and a suite the gate refuses for a reason that needs no model, `validate` refuses too.

The default run keeps to the CI budget; `MUSCLE_GUARD_FUZZ=nightly` runs 20 times as many examples.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.checks import refuse_unjudgeable
from muscle_guard.core.config import load_project_config
from muscle_guard.core.errors import MuscleGuardError
from muscle_guard.core.evaluate import evaluate_suite
from muscle_guard.core.names import NORMALISERS, SCORERS
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.sources import close_source, open_source
from muscle_guard.core.suite import ALL_FIELDS, load_suite
from muscle_guard.core.waivers import load_waivers

NIGHTLY = os.environ.get("MUSCLE_GUARD_FUZZ") == "nightly"
FUZZ = settings(
    max_examples=600 if NIGHTLY else 30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Text that strains every layer: lone surrogates (escaped in JSON), NUL, BOM, RTL marks, combining marks,
# line and paragraph separators, emoji, and strings from empty to 20,000 characters.
odd = st.sampled_from(["", " ", "\x00", "\ufeff", "\u202e", "e\u0301", "\u2028", "\u2029", "🙂", "\ud800", "\udfff",
                       "::", "[gate]", "{prompt}", "\\n", "\r\n", "\t"])  # fmt: skip
texts = st.one_of(st.text(max_size=40), odd, st.text(max_size=3).map(lambda t: t * 5000))
scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | texts
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
                           max_leaves=12)  # fmt: skip
fields = st.sampled_from(sorted(ALL_FIELDS | {"extra", "ID", ""}))
lines = st.one_of(
    st.dictionaries(fields, json_values, max_size=7).map(lambda d: json.dumps(d, ensure_ascii=False)),
    st.dictionaries(fields, json_values, max_size=7).map(json.dumps),  # \\u escapes, lone surrogates included
    json_values.map(json.dumps),
    texts,
)
FAKE = "fake:{}"


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="muscle-fuzz-") as name:
        yield Path(name)


def fresh(folder: Path) -> Path:
    return Path(tempfile.mkdtemp(dir=folder))


def cli(*args: str | Path) -> Any:
    """A command in-process; an unexpected exception propagates and fails the example (no traceback ever)."""
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


def refusal_lines(output: str, prefix: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(prefix)]


def fake_models(where: Path, rows: list[dict[str, Any]], flip: int) -> tuple[str, str]:
    """Two fake models: the old one answers 0 everywhere, the new one answers `flip` on every other input."""
    new = {str(r.get("prompt", r.get("text", ""))): flip for i, r in enumerate(rows) if i % 2 and isinstance(r, dict)}
    # Four classes: every label index the suites use fits the models (a class count is the model's, not validate's)
    (where / "old.json").write_text(json.dumps({"answers": {}, "classes": 4}), encoding="utf-8")
    (where / "new.json").write_text(json.dumps({"answers": new, "classes": 4}), encoding="utf-8")
    return FAKE.format(where / "old.json"), FAKE.format(where / "new.json")


def gate(where: Path, suite_path: Path, pyproject: Path, old: str, new: str) -> tuple[str | None, str | None]:
    """What the pytest plugin does for one suite, on the fake backend: (the refusal that needs no model, the one
    that does), each None when there is none. A refusal is a MuscleGuardError; anything else propagates and fails
    the example. The model's own output space (its class count against the labels) is for the second."""
    try:
        project = load_project_config(pyproject)
        suite = load_suite(suite_path)
        settings_ = project.settings_for(suite.name)
        refuse_unjudgeable(suite, project)
    except MuscleGuardError as exc:
        return str(exc), None
    try:
        options = RunOptions(device="cpu", progress=False)
        got = {}
        for side, ref in (("old", old), ("new", new)):
            source = open_source(ref, options)
            try:
                got[side] = predict_suite(source, suite, settings_, cache=None, progress=False).predictions
            finally:
                close_source(source)
        evaluation = evaluate_suite(suite, settings_, got["old"], got["new"])
        assert len(evaluation.outcomes) == len(suite)  # every instance got a verdict
    except MuscleGuardError as exc:
        return None, str(exc)
    return None, None


@FUZZ
@given(body=st.lists(lines, max_size=6), crlf=st.booleans())
@example(body=['{"id": "a", "prompt": "x\\ud800", "answer": "1"}'], crlf=False)
@example(body=['{"id": "a", "prompt": "p", "answer": "1", "answer": "2"}'], crlf=False)
def test_any_suite_file_is_accepted_and_judged_or_refused_line_by_line(
    folder: Path, body: list[str], crlf: bool
) -> None:
    where = fresh(folder)
    path = where / "fuzz.jsonl"
    path.write_text(("\r\n" if crlf else "\n").join(body) + "\n", encoding="utf-8", errors="surrogatepass")
    pyproject = where / "pyproject.toml"

    result = cli("validate", path, "--pyproject", pyproject)

    assert result.exit_code in (0, 1)
    errors = refusal_lines(result.stderr, "error ")
    if result.exit_code == 1:
        assert errors
        assert all(line.startswith(f"error {path}") for line in errors), errors
        return
    rows = [json.loads(line) for line in body]
    knowable, _ = gate(where, path, pyproject, *fake_models(where, rows, 1))  # a model's own refusal may follow
    assert knowable is None  # validate's ok is the gate's


# --- validate agrees with the gate ---------------------------------------------------------------------------------

LABELS = ["neg", "pos", "mid"]
ANSWERS = ["4", "four", "?!", "3.0", "x = 12", "grape", " 7 ", "ÉTÉ"]


@st.composite
def judged_suites(draw: st.DrawFn) -> tuple[list[dict[str, Any]], str]:
    """Valid suite lines and a settings table that may or may not fit them (labels, normalisers, answers)."""
    shape = draw(st.sampled_from(["classify", "exact", "score", "mc"]))
    n = draw(st.integers(1, 6))
    rows: list[dict[str, Any]] = []
    for i in range(n):
        if shape == "classify":
            rows.append({"id": f"t{i}", "text": f"text {i}", "label": draw(st.sampled_from([*LABELS, 0, 1, 2, 3]))})
        elif shape == "exact":
            row = {"id": f"g{i}", "prompt": f"prompt {i}", "answer": draw(st.sampled_from(ANSWERS))}
            if draw(st.booleans()):
                row["normaliser"] = draw(st.sampled_from(NORMALISERS))
            rows.append(row)
        elif shape == "score":
            rows.append({"id": f"s{i}", "prompt": f"prompt {i}", "reference": draw(st.sampled_from(ANSWERS))})
        else:
            rows.append({"id": f"m{i}", "prompt": f"prompt {i}", "choices": [" a", " b", " c"], "answer": i % 3})
    table = []
    if draw(st.booleans()):
        labels = draw(st.lists(st.sampled_from(LABELS), unique=True, max_size=3))
        table.append(f"labels = {json.dumps(labels)}")
    for key, names in (("normaliser", NORMALISERS), ("scorer", SCORERS), ("mc_norm", ("acc", "acc_norm"))):
        if draw(st.booleans()):
            table.append(f"{key} = {json.dumps(draw(st.sampled_from(names)))}")
    if draw(st.booleans()):
        table.append(f"epsilon = {draw(st.sampled_from([0, 0.1, 0.5]))}")
    if draw(st.booleans()):
        table.append('prompt_template = "Q: {prompt}\\nA:"')
    return rows, "[tool.muscle-guard.suites.judged]\n" + "\n".join(table) + "\n"


@FUZZ
@given(case=judged_suites(), flip=st.integers(0, 2))
def test_validate_refuses_exactly_what_the_gate_refuses_without_a_model(
    folder: Path, case: tuple[list[dict[str, Any]], str], flip: int
) -> None:
    rows, table = case
    where = fresh(folder)
    path = where / "judged.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    pyproject = where / "pyproject.toml"
    pyproject.write_text(table, encoding="utf-8")

    said = cli("validate", path, "--pyproject", pyproject)
    refused, _ = gate(where, path, pyproject, *fake_models(where, rows, flip))

    assert (said.exit_code == 1) == (refused is not None), (said.stderr, refused)
    if refused is not None:
        assert refused in said.stderr.replace("error ", "")  # the same words, from the same guard


# --- pyproject tables, waiver files, reports, import sources ---------------------------------------------------------

SETTING_KEYS = ["max_nfr", "max-nfr", "max_negative_flips", "min_accuracy_delta", "alpha", "epsilon", "labels",
                "normaliser", "scorer", "mc_norm", "prompt_template", "max_new_tokens", "stop", "suite_paths", "old",
                "pairs", "nonsense"]  # fmt: skip
toml_scalars = (
    st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=20) | odd
)
toml_values = toml_scalars | st.lists(toml_scalars, max_size=3)


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's


@FUZZ
@given(
    top=st.dictionaries(st.sampled_from(SETTING_KEYS), toml_values, max_size=4),
    suite=st.dictionaries(st.sampled_from(SETTING_KEYS), toml_values, max_size=4),
)
def test_any_pyproject_table_is_read_or_refused_in_one_line(
    folder: Path, top: dict[str, Any], suite: dict[str, Any]
) -> None:
    where = fresh(folder)
    (where / "s.jsonl").write_text(
        '{"id": "a", "prompt": "p", "choices": [" x", " y"], "answer": 0}\n', encoding="utf-8"
    )
    body = "[tool.muscle-guard]\n" + "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in top.items())
    body += "[tool.muscle-guard.suites.s]\n" + "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in suite.items())
    pyproject = where / "pyproject.toml"
    pyproject.write_text(body, encoding="utf-8", errors="surrogatepass")

    result = cli("validate", where / "s.jsonl", "--pyproject", pyproject)

    assert result.exit_code in (0, 1)
    for line in refusal_lines(result.stderr, "error "):
        assert str(pyproject) in line or "pyproject.toml" in line, line


@FUZZ
@given(entries=st.lists(st.dictionaries(st.sampled_from(["suite", "id", "reason", "expires", "x"]), toml_values,
                                         max_size=5), max_size=3))  # fmt: skip
def test_any_waiver_file_is_read_or_refused_naming_the_file(folder: Path, entries: list[dict[str, Any]]) -> None:
    path = fresh(folder) / "waivers.toml"
    body = "".join(
        "[[waiver]]\n" + "".join(f"{json.dumps(k)} = {toml(v)}\n" for k, v in entry.items()) for entry in entries
    )
    path.write_text(body, encoding="utf-8", errors="surrogatepass")
    refusal = ""
    try:
        load_waivers(path)
    except MuscleGuardError as exc:
        refusal = str(exc)
    assert not refusal or (str(path) in refusal and "\n" not in refusal), refusal


@FUZZ
@given(document=json_values | st.dictionaries(st.sampled_from(["schema_version", "suites", "old", "new", "kind",
                                                                 "fix", "pairs"]), json_values, max_size=7))  # fmt: skip
@example(document={"schema_version": 1})
@example(document={"schema_version": 1, "suites": [{}], "old": {}, "new": {}})
def test_any_report_file_renders_or_is_refused_naming_the_file(folder: Path, document: Any) -> None:
    path = fresh(folder) / "report.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    for fmt in ("terminal", "markdown", "html"):
        result = cli("report", path, "--format", fmt)
        if result.exit_code != 0:
            errors = refusal_lines(result.stderr, "Error: ")
            assert len(errors) == 1
            assert str(path) in errors[0]


@settings(FUZZ, max_examples=120 if NIGHTLY else 6)  # each example loads a dataset: about a second
@given(rows=st.lists(st.dictionaries(st.sampled_from(["q", "a", "b", "key", "label"]), scalars, min_size=1,
                                     max_size=5), min_size=1, max_size=5))  # fmt: skip
def test_any_import_source_is_imported_or_refused_naming_the_row(folder: Path, rows: list[dict[str, Any]]) -> None:
    pytest.importorskip("datasets")
    where = fresh(folder)
    source = where / "rows.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = where / "imported.jsonl"

    result = cli("suite", "import", source, "-o", out, "--field", "prompt=Q: {q}\\nA:", "--field", "choices=a,b",
                 "--field", "answer=key")  # fmt: skip

    assert result.exit_code in (0, 1, 2)
    if result.exit_code == 0:
        assert len(load_suite(out)) >= 1  # what it writes is a suite the gate reads
    else:
        assert not out.exists()
        assert all(str(source) in line for line in refusal_lines(result.stderr, "Error: "))
