"""`muscle-guard report RUN.json [B.json ...]`: re-render a saved run, compare two, or follow several successive
versions (v1 → v2 → v3 …), without loading a model."""

from __future__ import annotations

import shutil
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from muscle_guard.cli.common import reported_errors
from muscle_guard.core.errors import ReportError
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.outputs import Place, check_outputs, places
from muscle_guard.core.report import read_report


class Format(str, Enum):
    terminal = "terminal"
    markdown = "markdown"
    html = "html"


_SUFFIXES = {".html": Format.html, ".htm": Format.html, ".md": Format.markdown, ".markdown": Format.markdown}


def report(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="A run report (JSON) to render, two (A then B) to compare, or three or more successive steps "
            "(v1→v2, v2→v3, ...) to follow.",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="terminal, markdown or html [default: from the -o suffix, else terminal]."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (atomically) instead of stdout.")
    ] = None,
    versions: Annotated[
        bool, typer.Option("--versions", help="Read two reports as successive versions too, not as A against B.")
    ] = False,
) -> None:
    """Render a saved run report as a terminal summary, Markdown or one self-contained HTML file.

    With two reports, show which negative flips are new in B, fixed since A or persisting, and how every
    metric moved. With three or more (or --versions), each is a step of successive versions: accuracy, NFR and
    flips per step, and which instances regressed at each one.
    """
    with reported_errors():
        if output is not None:
            check_outputs([Place("-o", output)], places("RUN", list(paths)))
        chosen = fmt or (_SUFFIXES.get(output.suffix.lower(), Format.terminal) if output else Format.terminal)
        text = render(paths, chosen, to_terminal=output is None and sys.stdout.isatty(), versions=versions)
        if output is None:
            sys.stdout.write(text)
            return
        try:
            atomic_write_text(output, text)
        except OSError as exc:
            raise ReportError(
                f"{output}: cannot write ({exc.strerror or exc}); check the path and permissions"
            ) from None
        print(f"Wrote {output}", file=sys.stderr)


def render(paths: list[Path], fmt: Format, *, to_terminal: bool = False, versions: bool = False) -> str:
    """The text of one report, of the comparison of two, or of a version history, in `fmt`. ReportError for
    unreadable files."""
    reports = [read_report(path) for path in paths]
    width = max(shutil.get_terminal_size((120, 24)).columns, 100) if to_terminal else 120
    if len(reports) > 2 or (versions and len(reports) > 1):
        from muscle_guard.reports.versions import version_history

        history = version_history(reports)
        if fmt is Format.html:
            from muscle_guard.reports.html.versions import render_versions_html

            return render_versions_html(history, sources=[str(p) for p in paths])
        from muscle_guard.reports.versions_text import render_versions_markdown, render_versions_text

        if fmt is Format.markdown:
            return render_versions_markdown(history)
        return render_versions_text(history, width=width, color=to_terminal)
    if len(reports) == 1:
        run = reports[0]
        if fmt is Format.html:
            from muscle_guard.reports.html.run import render_html

            return render_html(run, source=str(paths[0]))
        if fmt is Format.markdown:
            from muscle_guard.reports.markdown import render_markdown

            return render_markdown(run)
        from muscle_guard.reports.terminal import render_text

        return render_text(run, width=width, color=to_terminal)

    from muscle_guard.reports.compare import compare_runs

    comparison = compare_runs(reports[0], reports[1])
    if fmt is Format.html:
        from muscle_guard.reports.html.compare import render_compare_html

        return render_compare_html(comparison, sources=(str(paths[0]), str(paths[1])))
    from muscle_guard.reports.compare_text import render_compare_markdown, render_compare_text

    if fmt is Format.markdown:
        return render_compare_markdown(comparison)
    return render_compare_text(comparison, width=width, color=to_terminal)
