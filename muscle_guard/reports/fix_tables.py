"""The tables of `muscle-guard fix`, rendered from the data the fix records (never from its live objects):
the `--aim budget` validation frontier (terminal and OUT/aim.html) and the before/after rows of each --suite.

The fix computes (muscle_guard.fix.aim.frontier_json, SuiteComparison.to_json); these functions only render.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.markup import escape
from rich.table import Table

from muscle_guard.core.formatting import percent, points
from muscle_guard.reports.cells import delta_interval_text, gate_markup

FRONTIER_HEADERS = ("model", "weights", "val acc", "val NFR (NF)", "meets the aim", "frontier")


def frontier_rows(frontier: Mapping[str, Any]) -> list[tuple[str, ...]]:
    """One row per validation point under FRONTIER_HEADERS, plain text, for the terminal table and aim.html."""
    chosen = frontier.get("chosen")
    rows: list[tuple[str, ...]] = []
    for p in frontier.get("points") or []:
        meets = p.get("meets")
        if meets is None:
            verdict = "-"
        elif p.get("label") == chosen:
            verdict = "yes: shipped" if meets else "within the budget: shipped"
        else:
            verdict = "yes" if meets else "no"
        rows.append(
            (str(p.get("label", "?")), str(p.get("picked") or "-"), percent(float(p["acc"])),
             f"{percent(float(p['nfr']))} ({p.get('nf', '?')})", verdict, "*" if p.get("frontier") else "")
        )  # fmt: skip
    return rows


def _title(frontier: Mapping[str, Any]) -> str:
    budget = frontier.get("budget") or {}
    return f"fix --aim budget: validation (n={frontier.get('n', '?')}), {budget.get('describe', '')}"


def frontier_table(frontier: Mapping[str, Any]) -> Table:
    """The validation points as a rich table: each candidate, the old and new model, the frontier, the choice."""
    table = Table(*FRONTIER_HEADERS, title=_title(frontier))
    colour = {"yes: shipped": "green", "within the budget: shipped": "yellow", "no": "red"}
    for row in frontier_rows(frontier):
        *cells, verdict, mark = (escape(c) for c in row)
        table.add_row(*cells, f"[{colour[verdict]}]{verdict}[/]" if verdict in colour else verdict, mark)
    return table


def frontier_page(frontier: Mapping[str, Any], title: str) -> str:
    """OUT/aim.html: the validation table and the accuracy-vs-NFR plot of an `--aim budget` run."""
    from muscle_guard.reports.html import page as h
    from muscle_guard.reports.html.plots import frontier_svg

    chosen = frontier.get("chosen")
    pts = frontier.get("points") or []
    svg = frontier_svg(
        [(str(p["label"]), float(p["acc"]), float(p["nfr"]), p.get("meets") is not None) for p in pts],
        float((frontier.get("budget") or {}).get("target_val_nfr", 0.0)),
        chosen if isinstance(chosen, str) else None,
        salt="aim",
    )
    picked = next((str(p.get("picked") or "") for p in pts if p.get("label") == chosen), "")
    warning = frontier.get("warning")
    outcome = (
        f"<p>Shipped: <b>{h.esc(chosen)}</b> ({h.esc(picked)}).</p>"
        + (f"<p><b>Warning:</b> {h.esc(warning)}</p>" if warning else "")
        if chosen is not None
        else f"<p><b>Nothing shipped.</b> {h.esc(frontier.get('miss') or '')}</p>"
    )
    rows = [[h.esc(c) for c in row] for row in frontier_rows(frontier)]
    body = (
        f"<h1>{h.esc(title)}</h1><p>{h.esc((frontier.get('budget') or {}).get('describe', ''))}; validation n = "
        f"{h.esc(frontier.get('n', '?'))}.</p>{outcome}"
        + h.table(list(FRONTIER_HEADERS), rows, numeric=(2, 3))
        + f'<div class="plot">{svg}</div>'
    )
    return h.page(title, body)


def comparison_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """Each --suite before (old→new) and after (old→fixed), from SuiteComparison.to_json() rows."""
    table = Table(
        "suite", "N", "acc old", "acc new", "acc fixed", "NFR (NF)", "NFR_c (NF)", "PFR → PFR_c",
        "Δ%NFR_c", "ΔNFR_c 95% CI", "Δacc_c", "gate",
        title="muscle-guard fix: before (old→new) and after (old→fixed)",
    )  # fmt: skip
    for r in rows:
        pct = "-" if r.get("delta_pct_nfr_c") is None else f"{r['delta_pct_nfr_c'] * 100:+.1f}%"
        ci = r.get("delta_nfr_c_ci")
        ci = "-" if not isinstance(ci, list) or len(ci) != 2 else delta_interval_text((ci[0], ci[1]))
        table.add_row(
            escape(str(r["suite"])), str(r["n"]), percent(r["acc_old"]), percent(r["acc_new"]),
            percent(r["acc_fixed"]), f"{percent(r['nfr'])} ({r['nf']})", f"{percent(r['nfr_c'])} ({r['nf_c']})",
            f"{percent(r['pfr'])} → {percent(r['pfr_c'])}", pct, ci, points(r["delta_acc_c"]),
            gate_markup(bool(r["passed_after"])),
        )  # fmt: skip
    return table
