"""The self-contained HTML page around a report: inline CSS and JS, a strict CSP, and escaping helpers.

Suite text is data: everything that comes from a report goes through `esc`, and the Content-Security-Policy
lets only our own script (pinned by hash) run and nothing load from the network, so the page works offline.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence

from muscle_guard.core.formatting import quoted
from muscle_guard.reports.cells import gate_word

CSS = """
:root { color-scheme: light; --fg: #1d2329; --muted: #5f6b76; --line: #d8dee4; --bg2: #f6f8fa;
  --red: #c0392b; --red-bg: #fdecea; --green: #1e7e34; --green-bg: #e6f4ea; --blue: #3b6fb6; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg);
  margin: 0 auto; padding: 24px 32px 64px; max-width: 1280px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid var(--line);
  padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 8px; }
.meta { color: var(--muted); margin: 2px 0; } code, pre, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace;
  font-size: 12.5px; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 13px; }
.pass { background: var(--green-bg); color: var(--green); } .fail { background: var(--red-bg); color: var(--red); }
nav a { margin-right: 14px; color: var(--blue); text-decoration: none; }
table { border-collapse: collapse; margin: 6px 0 10px; } th, td { border: 1px solid var(--line); padding: 4px 8px;
  vertical-align: top; } th { background: var(--bg2); text-align: left; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.reasons { max-width: 420px; font-size: 12.5px; } .up { color: var(--green); } .down { color: var(--red); }
.wide { overflow-x: auto; }
.suites-grid { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 12px 36px; align-items: start; }
@media (max-width: 900px) { .suites-grid { grid-template-columns: minmax(0, 1fr); } }
.cols3 { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0 14px; }
.suite-block { border: 1px solid var(--line); border-radius: 8px; padding: 6px 16px 10px; margin: 12px 0; }
table.matrix td { text-align: center; min-width: 120px; padding: 8px; } table.matrix .nf { background: var(--red-bg); }
table.matrix .pf { background: var(--green-bg); } table.matrix b { font-size: 17px; display: block; }
svg { max-width: 100%; height: auto; }
.filter { margin: 8px 0 12px; } .filter input { font: inherit; padding: 6px 10px; width: min(520px, 100%);
  border: 1px solid var(--line); border-radius: 6px; } .filter span { color: var(--muted); margin-left: 10px; }
details.legend dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 4px 0; }
details.legend dt { font-weight: 600; } details.legend dd { margin: 0; } abbr[title] { cursor: help; }
details.flip { border: 1px solid var(--line); border-left: 4px solid var(--red); border-radius: 6px;
  margin: 6px 0; padding: 4px 12px; } details.flip > summary { cursor: pointer; padding: 2px 0; }
details.flip.fixed { border-left-color: var(--green); }
details.flip .answers { margin-left: 8px; } .old { color: var(--green); } .new { color: var(--red); }
pre { white-space: pre-wrap; word-break: break-word; background: var(--bg2); padding: 8px 10px; border-radius: 6px;
  margin: 4px 0 8px; max-height: 320px; overflow-y: auto; }
.label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; margin-top: 6px; }
.note { color: var(--muted); font-style: italic; } [hidden] { display: none !important; }
code.exact { white-space: break-spaces; word-break: break-all; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""

# Filters the items of a group by the text of a box; `#q=TEXT` in the address pre-fills the box (shareable link).
JS = """
(function () {
  var boxes = document.querySelectorAll("input[data-filter]");
  var hash = location.hash.indexOf("#q=") === 0 ? decodeURIComponent(location.hash.slice(3)) : "";
  Array.prototype.forEach.call(boxes, function (box) {
    var group = box.getAttribute("data-filter");
    var items = document.querySelectorAll('[data-item="' + group + '"]');
    var count = document.querySelector('[data-count="' + group + '"]');
    function apply() {
      var q = box.value.trim().toLowerCase(), shown = 0;
      Array.prototype.forEach.call(items, function (el) {
        var hit = !q || el.textContent.toLowerCase().indexOf(q) !== -1;
        el.hidden = !hit;
        if (hit) { shown += 1; }
      });
      if (count) { count.textContent = shown + " of " + items.length + " shown"; }
    }
    if (hash) { box.value = hash; }
    box.addEventListener("input", apply);
    apply();
  });
})();
"""


def esc(text: object) -> str:
    """Text (and attribute values) for HTML: & < > " ' escaped."""
    return html.escape(str(text), quote=True)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit:,} more characters]"


def exact(text: str, limit: int) -> str:
    """`text` `quoted` for comparing, as HTML: every space kept, and folded at any character (monospace, spaces
    taking room) rather than at spaces, so no difference hides at the end of a line."""
    return f'<code class="exact">{esc(quoted(text, limit))}</code>'


def page(title: str, body: str) -> str:
    """A complete HTML document: no external resource, only the inline script below may run."""
    digest = base64.b64encode(hashlib.sha256(JS.encode()).digest()).decode()
    csp = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta name="referrer" content="no-referrer">\n<title>{esc(title)}</title>\n'
        f"<style>{CSS}</style>\n</head>\n<body>\n{body}\n<script>{JS}</script>\n</body>\n</html>\n"
    )


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Iterable[int] = (), cls: str = "") -> str:
    """A table of already-escaped cells; columns listed in `numeric` are right-aligned."""
    right = set(numeric)
    head = "".join(f"<th{' class=num' if i in right else ''}>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i in right else ''}>{c}</td>" for i, c in enumerate(row)) + "</tr>"
        for row in rows
    )
    attr = f' class="{cls}"' if cls else ""
    return f'<div class="wide"><table{attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def filter_box(group: str, total: int, placeholder: str) -> str:
    """The search box of a filterable group; the script fills in how many items are shown."""
    return (
        f'<div class="filter"><input type="search" data-filter="{esc(group)}" placeholder="{esc(placeholder)}" '
        f'aria-label="{esc(placeholder)}"><span data-count="{esc(group)}">{total} in total</span></div>'
    )


def badge(passed: bool, yes: str = gate_word(True), no: str = gate_word(False)) -> str:
    return f'<span class="badge {"pass" if passed else "fail"}">{yes if passed else no}</span>'
