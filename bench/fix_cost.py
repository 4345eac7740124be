"""The cost of `muscle-guard fix` (MUSCLE) against a plain LoRA fine-tune of the same student on the same data.

The anchor is `--strategy ce`: the very same training loop (student, data, batches, schedule, validation,
checkpoints) with cross-entropy on the ground truth and no teachers. Every variant runs in its own process, so
its memory peaks are its own; per epoch (averaged over the epochs) it reports the training time, the time of
validation + checkpoint, and the peak RSS (psutil, sampled every 5 ms); before training, the time and peak RSS
of loading and preparing (both teachers' outputs) and the teacher cache's size.

Cases:
- classifier: the demo's real pair (paraphrase-MiniLM-L3-v2 → all-MiniLM-L6-v2 + LoRA classifier adapters on
  Rotten Tomatoes, .muscle-cache/demo/, built by `python -m demo.run` or here if missing), its
  fix training data, lr 5e-4 and batch 32 as the demo;
- causal: SmolLM2-135M-Instruct with two LoRA task adapters (q/v, r 8, trained briefly on different QuaRTz
  slices: an adapter update on one base, which shares the tokenizer, so token-level MUSCLE runs), token-level
  MUSCLE on the first --causal-n instances of the QuaRTz fix split, lr 1e-4 and batch 8 (the defaults), with
  the teacher cache as the default budget picks it (`--teacher-cache-gb 0.25`: top-64 here), forced to top-64,
  and with full-vocabulary logits (`--teacher-cache-gb 8`, the old default's behaviour).

Run from the repository root (not in CI):
    python bench/fix_cost.py [--epochs 3] [--threads 1] [--cases classifier,causal] [--causal-n 160]
    python bench/fix_cost.py --cases classifier --strategies muscle,kd-old,old-correct,focal   # issue #7
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".muscle-cache/demo"
WORK = ROOT / ".muscle-cache/bench/fix-cost"
MIB = 1024**2
SAMPLE_S = 0.005


@dataclass(frozen=True)
class Variant:
    case: str
    label: str
    strategy: str
    old: str
    new: str
    train: str
    lr: float
    batch_size: int
    teacher_cache_gb: float = 0.25  # TrainConfig's default


# ---------------------------------------------------------------------------------------------- the worker


class RssSampler:
    """The peak RSS of this process per named phase, sampled by a daemon thread."""

    def __init__(self) -> None:
        import psutil  # type: ignore[import-untyped, unused-ignore]

        self.process = psutil.Process()
        self.phase = "start"
        self.peaks: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        rss = self.process.memory_info().rss
        with self.lock:
            self.peaks[self.phase] = max(self.peaks.get(self.phase, 0), rss)

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_S):
            self._sample()

    def enter(self, phase: str) -> int:
        """Start `phase`; the RSS now."""
        self._sample()
        with self.lock:
            self.phase = phase
        rss: int = self.process.memory_info().rss
        with self.lock:
            self.peaks[phase] = max(self.peaks.get(phase, 0), rss)
        return rss


def tensor_bytes(value: Any) -> int:
    if isinstance(value, tuple | list):
        return sum(tensor_bytes(v) for v in value)
    return int(value.numel() * value.element_size())


def worker(spec: dict[str, Any], epochs: int, report: Path, threads: int | None) -> None:
    import torch

    if threads:
        torch.set_num_threads(threads)
    from muscle_guard.core.backend import RunOptions
    from muscle_guard.fix import run as fix_run
    from muscle_guard.fix.config import TrainConfig
    from muscle_guard.fix.strategies import Strategy
    from muscle_guard.fix.train import Trainer

    variant = Variant(**spec)
    sampler = RssSampler()
    marks: dict[str, Any] = {"epochs": [], "rss_start": sampler.enter("load")}
    start = time.perf_counter()

    @contextmanager
    def phase(name: str) -> Iterator[dict[str, Any]]:
        record: dict[str, Any] = {"rss_before": sampler.enter(name)}
        began, cpu = time.perf_counter(), time.process_time()
        yield record
        record["seconds"] = time.perf_counter() - began
        record["cpu"] = time.process_time() - cpu
        record["peak_rss"] = sampler.peaks[name]

    original_prepare = getattr(fix_run, "prepare")  # noqa: B009 - patched below, like the trainer's methods

    def prepare(*args: Any, **kwargs: Any) -> Any:
        marks["load_seconds"] = time.perf_counter() - start
        marks["load_peak_rss"] = sampler.peaks["load"]
        with phase("prepare") as record:
            prepared = original_prepare(*args, **kwargs)
        cache = prepared.cache
        record["cache_form"] = cache.form
        record["cache_bytes"] = sum(tensor_bytes(v) for store in (cache.old, cache.new) for v in store.values())
        marks["prepare"] = record
        return prepared

    train_epoch, end_epoch = Trainer._train_epoch, Trainer._end_epoch

    def timed_train(self: Trainer, epoch: int) -> None:
        with phase(f"train-{epoch}") as record:
            train_epoch(self, epoch)
        marks["epochs"].append({"train": record})

    def timed_end(self: Trainer, epoch: int) -> None:
        with phase(f"end-{epoch}") as record:
            end_epoch(self, epoch)
        marks["epochs"][-1]["end"] = record

    setattr(fix_run, "prepare", prepare)  # noqa: B010
    Trainer._train_epoch, Trainer._end_epoch = timed_train, timed_end  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="fix-cost-") as tmp:
        config = TrainConfig(
            strategy=Strategy(variant.strategy),
            epochs=epochs,
            lr=variant.lr,
            batch_size=variant.batch_size,
            teacher_cache_gb=variant.teacher_cache_gb,
        )
        request = fix_run.FixRequest(
            old=variant.old, new=variant.new, train=Path(variant.train), out=Path(tmp) / "out", config=config,
            strategy=Strategy(variant.strategy), options=RunOptions(device="cpu", progress=False),
            pyproject=Path(tmp) / "none.toml",
        )  # fmt: skip
        result = fix_run.run_fix(request)
    sampler.stop.set()
    marks["total_seconds"] = time.perf_counter() - start
    marks["ru_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    marks["history"] = result.history
    marks["threads"] = torch.get_num_threads()
    report.write_text(json.dumps(marks, indent=1))


# ------------------------------------------------------------------------------------------- the pairs


def classifier_variants(strategies: list[str]) -> list[Variant]:
    old, new = DEMO / "adapters/old-rotten_tomatoes", DEMO / "adapters/new-rotten_tomatoes"
    train = DEMO / "data/rotten_tomatoes/fix_train.jsonl"
    if not ((old / "adapter_config.json").is_file() and (new / "adapter_config.json").is_file() and train.is_file()):
        from demo.adapters import AdapterRecipe
        from demo.run import prepare

        print("building the demo's classifier pair (demo.run.prepare)", file=sys.stderr, flush=True)
        cwd = Path.cwd()
        os.chdir(ROOT)
        try:
            old, new, train = (ROOT / p for p in prepare(AdapterRecipe()))
        finally:
            os.chdir(cwd)
    ce = Variant("classifier", "ce (plain LoRA)", "ce", str(old), str(new), str(train), lr=5e-4, batch_size=32)
    return [ce, *(replace(ce, label=s, strategy=s) for s in strategies)]


def causal_variants(n: int) -> list[Variant]:
    from demo.assets import model_dir
    from muscle_guard.testing.tiny_models import add_lora_adapter

    base = model_dir("smollm2-135m")
    rows = [json.loads(line) for line in (DEMO / "data/quartz/adapter_train.jsonl").read_text().splitlines()]
    adapters = {}
    for name, seed, part in (("old", 1, rows[:32]), ("new", 2, rows[32:64])):
        out = WORK / f"smollm2-{name}"
        if not (out / "adapter_config.json").is_file():
            pairs = [(r["prompt"], r["choices"][r["answer"]]) for r in part]
            print(f"training the {name} SmolLM2 adapter", file=sys.stderr, flush=True)
            add_lora_adapter(base, out, seed=seed, r=8, train_on=pairs, randomize=False, steps=10)
        adapters[name] = str(out)
    train = WORK / f"quartz-fix-{n}.jsonl"
    lines = (DEMO / "data/quartz/fix_train.jsonl").read_text().splitlines(keepends=True)
    train.write_text("".join(lines[:n]))
    ce = Variant("causal", "ce (plain LoRA)", "ce", adapters["old"], adapters["new"], str(train), lr=1e-4, batch_size=8)
    return [
        ce,
        replace(ce, label="muscle (default budget)", strategy="muscle"),
        replace(ce, label="muscle, top-64 forced", strategy="muscle", teacher_cache_gb=0.0),
        replace(ce, label="muscle, full-vocab cache", strategy="muscle", teacher_cache_gb=8.0),
    ]


# ------------------------------------------------------------------------------------------ the runner


def run_variant(variant: Variant, epochs: int, threads: int | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="fix-cost-report-") as tmp:
        report = Path(tmp) / "report.json"
        env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
        if threads:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        command = [sys.executable, __file__, "--worker", json.dumps(variant.__dict__), "--report", str(report)]
        command += ["--epochs", str(epochs)]
        if threads:
            command += ["--threads", str(threads)]
        started = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{variant.case} {variant.label} failed ({done.returncode}):\n{done.stderr[-4000:]}")
        out: dict[str, Any] = json.loads(report.read_text())
        out["wall"] = time.perf_counter() - started
        return out


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def summarise(r: dict[str, Any]) -> dict[str, float]:
    epochs = r["epochs"]
    return {
        "train_s": statistics.mean(e["train"]["seconds"] for e in epochs),
        "train_cpu": statistics.mean(e["train"]["cpu"] for e in epochs),
        "epoch_s": statistics.mean(e["train"]["seconds"] + e["end"]["seconds"] for e in epochs),
        "epoch_rss": statistics.mean(max(e["train"]["peak_rss"], e["end"]["peak_rss"]) for e in epochs) / MIB,
        "train_start_rss": statistics.mean(e["train"]["rss_before"] for e in epochs) / MIB,
        "prepare_s": r["prepare"]["seconds"],
        "prepare_rss": r["prepare"]["peak_rss"] / MIB,
        "load_rss": r["load_peak_rss"] / MIB,
        "cache_mib": r["prepare"]["cache_bytes"] / MIB,
        "max_rss": r["ru_maxrss"] / MIB,
        "wall": r["wall"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads per run (default: torch's)")
    parser.add_argument("--cases", default="classifier,causal")
    parser.add_argument("--causal-n", type=int, default=160, help="QuaRTz fix instances for the causal case")
    parser.add_argument(
        "--strategies",
        default="muscle",
        help="strategies of the classifier case, each against ce (e.g. muscle,kd-old,old-correct,focal)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker), args.epochs, args.report, args.threads)
        return
    os.chdir(ROOT)
    WORK.mkdir(parents=True, exist_ok=True)
    cases = args.cases.split(",")
    variants = (classifier_variants(args.strategies.split(",")) if "classifier" in cases else []) + (
        causal_variants(args.causal_n) if "causal" in cases else []
    )
    print(f"{args.epochs} epochs per variant, threads {args.threads or 'torch default'}, {os.cpu_count()} cores")
    loads = [load_average()]
    results: dict[tuple[str, str], dict[str, float]] = {}
    raw: dict[str, Any] = {}
    for variant in variants:
        r = run_variant(variant, args.epochs, args.threads)
        loads.append(load_average())
        results[(variant.case, variant.label)] = s = summarise(r)
        raw[f"{variant.case}/{variant.label}"] = r
        print(
            f"{variant.case:<10} {variant.label:<26} epochs {[round(e['train']['seconds'], 1) for e in r['epochs']]} s, "
            f"cache {r['prepare']['cache_form']} {s['cache_mib']:.1f} MiB, val {[round(h['val_loss'], 4) for h in r['history']]}",
            flush=True,
        )
    (WORK / "last-run.json").write_text(json.dumps(raw, indent=1))

    print(f"\nload average (1, 5, 15 min) at start and after each run: {' | '.join(loads)}")
    header = (
        "| case | variant | train s/epoch | ×ce | train CPU s/epoch | ×ce | epoch s (+val, ckpt) | ×ce "
        "| peak RSS/epoch MiB | ×ce "
        "| RSS at epoch start | teacher cache MiB | prepare s | prepare peak MiB | process peak MiB |"
    )
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    for variant in variants:
        s = results[(variant.case, variant.label)]
        ce = results[(variant.case, "ce (plain LoRA)")]
        print(
            f"| {variant.case} | {variant.label} | {s['train_s']:.1f} | {s['train_s'] / ce['train_s']:.2f} "
            f"| {s['train_cpu']:.1f} | {s['train_cpu'] / ce['train_cpu']:.2f} "
            f"| {s['epoch_s']:.1f} | {s['epoch_s'] / ce['epoch_s']:.2f} | {s['epoch_rss']:.0f} "
            f"| {s['epoch_rss'] / ce['epoch_rss']:.2f} | {s['train_start_rss']:.0f} | {s['cache_mib']:.1f} "
            f"| {s['prepare_s']:.1f} | {s['prepare_rss']:.0f} | {s['max_rss']:.0f} |"
        )


if __name__ == "__main__":
    main()
