"""The cells every renderer shows the same way: a suite's metric row and the gate's verdict word.

Terminal, Markdown and HTML pick their columns from METRIC_COLUMNS and decorate `gate_word` in their own
medium (rich markup, an emoji, a badge); the text inside is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.formatting import opt_percent, p_text, percent
from muscle_guard.reports.fix import FixPoint

METRIC_COLUMNS: dict[str, Callable[[SuiteMetrics], str]] = {
    "N": lambda m: str(m.n),
    "acc old": lambda m: f"{m.acc_old:.4f}",
    "acc new": lambda m: f"{m.acc_new:.4f}",
    "Δacc": lambda m: f"{m.delta_acc:+.4f}",
    "NF": lambda m: str(m.nf),
    "NFR": lambda m: percent(m.nfr),
    "PF": lambda m: str(m.pf),
    "PFR": lambda m: percent(m.pfr),
    "NFR_mc": lambda m: opt_percent(m.nfr_mc),
    "BTC": lambda m: opt_percent(m.btc),
    "BEC": lambda m: opt_percent(m.bec),
    "NFI": lambda m: opt_percent(m.nfi),
    "p": lambda m: p_text(m.mcnemar_p),
}
# The row of the terminal summary (narrow), and of Markdown and HTML (every ratio).
SHORT_ROW = ("N", "acc old", "acc new", "Δacc", "NF", "NFR", "PF", "PFR", "NFR_mc", "p")
FULL_ROW = ("N", "acc old", "acc new", "Δacc", "NF", "NFR", "PF", "PFR", "NFR_mc", "BTC", "BEC", "NFI", "p")


def metric_cells(metrics: SuiteMetrics, columns: Sequence[str] = FULL_ROW) -> list[str]:
    """The cells of `columns` for one suite ("-" for a ratio that is undefined)."""
    return [METRIC_COLUMNS[name](metrics) for name in columns]


def nfr_change(point: FixPoint) -> str:
    """Δ%NFR of a fix, (NFR_c − NFR) / NFR: "-35.0%"; "-" when there was no flip to remove."""
    if point.nfr_before == 0:
        return "-"
    return f"{(point.nfr_after - point.nfr_before) / point.nfr_before * 100:+.1f}%"


def gate_word(passed: bool) -> str:
    """pass / FAIL: capitals for the outcome a reader must not miss."""
    return "pass" if passed else "FAIL"


def gate_markup(passed: bool) -> str:
    """`gate_word` in rich markup, for terminal tables."""
    return f"[green]{gate_word(True)}[/]" if passed else f"[bold red]{gate_word(False)}[/]"


def gate_emoji(passed: bool) -> str:
    """`gate_word` with a mark, for Markdown (a PR comment)."""
    return f"✅ {gate_word(True)}" if passed else f"❌ {gate_word(False)}"
