"""Report plots as inline SVG text (matplotlib, imported on first use; no pyplot, so no GUI backend or global state)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from muscle_guard.core.flips import SuiteMetrics
from muscle_guard.reports.fix import FixPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS = 30
_LABEL = 36
_BLUE, _RED, _GREY = "#3b6fb6", "#c0392b", "#888888"


def slice_bars_svg(slices: Mapping[str, SuiteMetrics], suite_nfr: float, *, salt: str, max_bars: int = MAX_BARS) -> str:
    """Horizontal bars of NFR per slice (highest first, at most `max_bars`), the suite's NFR as a dashed line."""
    from matplotlib.figure import Figure

    ranked = sorted(slices.items(), key=lambda item: (-item[1].nfr, item[0]))[:max_bars]
    with _style(salt):
        fig = Figure(figsize=(7.0, 0.9 + 0.28 * max(len(ranked), 1)), layout="constrained")
        ax = fig.add_subplot()
        labels = [f"{_text(tag)} (n={m.n})" for tag, m in ranked]
        values = [m.nfr * 100 for _, m in ranked]
        positions = list(range(len(ranked)))
        ax.barh(positions, values, color=[_RED if m.nf else _GREY for _, m in ranked], height=0.7)
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        for y, (value, (_, m)) in enumerate(zip(values, ranked, strict=True)):
            ax.annotate(f" {value:.1f}% ({m.nf})", (value, y), va="center", fontsize=8)
        ax.axvline(suite_nfr * 100, color=_BLUE, linestyle="--", linewidth=1, label=f"suite NFR {suite_nfr * 100:.1f}%")
        ax.set_xlim(0, max([*values, suite_nfr * 100, 1.0]) * 1.25)
        ax.set_xlabel("negative flip rate (%)")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        _tidy(ax)
        return _svg(fig)


def fix_scatter_svg(points: Sequence[FixPoint], *, salt: str) -> str:
    """NFR against accuracy of the new model, one arrow per suite from before the fix to after it."""
    from matplotlib.figure import Figure

    with _style(salt):
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        ax = fig.add_subplot()
        xb, yb = [p.acc_before * 100 for p in points], [p.nfr_before * 100 for p in points]
        xa, ya = [p.acc_after * 100 for p in points], [p.nfr_after * 100 for p in points]
        ax.scatter(
            xb, yb, s=36, facecolors="white", edgecolors=_RED, linewidths=1.5, label="before (old→new)", zorder=3
        )
        ax.scatter(xa, ya, s=36, color=_BLUE, label="after (old→fixed)", zorder=3)
        for p, x0, y0, x1, y1 in zip(points, xb, yb, xa, ya, strict=True):
            ax.annotate(
                "", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "color": _GREY, "shrinkA": 4, "shrinkB": 4}
            )
            ax.annotate(_text(p.suite), (x1, y1), textcoords="offset points", xytext=(6, 4), fontsize=8)
        return _scatter_svg(
            fig, ax, "accuracy of the new model (%; mean score for continuous suites)", "negative flip rate (%)"
        )


def frontier_svg(
    points: Sequence[tuple[str, float, float, bool]], target_nfr: float, chosen: str | None, *, salt: str
) -> str:
    """Validation NFR against accuracy of `fix --aim budget`'s points (label, acc, nfr, is a candidate), the
    aim as a dashed line, the shipped candidate filled."""
    from matplotlib.figure import Figure

    with _style(salt):
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        ax = fig.add_subplot()
        for label, acc, nfr, candidate in points:
            if label == chosen:
                style = {"color": _BLUE, "s": 64}
            elif candidate:
                style = {"facecolors": "white", "edgecolors": _BLUE, "linewidths": 1.5, "s": 40}
            else:
                style = {"color": _GREY, "marker": "s", "s": 40}
            ax.scatter([acc * 100], [nfr * 100], zorder=3, **style)  # type: ignore[arg-type]
            shown = f"{label} (shipped)" if label == chosen else label
            ax.annotate(_text(shown), (acc * 100, nfr * 100), textcoords="offset points", xytext=(6, 4), fontsize=8)
        ax.axhline(target_nfr * 100, color=_RED, linestyle="--", linewidth=1, label=f"aim: NFR ≤ {target_nfr:.2%}")
        return _scatter_svg(fig, ax, "validation accuracy (%)", "validation negative flip rate vs old (%)")


def _scatter_svg(fig: Figure, ax: Any, xlabel: str, ylabel: str) -> str:
    """The finish every accuracy-vs-NFR plot shares: labels, NFR from 0, margins, legend, grid; the SVG."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.margins(0.15)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    _tidy(ax)
    return _svg(fig)


def _style(salt: str) -> Any:
    import matplotlib

    # Text stays text (small, selectable) rather than glyph paths; the salt keeps element ids unique per plot
    # so several SVGs inline in one page never share a clip path id.
    return matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": salt, "font.size": 9, "font.family": "sans-serif"}
    )


def _text(label: str) -> str:
    """Suite text for a plot label: one line, bounded, and `$` escaped so matplotlib never parses it as math."""
    flat = " ".join(label.split())
    flat = flat if len(flat) <= _LABEL else flat[: _LABEL - 1] + "…"
    return flat.replace("$", r"\$")


def _tidy(ax: Any) -> None:
    ax.spines["top"].set_visible(False)
    ax.spines["right"].set_visible(False)


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Inside HTML the parser puts <svg> in the SVG namespace by itself: drop the XML prolog, DOCTYPE, namespace
    # declarations and the RDF metadata, so the page holds no URL that is not the user's own text.
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.DOTALL)
    return re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", text, count=2)
