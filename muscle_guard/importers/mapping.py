"""Rows (dicts from any source) → suite instances, by a field mapping for one task shape.

Pure: no third-party import. Every problem names the source row (1-based) and what to change.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from muscle_guard.core.errors import ConfigError, SuiteError
from muscle_guard.core.suite import MAX_REPORTED_PROBLEMS, Instance, Shape, parse_instance

_FIELD = re.compile(r"\{([^{}]+)\}")
# What each shape's instance needs, and the mapping keys that provide it.
NEEDS: dict[Shape, tuple[str, ...]] = {
    Shape.MULTIPLE_CHOICE: ("prompt", "choices", "answer"),
    Shape.CLASSIFY: ("text", "label"),
    Shape.GENERATE_EXACT: ("prompt", "answer"),
    Shape.GENERATE_SCORE: ("prompt", "reference"),
}


@dataclass(frozen=True)
class FieldMap:
    """How a row becomes an instance of `shape`.

    `prompt`/`text` is a field name or a template of fields (`"Question: {question}\\nAnswer:"`, plain
    substitution); `choices` one list field or several fields (`"opa,opb,opc"`); `answer` a field holding the
    right choice's index, its text or its letter (A, B, …), or the reference answer of `generate_exact`; `label`
    a field holding a class index or name; `id` a field (else a hash of the instance's content, stable across
    re-imports); `tags` a field of one tag or a list of them. `choice_prefix` goes before every choice
    (lm-eval's target delimiter, " " by default), unless the choice already starts with it.
    """

    shape: Shape
    fields: Mapping[str, str] = field(default_factory=dict)
    choice_prefix: str = " "
    id_prefix: str = ""

    def __post_init__(self) -> None:
        missing = [key for key in NEEDS[self.shape] if key not in self.fields]
        if missing:
            wanted = ", ".join(f"--field {k}=FIELD" for k in missing)
            raise ConfigError(f"a {self.shape.value} suite needs {', '.join(missing)}: pass {wanted}")
        allowed = {*NEEDS[self.shape], "id", "tags"}
        unknown = sorted(set(self.fields) - allowed)
        if unknown:
            raise ConfigError(
                f"--field {unknown[0]}=...: not a field of a {self.shape.value} instance; use {', '.join(sorted(allowed))}"
            )


def _is_empty(value: Any) -> bool:
    """A cell with nothing in it: None (an empty CSV cell, a JSON null) or NaN (pandas' empty cell)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def _value(row: Mapping[str, Any], spec: str, what: str) -> Any:
    """A field's value, or a template of fields rendered as text. An empty cell is an error, never the text
    "None" or "nan" (it would become a label or an answer no model gives)."""
    names = _FIELD.findall(spec)
    if not names:
        if spec not in row:
            raise ValueError(f"{what}: field {spec!r} missing; the row has {', '.join(map(str, row)) or 'no fields'}")
        if _is_empty(row[spec]):
            raise ValueError(f"{what}: field {spec!r} is empty; fill it in or leave the row out")
        return row[spec]
    for name in names:
        if name not in row:
            raise ValueError(f"{what}: template field {name!r} missing; the row has {', '.join(map(str, row))}")
        if _is_empty(row[name]):
            raise ValueError(f"{what}: template field {name!r} is empty; fill it in or leave the row out")
    return _FIELD.sub(lambda m: str(row[m.group(1)]), spec)


def _choices(row: Mapping[str, Any], spec: str, prefix: str) -> list[str]:
    names = [s.strip() for s in spec.split(",")] if "," in spec else [spec]
    values: Any = [_value(row, n, "choices") for n in names] if len(names) > 1 else _value(row, spec, "choices")
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise ValueError(
            f"choices: field {spec!r} is {type(values).__name__}, expected a list (or name several fields)"
        )
    out = []
    for choice in values:
        text = str(choice)
        out.append(text if not prefix or text.startswith(prefix) else prefix + text)
    return out


def _answer_index(value: Any, choices: Sequence[str], prefix: str) -> int:
    """The right choice's index from an index, a choice's text or a letter."""
    if isinstance(value, bool):
        raise ValueError(f"answer: {value!r} is not a choice index, text or letter")
    if isinstance(value, int):
        if not 0 <= value < len(choices):
            raise ValueError(f"answer: index {value} is out of range for {len(choices)} choices")
        return value
    text = str(value).strip()
    if text.isdigit() and int(text) < len(choices):
        return int(text)
    bare = [c[len(prefix) :] if prefix and c.startswith(prefix) else c for c in choices]
    if text in bare:
        return bare.index(text)
    letters = string.ascii_uppercase[: len(choices)]
    if len(text) == 1 and text.upper() in letters:
        return letters.index(text.upper())
    raise ValueError(
        f"answer: {value!r} is neither an index, one of the choices nor a letter {letters[0]}-{letters[-1]}"
    )


def instance_of(row: Mapping[str, Any], mapping: FieldMap, number: int) -> dict[str, Any]:
    """One suite line from one row; ValueError says what is wrong (the caller adds the row number)."""
    f = mapping.fields
    out: dict[str, Any] = {}
    if mapping.shape is Shape.CLASSIFY:
        out["text"] = str(_value(row, f["text"], "text"))
        label = _value(row, f["label"], "label")
        out["label"] = label if isinstance(label, int) and not isinstance(label, bool) else str(label)
    else:
        out["prompt"] = str(_value(row, f["prompt"], "prompt"))
    if mapping.shape is Shape.MULTIPLE_CHOICE:
        out["choices"] = _choices(row, f["choices"], mapping.choice_prefix)
        out["answer"] = _answer_index(_value(row, f["answer"], "answer"), out["choices"], mapping.choice_prefix)
    elif mapping.shape is Shape.GENERATE_EXACT:
        out["answer"] = str(_value(row, f["answer"], "answer"))
    elif mapping.shape is Shape.GENERATE_SCORE:
        out["reference"] = str(_value(row, f["reference"], "reference"))
    if "tags" in f:
        tags = _value(row, f["tags"], "tags")
        out["tags"] = [str(t) for t in tags] if isinstance(tags, list | tuple) else [str(tags)]
    if "id" in f:
        out["id"] = str(_value(row, f["id"], "id"))
    else:
        blob = json.dumps({k: v for k, v in out.items() if k != "tags"}, sort_keys=True, ensure_ascii=False)
        out["id"] = f"{mapping.id_prefix}{hashlib.sha256(blob.encode()).hexdigest()[:12]}"
    return {"id": out.pop("id"), **out}


def problem_lines(problems: Mapping[str, Sequence[int]], source: str) -> list[str]:
    """One line per distinct problem, at its first row, saying how many more rows have it; at most
    MAX_REPORTED_PROBLEMS lines, then how many problems were left out."""
    lines = []
    for message, numbers in problems.items():
        more = f" (and {len(numbers) - 1} more row{'s' if len(numbers) > 2 else ''} with the same problem)"
        lines.append(f"{source} row {numbers[0]}: {message}{more if len(numbers) > 1 else ''}")
    if len(lines) > MAX_REPORTED_PROBLEMS:
        left = len(lines) - MAX_REPORTED_PROBLEMS
        return [*lines[:MAX_REPORTED_PROBLEMS], f"{source}: and {left} more problems"]
    return lines


@dataclass(frozen=True)
class Imported:
    """The instances of an import, in source order, and what was left out."""

    instances: tuple[Instance, ...]
    duplicates: int  # rows whose instance was already imported (same content, hence same id)


def import_rows(rows: Iterable[Mapping[str, Any]], mapping: FieldMap, source: str) -> Imported:
    """Every row as an instance, validated as a suite line; SuiteError lists every bad row as `source row N`."""
    problems: dict[str, list[int]] = {}  # message → the rows it is about, in order: a misspelt column is one line
    instances: list[Instance] = []
    seen: dict[str, int] = {}
    duplicates = 0
    for number, row in enumerate(rows, start=1):
        try:
            line = instance_of(row, mapping, number)
            instance = parse_instance(line, number)
        except (ValueError, SuiteError, ConfigError) as exc:
            message = "; ".join(exc.problems) if isinstance(exc, SuiteError) else str(exc)
            problems.setdefault(message, []).append(number)
            continue
        if instance.id in seen:
            if instance.content_hash() == instances[seen[instance.id]].content_hash():
                duplicates += 1  # the same instance twice (a repeated row): one test, not two
                continue
            problems.setdefault(f"id {instance.id!r} repeats row {seen[instance.id] + 1}'s", []).append(number)
            continue
        seen[instance.id] = len(instances)
        instances.append(instance)
    if problems:
        raise SuiteError(problem_lines(problems, source))
    if not instances:
        raise SuiteError([f"{source}: no rows to import"])
    return Imported(tuple(instances), duplicates)
