"""One self-contained HTML file of a run: suite table, flip matrices, NFR per slice, searchable negative flips,
and for fix runs NFR against accuracy before and after. Bounded in size whatever the run (see the caps).
"""

from __future__ import annotations

from collections.abc import Sequence

from muscle_guard.core.flips import InstanceOutcome, SuiteMetrics, metrics_by_reference
from muscle_guard.core.formatting import counted, percent
from muscle_guard.core.gates import uses_rate_budget
from muscle_guard.core.report import ModelPairInfo, RunReport, SuiteReport, pair_title, worst_negative_flips
from muscle_guard.core.suite import Shape
from muscle_guard.reports.cells import (
    FULL_ROW,
    family_line,
    floor_cell,
    floor_notes,
    has_floor,
    metric_cells,
    nfr_change,
)
from muscle_guard.reports.fix import FixPoint, fix_error, fix_frontier, fix_points
from muscle_guard.reports.html.page import badge, clip, esc, exact, filter_box, page, table

MAX_FLIPS = 500
MAX_REFERENCES = 30  # NFR per reference answer only when the answers are labels, not free text
MAX_PROMPT = 3000
MAX_ANSWER = 1000
MAX_EVIDENCE_ROWS = 12
SUITE_COLUMNS = ("suite", *FULL_ROW[:-1], "McNemar p", "gate")


def render_html(report: RunReport, *, source: str = "", max_flips: int = MAX_FLIPS) -> str:
    """The whole report as one HTML document; `source` (the JSON file it came from) is shown in the footer."""
    sections = [
        _header(report),
        _section("suites", "Suites", suite_table(report)),
        _fix_section(report),
        _section("matrices", "Flips and slices", "".join(_suite_block(s, i) for i, s in enumerate(report.suites))),
        _section("flips", "Negative flips", flip_list(report.suites, max_flips)),
        _footer(report, source),
    ]
    title = counted(len(report.pairs), "model pair") if report.pairs else f"{report.old.ref} → {report.new.ref}"
    return page(f"muscle-guard: {title}", "\n".join(s for s in sections if s))


def _section(anchor: str, title: str, body: str) -> str:
    return f'<section id="{anchor}"><h2>{esc(title)}</h2>{body}</section>'


def _header(report: RunReport) -> str:
    kind = "fix run" if report.kind == "fix" else "check run"
    links = ["suites", *(["fix"] if report.fix else []), "matrices", "flips"]
    titles = {"suites": "Suites", "fix": "Fix", "matrices": "Flips and slices", "flips": "Negative flips"}
    nav = "".join(f'<a href="#{a}">{titles[a]}</a>' for a in links)
    return (
        f"<header><h1>muscle-guard {badge(report.passed, 'passed', 'failed')}</h1>"
        f"{_models(report)}"
        f'<p class="meta">{esc(kind)} · {esc(report.created_at)} · {len(report.suites)} suite(s) · '
        f"muscle-guard {esc(report.tool_version)}</p>"
        f"<nav>{nav}</nav></header>"
    )


def _models(report: RunReport) -> str:
    """The old → new models: one line, or one per model pair of a run of several."""
    pairs = sorted(report.pairs.items()) or [("", ModelPairInfo(report.old, report.new))]
    return "".join(
        f'<p class="meta">{"pair <b>" + esc(pair_title(name)) + "</b>: " if report.pairs else ""}'
        f"<code>{esc(p.old.ref)}</code> → <code>{esc(p.new.ref)}</code></p>"
        for name, p in pairs
    )


def _footer(report: RunReport, source: str) -> str:
    env = ", ".join(f"{esc(k)} {esc(v)}" for k, v in sorted(report.environment.items()))
    origin = f" from <code>{esc(source)}</code>" if source else ""
    return (
        f"<footer>Rendered by <code>muscle-guard report</code>{origin}. Self-contained: no network access needed."
        f"<br>Old model: {esc(report.old.kind)} <code>{esc(report.old.fingerprint)}</code> · New model: "
        f"{esc(report.new.kind)} <code>{esc(report.new.fingerprint)}</code>{'<br>' + env if env else ''}</footer>"
    )


# What each column means, for a reader who has not read the docs: a tooltip on the header and the legend below.
COLUMN_HELP = {
    "NF": "negative flips: instances the old model got right and the new one gets wrong",
    "NFR": "negative flip rate: NF / N, over all instances",
    "PF": "positive flips: instances the old model got wrong and the new one gets right",
    "PFR": "positive flip rate: PF / N",
    "NFR_mc": "inconsistency: new wrong and a different answer than the old model's, over N (also counts wrong → "
    "another wrong)",
    "BTC": "backward trust compatibility: of the instances the old model got right, the share the new one keeps",
    "BEC": "backward error compatibility: of the new model's mistakes, the share the old model made too",
    "NFI": "negative flip impact: NFR / the new model's error rate (the share of its mistakes that are regressions)",
    "floor": "the noise floor: how often two trainings of the old adapter flip each other's answers on this suite "
    "(muscle-guard floor); no upgrade gets below it",
    "McNemar p": "one-sided exact McNemar test on NF against PF: a small p says the new model loses significantly "
    "more instances than it gains",
}
METRICS_DOC = "docs/metrics.md"  # in the muscle-guard repository: the project has no published URL yet


def suite_table(report: RunReport) -> str:
    rows = []
    floor = ("floor",) if has_floor(report.suites) else ()
    for suite in report.suites:
        v = suite.verdict
        said = [esc(r) for r in v.reasons] + [f'<span class="note">{esc(n)}</span>' for n in v.notes]
        if v.undecided and not any(v.undecided in r for r in v.reasons):
            said.append(f'<span class="note">{esc(v.undecided)}</span>')
        name = f"{esc(pair_title(suite.pair))} · " if report.pairs else ""
        gate = badge(v.passed) + (' <abbr title="not enough data to decide the budget">?</abbr>' if v.undecided else "")
        floors = [floor_cell(suite)] if floor else []
        rows.append([f"{name}<b>{esc(suite.name)}</b>", *metric_cells(suite.metrics), *floors, gate, "<br>".join(said)])
    if not rows:
        return '<p class="note">This run has no suites.</p>'
    columns = (*SUITE_COLUMNS[:-1], *floor, SUITE_COLUMNS[-1], "reasons")
    headers = [f'<abbr title="{esc(COLUMN_HELP[h])}">{esc(h)}</abbr>' if h in COLUMN_HELP else esc(h) for h in columns]
    family = family_line(report.suites)
    notes = [family] if family else []
    notes += floor_notes(report.suites)
    said_below = "".join(f'<p class="note">{esc(line)}</p>' for line in notes)
    return table(headers, rows, numeric=range(1, len(columns) - 2)) + said_below + _legend()


def _legend() -> str:
    """The columns a newcomer does not know, explained on the page (docs/metrics.md has the formulas)."""
    items = "".join(
        f"<dt>{esc(name)}</dt><dd>{esc(COLUMN_HELP[name])}</dd>"
        for name in ("NFR_mc", "BTC", "BEC", "NFI", "McNemar p")
    )
    return (
        f'<details class="legend" open><summary>What the columns mean</summary><dl>{items}</dl>'
        f'<p class="note">Formulas and references: <a href="{METRICS_DOC}">docs/metrics.md</a> in the muscle-guard '
        "repository.</p></details>"
    )


def flip_matrix(m: SuiteMetrics) -> str:
    """Old right/wrong × new right/wrong with counts; continuous suites: NF / unchanged / PF."""
    if m.continuous:
        eps = f"{m.epsilon:g}" if m.epsilon is not None else "ε"
        return (
            '<table class="matrix"><tr><th></th><th>D &lt; −ε</th><th>|D| ≤ ε</th><th>D &gt; ε</th></tr>'
            f'<tr><th>old → new (ε = {esc(eps)})</th><td class="nf"><b>{m.nf}</b>negative flips</td>'
            f'<td><b>{m.unchanged}</b>unchanged</td><td class="pf"><b>{m.pf}</b>positive flips</td></tr></table>'
        )
    wrong = m.both_wrong_same + m.both_wrong_different
    return (
        f'<table class="matrix"><tr><th></th><th>new right · {m.both_right + m.pf}</th>'
        f"<th>new wrong · {m.nf + wrong}</th></tr>"
        f"<tr><th>old right · {m.both_right + m.nf}</th><td><b>{m.both_right}</b>both right</td>"
        f'<td class="nf"><b>{m.nf}</b>negative flips</td></tr>'
        f'<tr><th>old wrong · {m.pf + wrong}</th><td class="pf"><b>{m.pf}</b>positive flips</td>'
        f"<td><b>{wrong}</b>both wrong ({m.both_wrong_same} same, {m.both_wrong_different} different)</td></tr></table>"
    )


def _suite_block(suite: SuiteReport, index: int) -> str:
    m = suite.metrics
    parts = [f"<div><h3>Flip matrix</h3>{flip_matrix(m)}</div>", *suite_pictures(suite, index)]
    return (
        f'<div class="suite-block"><h3>{esc(suite.name)} {badge(suite.verdict.passed)} '
        f'<span class="meta mono">{esc(suite.path)} · {esc(suite.shape.value)}</span></h3>'
        f'<div class="suites-grid">{"".join(parts)}</div></div>'
    )


def suite_pictures(suite: SuiteReport, index: int) -> list[str]:
    """The plots of one suite: NFR per slice (tags), per reference answer (a label or right choice), old-vs-new
    confidence per instance; where none applies (free text without margins), how many instances landed where.
    So every suite has at least one picture."""
    from muscle_guard.reports.html import plots

    m, parts = suite.metrics, []
    if suite.slices:
        more = len(suite.slices) - plots.MAX_BARS
        note = f'<p class="note">{more} more slices in the JSON report.</p>' if more > 0 else ""
        svg = plots.slice_bars_svg(suite.slices, m.nfr, salt=f"slices-{index}", budget=rate_budget(suite))
        parts.append(f"<div><h3>NFR per slice</h3>{svg}{note}</div>")
    if not m.continuous:
        by_reference = metrics_by_reference(suite.outcomes, continuous=False, epsilon=0.0)
        # Labels, not free text: a few answers, each shared by several instances.
        if 2 <= len(by_reference) <= min(MAX_REFERENCES, m.n / 2):
            svg = plots.slice_bars_svg(by_reference, m.nfr, salt=f"refs-{index}", budget=rate_budget(suite))
            parts.append(f"<div><h3>NFR per reference answer</h3>{svg}</div>")
    points = plots.confidence_points(suite.outcomes, continuous=m.continuous)
    if points:
        what = "score" if m.continuous else "confidence"
        svg = plots.confidence_svg(points, continuous=m.continuous, shown_of=len(suite.outcomes), salt=f"conf-{index}")
        parts.append(f"<div><h3>Old against new {what}</h3>{svg}</div>")
    if len(parts) == 0 and suite.outcomes:
        svg = plots.outcome_bars_svg(plots.outcome_counts(suite.outcomes), salt=f"outcomes-{index}")
        parts.append(f"<div><h3>Outcomes</h3>{svg}</div>")
    if not suite.slices:
        parts.append('<div><h3>NFR per slice</h3><p class="note">No instance tags in this suite.</p></div>')
    return parts


def rate_budget(suite: SuiteReport) -> float | None:
    """The suite's budget as a rate (max_nfr, or max_negative_flips / N), for the NFR charts; None without one."""
    gates = suite.settings.gates
    rates = [gates.max_nfr] if uses_rate_budget(gates) else []
    if gates.max_negative_flips is not None and suite.metrics.n:
        rates.append(gates.max_negative_flips / suite.metrics.n)
    return min(rates) if rates else None


def _fix_section(report: RunReport) -> str:
    if not report.fix:
        return ""
    try:
        points = fix_points(report.fix)
    except (ValueError, KeyError, TypeError) as exc:
        return _section("fix", "Fix: before and after", f'<p class="note">Fix details not shown: {esc(exc)}.</p>')
    if not points and (error := fix_error(report.fix)) is not None:
        note = f"The before/after check failed (the adapter was written): {esc(error)}"
        return _section("fix", "Fix: before and after", f'<p class="note">{note}</p>')
    if not points:
        return _section("fix", "Fix: before and after", '<p class="note">The fix run checked no suites.</p>')
    from muscle_guard.reports.html.plots import fix_scatter_svg, frontier_svg

    body = fix_scatter_svg(points, salt="fix") + fix_table(points)
    try:
        frontier = fix_frontier(report.fix)
    except (ValueError, KeyError, TypeError) as exc:
        frontier, body = None, body + f'<p class="note">Frontier not shown: {esc(exc)}.</p>'
    if frontier is not None and frontier.points:
        svg = frontier_svg(list(frontier.points), frontier.target_nfr, frontier.chosen, salt="frontier")
        body += f"<h3>Validation frontier (--aim budget)</h3>{svg}"
    return _section("fix", "Fix: before and after", body)


def fix_table(points: Sequence[FixPoint]) -> str:
    def count(n: int | None) -> str:
        return "" if n is None else f" ({n})"

    def gate(passed: bool | None) -> str:
        return "-" if passed is None else badge(passed)

    rows = [
        [
            f"<b>{esc(p.suite)}</b>",
            f"{p.acc_before:.4f} → {p.acc_after:.4f}",
            f"{percent(p.nfr_before)}{count(p.nf_before)} → {percent(p.nfr_after)}{count(p.nf_after)}",
            nfr_change(p),
            f"{gate(p.passed_before)} → {gate(p.passed_after)}",
        ]
        for p in points
    ]
    return table(
        ["suite", "accuracy before → after", "NFR (NF) before → after", "Δ%NFR", "gate"], rows, numeric=(1, 2, 3)
    )


def select_flips(suites: Sequence[SuiteReport], cap: int) -> list[tuple[SuiteReport, InstanceOutcome]]:
    """At most `cap` negative flips, worst first within each suite, shared fairly between suites."""
    queues = [(s, worst_negative_flips(s, cap)) for s in suites]
    taken: dict[int, int] = {i: 0 for i in range(len(queues))}
    total = 0
    while total < cap and any(taken[i] < len(q) for i, (_, q) in enumerate(queues)):
        for i, (_, q) in enumerate(queues):
            if taken[i] < len(q) and total < cap:
                taken[i] += 1
                total += 1
    return [(s, o) for i, (s, q) in enumerate(queues) for o in q[: taken[i]]]


def flip_list(suites: Sequence[SuiteReport], cap: int = MAX_FLIPS) -> str:
    total = sum(s.metrics.nf for s in suites)
    chosen = select_flips(suites, cap)
    if not chosen:
        return '<p class="note">No negative flips.</p>' if total == 0 else '<p class="note">Outcomes not recorded.</p>'
    note = ""
    if len(chosen) < total:
        note = (
            f'<p class="note">Showing the {len(chosen)} worst of {total} negative flips; the JSON report has all.</p>'
        )
    cards = "".join(flip_card(s, o, open_=i < 3) for i, (s, o) in enumerate(chosen))
    return filter_box("flips", len(chosen), "Filter by id, suite, prompt, answer, tag…") + note + cards


def flip_card(
    suite: SuiteReport, o: InstanceOutcome, *, open_: bool = False, group: str = "flips", fixed: bool = False
) -> str:
    """One negative flip: summary line, then prompt, reference, both answers and the evidence. What is compared
    (reference, answers, choices, generations) is shown `exact`; the prompt, shown once, as it is."""
    tags = f' <span class="meta">[{esc(", ".join(o.tags))}]</span>' if o.tags else ""
    strength = f"D = {o.delta:+.3f}" if o.delta is not None else _margin(o)
    summary = (
        f'<summary><code>{esc(suite.name)}::{esc(o.id)}</code>{tags} <span class="answers">'
        f'<span class="old">{exact(o.old.answer, 60)}</span> → '
        f'<span class="new">{exact(o.new.answer, 60)}</span></span> '
        f'<span class="meta">{esc(strength)}</span></summary>'
    )
    answers = "".join(
        f'<div><div class="label">{esc(label)}</div><pre>{exact(text, MAX_ANSWER)}</pre></div>'
        for label, text in (
            ("reference", o.reference),
            (f"old answer · score {o.old.score:.3f}", o.old.answer),
            (f"new answer · score {o.new.score:.3f}", o.new.answer),
        )
    )
    body = [
        _block("text" if suite.shape is Shape.CLASSIFY else "prompt", clip(o.prompt, MAX_PROMPT)),
        f'<div class="cols3">{answers}</div>',
        evidence(o, suite.settings.labels),
    ]
    attr = " open" if open_ else ""
    cls = "flip fixed" if fixed else "flip"
    return f'<details class="{cls}" data-item="{esc(group)}"{attr}>{summary}{"".join(body)}</details>'


def evidence(o: InstanceOutcome, labels: Sequence[str]) -> str:
    """Per-choice log-likelihoods or class probabilities side by side, or the generated texts."""
    old, new = o.old_evidence, o.new_evidence
    if old is None and new is None:
        return '<p class="note">No evidence recorded.</p>'
    old_values = (old.logliks or old.probs) if old else ()
    new_values = (new.logliks or new.probs) if new else ()
    width = max(len(old_values), len(new_values))
    if width:
        is_ll = bool((old and old.logliks) or (new and new.logliks))
        names = list(o.choices) if is_ll else list(labels)
        rows = []
        for i in _top_rows(old_values, new_values, o):
            name = names[i] if i < len(names) else f"class {i}"
            marks = [m for m, hit in (("reference", name.strip() == o.reference.strip()), ("old pick", o.old.choice == i),
                                      ("new pick", o.new.choice == i)) if hit]  # fmt: skip
            rows.append([exact(name, 200), _num(old_values, i), _num(new_values, i), esc(", ".join(marks))])
        what = "log-likelihood" if is_ll else "probability"
        more = f'<p class="note">Top {len(rows)} of {width} shown.</p>' if len(rows) < width else ""
        return (
            '<div class="label">evidence</div>'
            + table(["choice", f"old {what}", f"new {what}", ""], rows, numeric=(1, 2))
            + more
        )
    texts = [("old generation", old.text if old else None), ("new generation", new.text if new else None)]
    return "".join(
        f'<div class="label">{esc(label)}</div><pre>{exact(text, MAX_ANSWER)}</pre>'
        for label, text in texts
        if text is not None
    )


def _top_rows(old: Sequence[float], new: Sequence[float], o: InstanceOutcome) -> list[int]:
    width = max(len(old), len(new))
    if width <= MAX_EVIDENCE_ROWS:
        return list(range(width))

    def best(i: int) -> float:
        return max(old[i] if i < len(old) else float("-inf"), new[i] if i < len(new) else float("-inf"))

    keep = {c for c in (o.old.choice, o.new.choice) if c is not None and c < width}
    for i in sorted(range(width), key=lambda i: -best(i)):
        if len(keep) >= MAX_EVIDENCE_ROWS:
            break
        keep.add(i)
    return sorted(keep)


def _num(values: Sequence[float], i: int) -> str:
    return f"{values[i]:.4f}" if i < len(values) else "-"


def _margin(o: InstanceOutcome) -> str:
    return "" if o.new.margin is None else f"new margin {o.new.margin:.3f}"


def _block(label: str, text: str) -> str:
    return f'<div class="label">{esc(label)}</div><pre>{esc(text)}</pre>'
