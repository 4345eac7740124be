"""Suites: `.jsonl` files of instances, loaded and validated with `path:line` errors."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import ConfigError, SuiteError
from muscle_guard.core.names import NORMALISERS, SCORERS

MAX_REPORTED_PROBLEMS = 50


class Shape(str, Enum):
    """The task shape of an instance; one suite holds one shape."""

    MULTIPLE_CHOICE = "multiple_choice"
    GENERATE_EXACT = "generate_exact"
    GENERATE_SCORE = "generate_score"
    CLASSIFY = "classify"

    @property
    def is_continuous(self) -> bool:
        return self is Shape.GENERATE_SCORE

    @property
    def is_generative(self) -> bool:
        return self in (Shape.GENERATE_EXACT, Shape.GENERATE_SCORE)


# Fields each shape requires; the shape of a line is the one whose signature fields it has.
_REQUIRED: dict[Shape, frozenset[str]] = {
    Shape.MULTIPLE_CHOICE: frozenset({"id", "prompt", "choices", "answer"}),
    Shape.GENERATE_EXACT: frozenset({"id", "prompt", "answer"}),
    Shape.GENERATE_SCORE: frozenset({"id", "prompt", "reference"}),
    Shape.CLASSIFY: frozenset({"id", "text", "label"}),
}
_OPTIONAL: dict[Shape, frozenset[str]] = {
    Shape.MULTIPLE_CHOICE: frozenset({"tags", "meta"}),
    Shape.GENERATE_EXACT: frozenset({"tags", "meta", "normaliser"}),
    Shape.GENERATE_SCORE: frozenset({"tags", "meta", "scorer"}),
    Shape.CLASSIFY: frozenset({"tags", "meta"}),
}
ALL_FIELDS = frozenset().union(*_REQUIRED.values(), *_OPTIONAL.values())


@dataclass(frozen=True)
class Instance:
    """One line of a suite. Only the fields of its shape are set."""

    id: str
    shape: Shape
    line: int = 0
    prompt: str | None = None
    choices: tuple[str, ...] = ()
    answer: int | str | None = None
    reference: str | None = None
    text: str | None = None
    label: int | str | None = None
    normaliser: str | None = None
    scorer: str | None = None
    tags: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def inputs(self) -> str:
        """What the model reads: the prompt, or the text of a classification instance."""
        return self.prompt if self.prompt is not None else (self.text or "")

    def to_json(self) -> dict[str, Any]:
        """The instance as its suite line (without the line number)."""
        out: dict[str, Any] = {"id": self.id}
        for name in ("prompt", "answer", "reference", "text", "label", "normaliser", "scorer"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.choices:
            out["choices"] = list(self.choices)
        if self.tags:
            out["tags"] = list(self.tags)
        if self.meta:
            out["meta"] = dict(self.meta)
        return out

    def content_hash(self) -> str:
        """Hash of everything that defines the instance; a cache key that survives reordering."""
        payload = self.to_json()
        payload.pop("meta", None)
        payload.pop("tags", None)
        payload["shape"] = self.shape.value
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()[:32]


@dataclass(frozen=True)
class Suite:
    """A validated suite file."""

    name: str
    path: Path
    shape: Shape
    instances: tuple[Instance, ...]

    def __len__(self) -> int:
        return len(self.instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self.instances)

    def content_hash(self) -> str:
        """Hash of the ordered instance contents: identifies a suite version."""
        digest = hashlib.sha256()
        for instance in self.instances:
            digest.update(instance.content_hash().encode())
        return digest.hexdigest()[:32]


def suite_name(path: Path) -> str:
    """A suite's name is its file stem (`suites/sarcasm.jsonl` → `sarcasm`)."""
    return path.stem


def read_json_lines(path: Path, kind: str = "suite") -> tuple[list[tuple[int, Any]], list[str]]:
    """Every line of a JSON Lines file as (line number, parsed value), and the lines that are not JSON as
    `path:line: message` problems (in line order); raise SuiteError when the file itself cannot be read as UTF-8
    text. `kind` names the file in the message for a missing one ("check the suite path")."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SuiteError([f"{shown}: no such file; check the {kind} path"]) from None
    except IsADirectoryError:
        raise SuiteError([f"{shown}: is a directory, expected a .jsonl file"]) from None
    except OSError as exc:
        raise SuiteError([f"{shown}: cannot read ({exc.strerror})"]) from None
    if raw.startswith(b"\xef\xbb\xbf"):
        raise SuiteError([f"{shown}:1: starts with a UTF-8 byte-order mark; save the file as UTF-8 without BOM"])
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_no = raw[: exc.start].count(b"\n") + 1
        raise SuiteError(
            [f"{shown}:{line_no}: invalid UTF-8 byte 0x{raw[exc.start]:02x}; re-encode the file as UTF-8"]
        ) from None
    rows: list[tuple[int, Any]] = []
    problems: list[str] = []
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    for number, text in enumerate(lines, start=1):
        where = f"{shown}:{number}"
        if not text.strip():
            problems.append(f"{where}: blank line; remove it (every line must be one JSON object)")
            continue
        try:
            rows.append((number, json.loads(text, object_pairs_hook=_unique_keys)))
        except DuplicateKey as exc:
            problems.append(
                f"{where}: key {exc.key!r} appears twice in one object; JSON keeps the last one silently, so keep one"
            )
        except json.JSONDecodeError as exc:
            # json says "Unterminated string starting at" for a string cut short: no second "at".
            problems.append(f"{where}: invalid JSON ({exc.msg.removesuffix(' at')} at column {exc.colno})")
        except RecursionError:  # json recurses per nesting level: `[[[[...` thousands deep
            problems.append(f"{where}: invalid JSON (nested too deeply); an instance is one flat JSON object")
        except ValueError as exc:  # Python refuses integers of more than 4,300 digits (CVE-2020-10735)
            problems.append(f"{where}: invalid JSON ({str(exc).split(';')[0]}); write the number as a string")
    return rows, problems


class DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def _surrogate(value: Any, path: str = "") -> tuple[str, str] | None:
    """(field, the code point) of the first lone surrogate in a decoded JSON value: `"\\ud800"` decodes to one,
    which is no Unicode character, so no tokenizer or file can encode it."""
    if isinstance(value, str):
        found = next((ch for ch in value if "\ud800" <= ch <= "\udfff"), None)
        return (path, f"\\u{ord(found):04x}") if found is not None else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        if isinstance(key, str) and (hit := _surrogate(key, path)) is not None:
            return hit
        name = f"{path}.{key}" if isinstance(key, str) and path else str(key) if not path else f"{path}[{key}]"
        if (hit := _surrogate(inner, name)) is not None:
            return hit
    return None


def id_key(id_: str) -> str:
    """What makes two ids look the same: case and Unicode normalisation (NFC "café" and NFD "café")."""
    return unicodedata.normalize("NFC", id_).casefold()


def load_suite(path: str | Path) -> Suite:
    """Read and validate one suite; raise SuiteError listing every problem as `path:line: message`."""
    path = Path(path)
    shown = str(path)
    rows, problems = read_json_lines(path)
    instances: list[Instance] = []
    seen: dict[str, int] = {}
    alike: dict[str, tuple[str, int]] = {}
    shape_of_file: tuple[Shape, int] | None = None
    for number, obj in rows:
        where = f"{shown}:{number}"
        try:
            instance = parse_instance(obj, number)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if instance.id in seen:
            problems.append(
                f"{where}: duplicate id {instance.id!r} (first on line {seen[instance.id]}); ids must be unique"
            )
            continue
        other = alike.get(id_key(instance.id))
        if other is not None:
            problems.append(
                f"{where}: id {instance.id!a} differs from {other[0]!a} (line {other[1]}) only by case or "
                "Unicode normalisation: their test ids look the same and pytest -k selects both; make them differ"
            )
            continue
        seen[instance.id] = number
        alike[id_key(instance.id)] = (instance.id, number)
        if shape_of_file is None:
            shape_of_file = (instance.shape, number)
        elif instance.shape is not shape_of_file[0]:
            problems.append(
                f"{where}: {instance.shape.value} instance in a {shape_of_file[0].value} suite "
                f"(set by line {shape_of_file[1]}); one suite holds one task shape, split the file"
            )
            continue
        instances.append(instance)

    if not problems and not instances:
        problems.append(f"{shown}: empty suite (no instances); add lines or remove the file")
    if problems:
        raise SuiteError(first_problems(problems, shown))
    assert shape_of_file is not None
    return Suite(name=suite_name(path), path=path, shape=shape_of_file[0], instances=tuple(instances))


def first_problems(problems: list[str], shown: str) -> list[str]:
    """`path:line: message` problems in line order, at most MAX_REPORTED_PROBLEMS and then a line saying so."""

    def line_of(problem: str) -> int:
        head = problem[len(shown) + 1 :].split(":", 1)[0]
        return int(head) if problem.startswith(shown + ":") and head.isdigit() else 1 << 30

    ordered = sorted(problems, key=line_of)
    if len(ordered) <= MAX_REPORTED_PROBLEMS:
        return ordered
    return [*ordered[:MAX_REPORTED_PROBLEMS], f"{shown}: stopped after {MAX_REPORTED_PROBLEMS} problems"]


def detect_shape(keys: frozenset[str]) -> Shape:
    """The task shape a line's keys describe."""
    if "choices" in keys:
        return Shape.MULTIPLE_CHOICE
    if "text" in keys or "label" in keys:
        return Shape.CLASSIFY
    if "reference" in keys:
        return Shape.GENERATE_SCORE
    if "answer" in keys:
        return Shape.GENERATE_EXACT
    raise ValueError(
        "cannot tell the task shape: expected prompt+choices+answer, prompt+answer, prompt+reference or text+label"
    )


def parse_instance(obj: object, line: int = 0) -> Instance:
    """Build an Instance from one decoded JSON line; ValueError says what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    surrogate = _surrogate(obj)
    if surrogate is not None:
        raise ValueError(
            f"{surrogate[0] or 'a key'!r} holds a lone surrogate ({surrogate[1]} escaped in the JSON), which is not a "
            "Unicode character and cannot be encoded for a model; fix or remove it"
        )
    keys = frozenset(obj)
    unknown = sorted(keys - ALL_FIELDS)
    if unknown:
        raise ValueError(
            f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(ALL_FIELDS))} (put extras under 'meta')"
        )
    shape = detect_shape(keys)
    missing = sorted(_REQUIRED[shape] - keys)
    if missing:
        raise ValueError(f"missing field {missing[0]!r} for a {shape.value} instance")
    extra = sorted(keys - _REQUIRED[shape] - _OPTIONAL[shape])
    if extra:
        raise ValueError(f"field {extra[0]!r} does not belong to a {shape.value} instance")

    id_ = obj["id"]
    if not isinstance(id_, str) or not id_.strip():
        raise ValueError(f"'id' must be a non-empty string, got {json.dumps(id_)}")
    if any(ch in id_ for ch in "\n\r\t") or "::" in id_ or "[" in id_ or "]" in id_:
        raise ValueError(
            f"'id' {id_!r} must not contain tabs, newlines, '::' or brackets (it becomes a pytest node id)"
        )
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("'tags' must be a list of strings")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise ValueError("'meta' must be a JSON object")
    common: dict[str, Any] = {"id": id_, "shape": shape, "line": line, "tags": tuple(tags), "meta": meta}

    if shape is Shape.CLASSIFY:
        text, label = obj["text"], obj["label"]
        _require_str("text", text)
        if isinstance(label, bool) or not isinstance(label, int | str):
            raise ValueError(f"'label' must be a class index or a label name, got {json.dumps(label)}")
        if isinstance(label, int) and label < 0:
            raise ValueError(f"'label' must be >= 0, got {label}")
        return Instance(text=text, label=label, **common)

    prompt = obj["prompt"]
    _require_str("prompt", prompt)
    if shape is Shape.MULTIPLE_CHOICE:
        choices, answer = obj["choices"], obj["answer"]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise ValueError("'choices' must be a list of strings")
        if len(choices) < 2:
            raise ValueError(f"'choices' needs at least two options, got {len(choices)}")
        if any(not c for c in choices):
            raise ValueError("'choices' must not contain an empty string")
        first: dict[str, int] = {}
        for i, choice in enumerate(choices):
            if choice in first:
                raise ValueError(
                    f"'choices' holds {choice!r} twice (options {first[choice]} and {i}): both get the same "
                    "log-likelihood, so the model's answer is a tie; make every option distinct"
                )
            first[choice] = i
        if isinstance(answer, bool) or not isinstance(answer, int):
            raise ValueError(f"'answer' must be the index of the right choice, got {json.dumps(answer)}")
        if not 0 <= answer < len(choices):
            raise ValueError(f"'answer' index {answer} out of range for {len(choices)} choices (0..{len(choices) - 1})")
        return Instance(prompt=prompt, choices=tuple(choices), answer=answer, **common)
    if shape is Shape.GENERATE_EXACT:
        answer = obj["answer"]
        if isinstance(answer, bool) or not isinstance(answer, str | int | float):
            raise ValueError(f"'answer' must be a string or a number, got {json.dumps(answer)}")
        if isinstance(answer, str) and not answer.strip():
            raise ValueError("'answer' must not be empty: an empty answer is matched by an empty output")
        normaliser = obj.get("normaliser")
        if normaliser is not None:
            _require_str("normaliser", normaliser)
            if normaliser not in NORMALISERS:
                raise ValueError(f"'normaliser' {normaliser!r} is not one of {', '.join(NORMALISERS)}")
        return Instance(prompt=prompt, answer=str(answer), normaliser=normaliser, **common)
    reference = obj["reference"]
    _require_str("reference", reference)
    scorer = obj.get("scorer")
    if scorer is not None:
        _require_str("scorer", scorer)
        if scorer not in SCORERS:
            raise ValueError(f"'scorer' {scorer!r} is not one of {', '.join(SCORERS)}")
    return Instance(prompt=prompt, reference=reference, scorer=scorer, **common)


def _require_str(name: str, value: object) -> None:
    if not isinstance(value, str):
        raise ValueError(f"'{name}' must be a string, got {json.dumps(value)}")
    if name in ("prompt", "text", "reference") and not value:
        raise ValueError(f"'{name}' must not be empty")


def discover_suites(paths: list[Path]) -> list[Path]:
    """Expand directories to their `.jsonl` files (sorted, recursive); keep files as given; each path once.

    Hidden directories below a given one (`.muscle-cache`, `.venv`, `.git`) are skipped: their `.jsonl`
    files are caches and data, not suites.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            for candidate in sorted(path.rglob("*.jsonl")):
                hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts[:-1])
                if candidate.is_file() and not hidden:
                    found.setdefault(candidate)
        else:
            found.setdefault(path)
    return list(found)


def refuse_empty_suite_paths(paths: Sequence[Path], label: str) -> None:
    """ConfigError unless every path exists and holds suites: a gate over nothing would pass without a word."""
    for path in paths:
        if not path.exists():
            raise ConfigError(f"{label}: {path} does not exist; pass suite files or directories")
        if path.is_file() and path.suffix != ".jsonl":
            raise ConfigError(
                f"{label}: {path} is not a suite: suites are .jsonl files (JSON Lines, one instance a line)"
            )
        if path.is_dir() and not discover_suites([path]):
            raise ConfigError(f"{label}: {path} holds no .jsonl suite; pass suite files or directories that hold them")


def same_name_error(suite: Suite, other: Path) -> SuiteError:
    """Two suites of one run with one name: waivers, baselines, settings tables and reports could not tell them
    apart (each names a suite by its file name), so the second is refused rather than silently merged."""
    return SuiteError(
        [
            f"{suite.path}: suite name {suite.name!r} is also the name of {other}; waivers, baselines, "
            f"[tool.muscle-guard.suites.{suite.name}] and reports name a suite by its file name, so rename one file"
        ]
    )


def refuse_duplicate_names(suites: Sequence[Suite]) -> None:
    seen: dict[str, Path] = {}
    for suite in suites:
        if suite.name in seen and seen[suite.name].resolve() != suite.path.resolve():
            raise same_name_error(suite, seen[suite.name])
        seen.setdefault(suite.name, suite.path)
