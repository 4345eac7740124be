"""Typed reads of parsed JSON: each returns the value as its type or raises TypeError saying what was expected.

Every `from_json` of the core (outcomes, metrics, verdicts, reports) and the renderers' readers of a fix
section use these, so a malformed file fails the same way wherever it is read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _wrong(expected: str, value: Any, name: str | None) -> TypeError:
    if name and value is None:
        return TypeError(f"{name!r} missing; expected {expected}")
    where = f"{name!r}: " if name else ""
    return TypeError(f"{where}expected {expected}, got {type(value).__name__}")


def text(value: Any, name: str | None = None) -> str:
    if not isinstance(value, str):
        raise _wrong("a string", value, name)
    return value


def boolean(value: Any, name: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise _wrong("true or false", value, name)
    return value


def whole(value: Any, name: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong("a whole number", value, name)
    return value


def number(value: Any, name: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong("a number", value, name)
    return float(value)


def json_object(value: Any, name: str | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _wrong("a JSON object", value, name)
    return value


def json_list(value: Any, name: str | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise _wrong("a JSON array", value, name)
    return value


def strings(value: Any, name: str | None = None) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise _wrong("a list of strings", value, name)
    return tuple(value)


def optional(read: Callable[[Any], T], value: Any) -> T | None:
    """`read(value)`, or None for a JSON null (or a missing key read with .get)."""
    return None if value is None else read(value)
