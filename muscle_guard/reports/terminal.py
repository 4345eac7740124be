"""Rich tables of a run report, shared by the pytest summary and `muscle-guard report`.

Suite text is data: names, ids, answers and references are markup-escaped, so `[/]` or `[bold]` in them is
shown as typed instead of breaking or styling the table. Answers and references are `quoted` and folded at
exact character positions, never at spaces, so no whitespace is lost where a cell's line ends.
"""

from __future__ import annotations

import io

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from muscle_guard.core.formatting import counted, opt_percent, percent, quoted
from muscle_guard.core.report import RunReport, pair_title, worst_negative_flips
from muscle_guard.reports.cells import (
    SHORT_ROW,
    family_line,
    floor_cell,
    floor_notes,
    gate_markup,
    has_floor,
    metric_cells,
    nfr_change,
)
from muscle_guard.reports.fix import fix_error, fix_points

ANSWER_CHARS = 120  # per reference/answer cell of the worst-flips table; the pytest failure diff shows more


class Exact:
    """A string folded every `width` cells: word wrapping would drop the spaces where a line breaks."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = cell_len(self.text)
        return Measurement(min(width, 12), width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text("\n".join(chop_cells(self.text, max(options.max_width, 2))), no_wrap=True, overflow="crop")


def suite_table(report: RunReport) -> Table:
    """N, accuracy old/new, Δacc, NF, NFR, PF, PFR, NFR_mc, McNemar p and the gate, per suite (and its model pair,
    in a run of several pairs)."""
    if report.pairs:
        title = f"muscle-guard: {counted(len(report.pairs), 'model pair')}"
    else:
        title = f"muscle-guard: {escape(report.old.ref)} -> {escape(report.new.ref)}"
    table = Table(title=title, title_justify="left")
    lead = ("pair", "suite") if report.pairs else ("suite",)
    floor = ("floor",) if has_floor(report.suites) else ()
    for header in (*lead, *SHORT_ROW, *floor, "gate"):
        table.add_column(header, justify="left" if header in ("pair", "suite", "gate") else "right")
    for suite in report.suites:
        names = (escape(pair_title(suite.pair)), escape(suite.name)) if report.pairs else (escape(suite.name),)
        floors = (floor_cell(suite),) if floor else ()
        gate = gate_markup(suite.verdict.passed, bool(suite.verdict.undecided))
        table.add_row(*names, *metric_cells(suite.metrics, SHORT_ROW), *floors, gate)
    return table


def pair_lines(report: RunReport) -> list[str]:
    """One line per model pair of a run of several: `pair NAME: OLD -> NEW`."""
    return [f"pair {pair_title(name)}: {pair.old.ref} -> {pair.new.ref}" for name, pair in sorted(report.pairs.items())]


def compatibility_table(report: RunReport) -> Table:
    """BTC (#both right / #old right), BEC (#both wrong / #new wrong) and NFI (#NF / #new wrong) per suite; "-"
    where undefined (a zero denominator, or a continuous suite).

    A table of its own: with the gate table's twelve columns they would not fit 100 columns uncut.
    """
    table = Table(title="compatibility", title_justify="left")
    for header in ("suite", "BTC", "BEC", "NFI"):
        table.add_column(header, justify="left" if header == "suite" else "right")
    for suite in report.suites:
        m = suite.metrics
        table.add_row(escape(suite.name), opt_percent(m.btc), opt_percent(m.bec), opt_percent(m.nfi))
    return table


def worst_flips_table(report: RunReport, k: int = 5) -> Table | None:
    """The k most confident negative flips of each suite (the new model sure of its wrong answer)."""
    table = Table(title="worst negative flips", title_justify="left")
    table.add_column("instance", overflow="fold")  # never cut: it is the node id people copy to rerun
    for header in ("reference", "old", "new"):
        table.add_column(header, max_width=40)
    table.add_column("new margin / D", max_width=40)
    rows = 0
    for suite in report.suites:
        for outcome in worst_negative_flips(suite, k):
            strength = outcome.delta if outcome.delta is not None else outcome.new.margin
            table.add_row(
                escape(f"{suite.path}::{outcome.id}"),
                Exact(quoted(outcome.reference, ANSWER_CHARS)),
                Exact(quoted(outcome.old.answer, ANSWER_CHARS)),
                Exact(quoted(outcome.new.answer, ANSWER_CHARS)),
                "-" if strength is None else f"{strength:.3f}",
            )
            rows += 1
    return table if rows else None


def fix_table(report: RunReport) -> Table | None:
    """Before (old→new) and after (old→fixed) per suite of a fix run; None for a check run."""
    try:
        points = fix_points(report.fix)
    except (ValueError, KeyError, TypeError) as exc:
        table = Table(title="fix: before → after", title_justify="left")
        table.add_column("note")
        table.add_row(escape(f"fix details not shown: {exc}"))
        return table
    if not points and (error := fix_error(report.fix)) is not None:
        table = Table(title="fix: before → after", title_justify="left")
        table.add_column("note")
        table.add_row(escape(f"the before/after check failed (the adapter was written): {error}"))
        return table
    if not points:
        return None
    table = Table(title="fix: before (old→new) → after (old→fixed)", title_justify="left")
    for header in ("suite", "accuracy", "NFR (NF)", "Δ%NFR", "gate"):
        table.add_column(header, justify="left" if header in ("suite", "gate") else "right")
    for p in points:
        nf = ("" if p.nf_before is None else f" ({p.nf_before})", "" if p.nf_after is None else f" ({p.nf_after})")
        gates = ["-" if g is None else gate_markup(g) for g in (p.passed_before, p.passed_after)]
        table.add_row(
            escape(p.suite), f"{p.acc_before:.4f} → {p.acc_after:.4f}",
            f"{percent(p.nfr_before)}{nf[0]} → {percent(p.nfr_after)}{nf[1]}", nfr_change(p), " → ".join(gates),
        )  # fmt: skip
    return table


def render_text(report: RunReport, *, width: int = 120, color: bool = False, flips: int = 5) -> str:
    """The summary as terminal text (ANSI colours when `color`)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None)
    console.print(suite_table(report))
    for line in pair_lines(report):
        console.print(f"  {escape(line)}", highlight=False)
    for suite in report.suites:
        for reason in suite.verdict.reasons:
            console.print(f"  [red]{escape(suite.name)}[/]: {escape(reason)}", highlight=False)
        for note in suite.verdict.notes:
            console.print(f"  {escape(suite.name)}: {escape(note)}", highlight=False)
        if suite.verdict.undecided and not any(suite.verdict.undecided in r for r in suite.verdict.reasons):
            console.print(f"  [yellow]{escape(suite.name)}[/]: {escape(suite.verdict.undecided)}", highlight=False)
    family = family_line(report.suites)
    for line in [family] if family else []:
        console.print(f"  {escape(line)}", highlight=False)
    for line in floor_notes(report.suites):
        console.print(f"  [yellow]{escape(line)}[/]", highlight=False)
    fix = fix_table(report)
    if fix is not None:
        console.print(fix)
    console.print(compatibility_table(report))
    worst = worst_flips_table(report, flips)
    if worst is not None:
        console.print(worst)
    return buffer.getvalue()
