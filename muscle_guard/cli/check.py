"""`muscle-guard check`: the pytest gate without writing a pytest command; pytest's exit codes pass through."""

from __future__ import annotations

import contextlib
import inspect
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from muscle_guard.core.errors import MuscleGuardError
from muscle_guard.core.run_options import BY_KEY, RUN_OPTIONS, split_list


def check(
    ctx: typer.Context,
    paths: list[str] | None = None,
    report: Path | None = None,
    workers: int | None = None,
    as_json: bool = False,
    **settings: Any,
) -> None:
    """Compare OLD and NEW on the suites through pytest (extra arguments after -- go to pytest)."""
    import pytest

    from muscle_guard.cli.common import reported_errors
    from muscle_guard.core.suite import refuse_empty_suite_paths

    # Typer hands over what follows `--` as more PATHS. Suites are the arguments before the first option, and
    # later ones that name a .jsonl file or a directory (`check -k rome suites/a.jsonl`); the rest is pytest's.
    given = list(paths or [])
    cut = next((i for i, a in enumerate(given) if a.startswith("-")), len(given))
    is_suite = [
        i < cut or (not a.startswith("-") and (a.endswith(".jsonl") or Path(a).is_dir())) for i, a in enumerate(given)
    ]
    typed = [Path(a) for a, suite in zip(given, is_suite, strict=True) if suite]
    passed_on = [a for a, suite in zip(given, is_suite, strict=True) if not suite]
    # Only the suites: with no paths, pytest would also run the project's own tests.
    suite_paths = typed or _configured_suites()
    if not typed and _from_logs(settings) and not any(p.exists() for p in suite_paths):
        # Two evaluation logs and no suite files: the logs' tasks are the suites, and no file is collected.
        args: list[str] = ["--ignore-glob=*", "."]
    else:
        with reported_errors(exit_code=int(pytest.ExitCode.USAGE_ERROR)):
            refuse_empty_suite_paths(suite_paths, "PATHS" if typed else "suites")
        args = [str(p) for p in suite_paths]
    # The plugin module was imported before pytest.main started, so pytest cannot rewrite its asserts
    # (it has none to rewrite): without this filter every run ends with a warning about it.
    args += ["-W", "ignore:Module already imported so cannot be rewritten; muscle_guard"]
    for key, value in settings.items():  # each row of the run-options table, passed on as the plugin's option
        option = BY_KEY[key]
        if option.kind == "flag":
            args += [option.flag] if value else []
        elif value is not None:
            args.append(f"{option.flag}={value}")
    tmp = Path(tempfile.mkdtemp(prefix="muscle-check-")) if as_json and report is None else None
    report_path = report or (tmp / "report.json" if tmp else None)
    if report_path is not None:
        args.append(f"--muscle-report={report_path}")
    if workers is not None:
        args += ["-n", str(workers)]
    args += ["-p", "no:cacheprovider"] if as_json else []
    args += passed_on + list(ctx.args)
    # With --json, stdout carries the report alone: pytest's own output goes to stderr.
    redirect = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with redirect:
        code = int(pytest.main(args))
    if as_json and report_path is not None and report_path.exists():
        sys.stdout.write(report_path.read_text(encoding="utf-8"))
    if tmp is not None:
        for child in tmp.iterdir():
            child.unlink()
        tmp.rmdir()
    raise typer.Exit(code)


def _signature() -> inspect.Signature:
    """check's parameters: PATHS, one option per row of the run-options table (as `--KEY`; flags as switches),
    then the options of its own. Built from the table, so the plugin and this command cannot drift apart."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    own = {
        "old": "Old model reference (default: old in tool.muscle-guard).",
        "new": "New model reference (default: new in tool.muscle-guard).",
    }
    params = [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        inspect.Parameter(
            "paths", keyword, default=None,
            annotation=Annotated[list[str] | None, typer.Argument(help="Suite files or directories (default: configured suites).")],
        ),
    ]  # fmt: skip
    for option in RUN_OPTIONS:
        if not option.check:
            continue
        help_ = own.get(option.key, option.help + ".")
        if option.kind == "flag":
            params.append(inspect.Parameter(option.key, keyword, default=False, annotation=Annotated[
                bool, typer.Option(option.cli_flag, help=help_)]))  # fmt: skip
        else:
            params.append(inspect.Parameter(option.key, keyword, default=None, annotation=Annotated[
                option.type | None, typer.Option(option.cli_flag, metavar=option.metavar, help=help_, show_default=False)]))  # fmt: skip
    params += [
        inspect.Parameter("report", keyword, default=None,
                          annotation=Annotated[Path | None, typer.Option(help="Write the JSON run report here.")]),
        inspect.Parameter("workers", keyword, default=None,
                          annotation=Annotated[int | None, typer.Option("--workers", "-n", help="pytest-xdist workers.")]),
        inspect.Parameter("as_json", keyword, default=False, annotation=Annotated[
            bool, typer.Option("--json", help="Print the run report JSON alone on stdout.")]),
    ]  # fmt: skip
    return inspect.Signature(params)


check.__signature__ = _signature()  # type: ignore[attr-defined]


LOG_SCHEMES = ("lm-eval:", "inspect:")


def _from_logs(settings: dict[str, Any]) -> bool:
    """Whether both models are evaluation logs (given here, or as old and new in ./pyproject.toml)."""
    from muscle_guard.core.config import load_project_config

    pyproject = Path("pyproject.toml")
    try:
        run = load_project_config(pyproject if pyproject.is_file() else None).run
    except MuscleGuardError:
        return False
    refs = [settings.get(side) or run.get(side) for side in ("old", "new")]
    return all(isinstance(ref, str) and ref.startswith(LOG_SCHEMES) for ref in refs)


def _configured_suites() -> list[Path]:
    """`suites` of `[tool.muscle-guard]` in ./pyproject.toml, else suites/ (as the plugin resolves them)."""
    from muscle_guard.cli.common import reported_errors
    from muscle_guard.core.config import load_project_config

    pyproject = Path("pyproject.toml")
    with reported_errors():
        configured = load_project_config(pyproject if pyproject.is_file() else None).run.get("suites")
    if configured is None:
        return [Path("suites")]
    return [Path(item) for item in split_list(configured)]
