"""Model pairs: which old and new model gate which suite.

A team's upgrade retrains every task adapter on the new base, and each task has its suites. One run gates them
all from `[tool.muscle-guard.pairs.NAME]` tables:

    [tool.muscle-guard.pairs.sentiment]
    old = "models/old-base/sentiment"
    new = "models/new-base/sentiment"
    suites = ["rotten_tomatoes"]

A suite is gated by exactly one pair: the named pair that lists it, else the run's default pair (`old`/`new` of
`[tool.muscle-guard]`, pytest's ini keys). `--muscle-old`/`--muscle-new` on the command line replace every pair:
the run is then one pair for every suite, as without pairs. The default pair has the empty name, so a run
without named pairs reads, reports and stores exactly as before pairs existed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from muscle_guard.core.errors import ConfigError
from muscle_guard.core.prompt_format import NONE, PromptFormat, parse_prompt_format

REQUIRED_KEYS = ("old", "new", "suites")
PAIR_KEYS = (*REQUIRED_KEYS, "old_prompt", "new_prompt")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # also a file name: a pair's baseline is NAME.jsonl


@dataclass(frozen=True)
class ModelPair:
    """An old and a new model reference, each with its prompt format. `name` is "" for the run's default pair."""

    name: str
    old: str
    new: str
    where: str = ""  # where it was configured, for messages
    old_prompt: PromptFormat = NONE
    new_prompt: PromptFormat = NONE
    suites: tuple[str, ...] = ()  # the suites a named pair gates, by name

    def ref(self, side: str) -> str:
        return self.old if side == "old" else self.new

    def prompt(self, side: str) -> PromptFormat:
        return self.old_prompt if side == "old" else self.new_prompt

    def option(self, side: str) -> str:
        """How the user named this side, for error messages."""
        return f"{self.where} {side}" if self.name else f"--muscle-{side}"

    @property
    def label(self) -> str:
        """How reports call the pair: its name, or "" for the default pair."""
        return self.name


@dataclass(frozen=True)
class PairPlan:
    """The pairs of a run and which one gates each suite."""

    default: ModelPair | None = None
    named: tuple[ModelPair, ...] = ()
    suites: Mapping[str, str] = field(default_factory=dict)  # suite name → pair name (named pairs only)

    @property
    def active(self) -> bool:
        return self.default is not None or bool(self.named)

    @property
    def pairs(self) -> tuple[ModelPair, ...]:
        return ((self.default,) if self.default else ()) + self.named

    def by_name(self, name: str) -> ModelPair:
        for pair in self.pairs:
            if pair.name == name:
                return pair
        known = ", ".join(p.name or "(default)" for p in self.pairs) or "none"
        raise ConfigError(f"no model pair named {name!r} (pairs: {known})")

    def for_suite(self, suite: str) -> ModelPair:
        """The pair that gates `suite`; ConfigError says how to give it one."""
        name = self.suites.get(suite)
        if name is not None:
            return self.by_name(name)
        if self.default is not None:
            return self.default
        listed = ", ".join(p.name for p in self.named)
        spelt = [f"{p.where}: suites lists {f!r}" for p in self.named for f in p.suites if f == f"{suite}.jsonl"]
        hint = f" ({spelt[0]}: suites are named without .jsonl, write {suite!r})" if spelt else ""
        raise ConfigError(
            f"no model pair gates suite {suite!r}{hint}: add it to `suites` of one of the pairs ({listed}) in "
            "[tool.muscle-guard.pairs.NAME], or set old and new in [tool.muscle-guard] for the suites no pair lists"
        )

    def unmatched(self, suite_names: set[str]) -> list[str]:
        """One line per suite a pair lists that the run does not have: a typo would gate nothing."""
        return [
            f"{pair.where}: suite {suite!r} is not in this run (suites: {', '.join(sorted(suite_names)) or 'none'}); "
            "check the name: a suite is named by its file name"
            + (f" without .jsonl ({suite.removesuffix('.jsonl')!r})" if suite.endswith(".jsonl") else "")
            for pair in self.named
            for suite in pair.suites
            if suite not in suite_names
        ]


def parse_pairs(table: Any, where: str) -> tuple[ModelPair, ...]:
    """The `pairs` table of `[tool.muscle-guard]`, model references as written; ConfigError names the table and
    key that is wrong."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: pairs must be a table of [tool.muscle-guard.pairs.NAME] tables")
    out: list[ModelPair] = []
    owner: dict[str, str] = {}
    for name, body in table.items():
        at = f"{where}.pairs.{name}]"
        if not _NAME.match(name):
            raise ConfigError(f"{at}: a pair name is letters, digits, '_', '.' and '-' (it names files)")
        if not isinstance(body, dict):
            raise ConfigError(f"{at} must be a table with old, new and suites")
        unknown = sorted(set(body) - set(PAIR_KEYS))
        if unknown:
            raise ConfigError(f"{at}: unknown key {unknown[0]!r}; a pair has {', '.join(PAIR_KEYS)}")
        for key in REQUIRED_KEYS:
            if key not in body:
                raise ConfigError(f"{at}: {key} is missing; a pair needs old, new and the suites it gates")
        for key in ("old", "new"):
            if not isinstance(body[key], str) or not body[key].strip():
                raise ConfigError(f"{at}: {key} must be a model reference (a string)")
        suites = body["suites"]
        if isinstance(suites, str):
            suites = [suites]
        if not isinstance(suites, list) or not suites or not all(isinstance(s, str) and s for s in suites):
            raise ConfigError(f'{at}: suites must be a non-empty list of suite names, e.g. suites = ["{name}"]')
        for suite in suites:
            if suite in owner and owner[suite] != name:
                raise ConfigError(
                    f"{at}: suite {suite!r} is also listed by pair {owner[suite]!r}; a suite is gated by one pair"
                )
            owner[suite] = name
        old_prompt, new_prompt = (
            parse_prompt_format(body.get(f"{s}_prompt"), f"{at}: {s}_prompt") for s in ("old", "new")
        )
        out.append(
            ModelPair(name, body["old"], body["new"], at, old_prompt, new_prompt, suites=tuple(dict.fromkeys(suites)))
        )
    return tuple(out)


def plan_pairs(
    default: tuple[str | None, str | None],
    configured: tuple[ModelPair, ...],
    *,
    command_line: bool,
    resolve: Callable[[str], str] = str,
    prompts: tuple[PromptFormat, PromptFormat] = (NONE, NONE),
) -> PairPlan:
    """The run's pairs. `default` is (old, new) from the command line, ini or `[tool.muscle-guard]`;
    `command_line` says whether either came from the command line (then they replace every named pair).
    `resolve` turns a configured reference into one relative to the project root; `prompts` are the default
    pair's prompt formats."""
    old, new = default
    if bool(old) != bool(new):
        missing = "--muscle-new" if old else "--muscle-old"
        raise ConfigError(f"muscle-guard needs both models: {missing} is not set")
    pair = ModelPair("", old, new, old_prompt=prompts[0], new_prompt=prompts[1]) if old and new else None
    if pair is None and prompts != (NONE, NONE):
        raise ConfigError(
            "--muscle-old-prompt/--muscle-new-prompt are the formats of the default pair (--muscle-old/--muscle-new), "
            "and there is none; for a named pair set old_prompt/new_prompt in its [tool.muscle-guard.pairs.NAME] table"
        )
    if command_line:
        return PairPlan(default=pair)
    named = tuple(replace(c, old=resolve(c.old), new=resolve(c.new)) for c in configured)
    suites = {suite: c.name for c in configured for suite in c.suites}
    return PairPlan(default=pair, named=named, suites=suites)
