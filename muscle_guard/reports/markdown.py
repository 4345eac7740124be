"""Markdown summary of a run, for GitHub step summaries and pull-request comments; bounded in length.

Suite text is data: cells are one line, cut to MAX_CELL characters, with `|` and HTML escaped (GitHub renders
HTML in Markdown), so a prompt can neither break the table nor add markup. References and answers are shown
`quoted` in code spans, every character kept, so two that differ never read the same.
"""

from __future__ import annotations

import re

from muscle_guard.core.formatting import percent, quoted
from muscle_guard.core.report import RunReport, pair_title, worst_negative_flips
from muscle_guard.reports.cells import (
    FULL_ROW,
    family_line,
    floor_cell,
    floor_notes,
    gate_emoji,
    has_floor,
    metric_cells,
    nfr_change,
)
from muscle_guard.reports.fix import fix_error, fix_points

MAX_FLIPS_PER_SUITE = 5
MAX_CELL = 80


def md_cell(text: str, *, code: bool = False) -> str:
    """`text` as one bounded table cell; `code=True` for text inside backticks (shown literally, so only
    backticks and pipes need replacing there)."""
    flat = " ".join(text.split())
    flat = flat if len(flat) <= MAX_CELL else flat[: MAX_CELL - 1] + "…"
    if code:
        return flat.replace("`", "'").replace("|", "\\|")
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def md_exact(text: str, limit: int = MAX_CELL) -> str:
    """`text` `quoted` in a code span, for comparing: no character replaced, no space collapsed (code spans keep
    them); only `|` is escaped, which GitHub tables undo inside code. The fence outgrows any backtick run."""
    shown = quoted(text, limit).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", shown)), default=0) + 1)
    return f"{fence}{shown}{fence}"


def render_markdown(report: RunReport, flips_per_suite: int = MAX_FLIPS_PER_SUITE, max_suites: int = 50) -> str:
    """The per-suite table and the top negative flips; at most `max_suites` rows and k flips each."""
    verdict = "passed" if report.passed else "failed"
    models = [
        f"- pair **{md_cell(pair_title(name))}**: `{md_cell(p.old.ref, code=True)}` → `{md_cell(p.new.ref, code=True)}`"
        for name, p in sorted(report.pairs.items())
    ] or [f"`{md_cell(report.old.ref, code=True)}` → `{md_cell(report.new.ref, code=True)}`"]
    lead = ("pair", "suite") if report.pairs else ("suite",)
    floor = ("floor",) if has_floor(report.suites) else ()
    lines = [
        f"## muscle-guard: {verdict}",
        "",
        *models,
        "",
        "| " + " | ".join((*lead, *FULL_ROW, *floor, "gate")) + " |",
        "|---|" * len(lead) + "---:|" * (len(FULL_ROW) + len(floor)) + "---|",
    ]
    for suite in report.suites[:max_suites]:
        names = [md_cell(pair_title(suite.pair)), md_cell(suite.name)] if report.pairs else [md_cell(suite.name)]
        floors = [floor_cell(suite)] if floor else []
        gate = gate_emoji(suite.verdict.passed, bool(suite.verdict.undecided))
        cells = [*names, *metric_cells(suite.metrics), *floors, gate]
        lines.append("| " + " | ".join(cells) + " |")
    if len(report.suites) > max_suites:
        lines.append(f"\n… and {len(report.suites) - max_suites} more suites (see the JSON report).")
    said = []
    for suite in report.suites[:max_suites]:
        said += [f"- **{md_cell(suite.name)}**: {md_cell(reason)}" for reason in suite.verdict.reasons]
        undecided = suite.verdict.undecided
        if undecided and not any(undecided in reason for reason in suite.verdict.reasons):
            said.append(f"- **{md_cell(suite.name)}**: {md_cell(undecided)}")
    said += [f"- {md_cell(note)}" for note in floor_notes(report.suites[:max_suites])]
    family = family_line(report.suites)
    lines += ["", *said] if said else []
    lines += ["", md_cell(family)] if family else []
    lines += _fix_lines(report, max_suites)
    flips = [(s, o) for s in report.suites[:max_suites] for o in worst_negative_flips(s, flips_per_suite)]
    if flips:
        lines += ["", "### Worst negative flips", "", "| instance | reference | old | new |", "|---|---|---|---|"]
        for suite, outcome in flips:
            lines.append(
                f"| `{md_cell(suite.name, code=True)}::{md_cell(outcome.id, code=True)}` | "
                f"{md_exact(outcome.reference)} | {md_exact(outcome.old.answer)} | {md_exact(outcome.new.answer)} |"
            )
        shown = len(flips)
        total = sum(s.metrics.nf for s in report.suites)
        if total > shown:
            lines.append(f"\n{shown} of {total} negative flips shown; `muscle-guard report --format html` lists more.")
    return "\n".join(lines) + "\n"


def _fix_lines(report: RunReport, max_suites: int) -> list[str]:
    """Before/after of a fix run, one row per suite; nothing for a check run or an unreadable fix section."""
    try:
        points = fix_points(report.fix)
    except (ValueError, KeyError, TypeError):
        return []
    if not points and (error := fix_error(report.fix)) is not None:
        return [
            "",
            "### Fix: before → after",
            "",
            f"The before/after check failed (the adapter was written): {md_cell(error)}",
        ]
    if not points:
        return []
    lines = ["", "### Fix: before → after", "", "| suite | accuracy | NFR | Δ%NFR | gate |", "|---|---:|---:|---:|---|"]
    for p in points[:max_suites]:
        gate = "-" if p.passed_after is None else gate_emoji(p.passed_after)
        lines.append(
            f"| {md_cell(p.suite)} | {p.acc_before:.4f} → {p.acc_after:.4f} | "
            f"{percent(p.nfr_before)} → {percent(p.nfr_after)} | {nfr_change(p)} | {gate} |"
        )
    return lines
