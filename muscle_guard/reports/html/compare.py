"""A comparison of two runs as one self-contained HTML file: flips new, fixed and persisting, metrics A → B."""

from __future__ import annotations

from muscle_guard.reports.compare import MetricChange, RunComparison, SuiteDiff
from muscle_guard.reports.compare_text import change_interval, delta_text, metric_text
from muscle_guard.reports.html.page import badge, esc, filter_box, page, table
from muscle_guard.reports.html.run import MAX_FLIPS, flip_card

_LISTS = (
    ("new", "new_flips", "b", "New negative flips (in B, not in A)"),
    ("fixed", "fixed_flips", "a", "Fixed (negative flips in A, not in B; shown as in A)"),
    ("persisting", "persisting_flips", "b", "Persisting (in both; shown as in B)"),
)


def render_compare_html(
    comparison: RunComparison, *, sources: tuple[str, str] = ("", ""), max_flips: int = MAX_FLIPS
) -> str:
    """The whole comparison; at most `max_flips` flip cards in all (ids beyond that are listed, not shown)."""
    a, b = comparison.a, comparison.b
    t = comparison.totals
    names = [f" <code>{esc(s)}</code>" if s else "" for s in sources]
    dropped = f" · {t['dropped']} dropped (instance gone from B)" if t["dropped"] else ""
    header = (
        "<header><h1>muscle-guard: run A → run B</h1>"
        f'<p class="meta">A{names[0]}: <code>{esc(a.old.ref)}</code> → <code>{esc(a.new.ref)}</code> · '
        f"{esc(a.created_at)} {badge(a.passed, 'passed', 'failed')}</p>"
        f'<p class="meta">B{names[1]}: <code>{esc(b.old.ref)}</code> → <code>{esc(b.new.ref)}</code> · '
        f"{esc(b.created_at)} {badge(b.passed, 'passed', 'failed')}</p>"
        f"<p><b>{t['new']}</b> new negative flips · <b>{t['fixed']}</b> fixed · <b>{t['persisting']}</b> persisting"
        f"{dropped}</p></header>"
    )
    rows = []
    for i, diff in enumerate(comparison.suites):
        nf = next(c for c in diff.metrics if c.name == "nf")
        counts = [str(len(getattr(diff, attr))) if diff.outcomes_known else "?" for _, attr, _, _ in _LISTS]
        gates = f"{badge(diff.passed_a)} → {badge(diff.passed_b)}"
        flips = f"{metric_text('count', nf.a)} → {metric_text('count', nf.b)}"
        rows.append([f'<a href="#suite-{i}">{esc(diff.label)}</a>', gates, flips, esc(change_interval(diff)), *counts])
    headers = ["suite", "gate A → B", "NF A → B", "ΔNFR 95%", "new", "fixed", "persisting"]
    summary = table(headers, rows, numeric=(2, 3, 4, 5, 6))
    extra = "".join(
        f'<p class="note">Only in {side}: {esc(", ".join(names_))}</p>'
        for names_, side in ((comparison.only_in_a, "A"), (comparison.only_in_b, "B"))
        if names_
    )
    budget = [max_flips]
    blocks = "".join(_suite_section(comparison, diff, i, budget) for i, diff in enumerate(comparison.suites))
    total_cards = blocks.count('data-item="cmp"')
    search = filter_box("cmp", total_cards, "Filter flips by id, prompt, answer…") if total_cards else ""
    body = f"{header}<section><h2>Suites</h2>{summary}{extra}</section>{search}{blocks}"
    return page(f"muscle-guard: {a.new.ref} vs {b.new.ref}", body)


def _suite_section(comparison: RunComparison, diff: SuiteDiff, index: int, budget: list[int]) -> str:
    metrics = table(
        ["metric", "A", "B", "Δ (B − A)"],
        [[esc(c.label), metric_text(c.kind, c.a), metric_text(c.kind, c.b), _delta_cell(c)] for c in diff.metrics],
        numeric=(1, 2, 3),
    )
    parts = [
        f'<section id="suite-{index}"><h2>{esc(diff.label)} {badge(diff.passed_a)} → {badge(diff.passed_b)}</h2>',
        metrics,
    ]
    if not diff.outcomes_known:
        parts.append('<p class="note">Instance outcomes are not recorded in both runs: flips cannot be matched.</p>')
    for _, attr, side, title in _LISTS:
        ids: tuple[str, ...] = getattr(diff, attr)
        if not ids:
            continue
        parts.append(f"<h3>{esc(title)}: {len(ids)}</h3>")
        suite = next(s for s in (comparison.a if side == "a" else comparison.b).suites if s.name == diff.name)
        shown = 0
        for instance_id in ids:
            outcome = comparison.outcome("a" if side == "a" else "b", diff.name, instance_id)
            if outcome is None or budget[0] <= 0:
                break
            parts.append(flip_card(suite, outcome, group="cmp", fixed=attr == "fixed_flips"))
            budget[0] -= 1
            shown += 1
        if shown < len(ids):
            rest = ", ".join(ids[shown:])
            parts.append(f'<p class="note">Not shown in full ({len(ids) - shown}): <code>{esc(rest[:4000])}</code></p>')
    if diff.dropped_flips:
        parts.append(
            f'<p class="note">Dropped (instance gone from B): <code>{esc(", ".join(diff.dropped_flips)[:4000])}</code></p>'
        )
    return "".join(parts) + "</section>"


# Which way is better for the metrics whose change is good or bad news; others (N, acc old, p) stay neutral.
_HIGHER_IS_BETTER = {"acc_new": True, "delta_acc": True, "pf": True, "pfr": True, "btc": True, "bec": True,
                     "nf": False, "nfr": False, "nfr_mc": False, "nfi": False}  # fmt: skip


def _delta_cell(change: MetricChange) -> str:
    text = esc(delta_text(change))
    better = _HIGHER_IS_BETTER.get(change.name)
    if change.delta is None or change.delta == 0 or better is None:
        return text
    good = (change.delta > 0) == better
    return f'<span class="{"up" if good else "down"}">{text}</span>'
