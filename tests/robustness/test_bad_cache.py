"""Catalogue: caches, baselines and output files that cannot be used as they are.

A cache that cannot be written fails the tests with one line saying what to do; a damaged cache line is
recomputed; a baseline that no longer fits its suite fails that suite only, saying why; an output that
cannot be written leaves no partial file (and a previous one unchanged).
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.robustness.conftest import assert_no_traceback, passing

if TYPE_CHECKING:
    from tests.robustness.conftest import Project

SUITES = ("capitals", "rivers")
ALL_FAILED = {nodeid: "failed" for nodeid in passing(*SUITES)}


def refuse_under(monkeypatch: pytest.MonkeyPatch, root: Path, error: int, *names: str) -> None:
    """Make the `os` functions `names` fail with `error` for paths below `root` (a disk or permission problem)."""
    for name in names:
        real: Callable[..., Any] = getattr(os, name)

        def refuse(target: Any, *args: Any, __real: Callable[..., Any] = real, **kwargs: Any) -> Any:
            path = os.readlink(f"/proc/self/fd/{target}") if isinstance(target, int) else os.fspath(target)
            if Path(path).is_relative_to(root):
                raise OSError(error, os.strerror(error), path)
            return __real(target, *args, **kwargs)

        monkeypatch.setattr(os, name, refuse)


def cache_lines(root: Path) -> list[bytes]:
    return [line for p in sorted(root.rglob("*.jsonl")) for line in p.read_bytes().splitlines()]


# --- the prediction cache ---------------------------------------------------------------------------------------------


def test_a_file_where_the_cache_directory_should_be(project: Project) -> None:
    project.write("cache", "not a directory\n")

    run = project.pytest("--muscle-cache-dir=cache")

    # Found before any instance runs and said once (it used to fail every test with the same line).
    assert run.outcomes == {}
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in run.stderr.splitlines() if line.strip()] == [
        f"ERROR: {project.path / 'cache'}/predictions: a file is in the way of the cache directory; remove it or "
        "pass another cache dir (--muscle-cache-dir)"
    ]
    assert_no_traceback(run.output)
    assert (project.path / "cache").read_text(encoding="utf-8") == "not a directory\n"


@pytest.mark.parametrize("error", [errno.EACCES, errno.EROFS], ids=["permission denied", "read-only file system"])
def test_a_read_only_cache_directory(project: Project, error: int) -> None:
    # We run as root, which ignores permission bits: the file system refuses instead.
    cache = project.path / "cache"
    cache.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        refuse_under(patch, cache, error, "mkdir", "open")
        run = project.pytest("--muscle-cache-dir=cache")

    assert run.outcomes == {}  # said once, before any instance runs
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    (line,) = [line for line in run.stderr.splitlines() if line.strip()]
    assert line.startswith(f"ERROR: {project.path / 'cache'}")
    assert line.endswith(
        ": cache directory is not writable; fix its permissions or pass another one (--muscle-cache-dir)"
    )
    assert_no_traceback(run.output)
    assert list(cache.iterdir()) == []


def test_a_full_disk_under_the_cache(project: Project) -> None:
    cache = project.path / "cache"
    with pytest.MonkeyPatch.context() as patch:
        refuse_under(patch, cache, errno.ENOSPC, "fsync")
        run = project.pytest("--muscle-cache-dir=cache", "--muscle-report=report.json")

    assert run.outcomes == ALL_FAILED
    for nodeid in ALL_FAILED:
        assert run.longrepr(nodeid).endswith(
            ": disk full while writing the cache; free space or pass another cache dir (--muscle-cache-dir)"
        )
    assert_no_traceback(run.output)
    for line in cache_lines(cache):  # whatever reached the disk is whole lines, usable by the next run
        assert set(json.loads(line)) == {"k", "p"}

    # Space freed: the next run works.
    assert project.pytest("--muscle-cache-dir=cache").outcomes == passing(*SUITES)


def test_a_corrupt_cache_line_is_recomputed(project: Project) -> None:
    project.pytest("--muscle-cache-dir=cache", "--muscle-report=first.json")
    damaged = sorted((project.path / "cache").rglob("capitals-*.jsonl"))[0]
    lines = damaged.read_bytes().splitlines(keepends=True)
    damaged.write_bytes(lines[0] + b'{"k": "\xff\xfe garbage\n' + b"".join(lines[2:]))

    run = project.pytest("--muscle-cache-dir=cache", "--muscle-report=second.json")

    assert run.outcomes == passing(*SUITES)
    assert f"{damaged}: 1 unreadable cache line(s) skipped; recomputing those instances" in run.output
    assert_no_traceback(run.output)
    first, second = (json.loads((project.path / n).read_text(encoding="utf-8")) for n in ("first.json", "second.json"))
    assert first["suites"] == second["suites"]


# --- baselines --------------------------------------------------------------------------------------------------------


@pytest.fixture
def baseline(project: Project) -> Path:
    result = project.cli("predict", "fake:models/old.json", "suites", "-o", "baseline.jsonl")
    assert result.exit_code == 0, result.stderr
    return project.path / "baseline.jsonl"


def test_a_truncated_baseline(project: Project, baseline: Path) -> None:
    data = baseline.read_bytes()
    baseline.write_bytes(data[: len(data) * 2 // 3])
    line = data[: len(data) * 2 // 3].count(b"\n") + 1

    run = project.pytest(old="baseline.jsonl")

    # A baseline that cannot be read is a usage error of the run: said once, before any instance runs.
    assert run.outcomes == {}
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    message = f"--muscle-old: baseline.jsonl:{line}: truncated baseline (no final newline); regenerate it"
    assert [line for line in run.stderr.splitlines() if line.strip()] == [f"ERROR: {message}"]
    assert_no_traceback(run.output)


def test_a_baseline_cut_at_a_line_end(project: Project, baseline: Path) -> None:
    lines = baseline.read_bytes().splitlines(keepends=True)
    baseline.write_bytes(b"".join(lines[:-2]))

    run = project.pytest(old="baseline.jsonl")

    assert run.outcomes == {}
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    message = "--muscle-old: baseline.jsonl: suite 'rivers' has 1 of 3 predictions (truncated file?); regenerate it"
    assert [line for line in run.stderr.splitlines() if line.strip()] == [f"ERROR: {message}"]


def test_a_baseline_made_for_another_suite_version(project: Project, baseline: Path) -> None:
    path = project.path / "suites/capitals.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace("Is cap1 right?", "Is cap1 really right?"))
    project.teach([{"prompt": "Is cap1 really right?", "choices": [], "answer": 0}])

    run = project.pytest(old="baseline.jsonl")

    failed = {n: "failed" for n in passing("capitals")}
    assert run.outcomes == {**failed, **passing("rivers")}
    assert {run.longrepr(n) for n in failed} == {
        "baseline.jsonl: made for another version of suite 'capitals' (3 instances then, 3 now; 1 new or changed, "
        "e.g. 'cap1'); regenerate the baseline"
    }
    assert_no_traceback(run.output)


def test_a_baseline_made_with_other_settings(project: Project, baseline: Path) -> None:
    project.write("pyproject.toml", '[tool.muscle-guard.suites.rivers]\nprompt_template = "Q: {prompt}"\n')

    run = project.pytest(old="baseline.jsonl")

    failed = {n: "failed" for n in passing("rivers")}
    assert run.outcomes == {**passing("capitals"), **failed}
    assert {run.longrepr(n) for n in failed} == {
        "baseline.jsonl: made with other settings for suite 'rivers' (prompt_template was '{prompt}', "
        "now 'Q: {prompt}'); regenerate the baseline"
    }
    assert_no_traceback(run.output)


def test_a_baseline_without_a_new_suite(project: Project, baseline: Path) -> None:
    project.write_lines(
        "suites/lakes.jsonl", [{"id": "geneva", "prompt": "Is cap0 right?", "choices": [" yes", " no"], "answer": 0}]
    )

    run = project.pytest(old="baseline.jsonl")

    failed = {"suites/lakes.jsonl::geneva": "failed", "suites/lakes.jsonl::[gate]": "failed"}
    assert run.outcomes == {**passing(*SUITES), **failed}
    assert {run.longrepr(n) for n in failed} == {
        "baseline.jsonl: no predictions for suite 'lakes' (it has: capitals, rivers); "
        "regenerate it with `muscle-guard predict` or --muscle-update-baseline"
    }


def test_a_file_that_is_not_a_baseline(project: Project) -> None:
    project.write_lines("results.jsonl", [{"id": "cap0", "answer": 0}])

    run = project.pytest(old="results.jsonl")

    assert run.outcomes == {}
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in run.stderr.splitlines() if line.strip()] == [
        "ERROR: --muscle-old: results.jsonl:1: not a muscle-guard baseline header; write baselines with "
        "`muscle-guard predict`"
    ]


# --- outputs that cannot be written -----------------------------------------------------------------------------------


def test_a_baseline_onto_a_full_disk_leaves_the_previous_one(project: Project) -> None:
    assert project.cli("predict", "fake:models/old.json", "suites", "-o", "out/baseline.jsonl").exit_code == 0
    before = (project.path / "out/baseline.jsonl").read_bytes()
    project.teach([{"prompt": "Is cap0 right?", "choices": [], "answer": 1}])  # the model changed since
    with pytest.MonkeyPatch.context() as patch:
        refuse_under(patch, project.path / "out", errno.ENOSPC, "fsync")
        result = project.cli("predict", "fake:models/old.json", "suites", "-o", "out/baseline.jsonl")

    assert result.exit_code == 2
    assert result.error_lines() == [
        "Error: out/baseline.jsonl: cannot write the baseline (No space left on device); "
        "the previous file, if any, is unchanged"
    ]
    assert (project.path / "out/baseline.jsonl").read_bytes() == before
    assert os.listdir(project.path / "out") == ["baseline.jsonl"]  # no temporary file left
    assert_no_traceback(result.output)


def test_a_baseline_into_a_directory(project: Project) -> None:
    (project.path / "out.jsonl").mkdir()

    result = project.cli("predict", "fake:models/old.json", "suites", "-o", "out.jsonl")

    assert result.exit_code == 2
    assert result.error_lines() == [
        "Error: out.jsonl: cannot write the baseline (Is a directory); the previous file, if any, is unchanged"
    ]
    assert list((project.path / "out.jsonl").iterdir()) == []
    assert not [p for p in project.path.iterdir() if p.name.startswith(".out.jsonl")]


def test_a_report_onto_a_full_disk(project: Project) -> None:
    (project.path / "out").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        refuse_under(patch, project.path / "out", errno.ENOSPC, "fsync")
        run = project.pytest("--muscle-report=out/report.json", "--muscle-markdown=out/summary.md")

    assert run.outcomes == passing(*SUITES)
    assert run.ret == pytest.ExitCode.INTERNAL_ERROR
    assert (
        f"muscle-guard: {project.path}/out/report.json: cannot write report (No space left on device); "
        "check the path and permissions"
    ) in run.stdout
    assert list((project.path / "out").iterdir()) == []
    assert_no_traceback(run.output)


def test_a_report_where_a_file_is_in_the_way(project: Project) -> None:
    project.write("out", "a file\n")

    run = project.pytest("--muscle-report=out/report.json")

    assert run.outcomes == passing(*SUITES)
    assert run.ret == pytest.ExitCode.INTERNAL_ERROR
    assert (
        f"muscle-guard: {project.path}/out/report.json: cannot write report (File exists); "
        "check the path and permissions"
    ) in run.stdout
    assert (project.path / "out").read_text(encoding="utf-8") == "a file\n"
    assert_no_traceback(run.output)
