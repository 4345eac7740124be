"""`muscle-guard check`: the pytest gate without writing a pytest command; pytest's exit codes pass through."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option


def check(
    ctx: typer.Context,
    paths: Annotated[
        list[str] | None, typer.Argument(help="Suite files or directories (default: configured suites).")
    ] = None,
    old: Annotated[str | None, Opt("--old", help="Old model reference (default: old in tool.muscle-guard).")] = None,
    new: Annotated[str | None, Opt("--new", help="New model reference (default: new in tool.muscle-guard).")] = None,
    max_nfr: Annotated[float | None, Opt(help="Negative-flip-rate budget per suite (0..1).")] = None,
    max_negative_flips: Annotated[int | None, Opt(help="Negative-flip count budget per suite.")] = None,
    min_accuracy_delta: Annotated[float | None, Opt(help="Minimum accuracy change per suite.")] = None,
    alpha: Annotated[float | None, Opt(help="Fail the flip budget only when McNemar p < ALPHA.")] = None,
    epsilon: Annotated[float | None, Opt(help="Tolerance for continuous scores.")] = None,
    waivers: Annotated[Path | None, Opt(help="TOML file of waived negative flips.")] = None,
    cache_dir: Annotated[Path | None, Opt(help="Prediction cache directory.")] = None,
    batch_size: Annotated[str | None, Opt(help="Model batch size or 'auto'.")] = None,
    device: Annotated[
        str | None, Opt(help="auto, map (spread a big model over GPUs/CPU), cpu, cuda, cuda:N or mps.")
    ] = None,
    dtype: Annotated[str | None, Opt(help="auto, float32, bfloat16 or float16.")] = None,
    report: Annotated[Path | None, Opt(help="Write the JSON run report here.")] = None,
    markdown: Annotated[Path | None, Opt(help="Write a Markdown summary here.")] = None,
    workers: Annotated[int | None, Opt("--workers", "-n", help="pytest-xdist workers.")] = None,
    as_json: Annotated[bool, Opt("--json", help="Print the run report JSON alone on stdout.")] = False,
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
    with reported_errors(exit_code=int(pytest.ExitCode.USAGE_ERROR)):
        refuse_empty_suite_paths(suite_paths, "PATHS" if typed else "suites")
    args: list[str] = [str(p) for p in suite_paths]
    # The plugin module was imported before pytest.main started, so pytest cannot rewrite its asserts
    # (it has none to rewrite): without this filter every run ends with a warning about it.
    args += ["-W", "ignore:Module already imported so cannot be rewritten; muscle_guard"]
    values = {
        "old": old, "new": new, "max-nfr": max_nfr, "max-negative-flips": max_negative_flips,
        "min-accuracy-delta": min_accuracy_delta, "alpha": alpha, "epsilon": epsilon, "waivers": waivers,
        "cache-dir": cache_dir, "batch-size": batch_size, "device": device, "dtype": dtype, "markdown": markdown,
    }  # fmt: skip
    args += [f"--muscle-{name}={value}" for name, value in values.items() if value is not None]
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


def _configured_suites() -> list[Path]:
    """`suites` of `[tool.muscle-guard]` in ./pyproject.toml, else suites/ (as the plugin resolves them)."""
    from muscle_guard.cli.common import reported_errors
    from muscle_guard.core.config import load_project_config

    pyproject = Path("pyproject.toml")
    with reported_errors():
        configured = load_project_config(pyproject if pyproject.is_file() else None).run.get("suites")
    if configured is None:
        return [Path("suites")]
    items = configured if isinstance(configured, list) else str(configured).replace("\n", ",").split(",")
    return [Path(str(item).strip()) for item in items if str(item).strip()]
