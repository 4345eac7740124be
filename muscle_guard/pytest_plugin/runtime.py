"""The active plugin: collection of suites, report payloads, summary and output files."""

from __future__ import annotations

import os
import sys
from collections.abc import Generator, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from muscle_guard.core.cache import PredictionCache

if TYPE_CHECKING:
    from muscle_guard.backends.logs.source import LogSuites
from muscle_guard.core.config import unmatched_tables
from muscle_guard.core.errors import MuscleGuardError
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.outputs import shown_path
from muscle_guard.core.report import write_report
from muscle_guard.core.suite import Suite, discover_suites, load_suite, suite_name
from muscle_guard.pytest_plugin.items import GateItem, LogSuite, SuiteFile
from muscle_guard.pytest_plugin.options import MuscleOptions
from muscle_guard.pytest_plugin.session import MuscleSession
from muscle_guard.pytest_plugin.state import SESSION_KEY
from muscle_guard.reports.markdown import render_markdown
from muscle_guard.reports.terminal import render_text

LOG_WIDTH = 200  # summary width when pytest writes to a file or pipe


class MusclePlugin:
    """Registered only when both models are set. Hooks stay short; the session holds the state."""

    NAME = "muscle-guard-runtime"

    def __init__(self, config: pytest.Config, options: MuscleOptions) -> None:
        self.config = config
        self.options = options
        self.baselines: list[Path] | None = None  # the baseline files written, once they are
        self.is_worker = hasattr(config, "workerinput")
        if self.is_worker:
            share_cores(config)
        self.session = MuscleSession(
            options,
            config.rootpath,
            is_worker=self.is_worker,
            worker_index=worker_index(config),
            uncaptured=self._uncaptured,
        )
        config.stash[SESSION_KEY] = self.session
        self.broken: dict[str, str] = {}  # pair label → why it cannot run (said once, its items deselected)
        self.refused: list[str] = []  # evaluation-log tasks not gated: the runs evaluated different data
        self.warnings: list[str] = []  # said once in the summary and the Markdown report
        self.suite_roots = [p.resolve() for p in options.suites]
        self.explicit = {Path(a.split("::")[0]).resolve() for a in config.args if a.split("::")[0].endswith(".jsonl")}
        if config.args_source is not pytest.Config.ArgsSource.ARGS:
            # No explicit paths: also collect the configured suite paths, not only testpaths.
            covered = [Path(a).resolve() for a in config.args]
            for root in options.suites:
                if root.exists() and not any(root.resolve().is_relative_to(c) for c in covered):
                    config.args.append(str(root))

    def _uncaptured(self) -> AbstractContextManager[object]:
        capman = self.config.pluginmanager.getplugin("capturemanager")
        return capman.global_and_fixture_disabled() if capman is not None else nullcontext()

    def _is_suite(self, path: Path) -> bool:
        resolved = path.resolve()
        return resolved in self.explicit or any(resolved.is_relative_to(root) for root in self.suite_roots)

    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        if file_path.suffix == ".jsonl" and self._is_suite(file_path):
            return SuiteFile.from_parent(parent, path=file_path)
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """A cache or model reference that cannot work is a usage error of the run, found before any instance runs
        and said once: when no pair can run, pytest stops here (exit 4); otherwise the pairs that can run do."""
        if self.is_worker:
            return
        try:
            if self.options.cache_dir:
                PredictionCache(self.options.cache_dir).check_writable()
            self.session.noise_floor()  # a floor file that cannot be read: one line, before any model runs
        except MuscleGuardError as exc:
            raise pytest.UsageError(str(exc)) from None
        pairs = self._run_pairs()
        self.warnings = self.session.same_model(pairs)
        self.broken = self.session.unusable(pairs)
        if pairs and len(self.broken) == len(pairs):
            raise pytest.UsageError(*self.broken.values())
        if not any(p.is_file() for p in self._suite_paths()):  # suites from the pairs' evaluation logs, if any
            for found in self._found_in_logs():  # said here, once: an xdist controller collects nothing itself
                self.warnings.extend(found.notes)
                self.refused.extend(found.refused)

    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_modifyitems(
        self, session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        """Suites from evaluation logs when the run has no suite files (before -k and -m select), then the items of
        pairs that cannot run deselected (xdist workers find them the same way, silently)."""
        if not any(isinstance(getattr(item, "parent", None), SuiteFile) for item in items):
            items.extend(self._log_items(session))
        self._deselect_broken(config, items)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """The run's suites, once -k, -m and broken pairs have deselected theirs: one family of McNemar tests."""
        suites: dict[Path, Suite] = {}
        for item in session.items:
            parent = getattr(item, "parent", None)
            if isinstance(parent, SuiteFile | LogSuite):
                suites.setdefault(parent.suite.path, parent.suite)
        self.session.family = list(suites.values())

    def _found_in_logs(self) -> Iterator[LogSuites]:
        """Per pair of evaluation logs (`lm-eval:`/`inspect:` on both sides) that can run: what its logs gate."""
        from muscle_guard.backends.logs.source import LogSource, log_suites

        for pair in self.options.pairs.pairs:
            if pair.label in self.broken:
                continue
            try:
                old, new = self.session.source("old", pair), self.session.source("new", pair)
            except MuscleGuardError:
                continue  # said once already (pytest_sessionstart), or by each item
            if not (isinstance(old, LogSource) and isinstance(new, LogSource)):
                continue
            try:
                found = log_suites(old, new, lambda name: self.session.options.project.settings_for(name))
            except MuscleGuardError as exc:
                raise pytest.UsageError(str(exc)) from None
            yield replace(found, suites=[
                s for s in found.suites
                if not self.options.pairs.named or self.session.pair_for(s.name).label == pair.label
            ])  # fmt: skip

    def _log_items(self, session: pytest.Session) -> list[pytest.Item]:
        """A `LogSuite` per task both logs of a pair hold, with its items (its notes were said at session start)."""
        out: list[pytest.Item] = []
        for found in self._found_in_logs():
            for suite in found.suites:
                self.session.claim_name(suite)
                self.session.log_suites.add(suite.path)
                collector = LogSuite.from_parent(session, name=suite.name, nodeid=suite.name, suite=suite)
                out.extend(collector.collect())
        return out

    def _deselect_broken(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        pairs: dict[str, Any] = {}
        for item in items:
            parent = getattr(item, "parent", None)
            if isinstance(parent, SuiteFile | LogSuite):
                pair = self.session.pair_for(parent.suite)
                pairs.setdefault(pair.label, pair)
        broken = self.broken if not self.is_worker else self.session.unusable(pairs.values())
        if not broken:
            return
        keep: list[pytest.Item] = []
        drop: list[pytest.Item] = []
        for item in items:
            parent = getattr(item, "parent", None)
            gone = isinstance(parent, SuiteFile | LogSuite) and self.session.pair_for(parent.suite).label in broken
            (drop if gone else keep).append(item)
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def _run_pairs(self) -> list[Any]:
        """The pairs that gate the run's suites (and the default pair)."""
        pairs: dict[str, Any] = {}
        if self.options.pairs.default is not None:
            pairs[""] = self.options.pairs.default
        for path in self._suite_paths():
            try:
                pair = self.session.pair_for(suite_name(path))
            except MuscleGuardError:
                continue  # a suite no pair gates: its collection error says so
            pairs.setdefault(pair.label, pair)
        return list(pairs.values())

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # pytest runs nothing after a collection error; a broken suite must not stop the other suites
        # (it does not under xdist either), so its errors are set aside while the tests run.
        broken = min(self.session.broken_suites, session.testsfailed)
        session.testsfailed -= broken
        try:
            return (yield)
        finally:
            session.testsfailed += broken

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if isinstance(item, GateItem) and call.when == "call" and item.payload is not None:
            report.muscle_suite = item.payload  # plain JSON: travels from xdist workers to the controller
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        payload = getattr(report, "muscle_suite", None)
        if payload is not None and not self.is_worker:
            self.session.receive(payload)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.broken and not self.is_worker:
            for line in self.broken.values():
                terminalreporter.write_line(f"ERROR: {line} (its suites did not run)", red=True)
        for line in [] if self.is_worker else self.refused:
            terminalreporter.write_line(f"ERROR: {line}", red=True)
        report = self.session.run_report()
        if report is None and self.refused and not self.is_worker:
            for line in self.warnings:  # no suite ran, but what the logs said still matters
                terminalreporter.write_line(line, yellow=True)
        if report is None or self.is_worker:
            return
        terminalreporter.section("muscle-guard")
        width = terminalreporter.config.get_terminal_writer().fullwidth
        # A log (CI, a pipe) has no width to fit: pytest reports 80 there, which would cut suite names.
        isatty = terminalreporter.isatty  # a callable bool in pytest 8-9, maybe a plain method later
        tty = isatty() if callable(isatty) else bool(isatty)
        width = max(width, 100) if tty else max(width, LOG_WIDTH)
        terminalreporter.write(render_text(report, width=width, color=terminalreporter.hasmarkup))
        expired = self.session.waivers().expired() if self.options.waivers else ()
        for waiver in expired:
            terminalreporter.write_line(
                f"expired waiver no longer applies: {waiver.suite}::{waiver.id} ({waiver.reason})"
            )
        suite_paths = self._suite_paths()  # one walk of the suite folders for both checks
        unmatched = self.session.waivers().unmatched(suite_paths) if self.options.waivers else []
        for line in [*unmatched, *unmatched_tables(self.options.project, suite_paths)]:
            terminalreporter.write_line(line, yellow=True)
        for line in [*self.options.pairs.unmatched({suite_name(p) for p in suite_paths}), *self.warnings]:
            terminalreporter.write_line(line, yellow=True)
        for path in self._outputs():
            terminalreporter.write_line(f"muscle-guard wrote {shown_path(path, self.config.invocation_params.dir)}")

    def _suite_paths(self) -> list[Path]:
        """Every suite of the run: the configured ones and those named on the command line (also on an xdist
        controller, which collects nothing itself)."""
        # A configured folder that does not exist (the default `suites/` of a project that keeps its suite
        # elsewhere) holds no suite: it must not be listed as one.
        configured = {p.resolve() for p in discover_suites(list(self.options.suites)) if p.is_file()}
        return sorted(configured | {p for p in self.explicit if p.exists()})  # both resolved: each file once

    def _outputs(self) -> list[Path]:
        baselines = self.baselines if self.baselines is not None else [self.options.update_baseline]
        return [p for p in (self.options.report, self.options.markdown, *baselines) if p]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.is_worker:
            self.session.close()
            return
        try:
            self._write_outputs(session)
        except MuscleGuardError as exc:
            session.config.get_terminal_writer().line(f"muscle-guard: {exc}", red=True)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
        finally:
            self.session.close()
        unfinished = self.broken or self.refused
        verdicts = (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED, pytest.ExitCode.NO_TESTS_COLLECTED)
        if unfinished and session.exitstatus in verdicts:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR  # a pair or a task could not run: the run is not a verdict

    def _write_outputs(self, session: pytest.Session) -> None:
        report = self.session.run_report()
        option_values = session.config.option
        narrowed = bool(option_values.keyword or option_values.markexpr or getattr(option_values, "deselect", None))
        if report is None and narrowed:
            for option, path in (
                ("--muscle-report", self.options.report),
                ("--muscle-markdown", self.options.markdown),
            ):
                if path is not None:
                    session.config.get_terminal_writer().line(
                        f"muscle-guard: {option} {shown_path(path, self.config.invocation_params.dir)} was not written: "
                        "no [gate] item ran (deselected by -k/-m, or stopped before it); select the suites' "
                        "[gate] items to gate and report them",
                        yellow=True,
                    )
        if report is not None and self.options.report:
            write_report(report, self.options.report)
        if report is not None and self.options.markdown:
            notes = "".join(f"\n> **Warning:** {line}\n" for line in self.warnings)
            atomic_write_text(self.options.markdown, render_markdown(report) + notes)
        if self.options.update_baseline:
            # Every configured suite, also on an xdist controller that collected nothing itself.
            suites = [load_suite(p) for p in self._suite_paths()]
            self.baselines = self.session.write_baseline(self.options.update_baseline, suites)


def share_cores(config: pytest.Config) -> None:
    """Give each xdist worker its share of the cores for torch's thread pools (set before torch is imported;
    a user's own OMP_NUM_THREADS wins). Without it, N workers each run N-core matrix products at once and
    a cold two-model gate under `-n 2` on 2 cores was 30% slower than without xdist."""
    workers = int(getattr(config, "workerinput", {}).get("workercount", 1))
    if workers > 1 and "torch" not in sys.modules:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, threads)


def worker_index(config: pytest.Config) -> int:
    """N for the xdist worker `gwN`, 0 elsewhere."""
    workerid = str(getattr(config, "workerinput", {}).get("workerid", "gw0"))
    digits = workerid.removeprefix("gw")
    return int(digits) if digits.isdigit() else 0
