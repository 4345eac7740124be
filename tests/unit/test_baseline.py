"""Baseline files: a frozen old side that CI compares against, refused when it no longer fits the suites."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.backends.fake import FakeBackend
from muscle_guard.core.baseline import BaselineFile, read_baseline, write_baseline
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BaselineError
from muscle_guard.core.pipeline import SuitePredictions, predict_suite
from muscle_guard.core.suite import Suite, load_suite

SuiteLines = Callable[[str, int], list[dict[str, Any]]]
MakeFake = Callable[..., FakeBackend]
WriteSuite = Callable[..., Path]


@pytest.fixture
def make_suite(write_suite: WriteSuite, suite_lines: SuiteLines) -> Callable[..., Suite]:
    def make(
        shape: str = "multiple_choice", n: int = 3, name: str = "qa", lines: list[dict[str, Any]] | None = None
    ) -> Suite:
        return load_suite(write_suite(lines if lines is not None else suite_lines(shape, n), name=name))

    return make


@pytest.fixture
def model(make_fake: MakeFake) -> FakeBackend:
    return make_fake({"Q1:": 2, "Q2:": "2", "text 1": 1}, name="old")


def predicted(model: FakeBackend, suite: Suite, settings: SuiteSettings | None = None) -> SuitePredictions:
    return predict_suite(model, suite, settings or SuiteSettings(), progress=False)


@pytest.fixture
def baseline(tmp_path: Path, model: FakeBackend, make_suite: Callable[..., Suite]) -> Path:
    """A baseline of one 3-instance multiple-choice suite `qa`, default settings."""
    suite = make_suite()
    path = tmp_path / "baseline.jsonl"
    write_baseline(path, model.info, [(suite, SuiteSettings(), predicted(model, suite))])
    return path


def error_of(path: Path, suite: Suite | None = None, settings: SuiteSettings | None = None) -> str:
    def use() -> None:
        loaded = read_baseline(path)
        if suite is not None:
            loaded.predictions_for(suite, settings or SuiteSettings())

    with pytest.raises(BaselineError) as info:
        use()
    return str(info.value)


# --- round trip ----------------------------------------------------------------------------------------------------


def test_a_baseline_gives_back_the_live_predictions_of_every_suite(
    tmp_path: Path, model: FakeBackend, make_suite: Callable[..., Suite]
) -> None:
    settings = SuiteSettings(prompt_template="Q: {prompt}", max_new_tokens=16)
    suites = [
        make_suite(shape, 3, name=shape)
        for shape in ("multiple_choice", "generate_exact", "generate_score", "classify")
    ]
    live = {suite.name: predicted(model, suite, settings) for suite in suites}
    path = tmp_path / "old.jsonl"

    write_baseline(path, model.info, [(suite, settings, live[suite.name]) for suite in suites])
    loaded = read_baseline(path)

    for suite in suites:
        assert loaded.predictions_for(suite, settings) == live[suite.name].predictions


def test_the_pipeline_serves_a_baseline_without_a_model(
    baseline: Path, model: FakeBackend, make_suite: Callable[..., Suite]
) -> None:
    suite = make_suite()

    result = predict_suite(read_baseline(baseline), suite, SuiteSettings(), progress=False)

    assert result.predictions == predicted(model, suite).predictions
    assert (result.model.kind, result.model.ref) == ("baseline", f"baseline:{baseline}")
    assert result.model.fingerprint == model.info.fingerprint


def test_a_suite_with_instances_removed_still_uses_the_baseline(
    baseline: Path, model: FakeBackend, make_suite: Callable[..., Suite], suite_lines: SuiteLines
) -> None:
    smaller = make_suite(lines=suite_lines("multiple_choice", 3)[1:])

    assert read_baseline(baseline).predictions_for(smaller, SuiteSettings()) == predicted(model, smaller).predictions


# --- refusals: the baseline no longer fits ---------------------------------------------------------------------


def test_a_changed_instance_is_refused_naming_it(
    baseline: Path, make_suite: Callable[..., Suite], suite_lines: SuiteLines
) -> None:
    lines = suite_lines("multiple_choice", 3)
    lines[1]["prompt"] = "reworded"

    assert error_of(baseline, make_suite(lines=lines)) == (
        f"{baseline}: made for another version of suite 'qa' (3 instances then, 3 now; 1 new or changed, "
        "e.g. 'multiple_choice-1'); regenerate the baseline"
    )


def test_an_added_instance_is_refused(baseline: Path, make_suite: Callable[..., Suite]) -> None:
    message = error_of(baseline, make_suite(n=4))

    assert "(3 instances then, 4 now; 1 new or changed, e.g. 'multiple_choice-3')" in message


def test_other_settings_are_refused_saying_what_differs(baseline: Path, make_suite: Callable[..., Suite]) -> None:
    message = error_of(baseline, make_suite(), SuiteSettings(prompt_template="Q: {prompt}"))

    assert message == (
        f"{baseline}: made with other settings for suite 'qa' "
        "(prompt_template was '{prompt}', now 'Q: {prompt}'); regenerate the baseline"
    )


def test_settings_that_do_not_change_predictions_are_fine(baseline: Path, make_suite: Callable[..., Suite]) -> None:
    settings = SuiteSettings(max_new_tokens=5, mc_norm="acc_norm")  # neither changes log-likelihoods

    assert len(read_baseline(baseline).predictions_for(make_suite(), settings)) == 3


def test_a_suite_the_baseline_lacks_lists_the_ones_it_has(baseline: Path, make_suite: Callable[..., Suite]) -> None:
    message = error_of(baseline, make_suite(name="other"))

    assert message.startswith(f"{baseline}: no predictions for suite 'other' (it has: qa); regenerate it")


# --- damaged files ---------------------------------------------------------------------------------------------------


def test_a_file_cut_mid_line_names_the_file_and_line(baseline: Path) -> None:
    baseline.write_bytes(baseline.read_bytes()[:-20])

    assert error_of(baseline) == f"{baseline}:4: truncated baseline (no final newline); regenerate it"


def test_a_file_missing_a_whole_line_names_the_file(baseline: Path) -> None:
    lines = baseline.read_text(encoding="utf-8").splitlines(keepends=True)
    baseline.write_text("".join(lines[:-1]), encoding="utf-8")

    assert error_of(baseline) == f"{baseline}: suite 'qa' has 2 of 3 predictions (truncated file?); regenerate it"


def test_a_malformed_line_names_its_line(baseline: Path) -> None:
    lines = baseline.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[2] = '{"suite": "qa", "k": "x"}\n'
    baseline.write_text("".join(lines), encoding="utf-8")

    assert error_of(baseline) == f"{baseline}:3: malformed baseline line; regenerate the baseline"


def test_a_line_for_an_undeclared_suite_is_malformed(baseline: Path) -> None:
    lines = baseline.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1].replace('"suite": "qa"', '"suite": "nope"')
    baseline.write_text("".join(lines), encoding="utf-8")

    assert error_of(baseline) == f"{baseline}:2: malformed baseline line; regenerate the baseline"


def rewrite_header(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header = json.loads(lines[0])
    lines[0] = json.dumps(change(header)) + "\n"
    path.write_text("".join(lines), encoding="utf-8")


HEADERS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("a list", lambda h: [h]),
    ("no version", lambda h: {k: v for k, v in h.items() if k != "muscle_guard_baseline"}),
    ("no model", lambda h: {k: v for k, v in h.items() if k != "model"}),
    ("no suites", lambda h: {k: v for k, v in h.items() if k != "suites"}),
    ("suites a list", lambda h: {**h, "suites": ["qa"]}),
    ("suite without its count", lambda h: {**h, "suites": {"qa": {"suite_hash": "x", "shape": "x", "rendering": {}}}}),
    ("suite count not a number", lambda h: {**h, "suites": {"qa": {**h["suites"]["qa"], "n": "many"}}}),
    ("rendering not an object", lambda h: {**h, "suites": {"qa": {**h["suites"]["qa"], "rendering": 3}}}),
]


@pytest.mark.parametrize("change", [h[1] for h in HEADERS], ids=[h[0] for h in HEADERS])
def test_a_bad_header_is_named(baseline: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    rewrite_header(baseline, change)

    assert error_of(baseline) == (
        f"{baseline}:1: not a muscle-guard baseline header; write baselines with `muscle-guard predict`"
    )


def test_a_newer_format_is_named(baseline: Path) -> None:
    rewrite_header(baseline, lambda h: {**h, "muscle_guard_baseline": 2})

    assert error_of(baseline) == f"{baseline}:1: baseline format 2; this muscle-guard reads format 1"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty baseline"),
        (b"not json\n", "not a muscle-guard baseline header"),
        (b'{"k": "abc", "p": {"id": "x"}}\n', "not a muscle-guard baseline header"),  # a cache file
        (b"\xff\xfe\n", "cannot read the baseline"),
    ],
    ids=["empty", "not JSON", "a cache file", "not UTF-8"],
)
def test_a_file_that_is_not_a_baseline(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_bytes(content)

    assert error_of(path).startswith(f"{path}")
    assert message in error_of(path)


def test_a_missing_baseline(tmp_path: Path) -> None:
    path = tmp_path / "gone.jsonl"

    assert error_of(path) == f"{path}: baseline file does not exist; write one with `muscle-guard predict`"


# --- atomic writes -------------------------------------------------------------------------------------------------


def test_writing_leaves_no_temporary_files(baseline: Path) -> None:
    assert sorted(p.name for p in baseline.parent.iterdir()) == ["baseline.jsonl", "models", "suites"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_intact(
    baseline: Path, model: FakeBackend, make_suite: Callable[..., Suite], monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    before = baseline.read_bytes()
    suite = make_suite(n=5)

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, fail)
    with pytest.raises(BaselineError, match=f"^{baseline}: cannot write the baseline \\(No space left on device\\)"):
        write_baseline(baseline, model.info, [(suite, SuiteSettings(), predicted(model, suite))])

    assert baseline.read_bytes() == before
    assert sorted(p.name for p in baseline.parent.iterdir()) == ["baseline.jsonl", "models", "suites"]


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask_027")
def test_a_written_baseline_honours_the_umask(baseline: Path) -> None:
    assert stat.S_IMODE(baseline.stat().st_mode) == 0o640


def test_a_baseline_file_is_readable_json_lines(baseline: Path) -> None:
    header, *records = (json.loads(line) for line in baseline.read_text(encoding="utf-8").splitlines())

    assert header["muscle_guard_baseline"] == 1
    assert header["suites"]["qa"]["n"] == 3
    assert [r["p"]["id"] for r in records] == ["multiple_choice-0", "multiple_choice-1", "multiple_choice-2"]
    assert isinstance(read_baseline(baseline), BaselineFile)
