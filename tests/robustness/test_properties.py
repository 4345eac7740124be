"""Properties of the suite parser and of baselines, for any input (hypothesis).

The metrics' properties (partition, order, McNemar, report round trips) live in tests/unit/test_metrics_properties.py;
these add what a user's files go through: a valid line loads back to exactly what was written, any bytes at
all are either a suite or a SuiteError (never another exception), and a baseline gives back exactly the
predictions it was written with.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.baseline import read_baseline, write_baseline
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import SuiteError
from muscle_guard.core.names import NORMALISERS, SCORERS
from muscle_guard.core.pipeline import SuitePredictions, settings_key
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.suite import ALL_FIELDS, Shape, Suite, id_key, load_suite

# Text a JSON file can hold whichever way it is encoded (no lone surrogates: they are not UTF-8).
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
nonempty = texts.filter(bool)
ids = texts.filter(lambda t: t.strip() and not any(c in t for c in "\n\r\t[]") and "::" not in t)
finite = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | finite | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
common = {"tags": st.lists(texts, max_size=3), "meta": st.dictionaries(texts, json_values, max_size=3)}


@st.composite
def multiple_choice(draw: st.DrawFn) -> dict[str, Any]:
    choices = draw(st.lists(nonempty, min_size=2, max_size=5, unique=True))  # a repeated option is refused
    return {"prompt": draw(nonempty), "choices": choices, "answer": draw(st.integers(0, len(choices) - 1))}


SHAPES = {
    Shape.MULTIPLE_CHOICE: multiple_choice(),
    Shape.GENERATE_EXACT: st.fixed_dictionaries(
        {"prompt": nonempty, "answer": texts.filter(str.strip) | st.integers() | finite},
        optional={"normaliser": st.sampled_from(NORMALISERS)},
    ),
    Shape.GENERATE_SCORE: st.fixed_dictionaries(
        {"prompt": nonempty, "reference": nonempty}, optional={"scorer": st.sampled_from(SCORERS)}
    ),
    Shape.CLASSIFY: st.fixed_dictionaries({"text": nonempty, "label": st.integers(0, 1000) | texts}),
}


@st.composite
def suites(draw: st.DrawFn) -> tuple[Shape, list[dict[str, Any]]]:
    """A valid suite: instances of one shape with unique ids, optional tags and meta."""
    shape = draw(st.sampled_from(Shape))
    instance_ids = draw(st.lists(ids, min_size=1, max_size=6, unique_by=id_key))  # not only by case apart
    rows = []
    for id_ in instance_ids:
        extra = draw(st.fixed_dictionaries({}, optional=common))
        rows.append({"id": id_, **draw(SHAPES[shape]), **extra})
    return shape, rows


def canonical(row: dict[str, Any]) -> dict[str, Any]:
    """What `Instance.to_json` gives back: numeric answers as text, empty tags and meta left out."""
    out = {k: v for k, v in row.items() if not (k in ("tags", "meta") and not v)}
    if "choices" not in out and "answer" in out:
        out["answer"] = str(out["answer"])
    return out


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    # Function-scoped tmp_path is reset once per test, not per example: one folder, a file per example.
    with tempfile.TemporaryDirectory(prefix="muscle-properties-") as name:
        yield Path(name)


def write(folder: Path, data: bytes) -> Path:
    with tempfile.NamedTemporaryFile(dir=folder, suffix=".jsonl", delete=False) as handle:
        handle.write(data)
    return Path(handle.name)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suite=suites(), ascii_only=st.booleans(), crlf=st.booleans())
def test_a_valid_suite_loads_back_exactly(
    folder: Path, suite: tuple[Shape, list[dict[str, Any]]], ascii_only: bool, crlf: bool
) -> None:
    shape, rows = suite
    newline = "\r\n" if crlf else "\n"
    body = "".join(json.dumps(row, ensure_ascii=ascii_only) + newline for row in rows)

    loaded = load_suite(write(folder, body.encode("utf-8")))

    assert loaded.shape is shape
    assert [i.to_json() for i in loaded.instances] == [canonical(row) for row in rows]
    assert [i.line for i in loaded.instances] == list(range(1, len(rows) + 1))


json_lines = st.one_of(
    st.dictionaries(st.sampled_from(sorted(ALL_FIELDS | {"extra"})), json_values, max_size=6).map(json.dumps),
    json_values.map(json.dumps),
    texts,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300) | st.lists(json_lines, max_size=5).map(lambda ls: "\n".join(ls).encode()))
@example(data=b"[" * 100_000)
@example(data=b"\xef\xbb\xbf")
@example(data=b'{"id": "a", "prompt": "p", "choices": ["x", "y"], "answer": 1e400}')
@example(data=b'{"id": "a", "text": "t", "label": NaN}')
def test_any_bytes_are_a_suite_or_a_suite_error(folder: Path, data: bytes) -> None:
    path = write(folder, data)
    problems: tuple[str, ...] = ()
    try:
        suite = load_suite(path)
    except SuiteError as exc:  # anything else fails the test
        problems = exc.problems
    else:
        assert len(suite) >= 1
        return
    assert problems
    assert all(p.startswith(str(path)) for p in problems)  # every problem names the file (and line)


predictions = st.builds(
    Prediction,
    id=ids,
    logliks=st.lists(finite, max_size=4).map(tuple),
    probs=st.lists(finite, max_size=4).map(tuple),
    text=st.none() | texts,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(suite=suites(), data=st.data())
def test_a_baseline_gives_back_exactly_the_predictions_it_was_written_with(
    folder: Path, suite: tuple[Shape, list[dict[str, Any]]], data: st.DataObject
) -> None:
    shape, rows = suite
    loaded = load_suite(write(folder, "".join(json.dumps(r) + "\n" for r in rows).encode()))
    suite_obj = Suite("properties", loaded.path, loaded.shape, loaded.instances)
    stored = {
        i.id: Prediction(i.id, *data.draw(predictions.map(lambda p: (p.logliks, p.probs, p.text))))
        for i in suite_obj.instances
    }
    model = ModelInfo(
        "fake:model", "fake", data.draw(texts), data.draw(st.dictionaries(texts, json_values, max_size=2))
    )
    settings_ = SuiteSettings()
    path = write(folder, b"")

    write_baseline(
        path, model, [(suite_obj, settings_, SuitePredictions(model, settings_key(shape, settings_), stored))]
    )
    baseline = read_baseline(path)

    assert baseline.predictions_for(suite_obj, settings_) == stored
    assert (baseline.info.fingerprint, baseline.info.details["baseline"]) == (model.fingerprint, str(path))
    assert {k: v for k, v in baseline.info.details.items() if k != "baseline"} == model.details
