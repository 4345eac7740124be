"""Report plots as inline SVG text (matplotlib, imported on first use; no pyplot, so no GUI backend or global state)."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from muscle_guard.core.flips import InstanceOutcome, Outcome, SuiteMetrics
from muscle_guard.core.stats import wilson
from muscle_guard.reports.fix import FixPoint

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS = 30
MAX_POINTS = 2000  # per confidence scatter: every flip, then the rest thinned evenly
_LABEL = 36
_BLUE, _RED, _GREY, _GREEN = "#3b6fb6", "#c0392b", "#888888", "#2e8b57"
_FLIPS = (Outcome.NEGATIVE_FLIP, Outcome.POSITIVE_FLIP)


def slice_bars_svg(
    slices: Mapping[str, SuiteMetrics],
    suite_nfr: float,
    *,
    salt: str,
    max_bars: int = MAX_BARS,
    budget: float | None = None,
) -> str:
    """Horizontal bars of NFR per slice (highest first, at most `max_bars`) with their 95% Wilson intervals as error
    bars, the suite's NFR as a dashed line and its budget (a rate) as a red one. The axis never goes past 100%."""
    from matplotlib.figure import Figure

    ranked = sorted(slices.items(), key=lambda item: (-item[1].nfr, item[0]))[:max_bars]
    with _style(salt):
        fig = Figure(figsize=(7.0, 0.9 + 0.28 * max(len(ranked), 1)), layout="constrained")
        ax = fig.add_subplot()
        labels = [f"{_text(tag)} (n={m.n})" for tag, m in ranked]
        values = [m.nfr * 100 for _, m in ranked]
        highs = [
            wilson(m.nf, m.n).high * 100 if 0 <= m.nf <= m.n else v for (_, m), v in zip(ranked, values, strict=True)
        ]
        lows = [
            wilson(m.nf, m.n).low * 100 if 0 <= m.nf <= m.n else v for (_, m), v in zip(ranked, values, strict=True)
        ]
        errors = [
            [v - lo for v, lo in zip(values, lows, strict=True)],
            [hi - v for v, hi in zip(values, highs, strict=True)],
        ]
        positions = list(range(len(ranked)))
        ax.barh(positions, values, color=[_RED if m.nf else _GREY for _, m in ranked], height=0.7, xerr=errors,
                error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#555555"})  # fmt: skip
        ax.set_yticks(positions, labels)
        ax.invert_yaxis()
        right = min(100.0, max([*highs, suite_nfr * 100, (budget or 0.0) * 100, 1.0]) * 1.25)
        for y, (value, high, (_, m)) in enumerate(zip(values, highs, ranked, strict=True)):
            inside = high > right * 0.8  # near the edge: the number goes inside the bar, not past the axis
            at = value if inside else high  # past the whisker, where it does not cover it
            ax.annotate(f"{value:.1f}% ({m.nf}) " if inside else f" {value:.1f}% ({m.nf})", (at, y), va="center",
                        ha="right" if inside else "left", fontsize=8, color="white" if inside else "black")  # fmt: skip
        ax.axvline(suite_nfr * 100, color=_BLUE, linestyle="--", linewidth=1, label=f"suite NFR {suite_nfr * 100:.1f}%")
        if budget is not None:
            ax.axvline(budget * 100, color=_RED, linestyle=":", linewidth=1.2, label=f"budget {budget * 100:.1f}%")
        ax.set_xlim(0, right)
        ax.set_xlabel("negative flip rate (%), with 95% intervals")
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


_OUTCOME_COLOURS = {
    Outcome.NEGATIVE_FLIP: _RED,
    Outcome.POSITIVE_FLIP: _GREEN,
    Outcome.BOTH_RIGHT: _BLUE,
    Outcome.BOTH_WRONG_SAME: _GREY,
    Outcome.BOTH_WRONG_DIFFERENT: _GREY,
    Outcome.UNCHANGED: _BLUE,
}
_OUTCOME_NAMES = {
    Outcome.NEGATIVE_FLIP: "negative flip",
    Outcome.POSITIVE_FLIP: "positive flip",
    Outcome.BOTH_RIGHT: "both right",
    Outcome.BOTH_WRONG_SAME: "both wrong",
    Outcome.BOTH_WRONG_DIFFERENT: "both wrong",
    Outcome.UNCHANGED: "unchanged",
}


def confidence_points(
    outcomes: Sequence[InstanceOutcome], *, continuous: bool, max_points: int = MAX_POINTS
) -> list[tuple[float, float, Outcome]] | None:
    """(old, new, outcome) per instance for the confidence scatter, or None when the models gave no margins.

    Binary suites plot the signed margin (positive when the model was right, negative when wrong, so negative
    flips fall in the lower right); continuous suites plot the scores. Past `max_points` every flip stays and
    the other instances are thinned evenly, so the picture stays small at 50,000 instances.
    """
    points: list[tuple[float, float, Outcome]] = []
    for o in outcomes:
        if continuous:
            points.append((o.old.score, o.new.score, o.outcome))
        elif o.old.margin is not None and o.new.margin is not None:
            points.append((_signed(o.old.correct, o.old.margin), _signed(o.new.correct, o.new.margin), o.outcome))
    if not points:
        return None
    if len(points) > max_points:
        flips = [p for p in points if p[2] in _FLIPS][:max_points]
        rest = [p for p in points if p[2] not in _FLIPS]
        room = max_points - len(flips)
        step = len(rest) / room if room > 0 else 0
        points = flips + ([rest[int(i * step)] for i in range(room)] if room > 0 else [])
    return points


def confidence_svg(
    points: Sequence[tuple[float, float, Outcome]], *, continuous: bool, shown_of: int, salt: str
) -> str:
    """Old against new confidence per instance, coloured by outcome (negative flips on top)."""
    from matplotlib.figure import Figure

    with _style(salt):
        fig = Figure(figsize=(7.0, 4.6), layout="constrained")
        ax = fig.add_subplot()
        order = sorted(set(_OUTCOME_NAMES[p[2]] for p in points), key=lambda name: name == "negative flip")
        for name in order:
            chosen = [p for p in points if _OUTCOME_NAMES[p[2]] == name]
            colour = _OUTCOME_COLOURS[chosen[0][2]]
            ax.scatter(
                [p[0] for p in chosen], [p[1] for p in chosen], s=10 if name == "negative flip" else 6,
                color=colour, alpha=0.9 if name == "negative flip" else 0.45, label=f"{name} ({len(chosen)})",
                linewidths=0, zorder=3 if name == "negative flip" else 2,
            )  # fmt: skip
        if continuous:
            low = min(min(p[0], p[1]) for p in points)
            high = max(max(p[0], p[1]) for p in points)
            ax.plot([low, high], [low, high], color=_GREY, linewidth=0.8, linestyle="--")
            xlabel, ylabel = "old model's score", "new model's score"
        else:
            ax.axhline(0, color=_GREY, linewidth=0.8)
            ax.axvline(0, color=_GREY, linewidth=0.8)
            xlabel = "old model's margin (+ right, − wrong)"
            ylabel = "new model's margin (+ right, − wrong)"
        if shown_of > len(points):
            ax.set_title(f"{len(points):,} of {shown_of:,} instances (every flip kept)", fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(loc="best", fontsize=8, markerscale=2)
        ax.grid(alpha=0.3)
        _tidy(ax)
        return _svg(fig)


def outcome_bars_svg(counts: Mapping[str, int], *, salt: str) -> str:
    """How many instances landed where: the picture every suite has, whatever its shape."""
    from matplotlib.figure import Figure

    with _style(salt):
        fig = Figure(figsize=(7.0, 0.9 + 0.28 * max(len(counts), 1)), layout="constrained")
        ax = fig.add_subplot()
        names = list(counts)
        colours = [_RED if n == "negative flip" else _GREEN if n == "positive flip" else _GREY for n in names]
        ax.barh(range(len(names)), [counts[n] for n in names], color=colours, height=0.7)
        ax.set_yticks(range(len(names)), names)
        ax.invert_yaxis()
        for y, name in enumerate(names):
            ax.annotate(f" {counts[name]:,}", (counts[name], y), va="center", fontsize=8)
        ax.set_xlim(0, max([*counts.values(), 1]) * 1.2)
        ax.set_xlabel("instances")
        _tidy(ax)
        return _svg(fig)


def outcome_counts(outcomes: Sequence[InstanceOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for o in outcomes:
        name = _OUTCOME_NAMES[o.outcome]
        counts[name] = counts.get(name, 0) + 1
    return counts


def _signed(correct: bool, margin: float) -> float:
    return abs(margin) if correct else -abs(margin)


def versions_svg(
    labels: Sequence[str], accuracy: Sequence[float | None], nfr: Sequence[float | None], *, salt: str
) -> str:
    """Accuracy of each version (a line over v1, v2, …) above the NFR of each step between two versions (bars);
    None where a report lacks the suite."""
    from matplotlib.figure import Figure

    with _style(salt):
        fig = Figure(figsize=(7.0, 4.2), layout="constrained")
        top, bottom = fig.subplots(2, 1, sharex=False, height_ratios=(3, 2))
        xs = [i for i, a in enumerate(accuracy) if a is not None]
        top.plot(xs, [accuracy[i] * 100 for i in xs], marker="o", color=_BLUE)  # type: ignore[operator]
        for i in xs:
            top.annotate(f"{accuracy[i] * 100:.1f}", (i, accuracy[i] * 100), textcoords="offset points",  # type: ignore[operator]
                         xytext=(0, 6), ha="center", fontsize=8)  # fmt: skip
        top.set_xticks(range(len(labels)), [_text(label) for label in labels])
        top.set_ylabel("accuracy (%)")
        top.margins(x=0.1, y=0.25)
        top.grid(alpha=0.3)
        steps = [f"{labels[i]}→{labels[i + 1]}" for i in range(len(nfr))]
        values = [(v or 0.0) * 100 for v in nfr]
        bottom.bar(range(len(nfr)), values, color=[_RED if v else _GREY for v in values], width=0.5)
        for i, value in enumerate(nfr):
            bottom.annotate("-" if value is None else f"{value * 100:.1f}%", (i, (value or 0.0) * 100),
                            textcoords="offset points", xytext=(0, 3), ha="center", fontsize=8)  # fmt: skip
        bottom.set_xticks(range(len(nfr)), steps)
        bottom.set_ylabel("NFR (%)")
        bottom.set_ylim(0, min(100.0, max([*values, 1.0]) * 1.3))
        _tidy(top)
        _tidy(bottom)
        return _svg(fig)
