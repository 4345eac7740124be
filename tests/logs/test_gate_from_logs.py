"""Gating an upgrade from the evaluation logs a team already has: lm-evaluation-harness samples (`lm-eval:PATH`)
and inspect_ai logs (`inspect:PATH`), no model loaded, torch never imported.

The logs are files those tools wrote themselves (tests/fixtures/eval_logs/, with the scripts and versions that
wrote them). The oracle is independent of muscle-guard's scoring: the negative flips straight from the files' own
per-sample metric (lm-eval's acc / exact_match under the first filter; inspect's scorer values, C = right).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval_logs"
LM = FIXTURES / "lm_eval"
INSPECT = FIXTURES / "inspect"
QUIET = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


def lm_samples(run: str, task: str) -> list[dict[str, object]]:
    (path,) = (LM / run).rglob(f"samples_{task}_*.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def lm_oracle(task: str, metric: str, filter_: str | None = None) -> set[str]:
    """Node ids of the docs v1 gets right and v2 wrong, by lm-eval's own per-sample metric."""

    def right(run: str) -> dict[int, bool]:
        rows = lm_samples(run, task)
        chosen = filter_ or rows[0]["filter"]
        return {int(r["doc_id"]): float(r[metric]) == 1.0 for r in rows if r["filter"] == chosen}  # type: ignore[arg-type]

    old, new = right("v1"), right("v2")
    return {f"{task}::doc-{d}" for d in old if old[d] and not new[d]}


def failed(run: pytest.RunResult) -> set[str]:
    reports = run.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    return {r.nodeid for r in reports if r.when == "call" and r.failed}


def outcomes(run: pytest.RunResult) -> dict[str, str]:
    reports = run.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    return {r.nodeid: ("xfailed" if hasattr(r, "wasxfail") else r.outcome) for r in reports if r.when == "call"}


@pytest.fixture
def empty(pytester: pytest.Pytester) -> pytest.Pytester:
    """A directory with no suites: every task of the logs becomes one."""
    pytester.makefile(".toml", pyproject="[tool.muscle-guard]\nmax_nfr = 0.2\n")
    return pytester


def gate(pytester: pytest.Pytester, old: str, new: str, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*QUIET, f"--muscle-old={old}", f"--muscle-new={new}", *args)


# --- lm-evaluation-harness ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_lm_eval_runs_fail_exactly_the_docs_lm_eval_marks_as_negative_flips(
    empty: pytest.Pytester, xdist: list[str]
) -> None:
    run = gate(empty, f"lm-eval:{LM / 'v1'}", f"lm-eval:{LM / 'v2'}", *xdist)

    flips = lm_oracle("mg_mc", "acc") | lm_oracle("mg_gen", "exact_match")
    assert flips  # the fixture has flips both ways
    assert failed(run) - {"mg_mc::[gate]", "mg_gen::[gate]"} == flips
    ids = set(outcomes(run))
    assert {f"mg_mc::doc-{i}" for i in range(40)} | {f"mg_gen::doc-{i}" for i in range(24)} <= ids


def test_a_multi_process_run_pairs_on_doc_id_not_line_order() -> None:
    lines = [int(r["doc_id"]) for r in lm_samples("v2-two-ranks", "mg_mc")]
    assert lines != sorted(lines)  # gathered rank by rank, as lm-eval writes a multi-process run
    from muscle_guard.backends.logs.source import log_suites
    from muscle_guard.core.backend import RunOptions
    from muscle_guard.core.config import SuiteSettings
    from muscle_guard.core.evaluate import evaluate_suite
    from muscle_guard.core.sources import open_source

    old = open_source(f"lm-eval:{LM / 'v1'}", RunOptions())
    news = [open_source(f"lm-eval:{LM / run}", RunOptions()) for run in ("v2", "v2-two-ranks")]
    suite, *_ = log_suites(old, news[0], lambda _: SuiteSettings()).suites
    settings = SuiteSettings()
    verdicts = [
        evaluate_suite(suite, settings, old.predictions_for(suite, settings), new.predictions_for(suite, settings))
        for new in news  # type: ignore[attr-defined]
    ]
    assert [o.outcome for o in verdicts[0].outcomes] == [o.outcome for o in verdicts[1].outcomes]


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "xdist"])
def test_a_doc_that_differs_between_the_runs_is_refused_once_naming_task_and_doc(
    empty: pytest.Pytester, xdist: list[str]
) -> None:
    run = gate(empty, f"lm-eval:{LM / 'v1'}", f"lm-eval:{LM / 'v2-changed-doc'}", *xdist)

    errors = [line for line in run.stdout.lines if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: lm-eval:{LM / 'v2-changed-doc'}: task 'mg_mc' doc 3 differs from the other run's (doc_hash "
        f"{errors[0].split('doc_hash ')[1][:12]} against {errors[0].split('against ')[1][:12]}): they evaluated "
        "different data, so the task is not gated; rerun both on the same dataset version"
    ]
    assert not [n for n in outcomes(run) if n.startswith("mg_mc::")]  # one line, not one failure per doc
    gen = {n for n in outcomes(run) if n.startswith("mg_gen::doc-")}  # the other task is gated as usual
    assert failed(run) & gen == lm_oracle("mg_gen", "exact_match")
    assert run.ret == pytest.ExitCode.USAGE_ERROR  # a task was not gated: the run is no verdict


def test_another_n_shot_and_other_prompts_are_named_in_the_summary(empty: pytest.Pytester) -> None:
    run = gate(empty, f"lm-eval:{LM / 'v1'}", f"lm-eval:{LM / 'v2-fewshot'}")

    text = " ".join(run.stdout.str().split())
    assert "task 'mg_mc': n-shot 0 in" in text
    assert "prompts differ between the runs (prompt_hash: another chat template, system prompt or few-shot set)" in text


def test_settings_pick_another_metric_and_filter(empty: pytest.Pytester) -> None:
    empty.makefile(
        ".toml",
        pyproject='[tool.muscle-guard]\nmax_nfr = 1.0\n[tool.muscle-guard.suites.mg_mc]\nlog_metric = "acc_norm"\n'
        '[tool.muscle-guard.suites.mg_gen]\nlog_filter = "first-word"\n',
    )
    run = empty.runpytest(*QUIET, f"--muscle-old=lm-eval:{LM / 'v1'}", f"--muscle-new=lm-eval:{LM / 'v2'}")

    xfailed = {n for n, o in outcomes(run).items() if o == "xfailed"}  # within the 100% budget: xfail
    assert xfailed == lm_oracle("mg_mc", "acc_norm") | lm_oracle("mg_gen", "exact_match", "first-word")


def test_an_unknown_metric_is_refused_by_name(empty: pytest.Pytester) -> None:
    empty.makefile(".toml", pyproject='[tool.muscle-guard.suites.mg_mc]\nlog_metric = "f1"\n')
    run = empty.runpytest(*QUIET, f"--muscle-old=lm-eval:{LM / 'v1'}", f"--muscle-new=lm-eval:{LM / 'v2'}")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert (
        f"lm-eval:{LM / 'v1'}: task 'mg_mc' has no per-sample metric 'f1' (metrics: acc, acc_norm)" in run.stderr.str()
    )


def test_a_metric_that_is_no_verdict_is_refused_by_name() -> None:
    from muscle_guard.backends.logs.source import score_of
    from muscle_guard.core.errors import ModelRefError

    with pytest.raises(ModelRefError, match=r"metric 'f1' is list .*only mean something over the whole task"):
        score_of({"f1": ["1", "0"]}, "f1", "lm-eval:runs/v2: task 'arc' doc 7")


def test_suite_files_map_onto_the_logs_docs(empty: pytest.Pytester) -> None:
    # What `suite import --lm-eval-task` writes: ids TASK-DOC (here with other prompts: the doc id decides).
    rows = [{"id": f"mg_mc-{i}", "prompt": f"q{i}", "choices": [" a", " b"], "answer": 0} for i in range(40)]
    empty.makefile(".jsonl", **{"suites/mg_mc": "\n".join(json.dumps(r) for r in rows)})
    run = gate(empty, f"lm-eval:{LM / 'v1'}", f"lm-eval:{LM / 'v2'}", "suites")

    assert failed(run) - {"suites/mg_mc.jsonl::[gate]"} == {
        n.replace("mg_mc::doc-", "suites/mg_mc.jsonl::mg_mc-") for n in lm_oracle("mg_mc", "acc")
    }


def test_the_gate_from_logs_never_imports_torch(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.muscle-guard]\nmax_nfr = 1.0\n", encoding="utf-8")
    code = (
        "import sys, pytest\n"
        f"rc = pytest.main(['-q', '-p', 'no:cacheprovider', '--muscle-old=lm-eval:{LM / 'v1'}', "
        f"'--muscle-new=lm-eval:{LM / 'v2'}'])\n"
        "print('TORCH', 'torch' in sys.modules, 'RC', int(rc))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert "TORCH False RC 0" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


# --- inspect_ai --------------------------------------------------------------------------------------------------


def inspect_oracle() -> set[str]:
    """Node ids of the samples v1 gets right (C) and v2 wrong, per task-scorer, from the logs' own scores."""
    from inspect_ai.log import read_eval_log

    def right(run: str, task: str) -> dict[tuple[str, str], object]:
        log = read_eval_log(str(INSPECT / run / f"{task}.eval"))
        epochs = {s.epoch for s in log.samples}
        out = {}
        for s in log.samples:
            key = str(s.id) if len(epochs) == 1 else f"{s.id}@{s.epoch}"
            for scorer, score in s.scores.items():
                out[(scorer, key)] = score.value
        return out

    ids: set[str] = set()
    for task, suites in (("qa", {"match": "qa-match"}), ("mc", {"choice": "mc"})):
        old, new = right("v1", task), right("v2", task)
        for (scorer, key), value in old.items():
            if scorer in suites and value == "C" and new[(scorer, key)] != "C":
                ids.add(f"{suites[scorer]}::{key}")
    return ids


def test_inspect_logs_fail_exactly_the_samples_their_scorers_mark_as_negative_flips(empty: pytest.Pytester) -> None:
    pytest.importorskip("inspect_ai")
    empty.makefile(".toml", pyproject="[tool.muscle-guard]\n")  # max_nfr 0: every negative flip fails
    run = gate(empty, f"inspect:{INSPECT / 'v1'}", f"inspect:{INSPECT / 'v2'}")

    ids = set(outcomes(run))
    assert {"qa-match::q0", "qa-f1::q0", "mc::m0@1", "mc::m0@2"} <= ids  # one suite per scorer; epochs apart
    binary = {n for n in failed(run) if not n.startswith("qa-f1::") and not n.endswith("[gate]")}
    assert binary == inspect_oracle()
    assert binary


def test_an_inspect_sample_that_differs_is_refused_and_a_task_version_is_named(empty: pytest.Pytester) -> None:
    pytest.importorskip("inspect_ai")
    empty.makefile(".toml", pyproject="[tool.muscle-guard]\n")
    run = gate(empty, f"inspect:{INSPECT / 'v1'}", f"inspect:{INSPECT / 'v2-changed-input'}")

    errors = [line for line in run.stdout.lines if line.startswith("ERROR")]
    assert len(errors) == 2  # sample q5 of task qa, as its two scorers' suites
    assert all("doc q5 differs from the other run's" in line for line in errors)
    assert "task 'qa-match' doc q5" in errors[1]
    assert not [n for n in outcomes(run) if n.startswith(("qa-match::", "qa-f1::"))]
    assert "task 'mc' is in inspect:" in " ".join(run.stdout.str().split())  # mc was run once: named, not gated
    assert run.ret == pytest.ExitCode.USAGE_ERROR  # nothing was gated: no verdict, and not "no tests collected"

    versioned = gate(empty, f"inspect:{INSPECT / 'v1'}", f"inspect:{INSPECT / 'v2-task-version'}")
    assert "task 'qa-match': version 1 in" in " ".join(versioned.stdout.str().split())


def test_a_log_that_is_not_there_is_one_usage_error_line(empty: pytest.Pytester, tmp_path: Path) -> None:
    run = gate(empty, f"lm-eval:{tmp_path / 'nowhere'}", f"lm-eval:{LM / 'v2'}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in run.stderr.str().splitlines() if line.startswith("ERROR")]
    assert errors == [
        f"ERROR: --muscle-old: lm-eval:{tmp_path / 'nowhere'}: no such file or directory; pass lm-eval's "
        "--output_path, a model folder in it or one samples_*.jsonl file"
    ]


def test_a_truncated_samples_file_is_refused_naming_its_line(empty: pytest.Pytester, tmp_path: Path) -> None:
    (source,) = (LM / "v2").rglob("samples_mg_mc_*.jsonl")
    cut = tmp_path / "v2-cut" / source.name
    cut.parent.mkdir()
    cut.write_text(source.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    run = gate(empty, f"lm-eval:{LM / 'v1'}", f"lm-eval:{cut.parent}")
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    (error,) = [line for line in run.stderr.str().splitlines() if line.startswith("ERROR")]
    assert error.startswith(f"ERROR: --muscle-new: {cut}:")
    assert "not JSON" in error


def test_check_gates_two_logs_without_suite_files_and_prints_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from muscle_guard.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_own.py").write_text("def test_own():\n    assert False\n", encoding="utf-8")
    result = CliRunner().invoke(
        app, ["check", "--old", f"lm-eval:{LM / 'v1'}", "--new", f"lm-eval:{LM / 'v2'}", "--max-nfr", "1", "--json"]
    )
    assert result.exit_code == 0, result.stderr[-2000:]  # the project's own failing test is not collected
    report = json.loads(result.stdout)
    assert sorted(s["name"] for s in report["suites"]) == ["mg_gen", "mg_mc"]
    assert report["old"]["kind"] == "lm-eval log"
    nf = {s["name"]: s["metrics"]["nf"] for s in report["suites"]}
    assert nf == {"mg_mc": len(lm_oracle("mg_mc", "acc")), "mg_gen": len(lm_oracle("mg_gen", "exact_match"))}
