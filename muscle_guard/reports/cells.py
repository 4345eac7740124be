"""The cells every renderer shows the same way: a suite's metric row and the gate's verdict word. NFR and Δacc
carry their 95% intervals (core.intervals: Wilson; Δacc paired between the two models), in percent points.

Terminal, Markdown and HTML pick their columns from METRIC_COLUMNS and decorate `gate_word` in their own
medium (rich markup, an emoji, a badge); the text inside is the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.core.floor import below_floor
from muscle_guard.core.formatting import opt_percent, p_text, percent
from muscle_guard.core.gates import CORRECTION_NAMES, Adjustment, uses_rate_budget
from muscle_guard.core.intervals import interval_text, suite_intervals
from muscle_guard.core.report import SuiteReport
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


def gate_markup(passed: bool, undecided: bool = False) -> str:
    """`gate_word` in rich markup, for terminal tables; "?" marks a verdict the suite is too small to decide."""
    word = f"[green]{gate_word(True)}[/]" if passed else f"[bold red]{gate_word(False)}[/]"
    return word + (" [yellow]?[/]" if undecided else "")


def gate_emoji(passed: bool, undecided: bool = False) -> str:
    """`gate_word` with a mark, for Markdown (a PR comment); "(not enough data)" where the suite cannot decide."""
    word = f"✅ {gate_word(True)}" if passed else f"❌ {gate_word(False)}"
    return word + (" (not enough data)" if undecided else "")


def family_line(suites: Sequence[SuiteReport], shown: int = 5) -> str:
    """How a run's McNemar tests were corrected as a family, with raw → adjusted p of the smallest few; "" when the
    run had no family (fewer than two suites with alpha)."""
    family = sorted((s for s in suites if s.verdict.adjustment is not None), key=lambda s: _adjusted(s).raw)
    if not family:
        return ""
    first = _adjusted(family[0])
    tests = f"{first.tests} McNemar tests (every gated suite with alpha)"
    if first.method == "none":
        alphas = [s.settings.gates.alpha or 0.0 for s in family]
        chance = 1 - (1 - max(alphas)) ** first.tests
        return (
            f'alpha: {tests} without correction (correction = "none"): noise alone fails one of them up to '
            f'{chance:.0%} of the time; correction = "holm" keeps that at alpha'
        )
    pairs = ", ".join(f"{s.name} {p_text(_adjusted(s).raw)} → {p_text(_adjusted(s).p)}" for s in family[:shown]) + (
        f" and {len(family) - shown} more" if len(family) > shown else ""
    )
    name = CORRECTION_NAMES.get(first.method, first.method)
    return f"alpha: {name}'s correction over {tests} decides the verdicts; McNemar p raw → adjusted: {pairs}"


def has_floor(suites: Sequence[SuiteReport]) -> bool:
    """Whether a run measured any suite's noise floor: then its tables get a floor column beside NFR."""
    return any(s.floor is not None for s in suites)


def floor_cell(suite: SuiteReport) -> str:
    return "-" if suite.floor is None else percent(suite.floor)


def floor_notes(suites: Sequence[SuiteReport]) -> list[str]:
    """One warning per suite whose rate budget is below its measured noise floor."""
    notes = []
    for s in suites:
        budget = s.settings.gates.max_nfr if uses_rate_budget(s.settings.gates) else 0.0
        note = below_floor(s.name, budget, s.floor)
        if note:
            notes.append(note)
    return notes


def _adjusted(suite: SuiteReport) -> Adjustment:
    assert suite.verdict.adjustment is not None
    return suite.verdict.adjustment
