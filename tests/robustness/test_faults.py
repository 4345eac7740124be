"""Faults: runs killed half-way (SIGKILL, no chance to clean up) resume to the very result of an uninterrupted
run, and two runs sharing one cache at the same time neither corrupt it nor compute the same predictions twice.

The prediction runs use `slow:`, a test backend installed through the `muscle_guard.backends` entry point (a
`.dist-info` on PYTHONPATH, as a plugin package would be): the fake backend, sleeping before each batch and
logging how many instances it computed, so a run can be caught between two cache appends.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from muscle_guard.core.pipeline import DEFAULT_CHUNK
from muscle_guard.testing import tiny_models as tm
from tests.robustness.conftest import SUBPROCESS_ENV, Project, TinyModels, assert_no_traceback, muscle_guard_process

CHECKPOINT_FILES = ("adapter_config.json", "adapter_model.safetensors", "trainer_state.json", "training_state.pt")
N = 5 * DEFAULT_CHUNK  # five cache appends per model and suite
FLIPPED = {7, 300, 555}  # instances the new model gets wrong

SLOW_BACKEND = '''
"""`slow:ANSWERS.json`: the fake backend, sleeping SLOW_DELAY seconds per batch and logging each batch's size."""
import os
import time

from muscle_guard.backends.fake import load as load_fake


class Slow:
    def __init__(self, inner):
        self.inner = inner

    @property
    def info(self):
        return self.inner.info

    def _batch(self, n):
        time.sleep(float(os.environ.get("SLOW_DELAY", "0.15")))
        with open(os.environ["SLOW_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{n}\\n")

    def score_choices(self, requests):
        self._batch(len(requests))
        return self.inner.score_choices(requests)

    def generate(self, requests):
        self._batch(len(requests))
        return self.inner.generate(requests)

    def classify(self, texts):
        self._batch(len(texts))
        return self.inner.classify(texts)

    def close(self):
        pass


def load(ref, options):
    return Slow(load_fake(ref, options))
'''


@pytest.fixture(scope="module")
def slow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a process that has the `slow:` backend installed."""
    site = tmp_path_factory.mktemp("slow-plugin")
    (site / "slowfake.py").write_text(SLOW_BACKEND, encoding="utf-8")
    info = site / "slowfake-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: slowfake\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[muscle_guard.backends]\nslow = slowfake:load\n", encoding="utf-8")
    return {**SUBPROCESS_ENV, "PYTHONPATH": f"{site}{os.pathsep}{SUBPROCESS_ENV['PYTHONPATH']}"}


@dataclass(frozen=True)
class Workspace:
    path: Path
    env: dict[str, str]

    def command(self, kind: str, cache: str, out: str) -> list[str]:
        if kind == "pytest":
            return [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                "--muscle-old=slow:models/old.json", "--muscle-new=slow:models/new.json",
                f"--muscle-cache-dir={cache}", f"--muscle-report={out}", "suites",
            ]  # fmt: skip
        return [sys.executable, "-m", "muscle_guard.cli", "predict", "slow:models/old.json", "suites", "-o", out,
                "--cache-dir", cache]  # fmt: skip

    def start(self, kind: str, cache: str, out: str, log: str) -> subprocess.Popen[str]:
        env = {**self.env, "SLOW_LOG": str(self.path / log)}
        return subprocess.Popen(
            self.command(kind, cache, out), cwd=self.path, env=env, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def run(self, kind: str, cache: str, out: str, log: str) -> str:
        process = self.start(kind, cache, out, log)
        output, _ = process.communicate(timeout=120)
        assert process.returncode in (0, 1), output  # 1: the suite's flips fail the gate, as they should
        assert "Traceback" not in output
        return output

    def computed(self, log: str) -> int:
        """Instances the backend computed in the runs that logged to `log`."""
        path = self.path / log
        return sum(int(n) for n in path.read_text(encoding="utf-8").split()) if path.exists() else 0


@pytest.fixture
def workspace(tmp_path: Path, slow_env: dict[str, str]) -> Workspace:
    """One suite of N questions; the new model flips a few of them."""
    prompts = [f"Question {i}: is this right?" for i in range(N)]
    lines = [{"id": f"q{i}", "prompt": p, "choices": [" yes", " no"], "answer": 0} for i, p in enumerate(prompts)]
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites/big.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    (tmp_path / "models").mkdir()
    old = dict.fromkeys(prompts, 0)
    new = {**old, **{prompts[i]: 1 for i in FLIPPED}}
    for name, answers in (("old", old), ("new", new)):
        (tmp_path / f"models/{name}.json").write_text(json.dumps({"answers": answers}), encoding="utf-8")
    return Workspace(tmp_path, slow_env)


def cache_lines(cache: Path, torn: bool = False) -> dict[str, int]:
    """Whole records per cache file (by model directory); with `torn`, the lines that are not one instead (a
    kill mid-append can leave one, which the cache skips and recomputes)."""
    counts = {}
    for path in sorted(cache.rglob("*.jsonl")):
        whole = 0
        lines = path.read_bytes().splitlines()
        for line in lines:
            with contextlib.suppress(ValueError):
                whole += set(json.loads(line)) == {"k", "p"}
        counts[path.parent.name] = len(lines) - whole if torn else whole
    return counts


def newlines(cache: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in cache.rglob("*.jsonl")) if cache.exists() else 0


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"finished before the condition held:\n{process.communicate()[0]}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "created_at"}


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("kind", ["pytest", "predict"])
def test_a_prediction_run_killed_half_way_resumes_to_the_same_report(workspace: Workspace, kind: str) -> None:
    out = "report.json" if kind == "pytest" else "baseline.jsonl"
    straight = workspace.start(kind, "cache-straight", f"straight-{out}", "straight.log")  # alongside, uninterrupted
    killed = workspace.start(kind, "cache", out, "killed.log")
    cache = workspace.path / "cache"

    wait_for(lambda: newlines(cache) > 0, killed)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    done = sum(cache_lines(cache).values())
    assert 0 < done < (2 * N if kind == "pytest" else N)  # old and new, or the one model predicted
    assert not (workspace.path / out).exists()
    assert not list(workspace.path.glob(f".{out}*"))  # no temporary file left either
    output, _ = straight.communicate(timeout=120)
    assert straight.returncode in (0, 1), output

    workspace.run(kind, "cache", out, "resumed.log")

    assert workspace.computed("killed.log") + workspace.computed("resumed.log") <= (
        workspace.computed("straight.log") + DEFAULT_CHUNK  # at most the batch the kill interrupted is redone
    )
    if kind == "pytest":
        assert without_time(read_json(workspace.path / out)) == without_time(
            read_json(workspace.path / f"straight-{out}")
        )
    else:
        assert (workspace.path / out).read_bytes() == (workspace.path / f"straight-{out}").read_bytes()
    assert cache_lines(cache) == cache_lines(workspace.path / "cache-straight")


def test_two_runs_sharing_a_cache_compute_each_prediction_once(workspace: Workspace) -> None:
    runs = [workspace.start("pytest", "cache", f"report-{i}.json", f"run-{i}.log") for i in (1, 2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]

    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 1, output  # the three flips fail the gate
        assert "Traceback" not in output
    assert cache_lines(workspace.path / "cache") == {
        d.name: N for d in (workspace.path / "cache/predictions").iterdir()
    }
    assert set(cache_lines(workspace.path / "cache", torn=True).values()) == {0}
    assert len(list((workspace.path / "cache/predictions").iterdir())) == 2  # old and new
    computed = workspace.computed("run-1.log") + workspace.computed("run-2.log")
    assert 2 * N <= computed <= 2 * N + DEFAULT_CHUNK
    one, two = (read_json(workspace.path / f"report-{i}.json") for i in (1, 2))
    assert without_time(one) == without_time(two)
    assert one["suites"][0]["metrics"]["nf"] == len(FLIPPED)


# --- fix killed after its first checkpoint --------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierPair:
    old: Path
    new: Path
    train: Path


@pytest.fixture(scope="module")
def classifier_pair(tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> ClassifierPair:
    root = tmp_path_factory.mktemp("fix-pair")
    old_base = tm.build_classifier(root / "old-base", tiny.tokenizer, seed=1, max_positions=64)
    new_base = tm.build_classifier(root / "new-base", tiny.tokenizer, seed=2, max_positions=64)
    positive, negative = ("good", "great", "happy", "fine"), ("bad", "terrible", "sad", "angry")
    nouns = ("movie", "film", "book", "food", "city", "river")
    rows = [
        {"id": f"t{i}", "text": f"the {noun} was {word}", "label": int(word in positive)}
        for i, (noun, word) in enumerate(itertools.product(nouns, positive + negative))
    ]
    train = root / "train.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return ClassifierPair(
        old=tm.add_lora_adapter(old_base, root / "old", seed=1),
        new=tm.add_lora_adapter(new_base, root / "new", seed=2),
        train=train,
    )


@pytest.mark.slow  # three `fix` processes (about 10 s each on a busy 2-core machine)
def test_a_fix_killed_after_its_first_checkpoint_resumes_to_the_same_adapter(
    classifier_pair: ClassifierPair, tmp_path: Path
) -> None:
    def command(out: str, *extra: str) -> list[str]:
        return [
            sys.executable, "-m", "muscle_guard.cli", "fix", "--old", str(classifier_pair.old),
            "--new", str(classifier_pair.new), "--train", str(classifier_pair.train), "--out", out,
            "--epochs", "2", "--batch-size", "4", "--grad-accum", "2", "--lr", "1e-2", "--device", "cpu",
            "--pyproject", "none.toml", *extra,
        ]  # fmt: skip

    def start(out: str, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            command(out, *extra), cwd=tmp_path, env=SUBPROCESS_ENV, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip

    straight, killed = start("straight"), start("resumed")
    first = tmp_path / "resumed/checkpoints/epoch-1"
    wait_for(first.exists, killed, timeout=240)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "resumed/adapter_model.safetensors").exists()  # nothing half-made at OUT itself
    output, _ = straight.communicate(timeout=240)
    assert straight.returncode == 0, output

    resumed = start("resumed", "--resume")
    output, _ = resumed.communicate(timeout=240)

    assert resumed.returncode == 0, output
    assert "fix: resuming from" in output
    assert "Traceback" not in output
    ours = load_file(tmp_path / "resumed/adapter_model.safetensors")
    theirs = load_file(tmp_path / "straight/adapter_model.safetensors")
    assert ours.keys() == theirs.keys()
    # Exact on purpose: both runs are processes on this machine with one thread (SUBPROCESS_ENV), so the same
    # kernels run in the same order; a resume that is bit-exact here is what users get. Nothing here depends
    # on which kernels another CPU picks, since both sides of the comparison pick the same ones.
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    history = [read_json(tmp_path / f"{d}/muscle_fix.json")["epochs"] for d in ("straight", "resumed")]
    assert history[0] == history[1]
    # Every checkpoint is whole; a write the kill interrupted was a hidden temporary directory, which the
    # resumed run swept away.
    for checkpoint in (tmp_path / "resumed/checkpoints").iterdir():
        assert not checkpoint.name.startswith("."), checkpoint
        # The default ships the mean of the last epochs (checkpoints/average: an adapter, no training state).
        whole = set(CHECKPOINT_FILES) if checkpoint.name != "average" else {"adapter_model.safetensors"}
        assert {p.name for p in checkpoint.iterdir()} >= whole, checkpoint


@pytest.mark.slow  # two accelerate launches of a real (tiny) model
def test_predict_over_two_cpu_processes_needs_no_device_option(project: Project, tiny: TinyModels) -> None:
    # With the default device, accelerate's CPU processes report "cpu:0", which used to be refused as a device.
    one = muscle_guard_process(
        "predict", str(tiny.lm_adapter), "suites", "-o", "one.jsonl", "--cache-dir", "c1", cwd=project.path
    )
    two = muscle_guard_process(
        "predict", str(tiny.lm_adapter), "suites", "-o", "two.jsonl", "--cache-dir", "c2", "--num-processes", "2",
        cwd=project.path, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr
    assert two.returncode == 0, two.stderr[-2000:]
    assert_no_traceback(two.stderr)
    first = (project.path / "one.jsonl").read_text(encoding="utf-8").splitlines()
    second = (project.path / "two.jsonl").read_text(encoding="utf-8").splitlines()
    assert second[0] == first[0]
    assert sorted(second[1:]) == sorted(first[1:])
