"""Markdown summary of a run, for GitHub step summaries and pull-request comments; bounded in length."""

from __future__ import annotations

from muscle_guard.gates import p_text, percent
from muscle_guard.report import RunReport, worst_negative_flips

MAX_FLIPS_PER_SUITE = 5
MAX_CELL = 80


def _cell(text: str) -> str:
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= MAX_CELL else flat[: MAX_CELL - 1] + "…"


def render_markdown(report: RunReport, flips_per_suite: int = MAX_FLIPS_PER_SUITE, max_suites: int = 50) -> str:
    """The per-suite table and the top negative flips; at most `max_suites` rows and k flips each."""
    verdict = "passed" if report.passed else "failed"
    lines = [
        f"## muscle-guard: {verdict}",
        "",
        f"`{_cell(report.old.ref)}` → `{_cell(report.new.ref)}`",
        "",
        "| suite | N | acc old | acc new | Δacc | NF | NFR | PF | PFR | p | gate |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for suite in report.suites[:max_suites]:
        m = suite.metrics
        gate = "✅ pass" if suite.verdict.passed else "❌ fail"
        lines.append(
            f"| {_cell(suite.name)} | {m.n} | {m.acc_old:.4f} | {m.acc_new:.4f} | {m.delta_acc:+.4f} | {m.nf} | "
            f"{percent(m.nfr)} | {m.pf} | {percent(m.pfr)} | {p_text(m.mcnemar_p)} | {gate} |"
        )
    if len(report.suites) > max_suites:
        lines.append(f"\n… and {len(report.suites) - max_suites} more suites (see the JSON report).")
    for suite in report.suites[:max_suites]:
        if suite.verdict.reasons:
            lines.append("")
            lines.extend(f"- **{_cell(suite.name)}**: {_cell(reason)}" for reason in suite.verdict.reasons)
    flips = [(s, o) for s in report.suites[:max_suites] for o in worst_negative_flips(s, flips_per_suite)]
    if flips:
        lines += ["", "### Worst negative flips", "", "| instance | reference | old | new |", "|---|---|---|---|"]
        for suite, outcome in flips:
            lines.append(
                f"| `{_cell(suite.name)}::{_cell(outcome.id)}` | {_cell(outcome.reference)} | "
                f"{_cell(outcome.old.answer)} | {_cell(outcome.new.answer)} |"
            )
    return "\n".join(lines) + "\n"
