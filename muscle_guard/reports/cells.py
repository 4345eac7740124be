"""The cells every renderer shows the same way: a suite's metric row and the gate's verdict word. NFR and Δacc
carry their 95% intervals (core.intervals: Wilson; Δacc paired between the two models), in percent points.

Terminal, Markdown and HTML pick their columns from METRIC_COLUMNS and decorate `gate_word` in their own
medium (rich markup, an emoji, a badge); the text inside is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.formatting import opt_percent, p_text, percent
from muscle_guard.core.intervals import interval_text, suite_intervals
from muscle_guard.reports.fix import FixPoint


def _nfr(m: SuiteMetrics) -> str:
    ci = suite_intervals(m).get("nfr")
    return percent(m.nfr) + (f" ({interval_text(ci)})" if ci else "")


def _delta_acc(m: SuiteMetrics) -> str:
    paired = suite_intervals(m).get("delta_acc")  # continuous suites: the D bootstrap needs the outcomes
    return f"{m.delta_acc:+.4f}" + (f" ({interval_text(paired, signed=True)})" if paired else "")


METRIC_COLUMNS: dict[str, Callable[[SuiteMetrics], str]] = {
    "N": lambda m: str(m.n),
    "acc old": lambda m: f"{m.acc_old:.4f}",
    "acc new": lambda m: f"{m.acc_new:.4f}",
    "Δacc": _delta_acc,
    "NF": lambda m: str(m.nf),
    "NFR": _nfr,
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
    """Δ%NFR of a fix, (NFR_c − NFR) / NFR: "-35.0%"; "-" when there was no flip to remove. With the paired 95%
    interval of ΔNFR_c when the fix recorded it: "-35.0% (-6.1, -1.2 pts)"."""
    change = "-" if point.nfr_before == 0 else f"{(point.nfr_after - point.nfr_before) / point.nfr_before * 100:+.1f}%"
    return change if point.delta_nfr_ci is None else f"{change} ({delta_interval_text(point.delta_nfr_ci)})"


def delta_interval_text(interval: tuple[float, float]) -> str:
    """A 95% interval of a change in a rate, in points: "-6.1, -1.2 pts"; "(holds 0)" when it does: a change
    not told apart from noise on the suite."""
    low, high = interval[0] * 100, interval[1] * 100
    return f"{low:+.1f}, {high:+.1f} pts" + (" (holds 0)" if low <= 0 <= high else "")


def gate_word(passed: bool) -> str:
    """pass / FAIL: capitals for the outcome a reader must not miss."""
    return "pass" if passed else "FAIL"


def gate_markup(passed: bool) -> str:
    """`gate_word` in rich markup, for terminal tables."""
    return f"[green]{gate_word(True)}[/]" if passed else f"[bold red]{gate_word(False)}[/]"


def gate_emoji(passed: bool) -> str:
    """`gate_word` with a mark, for Markdown (a PR comment)."""
    return f"✅ {gate_word(True)}" if passed else f"❌ {gate_word(False)}"
