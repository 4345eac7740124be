"""`muscle-guard report`: every format renders a saved run, files are written whole, bad input is one line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.core.flips import InstanceOutcome
from muscle_guard.core.report import ModelPairInfo, RunReport

from .conftest import NEW, OLD, fix_section, mc, realistic_run, run_report, suite_report

Save = Callable[..., Path]
runner = CliRunner()


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["report", *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def flips(n: int, *, prompt: str = "", start: int = 0) -> list[InstanceOutcome]:
    return [mc(f"q{i:05d}", 0, 1, prompt=prompt or None) for i in range(start, start + n)]


# --- each format ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("terminal", ["sarcasm", "samsum", "33.33%", "0.6667", "FAIL", "worst negative flips"]),
        # NFR and Δacc carry their 95% intervals (Wilson; paired), in percent points
        (
            "markdown",
            [
                "## muscle-guard: failed",
                "| sarcasm | 3 | 0.6667 | 0.6667 | +0.0000 (",
                "| 1 | 33.33% (6.1–79.2) |",
                "❌ FAIL",
            ],
        ),
        ("html", ["<!DOCTYPE html>", "<b>sarcasm</b>", "33.33%", "0.6667", "+0.0000", "negative flips"]),
    ],
)
def test_each_format_renders_the_suite_table(save: Save, fmt: str, expected: list[str]) -> None:
    code, out, err = invoke(save(run_report()), "--format", fmt)
    assert (code, err) == (0, "")
    for text in expected:
        assert text in out


def two_pairs() -> RunReport:
    """A run of two model pairs, each gating one suite."""
    sarcasm = replace(suite_report([mc("a", 0, 0), mc("b", 0, 1)]), pair="sarcasm")
    reviews = replace(suite_report([mc("r", 0, 0)], name="reviews"), pair="sentiment")
    pairs = {
        "sarcasm": ModelPairInfo(replace(OLD, ref="v1+sarcasm"), replace(NEW, ref="v2+sarcasm")),
        "sentiment": ModelPairInfo(replace(OLD, ref="v1+sentiment"), replace(NEW, ref="v2+sentiment")),
    }
    return run_report([sarcasm, reviews], pairs=pairs)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("terminal", ["2 model pairs", "│ sarcasm   │ sarcasm │", "pair sentiment: v1+sentiment -> v2+sentiment"]),
        ("markdown", ["| pair | suite | N |", "| sentiment | reviews | 1 |", "- pair **sarcasm**: `v1+sarcasm`"]),
        ("html", ["muscle-guard: 2 model pairs", "sentiment · <b>reviews</b>", "pair <b>sarcasm</b>"]),
    ],
)
def test_a_run_of_several_pairs_names_each_pair_and_its_models(save: Save, fmt: str, expected: list[str]) -> None:
    report = two_pairs()
    assert RunReport.from_json(json.loads(json.dumps(report.to_json()))) == report
    assert report.models_of(report.suites[1]).new.ref == "v2+sentiment"

    code, out, err = invoke(save(report), "--format", fmt)

    assert (code, err) == (0, "")
    for text in expected:
        assert text in out


def test_output_file_gets_what_stdout_would_show_and_no_temp_file_is_left(save: Save, tmp_path: Path) -> None:
    path = save(run_report())
    _, shown, _ = invoke(path, "--format", "markdown")
    target = tmp_path / "out" / "summary.txt"
    code, out, err = invoke(path, "--format", "markdown", "-o", target)
    assert (code, out) == (0, "")
    assert f"Wrote {target}" in err
    assert target.read_text(encoding="utf-8") == shown
    assert sorted(p.name for p in target.parent.iterdir()) == ["summary.txt"]


@pytest.mark.parametrize(
    ("name", "marker"), [("r.html", "<!DOCTYPE html>"), ("r.md", "## muscle-guard"), ("r.txt", "┏")]
)
def test_format_follows_the_output_suffix(save: Save, tmp_path: Path, name: str, marker: str) -> None:
    assert invoke(save(run_report()), "-o", tmp_path / name)[0] == 0
    assert marker in (tmp_path / name).read_text(encoding="utf-8")


# BTC, BEC and NFI of run_report(): sarcasm (a both right, b a negative flip, c a positive flip) and samsum,
# continuous, where they are undefined.
RATIOS = {"sarcasm": ["50.00%", "0.00%", "100.00%"], "samsum": ["-", "-", "-"]}


def test_terminal_shows_btc_bec_and_nfi_per_suite(save: Save) -> None:
    _, out, _ = invoke(save(run_report()), "--format", "terminal")
    table = out.split("\ncompatibility")[1].split("worst negative flips")[0].splitlines()
    header = next(line for line in table if line.startswith("┃"))
    assert [cell.strip() for cell in header.split("┃")[1:-1]] == ["suite", "BTC", "BEC", "NFI"]
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in table if line.startswith("│")]
    assert {row[0]: row[1:] for row in rows} == RATIOS
    assert "…" not in out  # nothing cut to fit 120 columns


def test_markdown_shows_btc_bec_and_nfi_per_suite(save: Save) -> None:
    _, text, _ = invoke(save(run_report()), "--format", "markdown")
    lines = text.splitlines()
    assert (
        "| suite | N | acc old | acc new | Δacc | NF | NFR | PF | PFR | NFR_mc | BTC | BEC | NFI | p | gate |" in lines
    )
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[10:13] for line in lines if line.startswith("| sa")}
    assert rows == RATIOS


def test_html_shows_btc_bec_and_nfi_per_suite(save: Save) -> None:
    _, page, _ = invoke(save(run_report()), "--format", "html")
    for name, ratios in RATIOS.items():
        row = page.split(f"<td><b>{name}</b></td>")[1].split("</tr>")[0]
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[9:12] == ratios


# --- strings side by side -------------------------------------------------------------------------------


def lookalike(old: str, new: str, reference: str = "") -> RunReport:
    """A run with one negative flip whose answers (and reference) are the given strings."""
    outcome = mc("a", 0, 1)
    outcome = replace(outcome, reference=reference or old, old=replace(outcome.old, answer=old),
                      new=replace(outcome.new, answer=new))  # fmt: skip
    return run_report([suite_report([outcome])])


def test_every_format_tells_apart_answers_that_differ_only_in_whitespace(save: Save) -> None:
    path = save(lookalike("new\nline", "new line"))
    _, terminal, _ = invoke(path, "--format", "terminal")
    _, markdown, _ = invoke(path, "--format", "markdown")
    _, page, _ = invoke(path, "--format", "html")
    assert "'new\\nline'" in terminal
    assert "'new line'" in terminal
    flip = next(line for line in markdown.splitlines() if line.startswith("| `sarcasm::a`"))
    assert flip == "| `sarcasm::a` | `'new\\nline'` | `'new\\nline'` | `'new line'` |"
    assert '<span class="old"><code class="exact">&#x27;new\\nline&#x27;</code></span>' in page
    assert '<span class="new"><code class="exact">&#x27;new line&#x27;</code></span>' in page
    assert '<pre><code class="exact">&#x27;new\\nline&#x27;</code></pre>' in page


def test_the_terminal_folds_answers_at_exact_positions_so_no_space_is_lost(save: Save) -> None:
    old, new = "x" * 30 + "  " + "y" * 20, "x" * 30 + " " + "y" * 21
    _, out, _ = invoke(save(lookalike(old, new, reference="r")), "--format", "terminal")
    table = out.split("worst negative flips")[1]
    header = next(line for line in table.splitlines() if line.startswith("┃"))
    columns = [cell.strip() for cell in header.split("┃")[1:-1]]
    cells = [line.split("│")[1:-1] for line in table.splitlines() if line.startswith("│")]
    for column, text in (("old", old), ("new", new)):
        parts = [row[columns.index(column)][1:-1] for row in cells]  # less the one-space padding each side
        assert "".join(parts).rstrip() == repr(text)
        assert len(parts) > 1  # the cell did wrap


def test_markdown_code_spans_keep_backticks_and_pipes(save: Save) -> None:
    _, text, _ = invoke(save(lookalike("a `b` | c", "a 'b' | c")), "--format", "markdown")
    flip = next(line for line in text.splitlines() if line.startswith("| `sarcasm::a`"))
    assert flip.endswith(r"""| ``'a `b` \| c'`` | ``'a `b` \| c'`` | `"a 'b' \| c"` |""")


def test_terminal_shows_suite_text_as_typed_even_when_it_looks_like_markup(save: Save) -> None:
    outcome = replace(mc("x[/]", 0, 1), reference="[bold]ref[/] and [/]")
    report = run_report([suite_report([outcome], name="suite[/]")])
    code, out, _ = invoke(save(report), "--format", "terminal")
    assert code == 0
    assert "suite[/]" in out
    assert "[bold]ref[/]" in out


# --- HTML ---------------------------------------------------------------------------------------------


def test_html_is_self_contained(save: Save) -> None:
    fix = fix_section(realistic_run(60), realistic_run(60, compatible=0.8))
    _, page, _ = invoke(save(realistic_run(60, kind="fix", fix=fix)), "--format", "html")
    assert "http://" not in page
    assert "https://" not in page
    assert not re.search(r"<(script|img|iframe|link|object|embed)[^>]*\s(src|href|data)=", page, re.I)
    assert not re.search(r"url\((?!#)", page)
    assert "@import" not in page
    assert page.count("<script") == 1  # ours, inline; the CSP pins it by hash
    assert "Content-Security-Policy" in page
    assert "default-src 'none'" in page


def test_html_shows_suite_text_as_text_never_as_markup(save: Save) -> None:
    evil = "<script>alert('x')</script>"
    outcome = replace(mc("id<b>", 0, 1, tags=(evil,), prompt=f"Q {evil} & more"), reference=evil)
    report = run_report([suite_report([outcome, mc("ok", 0, 0, tags=(evil,))], name=f"suite {evil}")])
    _, page, _ = invoke(save(report), "--format", "html")
    assert "alert(" in page  # it is shown...
    assert "<script>alert" not in page
    assert "id<b>" not in page
    assert "id&lt;b&gt;" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert page.count("<script") == 1


def test_html_has_the_table_matrix_slices_flips_and_evidence(save: Save) -> None:
    _, page, _ = invoke(save(run_report()), "--format", "html")
    from muscle_guard.reports.html.page import esc
    from muscle_guard.reports.html.run import COLUMN_HELP

    def cell(h: str) -> str:  # the metric names carry their explanation as a tooltip
        return f'<abbr title="{esc(COLUMN_HELP[h])}">{h}</abbr>' if h in COLUMN_HELP else h

    header = "".join(f"<th{' class=num' if 0 < i < 14 else ''}>{cell(h)}</th>" for i, h in enumerate(
        ("suite", "N", "acc old", "acc new", "Δacc", "NF", "NFR", "PF", "PFR", "NFR_mc", "BTC", "BEC", "NFI",
         "McNemar p", "gate", "reasons")
    ))  # fmt: skip
    assert header in page
    assert "<td class=num>0.75</td>" in page  # McNemar p of the binary suite
    assert "NFR 33.33% (1/3) exceeds max_nfr 0.00%" in page
    assert "<b>1</b>both right" in page
    assert "<b>1</b>negative flips" in page
    assert "<b>0</b>unchanged" in page  # the continuous suite's D < −ε / |D| ≤ ε / D > ε row
    # sarcasm: NFR per slice and the confidence scatter; samsum (no tags): old against new score
    assert page.count("<svg") == 3
    assert "No instance tags in this suite." in page
    assert "No instance tags in this suite" in page
    assert "sarcasm::b" in page
    assert "-0.1000" in page
    assert 'data-filter="flips"' in page


def test_html_caps_the_flip_list_and_says_so(save: Save) -> None:
    report = run_report([suite_report(flips(700), name="big"), suite_report(flips(10), name="small")])
    _, page, _ = invoke(save(report), "--format", "html")
    assert page.count('data-item="flips"') == 500
    assert "Showing the 500 worst of 710 negative flips" in page
    assert "small::q00009" in page  # small suites keep their flips when a big one hits the cap


def test_html_size_is_bounded_for_a_big_run_with_long_prompts(save: Save) -> None:
    report = run_report([suite_report(flips(5000, prompt="word " * 1000), name="huge")])
    _, page, _ = invoke(save(report), "--format", "html")
    assert len(page.encode()) < 3_000_000
    assert "more characters]" in page


@pytest.mark.parametrize(
    "fix",
    [
        {"before": {"sarcasm": {"acc_new": 0.6, "nfr": 0.3, "nf": 3}}, "after": {"sarcasm": {"acc_new": 0.7, "nfr": 0.1}}},
        {"suites": [{"suite": "sarcasm", "acc_new": 0.6, "acc_fixed": 0.7, "nfr": 0.3, "nfr_c": 0.1,
                     "passed_before": False, "passed_after": True}], "passed": True},
    ],
    ids=["before-after", "fix-comparisons"],
)  # fmt: skip
def test_html_of_a_fix_run_plots_before_and_after(save: Save, fix: dict[str, object]) -> None:
    _, page, _ = invoke(save(run_report(kind="fix", fix=fix)), "--format", "html")
    assert "Fix: before and after" in page
    assert "0.6000 → 0.7000" in page
    assert "30.00%" in page
    assert "10.00%" in page
    assert page.count("<svg") == 4  # the before/after scatter beside the three of the suites


def test_html_of_a_fix_section_in_an_unknown_shape_says_so(save: Save) -> None:
    _, page, _ = invoke(save(run_report(kind="fix", fix={"epochs": 3})), "--format", "html")
    assert "Fix details not shown" in page


# --- Markdown ------------------------------------------------------------------------------------------


def test_markdown_stays_short_for_a_5000_instance_run(save: Save) -> None:
    report = run_report([suite_report(flips(2500, prompt="long " * 500) + [mc(f"r{i}", 0, 0) for i in range(2500)])])
    _, text, _ = invoke(save(report), "--format", "markdown")
    assert len(text) < 5_000
    assert "5 of 2500 negative flips shown" in text


def test_markdown_length_is_bounded_by_suite_count_not_by_instances(save: Save) -> None:
    report = run_report([suite_report(flips(20), name=f"s{i}") for i in range(120)])
    _, text, _ = invoke(save(report), "--format", "markdown")
    assert "… and 70 more suites" in text
    assert len(text) < 60_000


def test_markdown_cells_cannot_break_the_table_or_add_html(save: Save) -> None:
    outcome = replace(mc("a|b", 0, 1), reference="<details>x | y</details>")
    _, text, _ = invoke(save(run_report([suite_report([outcome])])), "--format", "markdown")
    assert "`'<details>x \\| y</details>'`" in text  # in a code span: shown, never rendered
    assert "`sarcasm::a\\|b`" in text


def test_markdown_of_a_fix_run_has_a_before_after_table(save: Save) -> None:
    fix = {"before": {"sarcasm": {"acc_new": 0.6, "nfr": 0.3}}, "after": {"sarcasm": {"acc_new": 0.7, "nfr": 0.1}}}
    _, text, _ = invoke(save(run_report(kind="fix", fix=fix)), "--format", "markdown")
    assert "| sarcasm | 0.6000 → 0.7000 | 30.00% → 10.00% | -66.7% | - |" in text


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "html"])
def test_a_fix_run_shows_the_paired_interval_of_its_nfr_change(save: Save, fmt: str) -> None:
    rows = [
        {
            "suite": "sarcasm",
            "acc_new": 0.6,
            "acc_fixed": 0.7,
            "nfr": 0.3,
            "nfr_c": 0.1,
            "delta_nfr_c_ci": [-0.31, -0.09],
        },
        {
            "suite": "rivers",
            "acc_new": 0.6,
            "acc_fixed": 0.6,
            "nfr": 0.1,
            "nfr_c": 0.08,
            "delta_nfr_c_ci": [-0.1, 0.05],
        },
    ]
    _, text, _ = invoke(save(run_report(kind="fix", fix={"suites": rows, "passed": True})), "--format", fmt)
    assert "-66.7% (-31.0, -9.0 pts)" in text
    assert "-20.0% (-10.0, +5.0 pts (holds 0))" in text  # a change not told apart from noise says so


# --- errors ------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.json", "missing.json: no such report file"),
        (lambda tmp: _write(tmp, "cut.json", '{"schema_version": 1, "suites": ['), "cut.json:1: invalid JSON"),
        (lambda tmp: _write(tmp, "v9.json", '{"schema_version": 9}'), "report schema version 9 is not supported"),
        (lambda tmp: _write(tmp, "list.json", "[]"), "not a muscle-guard report"),
        (lambda tmp: _write(tmp, "half.json", '{"schema_version": 1}'), "malformed report (missing field"),
        (lambda tmp: tmp, "is a directory"),
    ],
    ids=["missing", "truncated", "future-version", "not-an-object", "missing-field", "directory"],
)
def test_a_bad_report_file_is_one_line_and_exit_2(tmp_path: Path, make: Callable[[Path], Path], message: str) -> None:
    for fmt in ("terminal", "markdown", "html"):
        code, out, err = invoke(make(tmp_path), "--format", fmt)
        assert (code, out) == (2, "")
        assert err.count("\n") == 1
        assert err.startswith("Error: ")
        assert message in err
        assert "Traceback" not in err


def test_a_bad_second_report_is_reported_too(save: Save, tmp_path: Path) -> None:
    code, _, err = invoke(save(run_report()), tmp_path / "nope.json")
    assert code == 2
    assert err.startswith("Error: ")
    assert "nope.json" in err


def test_an_unwritable_output_is_one_line_and_leaves_nothing(save: Save, tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    code, _, err = invoke(save(run_report()), "-o", tmp_path / "taken")
    assert code == 2
    assert err.startswith("Error: ")
    assert "cannot write" in err
    assert err.count("\n") == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_bad_format_is_a_usage_error(save: Save) -> None:
    result = runner.invoke(app, ["report", str(save(run_report())), "--format", "pdf"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


# --- light imports ---------------------------------------------------------------------------------


def test_cli_import_stays_light_and_only_html_loads_matplotlib(save: Save) -> None:
    path = save(run_report())
    code = (
        "import sys; from typer.testing import CliRunner; from muscle_guard.cli import app; "
        "heavy = [m for m in ('matplotlib', 'numpy', 'torch', 'scipy') if m in sys.modules]; assert not heavy, heavy; "
        f"r = CliRunner().invoke(app, ['report', {str(path)!r}, '--format', 'markdown']); assert r.exit_code == 0; "
        "assert 'matplotlib' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_report_json_is_not_modified(save: Save) -> None:
    path = save(run_report())
    before = path.read_bytes()
    for fmt in ("terminal", "markdown", "html"):
        invoke(path, "--format", fmt)
    assert path.read_bytes() == before
    assert RunReport.from_json(json.loads(before)) == run_report()


def test_slice_names_with_dollar_signs_are_plotted_literally_not_as_math(save: Save) -> None:
    outcomes = [mc("a", 0, 1, tags=("$x^2$",)), mc("b", 0, 0, tags=("a$b", r"\frac{"))]
    code, page, _ = invoke(save(run_report([suite_report(outcomes)])), "--format", "html")
    assert code == 0
    assert "$x^2$ (n=1)" in page
    assert "a$b (n=1)" in page


def test_comparing_two_runs_of_pairs_names_each_suites_pair(save: Save) -> None:
    a, b = save(two_pairs(), "a.json"), save(two_pairs(), "b.json")

    code, out, _ = invoke(a, b, "--format", "markdown")

    assert code == 0
    assert "| sentiment/reviews |" in out
