"""Waivers: known negative flips a team accepted, each with a reason and an optional expiry date.

A waiver file is TOML::

    [[waiver]]
    suite = "sarcasm"
    id = "sarcasm-0012"
    reason = "label noise, see #123"
    expires = 2026-12-31   # optional; from that day on the waiver no longer applies
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from muscle_guard.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Waiver:
    suite: str
    id: str
    reason: str
    expires: dt.date | None = None

    def active(self, today: dt.date) -> bool:
        return self.expires is None or today < self.expires


@dataclass(frozen=True)
class Waivers:
    """The active waivers, by (suite, id); expired ones are kept to say so."""

    entries: tuple[Waiver, ...] = ()
    today: dt.date = field(default_factory=dt.date.today)

    def lookup(self, suite: str, instance_id: str) -> Waiver | None:
        for waiver in self.entries:
            if waiver.suite == suite and waiver.id == instance_id and waiver.active(self.today):
                return waiver
        return None

    def expired(self) -> tuple[Waiver, ...]:
        return tuple(w for w in self.entries if not w.active(self.today))

    def unmatched(self, suite_paths: Sequence[Path]) -> list[str]:
        """One line per waiver that names a suite or an instance this run does not have (a typo waives nothing).

        Suites are named by file name (`suite.suite_name`); only the suites that waivers name are read.
        """
        from muscle_guard.core.errors import SuiteError
        from muscle_guard.core.suite import load_suite, suite_name

        by_name = {suite_name(p): p for p in suite_paths}
        ids: dict[str, set[str]] = {}
        lines = []
        for waiver in self.entries:
            path = by_name.get(waiver.suite)
            if path is None:
                known = ", ".join(sorted(by_name)) or "none"
                lines.append(
                    f"waiver {waiver.suite}::{waiver.id} matches no suite of this run (its suites: {known}); "
                    "check the suite name in the waiver file"
                )
                continue
            if waiver.suite not in ids:
                try:
                    ids[waiver.suite] = {i.id for i in load_suite(path).instances}
                except SuiteError:
                    ids[waiver.suite] = set()  # the broken suite is reported by its own collection error
                    continue
            if ids[waiver.suite] and waiver.id not in ids[waiver.suite]:
                lines.append(
                    f"waiver {waiver.suite}::{waiver.id} matches no instance of {path}; check the id in the waiver file"
                )
        return lines


def load_waivers(path: Path | None, today: dt.date | None = None) -> Waivers:
    """Read a waiver file; ConfigError names the file and the entry that is wrong."""
    today = today or dt.date.today()
    if path is None:
        return Waivers((), today)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"--muscle-waivers: {path} does not exist") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not a valid TOML waiver file ({exc})") from None
    raw = data.get("waiver", [])
    unknown = sorted(set(data) - {"waiver"})
    if unknown or not isinstance(raw, list):
        raise ConfigError(f"{path}: expected only [[waiver]] tables, found {', '.join(unknown) or type(raw).__name__}")
    entries = []
    for number, entry in enumerate(raw, start=1):
        where = f"{path}: waiver #{number}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: must be a table")
        extra = sorted(set(entry) - {"suite", "id", "reason", "expires"})
        if extra:
            raise ConfigError(f"{where}: unknown key {extra[0]!r} (allowed: suite, id, reason, expires)")
        for key in ("suite", "id", "reason"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ConfigError(f"{where}: needs a non-empty string {key!r}")
        expires = entry.get("expires")
        if expires is not None and not (isinstance(expires, dt.date) and not isinstance(expires, dt.datetime)):
            raise ConfigError(f"{where}: 'expires' must be a TOML date like 2026-12-31")
        entries.append(Waiver(entry["suite"], entry["id"], entry["reason"], expires))
    return Waivers(tuple(entries), today)
