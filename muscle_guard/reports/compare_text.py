"""A comparison of two runs as terminal text (rich) and as Markdown; both bounded in length."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from muscle_guard.core.formatting import p_text, percent
from muscle_guard.reports.cells import delta_interval_text, gate_markup, gate_word
from muscle_guard.reports.compare import MetricChange, MetricKind, RunComparison, SuiteDiff
from muscle_guard.reports.markdown import md_cell

MAX_IDS = 20
MAX_SUITES = 50
FLIP_KINDS = (("new", "new_flips"), ("fixed", "fixed_flips"), ("persisting", "persisting_flips"))


def metric_text(kind: MetricKind, value: float | None) -> str:
    """A metric value as the run tables show it."""
    if value is None:
        return "-"
    if kind == "count":
        return str(round(value))
    if kind == "rate":
        return percent(value)
    if kind == "p":
        return p_text(value)
    return f"{value:.4f}"


def delta_text(change: MetricChange) -> str:
    """B − A: counts as signed integers, rates in percentage points, accuracy as a signed fraction."""
    delta = change.delta
    if delta is None:
        return "-"
    if change.kind == "count":
        return f"{round(delta):+d}"
    if change.kind == "rate":
        return f"{delta * 100:+.2f} pts"
    if change.kind == "p":
        return f"{delta:+.3g}"
    return f"{delta:+.4f}"


def change_interval(diff: SuiteDiff) -> str:
    """The paired 95% interval of NFR_B − NFR_A in points; "-" when the runs did not judge the same instances."""
    return "-" if diff.nfr_change_ci is None else delta_interval_text(diff.nfr_change_ci)


def id_list(ids: Sequence[str], limit: int = MAX_IDS) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f", … and {len(ids) - limit} more" if len(ids) > limit else "")


def flip_ids(diff: SuiteDiff, attr: str) -> tuple[str, ...]:
    ids: tuple[str, ...] = getattr(diff, attr)
    return ids


def render_compare_text(comparison: RunComparison, *, width: int = 120, color: bool = False) -> str:
    """Summary per suite, then each suite's metrics A → B and its new, fixed and persisting flips."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=color, color_system="standard" if color else None)
    a, b = comparison.a, comparison.b
    console.print(f"A: {escape(a.old.ref)} -> {escape(a.new.ref)} ({escape(a.created_at)})", highlight=False)
    console.print(f"B: {escape(b.old.ref)} -> {escape(b.new.ref)} ({escape(b.created_at)})", highlight=False)
    summary = Table(title="negative flips, A -> B", title_justify="left")
    for header in ("suite", "gate A -> B", "NF A -> B", "ΔNFR 95%", "new", "fixed", "persisting", "dropped"):
        summary.add_column(header, justify="left" if header.startswith(("suite", "gate")) else "right")
    for diff in comparison.suites:
        nf = next(c for c in diff.metrics if c.name == "nf")
        summary.add_row(
            escape(diff.label),
            f"{gate_markup(diff.passed_a)} -> {gate_markup(diff.passed_b)}",
            f"{metric_text('count', nf.a)} -> {metric_text('count', nf.b)}",
            change_interval(diff),
            *(str(len(flip_ids(diff, attr))) if diff.outcomes_known else "?" for _, attr in FLIP_KINDS),
            str(len(diff.dropped_flips)) if diff.outcomes_known else "?",
        )
    console.print(summary)
    for name, side in ((comparison.only_in_a, "A"), (comparison.only_in_b, "B")):
        if name:
            console.print(f"only in {side}: {escape(', '.join(name))}", highlight=False)
    for diff in comparison.suites[:MAX_SUITES]:
        metrics = Table(title=f"{escape(diff.label)}: metrics A -> B", title_justify="left")
        for header in ("metric", "A", "B", "Δ"):
            metrics.add_column(header, justify="left" if header == "metric" else "right")
        for change in diff.metrics:
            metrics.add_row(
                change.label, metric_text(change.kind, change.a), metric_text(change.kind, change.b), delta_text(change)
            )
        console.print(metrics)
        if not diff.outcomes_known:
            console.print("  instance outcomes not recorded in both runs: flips cannot be matched", highlight=False)
            continue
        for label, attr in (*FLIP_KINDS, ("dropped (instance gone)", "dropped_flips")):
            ids = flip_ids(diff, attr)
            if ids:
                console.print(f"  {label} negative flips ({len(ids)}): {escape(id_list(ids))}", highlight=False)
    if len(comparison.suites) > MAX_SUITES:
        console.print(f"… and {len(comparison.suites) - MAX_SUITES} more suites (see the HTML comparison).")
    return buffer.getvalue()


def render_compare_markdown(comparison: RunComparison, max_suites: int = MAX_SUITES) -> str:
    """The comparison for a pull-request comment: a summary table and, per suite, metrics and flip ids."""
    a, b = comparison.a, comparison.b
    t = comparison.totals
    lines = [
        "## muscle-guard: run A → run B",
        "",
        f"- A: `{md_cell(a.old.ref, code=True)}` → `{md_cell(a.new.ref, code=True)}` ({md_cell(a.created_at)})",
        f"- B: `{md_cell(b.old.ref, code=True)}` → `{md_cell(b.new.ref, code=True)}` ({md_cell(b.created_at)})",
        f"- negative flips: **{t['new']} new**, **{t['fixed']} fixed**, {t['persisting']} persisting",
        "",
        "| suite | gate A → B | NF A → B | ΔNFR 95% | new | fixed | persisting |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for diff in comparison.suites[:max_suites]:
        nf = next(c for c in diff.metrics if c.name == "nf")
        counts = [str(len(flip_ids(diff, attr))) if diff.outcomes_known else "?" for _, attr in FLIP_KINDS]
        lines.append(
            f"| {md_cell(diff.label)} | {gate_word(diff.passed_a)} → {gate_word(diff.passed_b)} | "
            f"{metric_text('count', nf.a)} → {metric_text('count', nf.b)} | {change_interval(diff)} | "
            f"{' | '.join(counts)} |"
        )
    if len(comparison.suites) > max_suites:
        lines.append(f"\n… and {len(comparison.suites) - max_suites} more suites (see the HTML comparison).")
    for names, side in ((comparison.only_in_a, "A"), (comparison.only_in_b, "B")):
        if names:
            lines += ["", f"Only in {side}: {md_cell(', '.join(names[:max_suites]))}"]
    for diff in comparison.suites[:max_suites]:
        lines += ["", f"### {md_cell(diff.label)}", "", "| metric | A | B | Δ |", "|---|---:|---:|---:|"]
        lines += [
            f"| {c.label} | {metric_text(c.kind, c.a)} | {metric_text(c.kind, c.b)} | {delta_text(c)} |"
            for c in diff.metrics
        ]
        if not diff.outcomes_known:
            lines += ["", "Instance outcomes not recorded in both runs: flips cannot be matched."]
        for label, attr in (*FLIP_KINDS, ("dropped (instance gone)", "dropped_flips")):
            ids = flip_ids(diff, attr)
            if ids:
                shown = ", ".join(f"`{md_cell(i, code=True)}`" for i in ids[:MAX_IDS])
                more = f", … and {len(ids) - MAX_IDS} more" if len(ids) > MAX_IDS else ""
                lines += ["", f"- {label} negative flips ({len(ids)}): {shown}{more}"]
    return "\n".join(lines) + "\n"
