"""How numbers and strings read in every report and message: percentages, points, p-values, quoted text.

One place, so the gate's reasons, the terminal, Markdown and HTML reports and the pytest diff agree to the digit.
"""

from __future__ import annotations


def percent(fraction: float) -> str:
    """0.032 → "3.20%"; tiny non-zero rates keep two significant digits rather than showing 0.00%."""
    value = fraction * 100
    if value != 0 and abs(value) < 0.005:
        return f"{value:.2g}%"
    return f"{value:.2f}%"


def opt_percent(fraction: float | None) -> str:
    """`percent`, or "-" for a ratio that is undefined (a zero denominator, or a continuous suite)."""
    return "-" if fraction is None else percent(fraction)


def quoted(text: str, limit: int | None = None) -> str:
    """`text` as Python's repr writes it: quoted, with newlines, tabs and invisible characters escaped, so two
    strings shown side by side look different whenever they are. Past `limit` characters the middle is left
    out, outside the quotes and counted: 'head' ... 1,234 characters left out ... 'tail'.
    """
    if limit is None or len(text) <= limit:
        return repr(text)
    head = (limit + 1) // 2
    tail = limit - head
    return f"{text[:head]!r} ... {len(text) - limit:,} characters left out ... {text[len(text) - tail :]!r}"


def points(fraction: float) -> str:
    """A change as signed percentage points: -0.021 → "-2.1", 0.005 → "+0.5"."""
    return f"{fraction * 100:+.1f}"


def p_text(p: float) -> str:
    """A p-value in three significant digits: 0.03125 → "0.0312", 1.2e-7 → "1.2e-07", 1.0 → "1"."""
    return f"{p:.1e}" if 0 < p < 0.001 else f"{p:.3g}"


def counted(n: int, noun: str) -> str:
    """A count with its noun in the right number: 1 → "1 candidate", 2 → "2 candidates", 1200 → "1,200 ..."."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
