"""The plugin's run state: lazily opened models and one evaluation per suite, shared by all its items."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from muscle_guard.core.backend import SHARED, ModelInfo, RunOptions
from muscle_guard.core.baseline import write_baseline
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import MuscleGuardError
from muscle_guard.core.evaluate import SuiteEvaluation, decide_family, evaluate_suite, to_suite_report
from muscle_guard.core.floor import NoiseFloor, read_floor
from muscle_guard.core.outputs import shown_path
from muscle_guard.core.pairs import ModelPair
from muscle_guard.core.pipeline import SuitePredictions, predict_suite
from muscle_guard.core.prompt_format import PromptFormat
from muscle_guard.core.report import ModelPairInfo, RunReport, SuiteReport
from muscle_guard.core.sources import ModelSource, close_source, open_source
from muscle_guard.core.suite import Suite, same_name_error
from muscle_guard.core.waivers import Waivers, load_waivers
from muscle_guard.pytest_plugin.options import MuscleOptions


@dataclass
class MuscleSession:
    """One per pytest process. Workers evaluate suites; the controller merges their suite reports."""

    options: MuscleOptions
    rootpath: Path
    is_worker: bool = False
    worker_index: int = 0  # N of an xdist worker gwN
    # Suspends pytest's output capture while models run, so progress bars reach the terminal.
    uncaptured: Callable[[], AbstractContextManager[object]] = nullcontext
    _sources: dict[str, ModelSource] = field(default_factory=dict)
    _shared: dict[str, Any] = field(default_factory=dict)  # what the run's backends share (one base per base)
    _source_errors: dict[str, MuscleGuardError] = field(default_factory=dict)
    _evaluations: dict[Path, SuiteEvaluation | MuscleGuardError] = field(default_factory=dict)
    _old_predictions: dict[Path, tuple[Suite, SuiteSettings, SuitePredictions]] = field(default_factory=dict)
    _waivers: Waivers | None = None
    _floor: NoiseFloor | None = None
    # Suites that failed to collect: their collection errors must not stop the other suites.
    broken_suites: int = 0
    _names: dict[str, Path] = field(default_factory=dict)
    # The run's suites after selection (-k, -m, deselected pairs): the family whose McNemar tests are corrected.
    family: list[Suite] = field(default_factory=list)
    log_suites: set[Path] = field(default_factory=set)  # the (virtual) paths of suites made from evaluation logs
    _family: set[Path] | None = None
    # Filled on the controller from the gate items' reports (ours or the workers').
    suite_reports: dict[str, dict[str, Any]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    _run_report: RunReport | None = None  # built once from suite_reports (the summary and the files both need it)

    def run_options(self) -> RunOptions:
        o = self.options
        extra: dict[str, Any] = {SHARED: self._shared}
        if o.cache_dir:
            extra["hash_cache_dir"] = str(o.cache_dir / "hashes")
        return RunOptions(
            device=o.device,
            dtype=o.dtype,
            batch_size=o.batch_size,
            trust_remote_code=o.trust_remote_code,
            allow_pickle=o.allow_pickle,
            extra=extra,
        )

    def pair_for(self, suite: Suite | str) -> ModelPair:
        """The model pair that gates `suite` (a suite or its name; "" for the run's default or only pair)."""
        name = suite if isinstance(suite, str) else suite.name
        plan = self.options.pairs
        if not name and plan.default is None and len(plan.named) == 1:
            return plan.named[0]
        return plan.for_suite(name)

    def source(self, side: str, pair: ModelPair | None = None) -> ModelSource:
        """One side of a pair (the default pair when None), opened on first use and shared by every pair that
        names the same reference; a failure is remembered and raised for every item."""
        pair = pair or self.pair_for("")
        raw = pair.ref(side)
        if raw in self._source_errors:
            raise self._source_errors[raw]
        if raw not in self._sources:
            try:
                self._sources[raw] = open_source(raw, self.run_options(), pair.option(side))
            except MuscleGuardError as exc:
                self._source_errors[raw] = exc
                raise
        return self._sources[raw]

    def unusable(self, pairs: Iterable[ModelPair]) -> dict[str, str]:
        """Pair label → the one line saying why that pair cannot run (a model reference that does not open), found
        by opening both sides as every item would: a backend opens without loading weights, so this is cheap
        and the error is said once for the run, not once per instance."""
        broken: dict[str, str] = {}
        for pair in pairs:
            for side in ("old", "new"):
                try:
                    self.source(side, pair)
                except MuscleGuardError as exc:
                    text = str(exc)
                    option = pair.option(side)
                    line = text if text.startswith(option) else f"{option}: {text}"
                    broken[pair.label] = f"model pair {pair.name}: {line}" if pair.name else line
                    break
        return broken

    @staticmethod
    def same_model(pairs: Iterable[ModelPair]) -> list[str]:
        """One warning per pair whose two sides are the same model with the same prompt format: every instance of
        its suites passes, which is almost surely a copy-paste of one reference for the other."""
        return [
            f"{'model pair ' + pair.name + ': ' if pair.name else ''}{pair.option('old')} and {pair.option('new')} are "
            f"the same model ({pair.old}), so no instance can flip; check that the new model is the one meant"
            for pair in pairs
            if same_reference(pair.old, pair.new) and pair.old_prompt == pair.new_prompt
        ]

    def claim_name(self, suite: Suite) -> None:
        """Refuse a second suite file with a name already taken in this run (see `same_name_error`)."""
        first = self._names.setdefault(suite.name, suite.path)
        if first.resolve() != suite.path.resolve():
            raise same_name_error(suite, first)

    def noise_floor(self) -> NoiseFloor | None:
        """The run's floor file (`floor`, or ./muscle-floor.json at the root), read once; None without one."""
        if self.options.floor is None:
            return None
        if self._floor is None:
            self._floor = read_floor(self.options.floor)
        return self._floor

    def waivers(self) -> Waivers:
        if self._waivers is None:
            self._waivers = load_waivers(self.options.waivers)
        return self._waivers

    def settings_for(self, suite: Suite) -> SuiteSettings:
        return self.options.project.settings_for(suite.name, self.options.overrides)

    def predict(self, side: str, suite: Suite) -> SuitePredictions:
        cache = PredictionCache(self.options.cache_dir) if self.options.cache_dir else None
        pair = self.pair_for(suite)
        source = self.source(side, pair)
        where = f"{pair.name}: " if pair.name else ""
        # xdist workers share the user's terminal: their bars would interleave, so only one process draws.
        with self.uncaptured():
            return predict_suite(
                source,
                suite,
                self.settings_for(suite),
                cache=cache,
                label=f"{where}{suite.name} ({side})",
                progress=not self.is_worker,
                prompt=pair.prompt(side),
            )

    def evaluate(self, suite: Suite) -> SuiteEvaluation:
        """The suite's evaluation, computed once (batched, through the cache) and reused by every item. A suite in a
        family of tests (two or more of the run's suites set `alpha`) is decided with the whole family, so the
        family's suites are all evaluated first (core.evaluate.decide_family)."""
        cached = self._evaluations.get(suite.path)
        if cached is None and suite.path in self._family_paths():
            self._evaluate_family()
            cached = self._evaluations.get(suite.path)
        if cached is None:
            cached = self._evaluate_one(suite)
        if isinstance(cached, MuscleGuardError):
            raise cached
        return cached

    def _family_paths(self) -> set[Path]:
        """The paths of the run's suites that set `alpha`, when there are two or more (else none)."""
        if self._family is None:
            members = set()
            for suite in self.family:
                try:
                    if self.settings_for(suite).gates.alpha is not None:
                        members.add(suite.path)
                except MuscleGuardError:
                    continue  # its own items say why
            self._family = members if len(members) > 1 else set()
        return self._family

    def _evaluate_family(self) -> None:
        members = [s for s in self.family if s.path in self._family_paths()]
        done = [e for e in (self._evaluate_one(s) for s in members) if isinstance(e, SuiteEvaluation)]
        for evaluation in decide_family(done, self.options.correction):
            self._evaluations[evaluation.suite.path] = evaluation

    def _evaluate_one(self, suite: Suite) -> SuiteEvaluation | MuscleGuardError:
        cached = self._evaluations.get(suite.path)
        if cached is not None:
            return cached
        try:
            settings = self.settings_for(suite)
            # Under xdist every worker evaluates every suite it has items of. Odd workers predict the new side
            # first: on a cold cache two workers then run the two models at once, each waiting on the other's
            # cache lock only for the side it did not compute; on a warm one the order changes nothing.
            first, second = ("new", "old") if self.worker_index % 2 else ("old", "new")
            predicted = {first: self.predict(first, suite)}
            predicted[second] = self.predict(second, suite)
            old, new = predicted["old"], predicted["new"]
            evaluation = evaluate_suite(suite, settings, old.predictions, new.predictions, self.waivers())
        except MuscleGuardError as exc:
            self._evaluations[suite.path] = exc
            return exc
        self._old_predictions[suite.path] = (suite, settings, old)
        self._evaluations[suite.path] = evaluation
        return evaluation

    def gate_payload(self, evaluation: SuiteEvaluation) -> dict[str, Any]:
        """What a gate item's report carries to the controller (survives xdist serialisation)."""
        suite = evaluation.suite
        # A suite made from evaluation logs has no file: its node ids are TASK::ID, and so is what reports show.
        path = suite.name if suite.path in self.log_suites else shown_path(suite.path, self.rootpath)
        pair = self.pair_for(evaluation.suite)
        floor = self.noise_floor()
        suite_floor = None if floor is None else floor.rate(evaluation.suite.name)
        return {
            "suite": to_suite_report(evaluation, path, pair=pair.label, floor=suite_floor).to_json(),
            "pair": pair.label,
            "old": _with_prompt(self.source("old", pair).info, pair.old_prompt).to_json(),
            "new": _with_prompt(self.source("new", pair).info, pair.new_prompt).to_json(),
        }

    def receive(self, payload: dict[str, Any]) -> None:
        """Controller side: keep one suite's report from a gate item (ours or a worker's)."""
        self.suite_reports[payload["suite"]["path"]] = payload["suite"]
        self.models.setdefault(payload["pair"], {"old": payload["old"], "new": payload["new"]})
        self._run_report = None

    def run_report(self) -> RunReport | None:
        if not self.suite_reports:
            return None
        if self._run_report is None:
            self._run_report = self._build_run_report()
        return self._run_report

    def _build_run_report(self) -> RunReport:
        suites = [SuiteReport.from_json(self.suite_reports[k]) for k in sorted(self.suite_reports)]
        pairs = {
            name: ModelPairInfo(ModelInfo.from_json(m["old"]), ModelInfo.from_json(m["new"]))
            for name, m in sorted(self.models.items())
        }
        return RunReport.create(suites=suites, pairs=pairs)

    def write_baseline(self, path: Path, suites: list[Suite]) -> list[Path]:
        """Write the old side of every given suite as a baseline (predictions come from the cache): one file at
        `path` for a run of one pair, else one file per pair, `path/PAIR.jsonl`. Returns the files written."""
        by_pair: dict[str, list[Suite]] = {}
        for suite in suites:
            by_pair.setdefault(self.pair_for(suite).label, []).append(suite)
        single = len(self.options.pairs.pairs) == 1
        written = []
        for name, members in sorted(by_pair.items()):
            runs = []
            for suite in members:
                stored = self._old_predictions.get(suite.path)
                runs.append(stored if stored else (suite, self.settings_for(suite), self.predict("old", suite)))
            target = path if single else path / f"{name or 'default'}.jsonl"
            write_baseline(target, self.source("old", self.pair_for(members[0])).info, runs)
            written.append(target)
        return written

    def close(self) -> None:
        for source in self._sources.values():
            close_source(source)
        self._sources.clear()


def same_reference(old: str, new: str) -> bool:
    """Whether two model references name the same thing: the same text, or paths to the same file or directory."""
    if old == new:
        return True
    a, b = Path(old.split(":", 1)[-1]), Path(new.split(":", 1)[-1])
    return old.split(":", 1)[0] == new.split(":", 1)[0] and a.exists() and b.exists() and a.resolve() == b.resolve()


def _with_prompt(info: ModelInfo, prompt: PromptFormat) -> ModelInfo:
    """The model as reports show it: with its prompt format, when it has one."""
    if prompt.kind == "none":
        return info
    return replace(info, details={**info.details, "prompt": prompt.text})
