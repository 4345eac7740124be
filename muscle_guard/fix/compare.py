"""Before/after for `fix`: each --suite checked old→new (before) and old→fixed (after), as the MUSCLE paper reports a fix
(docs/metrics.md):
NFR_c (old vs the compatibility model), ΔNFR_c = NFR_c − NFR, Δ%NFR_c = ΔNFR_c / NFR, Δacc_c = acc_c − acc_new.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from muscle_guard.core.backend import ModelInfo, RunOptions
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.config import ProjectConfig
from muscle_guard.core.evaluate import decide_family, evaluate_suite, to_suite_report
from muscle_guard.core.flips import Outcome
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.report import RunReport, SuiteReport
from muscle_guard.core.run_options import parse_correction
from muscle_guard.core.sources import close_source, open_source
from muscle_guard.core.stats import paired_difference
from muscle_guard.core.suite import Suite


@dataclass(frozen=True)
class SuiteComparison:
    """One suite before and after the fix. Rates are fractions; `delta_pct_nfr_c` is None when NFR was 0."""

    suite: str
    path: str
    n: int
    acc_old: float
    acc_new: float
    acc_fixed: float
    nf: int
    nf_c: int
    nfr: float
    nfr_c: float
    pfr: float
    pfr_c: float
    delta_nfr_c: float
    delta_pct_nfr_c: float | None
    delta_acc_c: float
    passed_before: bool
    passed_after: bool
    reasons_after: tuple[str, ...]
    # The 95% interval of ΔNFR_c, paired on the suite's instances (a flip before, after, both or neither): a
    # fix whose interval holds 0 is not told apart from noise on this suite (core.stats.paired_difference).
    delta_nfr_c_ci: tuple[float, float] = (0.0, 0.0)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons_after"] = list(self.reasons_after)
        out["delta_nfr_c_ci"] = list(self.delta_nfr_c_ci)
        return out


@dataclass(frozen=True)
class FixComparison:
    """Every --suite before and after the fix: one row per suite, and the models' identities."""

    rows: tuple[SuiteComparison, ...]
    after: tuple[SuiteReport, ...]  # old → fixed, as the gate sees the shipped adapter
    old: ModelInfo
    new: ModelInfo
    fixed: ModelInfo

    @property
    def passed(self) -> bool:
        return all(row.passed_after for row in self.rows)

    def run_report(self, details: dict[str, Any] | None = None) -> RunReport:
        """The versioned run report (kind "fix") of the fixed model, `muscle-guard report` renders it: its suites
        are old → fixed, its fix section holds the before/after rows and the model the fix started from."""
        section = {"suites": [row.to_json() for row in self.rows], "passed": self.passed, "before": self.new.to_json()}
        return RunReport.create(
            old=self.old, new=self.fixed, suites=self.after, kind="fix", fix=section | (details or {})
        )


def compare_suites(
    old: str,
    new: str,
    fixed: str,
    suites: Sequence[Suite],
    project: ProjectConfig,
    options: RunOptions,
    cache: PredictionCache | None,
) -> FixComparison:
    """Predict every suite with the three models (through the cache) and compare old→new with old→fixed."""
    predictions: dict[str, list[Any]] = {}
    infos: dict[str, ModelInfo] = {}
    for label, raw in (("old", old), ("new", new), ("fixed", fixed)):
        source = open_source(raw, options, f"--{label}" if label != "fixed" else "--out")
        try:
            infos[label] = source.info
            predictions[label] = [
                predict_suite(
                    source,
                    s,
                    project.settings_for(s.name),
                    cache=cache,
                    progress=options.progress,
                    label=f"{s.name} ({label})",
                ).predictions
                for s in suites
            ]
        finally:
            close_source(source)
    # The --suites are one family of McNemar tests before, and one after, as the gate would decide them together.
    correction = parse_correction(project.run.get("correction", "holm"))
    settings_of = [project.settings_for(s.name) for s in suites]
    befores = decide_family(
        [evaluate_suite(s, settings_of[i], predictions["old"][i], predictions["new"][i]) for i, s in enumerate(suites)],
        correction,
    )
    afters = decide_family(
        [
            evaluate_suite(s, settings_of[i], predictions["old"][i], predictions["fixed"][i])
            for i, s in enumerate(suites)
        ],
        correction,
    )
    out, after_reports = [], []
    for suite, before, after in zip(suites, befores, afters, strict=True):
        after_reports.append(to_suite_report(after))
        b, a = before.metrics, after.metrics
        delta = a.nfr - b.nfr
        was = {o.id: o.outcome is Outcome.NEGATIVE_FLIP for o in before.outcomes}
        now = {o.id: o.outcome is Outcome.NEGATIVE_FLIP for o in after.outcomes}
        cells = Counter((was[i], now[i]) for i in was)
        ci = paired_difference(cells[True, True], cells[True, False], cells[False, True], cells[False, False])
        out.append(
            SuiteComparison(
                suite=suite.name,
                path=str(suite.path),
                n=b.n,
                acc_old=b.acc_old,
                acc_new=b.acc_new,
                acc_fixed=a.acc_new,
                nf=b.nf,
                nf_c=a.nf,
                nfr=b.nfr,
                nfr_c=a.nfr,
                pfr=b.pfr,
                pfr_c=a.pfr,
                delta_nfr_c=delta,
                delta_pct_nfr_c=delta / b.nfr if b.nfr else None,
                delta_acc_c=a.acc_new - b.acc_new,
                passed_before=before.verdict.passed,
                passed_after=after.verdict.passed,
                reasons_after=after.verdict.reasons,
                delta_nfr_c_ci=(ci.low, ci.high),
            )
        )
    return FixComparison(tuple(out), tuple(after_reports), infos["old"], infos["new"], infos["fixed"])
