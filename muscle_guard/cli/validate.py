"""`muscle-guard validate [PATHS]`: list suites and every problem in them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from muscle_guard.cli.common import stderr, stdout
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.baseline import BaselineFile
from muscle_guard.core.checks import settings_problems
from muscle_guard.core.config import ProjectConfig, load_project_config, pair_plan
from muscle_guard.core.errors import ConfigError, MuscleGuardError, SuiteError
from muscle_guard.core.pairs import PairPlan
from muscle_guard.core.pipeline import render_context
from muscle_guard.core.sources import close_source, open_source
from muscle_guard.core.suite import Shape, Suite, discover_suites, first_problems, load_suite, same_name_error


def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Suite files or directories (default: suites/).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")] = False,
    pyproject: Annotated[Path, typer.Option(help="pyproject.toml holding the tool.muscle-guard table.")] = Path(
        "pyproject.toml"
    ),
    show_prompt: Annotated[
        bool,
        typer.Option(
            "--show-prompt",
            help="Show each suite's first prompt as each model of its pair sees it (reads tokenizers, no weights).",
        ),
    ] = False,
    old: Annotated[
        str | None, typer.Option(help="Old model for --show-prompt (default: the configured pairs).")
    ] = None,
    new: Annotated[
        str | None, typer.Option(help="New model for --show-prompt (default: the configured pairs).")
    ] = None,
    old_prompt: Annotated[str | None, typer.Option(help="The old model's prompt format, with --old.")] = None,
    new_prompt: Annotated[str | None, typer.Option(help="The new model's prompt format, with --new.")] = None,
) -> None:
    """Check suite files: instances, task shape and scorer of each, and every error as path:line."""
    targets = paths or [Path("suites")]
    missing = [p for p in targets if not p.exists()]
    not_suites = [p for p in targets if p.is_file() and p.suffix != ".jsonl"]
    files = discover_suites([p for p in targets if p.exists() and p not in not_suites])
    problems: list[str] = [f"{p}: no such file or directory" for p in missing]
    problems += [f"{p} is not a suite: suites are .jsonl files (JSON Lines, one instance a line)" for p in not_suites]
    rows: list[dict[str, Any]] = []
    try:
        project = load_project_config(pyproject)
    except ConfigError as exc:
        problems.append(str(exc))
        project = None
    if not files and not missing and not not_suites:
        problems.append(f"{', '.join(map(str, targets))}: no .jsonl suites found")
    names: dict[str, Path] = {}
    suites_shown: list[tuple[Suite, dict[str, Any]]] = []
    for path in files:
        try:
            suite = load_suite(path)
            first = names.setdefault(suite.name, path)
            if first.resolve() != path.resolve():
                raise same_name_error(suite, first)
        except SuiteError as exc:
            problems.extend(exc.problems)
            rows.append({"path": str(path), "ok": False, "errors": len(exc.problems)})
            continue
        scorer = "-"
        if project is not None:
            try:
                settings = project.settings_for(suite.name)
                scorer = _scorer_of(suite.shape, settings.scorer, settings.normaliser, settings.mc_norm)
                unjudgeable = settings_problems(suite, settings, project.table_of(suite.name))
            except ConfigError as exc:
                problems.append(str(exc))
                unjudgeable = []
            if unjudgeable:  # what the gate would refuse or misjudge under these settings: validate says so first
                problems.extend(first_problems(unjudgeable, str(path)))
                rows.append({"path": str(path), "ok": False, "errors": len(unjudgeable)})
                continue
        rows.append(
            {
                "path": str(path),
                "ok": True,
                "name": suite.name,
                "instances": len(suite),
                "shape": suite.shape.value,
                "scorer": scorer,
            }
        )
        if show_prompt and project is not None and len(suite):
            suites_shown.append((suite, rows[-1]))
    if suites_shown and project is not None:
        try:
            plan = pair_plan(project, pyproject.parent, (old, new), (old_prompt, new_prompt))
            for suite, row in suites_shown:
                row["prompts"] = shown_prompts(plan, project, suite, problems)
        except MuscleGuardError as exc:
            problems.append(str(exc))

    if as_json:
        stdout.print_json(json.dumps({"suites": rows, "errors": problems, "ok": not problems}))
    else:
        table = Table(title="muscle-guard suites")
        table.add_column("suite", overflow="fold")
        for name in ("instances", "shape", "scorer", "status"):
            table.add_column(name, no_wrap=True)
        for row in rows:
            # Text, not markup strings: paths and messages are user data, and may contain [brackets].
            if row["ok"]:
                cells = (str(row["instances"]), row["shape"], row["scorer"], Text("ok", "green"))
            else:
                cells = ("-", "-", "-", Text(f"{row['errors']} error(s)", "red"))
            table.add_row(Text(row["path"]), *(Text(c) if isinstance(c, str) else c for c in cells))
        if stdout.is_terminal:
            stdout.print(table)
        else:  # piped into a file or a CI log: never cut lines to a pretend 80-column terminal
            wide = stdout.options.update_width(100_000)
            width = max(stdout.width, Measurement.get(stdout, wide, table).maximum)
            Console(file=sys.stdout, width=width, highlight=False).print(table)
        for row in rows:
            for side, shown in row.get("prompts", {}).items():
                stdout.print(Text(f"{row['name']} {side} ({shown['model']}, prompt {shown['format']}):", "bold"))
                stdout.print(Text(shown["text"]), soft_wrap=True)
        for problem in problems:
            stderr.print(Text.assemble(("error", "red"), " ", problem), soft_wrap=True)
    raise typer.Exit(1 if problems else 0)


def _scorer_of(shape: Shape, scorer: str, normaliser: str, mc_norm: str) -> str:
    if shape is Shape.MULTIPLE_CHOICE:
        return f"loglik ({mc_norm})"
    if shape is Shape.CLASSIFY:
        return "argmax label"
    if shape is Shape.GENERATE_EXACT:
        return f"exact match ({normaliser})"
    return scorer


def shown_prompts(plan: PairPlan, project: ProjectConfig, suite: Suite, problems: list[str]) -> dict[str, Any]:
    """The first instance of `suite` rendered for each model of its pair; problems are added to `problems`."""
    try:
        pair = plan.for_suite(suite.name)
    except ConfigError as exc:
        problems.append(str(exc))
        return {}
    settings = project.settings_for(suite.name)
    instance = suite.instances[0]
    shown: dict[str, Any] = {}
    for side in ("old", "new"):
        prompt = pair.prompt(side)
        source = None
        try:
            source = open_source(pair.ref(side), RunOptions(device="cpu", progress=False), pair.option(side))
            if suite.shape is Shape.CLASSIFY:
                text = instance.text or ""
            elif isinstance(source, BaselineFile) and prompt.is_chat:
                text = "(a baseline file: its prompts were rendered by the model that made it)"
            else:
                text = render_context(source, instance, settings, prompt, pair.ref(side))
        except MuscleGuardError as exc:
            problems.append(f"{suite.path} ({side}): {exc}")
            continue
        finally:
            close_source(source)
        shown[side] = {"id": instance.id, "model": pair.ref(side), "format": prompt.text, "text": text}
    return shown
