"""A version history (v1 → v2 → v3 …) as one self-contained HTML file: per suite a plot and a table of steps."""

from __future__ import annotations

from collections.abc import Sequence

from muscle_guard.reports.cells import metric_cells
from muscle_guard.reports.compare_text import MAX_SUITES, id_list
from muscle_guard.reports.html.page import badge, esc, page, table
from muscle_guard.reports.html.plots import versions_svg
from muscle_guard.reports.versions import SuiteHistory, VersionHistory
from muscle_guard.reports.versions_text import STEP_ROW, step_name

MAX_IDS = 50


def render_versions_html(history: VersionHistory, *, sources: Sequence[str] = ()) -> str:
    labels = history.labels
    steps = "".join(
        f'<p class="meta">{esc(step_name(history, i))}'
        f"{' <code>' + esc(sources[i]) + '</code>' if i < len(sources) else ''}: "
        f"<code>{esc(r.old.ref)}</code> → <code>{esc(r.new.ref)}</code> · {esc(r.created_at)} "
        f"{badge(r.passed, 'passed', 'failed')}</p>"
        for i, r in enumerate(history.reports)
    )
    header = f"<header><h1>muscle-guard: {esc(' → '.join(labels))}</h1>{steps}</header>"
    blocks = "".join(_suite(history, suite, i) for i, suite in enumerate(history.suites[:MAX_SUITES]))
    more = (
        f'<p class="note">… and {len(history.suites) - MAX_SUITES} more suites.</p>'
        if len(history.suites) > MAX_SUITES
        else ""
    )
    return page(f"muscle-guard: {' → '.join(labels)}", header + blocks + more)


def _suite(history: VersionHistory, suite: SuiteHistory, index: int) -> str:
    first = suite.steps[0].suite
    accuracy = [first.metrics.acc_old if first else None] + [
        row.suite.metrics.acc_new if row.suite else None for row in suite.steps
    ]
    nfr = [row.suite.metrics.nfr if row.suite else None for row in suite.steps]
    plot = versions_svg(history.labels, accuracy, nfr, salt=f"versions-{index}")
    rows = []
    for row in suite.steps:
        if row.suite is None:
            rows.append([esc(step_name(history, row.step)), *["-"] * len(STEP_ROW), "-", "not in this report"])
            continue
        rows.append(
            [esc(step_name(history, row.step)), *metric_cells(row.suite.metrics, STEP_ROW),
             badge(row.suite.verdict.passed), esc(id_list(row.regressed, MAX_IDS)) or "-"]
        )  # fmt: skip
    steps = table(["step", *STEP_ROW, "gate", "regressed at this step"], rows, numeric=range(1, len(STEP_ROW) + 1))
    repeated = (
        f'<p class="note">Regressed at more than one step: {esc(id_list(suite.repeated, MAX_IDS))}</p>'
        if suite.repeated
        else ""
    )
    return f'<section id="suite-{index}"><h2>{esc(suite.name)}</h2><figure>{plot}</figure>{steps}{repeated}</section>'
