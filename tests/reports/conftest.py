"""Run reports built in code for the report tests, and headless Chromium for the browser tests.

Chromium comes from Debian (`apt-get install -y chromium`, /usr/bin/chromium); the browser tests skip with a
reason naming that command when it is missing. MUSCLE_GUARD_CHROMIUM overrides the binary.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.core.backend import ModelInfo
from muscle_guard.core.config import Gates, SuiteSettings
from muscle_guard.core.evaluate import compare_predictions
from muscle_guard.core.flips import InstanceOutcome, compare, compute_metrics, metrics_by_tag
from muscle_guard.core.gates import evaluate_gates
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.report import RunReport, SuiteReport, write_report
from muscle_guard.core.scoring import Judgement
from muscle_guard.core.suite import Instance, Shape

OLD = ModelInfo(ref="base-v1+adapter", kind="peft", fingerprint="f1", details={"base": "base-v1"})
NEW = ModelInfo(ref="base-v2+adapter", kind="peft", fingerprint="f2", details={"base": "base-v2"})


# --- small hand-built runs ------------------------------------------------------------------------


def mc(
    id_: str, old_pick: int, new_pick: int, *, tags: tuple[str, ...] = (), prompt: str | None = None
) -> InstanceOutcome:
    """A two-choice instance whose right answer is choice 0 ("yes")."""
    item = Instance(
        id=id_, shape=Shape.MULTIPLE_CHOICE, prompt=prompt or f"{id_}?", choices=("yes", "no"), answer=0, tags=tags
    )
    lls = {0: (-0.1, -1.0), 1: (-1.0, -0.1)}
    old, new = Prediction(id_, logliks=lls[old_pick]), Prediction(id_, logliks=lls[new_pick])
    settings = SuiteSettings()
    return compare_predictions(item, settings, old, new)


def summary(id_: str, old: float, new: float) -> InstanceOutcome:
    item = Instance(id=id_, shape=Shape.GENERATE_SCORE, prompt="Summarise.", reference="ref")
    return compare(
        item, Judgement("o", old >= 1, old), Judgement("n", new >= 1, new), continuous=True, epsilon=0.0,
        new_evidence=Prediction(id_, text="n"),
    )  # fmt: skip


def suite_report(
    outcomes: Sequence[InstanceOutcome],
    *,
    name: str = "sarcasm",
    shape: Shape | None = None,
    settings: SuiteSettings | None = None,
    keep_outcomes: bool = True,
) -> SuiteReport:
    continuous = any(o.delta is not None for o in outcomes)
    settings = settings or SuiteSettings(gates=Gates(), epsilon=0.0)
    metrics = compute_metrics(outcomes, continuous=continuous, epsilon=settings.epsilon)
    return SuiteReport(
        name=name,
        path=f"suites/{name}.jsonl",
        shape=shape or (Shape.GENERATE_SCORE if continuous else Shape.MULTIPLE_CHOICE),
        suite_hash="abc123",
        settings=settings,
        metrics=metrics,
        verdict=evaluate_gates(metrics, settings.gates),
        slices=metrics_by_tag(outcomes, continuous=continuous, epsilon=settings.epsilon),
        outcomes=tuple(outcomes) if keep_outcomes else (),
    )


def run_report(suites: Sequence[SuiteReport] | None = None, **overrides: Any) -> RunReport:
    if suites is None:
        binary = suite_report([mc("a", 0, 0, tags=("easy",)), mc("b", 0, 1, tags=("hard",)), mc("c", 1, 0)])
        scores = suite_report([summary("s1", 0.5, 0.25), summary("s2", 0.25, 0.5)], name="samsum")
        suites = (binary, scores)
    fields: dict[str, Any] = {
        "tool_version": "0.1.0",
        "created_at": "2025-01-02T03:04:05+00:00",
        "old": OLD,
        "new": NEW,
        "suites": tuple(suites),
        "environment": {"python": "3.11.7", "platform": "Linux"},
    }
    return RunReport(**{**fields, **overrides})


# --- a realistic run: four task shapes, tags, evidence --------------------------------------------

_SUBJECTS = ("physics", "biology", "chemistry", "earth-science", "astronomy")
_WORDS = [
    "the",
    "model",
    "answer",
    "question",
    "river",
    "energy",
    "cell",
    "planet",
    "light",
    "water",
    "heat",
    "rock",
    "moon",
    "force",
    "gas",
]


def _pick(rng: random.Random, right: int, width: int, correct: bool) -> int:
    return right if correct else rng.choice([i for i in range(width) if i != right])


def _scores(rng: random.Random, width: int, picked: int) -> list[float]:
    values = [rng.uniform(-9.0, -3.0) for _ in range(width)]
    values[picked] = max(values) + rng.uniform(0.05, 2.5)
    return values


def _flip_pair(rng: random.Random, p_old: float, keep: float, gain: float, compatible: float) -> tuple[bool, bool]:
    old = rng.random() < p_old
    new, fixed = rng.random() < (keep if old else gain), rng.random() < compatible
    return old, new or (old and fixed)


def realistic_run(
    n: int = 300, seed: int = 0, *, compatible: float = 0.0, kind: str = "check", fix: dict[str, Any] | None = None
) -> RunReport:
    """About what a SmolLM → SmolLM2 upgrade of four adapters looks like: accuracy up, a few % negative flips.
    `compatible` (0..1) removes that share of the negative flips, as a compatibility adapter would.
    """
    rng = random.Random(seed)
    gates = Gates(max_nfr=0.02)
    suites = []

    settings = SuiteSettings(gates=gates)
    outcomes = []
    for i in range(n):
        subject = _SUBJECTS[i % len(_SUBJECTS)]
        choices = tuple(f" {' '.join(rng.sample(_WORDS, 3))}" for _ in range(4))
        item = Instance(id=f"arc-{i:04d}", shape=Shape.MULTIPLE_CHOICE, prompt=f"Question ({subject}): which "
                        f"{rng.choice(_WORDS)} explains the {rng.choice(_WORDS)}?\nAnswer:", choices=choices,
                        answer=i % 4, tags=(subject, "hard" if i % 7 == 0 else "easy"))  # fmt: skip
        old_right, new_right = _flip_pair(rng, 0.72, 0.94, 0.4, compatible)
        old = Prediction(item.id, logliks=tuple(_scores(rng, 4, _pick(rng, i % 4, 4, old_right))))
        new = Prediction(item.id, logliks=tuple(_scores(rng, 4, _pick(rng, i % 4, 4, new_right))))
        outcomes.append(compare_predictions(item, settings, old, new))  # fmt: skip
    suites.append(suite_report(outcomes, name="arc-easy", shape=Shape.MULTIPLE_CHOICE, settings=settings))

    settings = SuiteSettings(gates=gates, labels=("negative", "positive"))
    outcomes = []
    for i in range(n):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(4, 30)))
        tags = ("short" if len(words) < 60 else "long", *(("negation",) if i % 5 == 0 else ()))
        item = Instance(id=f"sst2-{i:04d}", shape=Shape.CLASSIFY, text=f"A film about {words}.", label=i % 2, tags=tags)
        old_right, new_right = _flip_pair(rng, 0.86, 0.96, 0.5, compatible)
        preds = []
        for right in (old_right, new_right):
            p = rng.uniform(0.55, 0.99)
            picked = _pick(rng, i % 2, 2, right)
            preds.append(Prediction(item.id, probs=(p, 1 - p) if picked == 0 else (1 - p, p)))
        outcomes.append(compare_predictions(item, settings, preds[0], preds[1]))  # fmt: skip
    suites.append(suite_report(outcomes, name="sst2", shape=Shape.CLASSIFY, settings=settings))

    settings = SuiteSettings(gates=Gates(max_negative_flips=10), normaliser="final_number")
    outcomes = []
    for i in range(n // 2):
        a, b = rng.randint(2, 90), rng.randint(2, 90)
        item = Instance(id=f"gsm-{i:04d}", shape=Shape.GENERATE_EXACT, answer=str(a + b), tags=(f"{1 + i % 3}-step",),
                        prompt=f"Question: Tom has {a} apples and buys {b} more. How many apples does he have?\nAnswer:")  # fmt: skip
        old_right, new_right = _flip_pair(rng, 0.45, 0.85, 0.35, compatible)
        texts = [f" {a} + {b} = {a + b if right else a + b + rng.choice((-10, -1, 1, 2))}. The answer is "
                 f"{a + b if right else a + b + 1}." for right in (old_right, new_right)]  # fmt: skip
        old, new = Prediction(item.id, text=texts[0]), Prediction(item.id, text=texts[1])
        outcomes.append(compare_predictions(item, settings, old, new))  # fmt: skip
    suites.append(suite_report(outcomes, name="gsm8k", shape=Shape.GENERATE_EXACT, settings=settings))

    settings = SuiteSettings(gates=Gates(max_nfr=0.1), epsilon=0.05)
    outcomes = []
    for i in range(n // 3):
        reference = " ".join(rng.choice(_WORDS) for _ in range(12))
        item = Instance(id=f"samsum-{i:04d}", shape=Shape.GENERATE_SCORE, reference=reference,
                        prompt=f"Summarise the dialogue:\nA: {reference}?\nB: yes.\nSummary:", tags=("chat",))  # fmt: skip
        old_s = rng.uniform(0.2, 0.6)
        drift, fixed = rng.gauss(0.03, 0.05), rng.random() < compatible
        new_s = min(1.0, max(0.0, old_s + (abs(drift) if fixed else drift)))
        old_t, new_t = reference[: int(len(reference) * old_s)], reference[: int(len(reference) * new_s)]
        old, new = Prediction(item.id, text=old_t), Prediction(item.id, text=new_t)
        outcomes.append(compare(item, Judgement(old_t, False, old_s), Judgement(new_t, False, new_s), continuous=True,
                                epsilon=settings.epsilon, prompt=item.prompt, reference=reference,
                                old_evidence=old, new_evidence=new))  # fmt: skip
    suites.append(suite_report(outcomes, name="samsum", shape=Shape.GENERATE_SCORE, settings=settings))
    old_model = ModelInfo(ref="adapters/smollm-135m-tasks", kind="peft", fingerprint="3f9c1a0b7d2e")
    new_model = ModelInfo(ref="adapters/smollm2-135m-tasks", kind="peft", fingerprint="a81d44c90e15")
    return run_report(suites, old=old_model, new=new_model, kind=kind, fix=fix,
                      environment={"python": "3.11.7", "torch": "2.5.1", "transformers": "4.46.0"})  # fmt: skip


def fix_section(before: RunReport, after: RunReport) -> dict[str, Any]:
    """A fix section in the shape `muscle_guard.fix` records (SuiteComparison rows)."""
    rows = []
    for b, a in zip(before.suites, after.suites, strict=True):
        rows.append({
            "suite": b.name, "path": b.path, "n": b.metrics.n, "acc_old": b.metrics.acc_old,
            "acc_new": b.metrics.acc_new, "acc_fixed": a.metrics.acc_new, "nf": b.metrics.nf, "nf_c": a.metrics.nf,
            "nfr": b.metrics.nfr, "nfr_c": a.metrics.nfr, "pfr": b.metrics.pfr, "pfr_c": a.metrics.pfr,
            "delta_nfr_c": a.metrics.nfr - b.metrics.nfr, "delta_pct_nfr_c": None,
            "delta_acc_c": a.metrics.acc_new - b.metrics.acc_new, "passed_before": b.verdict.passed,
            "passed_after": a.verdict.passed, "reasons_after": list(a.verdict.reasons),
        })  # fmt: skip
    return {"suites": rows, "passed": all(r["passed_after"] for r in rows)}


@pytest.fixture
def save(tmp_path: Path) -> Callable[[RunReport, str], Path]:
    """Write a report as JSON under tmp_path and return its path."""

    def write(report: RunReport, name: str = "run.json") -> Path:
        path = tmp_path / name
        write_report(report, path)
        return path

    return write


# --- headless Chromium ----------------------------------------------------------------------------

APT_COMMAND = "apt-get update && apt-get install -y chromium"


def chromium_binary() -> str | None:
    explicit = os.environ.get("MUSCLE_GUARD_CHROMIUM")
    if explicit:
        return shutil.which(explicit)
    for name in ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def chromium(tmp_path: Path) -> Callable[..., str]:
    """`chromium(html_path, screenshot=None, fragment="")`: the DOM after scripts ran (and a PNG when asked)."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip(f"headless Chromium not found (install it with `{APT_COMMAND}`)")

    def run(page: Path, *, screenshot: Path | None = None, fragment: str = "", size: str = "1280,2000") -> str:
        profile = tmp_path / f"chromium-profile-{len(list(tmp_path.glob('chromium-profile-*')))}"
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={size}",
        ]  # fmt: skip
        url = page.resolve().as_uri() + fragment
        if screenshot is not None:
            _chromium(binary, [*flags, f"--screenshot={screenshot}", url])
        return _chromium(binary, [*flags, "--virtual-time-budget=2000", "--dump-dom", url])

    return run


def _chromium(binary: str, args: list[str]) -> str:
    try:
        done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=90, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("headless Chromium did not finish within 90 s")
    if done.returncode != 0:
        pytest.fail(f"chromium exited with {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout
