"""A version history (v1 → v2 → v3 …) as terminal text (rich) and as Markdown; bounded in length."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from muscle_guard.reports.cells import gate_emoji, gate_markup, metric_cells
from muscle_guard.reports.compare_text import MAX_SUITES, id_list
from muscle_guard.reports.markdown import md_cell
from muscle_guard.reports.versions import SuiteHistory, VersionHistory

STEP_ROW = ("acc old", "acc new", "Δacc", "NF", "NFR", "PF")
MAX_IDS = 10


def step_name(history: VersionHistory, step: int) -> str:
    labels = history.labels
    return f"{labels[step]} → {labels[step + 1]}"


def render_versions_text(history: VersionHistory, *, width: int = 120, color: bool = False) -> str:
    """One table per suite: a row per step with its metrics, gate and the instances that regressed there."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None)
    console.print(f"muscle-guard: {len(history.reports)} steps, {len(history.suites)} suite(s)", highlight=False)
    for step, report in enumerate(history.reports):
        console.print(
            f"  {step_name(history, step)}: {escape(report.old.ref)} -> {escape(report.new.ref)} "
            f"({escape(report.created_at)})",
            highlight=False,
        )
    for suite in history.suites[:MAX_SUITES]:
        console.print(_suite_table(history, suite))
        if suite.repeated:
            console.print(
                f"  regressed at more than one step: {escape(id_list(suite.repeated, MAX_IDS))}", highlight=False
            )
    if len(history.suites) > MAX_SUITES:
        console.print(f"… and {len(history.suites) - MAX_SUITES} more suites", highlight=False)
    return buffer.getvalue()


def _suite_table(history: VersionHistory, suite: SuiteHistory) -> Table:
    table = Table(title=escape(suite.name), title_justify="left")
    for header in ("step", *STEP_ROW, "gate", "regressed at this step"):
        table.add_column(header, justify="left" if header in ("step", "gate", "regressed at this step") else "right")
    for row in suite.steps:
        if row.suite is None:
            table.add_row(step_name(history, row.step), *["-"] * len(STEP_ROW), "-", "(not in this report)")
            continue
        cells = metric_cells(row.suite.metrics, STEP_ROW)
        table.add_row(
            step_name(history, row.step), *cells, gate_markup(row.suite.verdict.passed),
            escape(id_list(row.regressed, MAX_IDS)) or "-",
        )  # fmt: skip
    return table


def render_versions_markdown(history: VersionHistory) -> str:
    """The same as Markdown: a table per suite, bounded by MAX_SUITES and MAX_IDS."""
    lines = [f"## muscle-guard: {len(history.reports)} steps", ""]
    for step, report in enumerate(history.reports):
        lines.append(
            f"- {step_name(history, step)}: `{md_cell(report.old.ref, code=True)}` → "
            f"`{md_cell(report.new.ref, code=True)}`"
        )
    for suite in history.suites[:MAX_SUITES]:
        lines += ["", f"### {md_cell(suite.name)}", ""]
        lines.append("| " + " | ".join(("step", *STEP_ROW, "gate", "regressed at this step")) + " |")
        lines.append("|---|" + "---:|" * len(STEP_ROW) + "---|---|")
        for row in suite.steps:
            if row.suite is None:
                lines.append(
                    f"| {step_name(history, row.step)} |" + " - |" * len(STEP_ROW) + " - | (not in this report) |"
                )
                continue
            cells = [
                step_name(history, row.step), *metric_cells(row.suite.metrics, STEP_ROW),
                gate_emoji(row.suite.verdict.passed), md_cell(id_list(row.regressed, MAX_IDS)) or "-",
            ]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        if suite.repeated:
            lines += ["", f"Regressed at more than one step: {md_cell(id_list(suite.repeated, MAX_IDS))}"]
    if len(history.suites) > MAX_SUITES:
        lines += ["", f"… and {len(history.suites) - MAX_SUITES} more suites."]
    return "\n".join(lines) + "\n"
