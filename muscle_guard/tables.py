"""Rich tables of a run report, shared by the pytest summary and `muscle-guard report`.

Suite text is data: names, ids, answers and references are markup-escaped, so `[/]` or `[bold]` in them is
shown as typed instead of breaking or styling the table.
"""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from muscle_guard.gates import p_text, percent
from muscle_guard.report import RunReport, worst_negative_flips


def _opt_percent(value: float | None) -> str:
    return "-" if value is None else percent(value)


def suite_table(report: RunReport) -> Table:
    """N, accuracy old/new, Δacc, NF, NFR, PF, PFR, NFR_mc, McNemar p and the gate, per suite."""
    table = Table(title=f"muscle-guard: {escape(report.old.ref)} -> {escape(report.new.ref)}", title_justify="left")
    for header in ("suite", "N", "acc old", "acc new", "Δacc", "NF", "NFR", "PF", "PFR", "NFR_mc", "p", "gate"):
        table.add_column(header, justify="left" if header in ("suite", "gate") else "right")
    for suite in report.suites:
        m = suite.metrics
        gate = "[green]pass[/]" if suite.verdict.passed else "[bold red]FAIL[/]"
        table.add_row(
            escape(suite.name),
            str(m.n),
            f"{m.acc_old:.4f}",
            f"{m.acc_new:.4f}",
            f"{m.delta_acc:+.4f}",
            str(m.nf),
            percent(m.nfr),
            str(m.pf),
            percent(m.pfr),
            _opt_percent(m.nfr_mc),
            p_text(m.mcnemar_p),
            gate,
        )
    return table


def worst_flips_table(report: RunReport, k: int = 5) -> Table | None:
    """The k most confident negative flips of each suite (the new model sure of its wrong answer)."""
    table = Table(title="worst negative flips", title_justify="left")
    table.add_column("instance", overflow="fold")  # never cut: it is the node id people copy to rerun
    for header in ("reference", "old", "new", "new margin / D"):
        table.add_column(header, overflow="ellipsis", max_width=40)
    rows = 0
    for suite in report.suites:
        for outcome in worst_negative_flips(suite, k):
            strength = outcome.delta if outcome.delta is not None else outcome.new.margin
            table.add_row(
                escape(f"{suite.path}::{outcome.id}"),
                escape(outcome.reference),
                escape(outcome.old.answer),
                escape(outcome.new.answer),
                "-" if strength is None else f"{strength:.3f}",
            )
            rows += 1
    return table if rows else None


def render_text(report: RunReport, *, width: int = 120, color: bool = False, flips: int = 5) -> str:
    """The summary as terminal text (ANSI colours when `color`)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None)
    console.print(suite_table(report))
    for suite in report.suites:
        for reason in suite.verdict.reasons:
            console.print(f"  [red]{escape(suite.name)}[/]: {escape(reason)}", highlight=False)
        for note in suite.verdict.notes:
            console.print(f"  {escape(suite.name)}: {escape(note)}", highlight=False)
    worst = worst_flips_table(report, flips)
    if worst is not None:
        console.print(worst)
    return buffer.getvalue()
