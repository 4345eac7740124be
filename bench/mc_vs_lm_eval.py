"""Multiple-choice scoring: muscle-guard's hf backend against lm-evaluation-harness on the same instances.

SmolLM2-135M-Instruct (fp32, CPU) scores the QuaRTz suite (suites/quartz.jsonl), 2 choices per instance:
1. scoring, interleaved: lm-eval's HFLM exactly as `--model hf` builds it (batch 16; a long-lived process in
   lm-eval's own venv, the anchor) and muscle-guard's `predict_suite` (automatic batch, this process) take
   turns on chunks of --chunk instances, alternating which goes first, so both see the same machine load.
   Wall and CPU seconds per side; CPU seconds are the steadier number on a shared machine.
2. end to end, back to back: `lm_eval run --model hf ... --tasks muscle_quartz --log_samples` (the custom
   task bench/lm_eval_tasks/muscle_quartz.yaml holds the very same prompts and choices) against
   `muscle-guard predict` (cold cache), interpreter start to exit. Agreement is measured against the samples
   this lm-eval run logs: chosen answer per instance, accuracy, max |Δ loglik|.
3. muscle-guard only: a warm rerun served from the prediction cache against the cold run, and a baseline file
   as old side against the live model (load included).

Setup (once; lm-eval must not go into the project venv):
    python -m venv .muscle-cache/bench/lmeval-venv
    .muscle-cache/bench/lmeval-venv/bin/pip install -c constraints.txt torch==2.13.0 'lm-eval[hf]==0.4.*' \\
        transformers==5.23.0
Run from the repository root (not in CI):
    python bench/mc_vs_lm_eval.py [--threads 1] [--chunk 100] [--rounds 1] [--limit 500]
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
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muscle_guard.backends import load_backend
from muscle_guard.backends.base import Backend, RunOptions
from muscle_guard.backends.hf.scoring import special_prefix
from muscle_guard.baseline import read_baseline, write_baseline
from muscle_guard.cache import PredictionCache
from muscle_guard.config import SuiteSettings
from muscle_guard.demo.assets import smollm2_135m_dir
from muscle_guard.modelref import parse_model_ref
from muscle_guard.pipeline import predict_suite
from muscle_guard.suite import Instance, Suite, load_suite

ROOT = Path(__file__).resolve().parent.parent
LMEVAL_PYTHON = ROOT / ".muscle-cache/bench/lmeval-venv/bin/python"
TASKS = ROOT / "bench/lm_eval_tasks"
TASK = "muscle_quartz"
LMEVAL_BATCH = 16
SERVER_LOG = ROOT / ".muscle-cache/bench/lm-eval-server.log"
Scores = dict[str, tuple[float, ...]]

# Runs lm-eval's own command line, timing HFLM's construction (model load) and its loglikelihood call (scoring).
DRIVER = """
import json, sys, time
start = time.perf_counter()
from lm_eval.models.huggingface import HFLM
times = {"load": 0.0, "score": 0.0}
init, loglikelihood = HFLM.__init__, HFLM.loglikelihood
def timed_init(self, *args, **kwargs):
    t = time.perf_counter(); init(self, *args, **kwargs); times["load"] += time.perf_counter() - t
def timed_loglikelihood(self, *args, **kwargs):
    t = time.perf_counter(); out = loglikelihood(self, *args, **kwargs)
    times["score"] += time.perf_counter() - t; return out
HFLM.__init__, HFLM.loglikelihood = timed_init, timed_loglikelihood
report, sys.argv = sys.argv[1], ["lm_eval", *sys.argv[2:]]
from lm_eval.__main__ import cli_evaluate
try:
    cli_evaluate()
finally:
    times["in_process"] = time.perf_counter() - start
    json.dump(times, open(report, "w"))
"""

# A long-lived lm-eval process: HFLM as `--model hf` builds it, scoring chunks of (context, continuation)
# requests sent as JSON lines, so that both sides can take turns chunk by chunk on a machine whose load moves.
SERVER = """
import json, sys, time
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
model, batch = sys.argv[1], int(sys.argv[2])
t, c = time.perf_counter(), time.process_time()
lm = HFLM(pretrained=model, dtype="float32", device="cpu", batch_size=batch)
plain = lm.tokenizer("muscle", add_special_tokens=False)["input_ids"]
print(json.dumps({"load": time.perf_counter() - t, "load_cpu": time.process_time() - c,
                  "prefix": lm.tok_encode("muscle")[: -len(plain)] if plain else []}), flush=True)
for line in sys.stdin:
    pairs = json.loads(line)
    requests = [Instance("loglikelihood", {}, (ctx, cont), i) for i, (ctx, cont) in enumerate(pairs)]
    t, c = time.perf_counter(), time.process_time()
    out = lm.loglikelihood(requests)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall": wall, "cpu": cpu, "ll": [float(r[0]) for r in out]}), flush=True)
"""


@dataclass
class Clock:
    """Wall and CPU seconds, summed over the pieces of one measurement."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)


@contextmanager
def clocked(clock: Clock) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    clock.add(time.perf_counter() - wall, time.process_time() - cpu)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def argmax(row: Sequence[float]) -> int:
    return max(range(len(row)), key=row.__getitem__)  # first maximum, as numpy.argmax in lm-eval


def env_for(threads: int | None) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class LmEvalServer:
    """The long-lived lm-eval process of SERVER."""

    def __init__(self, python: Path, model: Path, threads: int | None) -> None:
        self.process = subprocess.Popen(
            [str(python), "-c", SERVER, str(model), str(LMEVAL_BATCH)],
            cwd=ROOT, env=env_for(threads), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=SERVER_LOG.open("w"),
            text=True,
        )  # fmt: skip
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"the lm-eval server stopped ({self.process.wait()}); see {SERVER_LOG}")
        out: dict[str, Any] = json.loads(line)
        return out

    def score(self, instances: Sequence[Instance], clock: Clock) -> Scores:
        assert self.process.stdin is not None
        pairs = [(i.prompt or "", c) for i in instances for c in i.choices]
        self.process.stdin.write(json.dumps(pairs) + "\n")
        self.process.stdin.flush()
        reply = self._read()
        clock.add(reply["wall"], reply["cpu"])
        values = iter(reply["ll"])
        return {i.id: tuple(next(values) for _ in i.choices) for i in instances}

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def run_lm_eval(
    python: Path, model: Path, limit: int, out: Path, threads: int | None
) -> tuple[dict[str, float], Scores]:
    """One `lm_eval run`; its timings (load, scoring, wall, CPU) and its logged per-choice log-likelihoods by id."""
    command = [
        str(python), "-c", DRIVER, str(out / "times.json"), "run", "--model", "hf",
        "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu", "--batch_size", str(LMEVAL_BATCH),
        "--tasks", TASK, "--include_path", str(TASKS), "--log_samples", "--output_path", str(out / "lm-eval"),
    ]  # fmt: skip
    if limit:
        command += ["--limit", str(limit)]
    env = env_for(threads)
    env["HF_HOME"] = str(out / "hf-home")  # the json dataset is prepared afresh, as on a first run
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"lm-eval failed ({done.returncode}):\n{done.stderr[-4000:]}")
    times = json.loads((out / "times.json").read_text())
    times.update(wall=wall, cpu=cpu)
    (samples,) = (out / "lm-eval").rglob(f"samples_{TASK}_*.jsonl")
    scores: Scores = {}
    for line in samples.read_text().splitlines():
        record = json.loads(line)
        scores[record["doc"]["id"]] = tuple(float(r[0]) for r in record["filtered_resps"])
    return times, scores


def run_cli(model: Path, suite: Suite, out: Path, threads: int | None) -> tuple[float, float]:
    """`muscle-guard predict` end to end with an empty cache: (wall, CPU) seconds, interpreter start included."""
    lines = suite.path.read_text(encoding="utf-8").splitlines(keepends=True)
    path = out / suite.path.name  # the same instances as the lm-eval task (all of them, or the first --limit)
    path.write_text("".join(lines[: suite.instances[-1].line]), encoding="utf-8")
    command = [
        str(Path(sys.executable).with_name("muscle-guard")), "predict", str(model), str(path),
        "-o", str(out / "cli-baseline.jsonl"), "--cache-dir", str(out / "cli-cache"),
        "--device", "cpu", "--dtype", "float32", "--pyproject", str(out / "none.toml"),
    ]  # fmt: skip
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env_for(threads), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"muscle-guard predict failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return time.perf_counter() - start, children_cpu() - cpu


def load(model: Path) -> Backend:
    return load_backend(parse_model_ref(str(model)), RunOptions(device="cpu", dtype="float32", progress=False))


def part(suite: Suite, instances: Sequence[Instance]) -> Suite:
    return Suite(suite.name, suite.path, suite.shape, tuple(instances))


def agreement(ours: Scores, theirs: Scores, suite: Suite) -> list[str]:
    answers = {i.id: int(i.answer) for i in suite.instances}  # type: ignore[arg-type]
    ids = [i.id for i in suite.instances]
    same = [i for i in ids if argmax(ours[i]) == argmax(theirs[i])]
    diffs = [abs(a - b) for i in ids for a, b in zip(ours[i], theirs[i], strict=True)]
    worst = max(ids, key=lambda i: max(abs(a - b) for a, b in zip(ours[i], theirs[i], strict=True)))
    margin = min(ids, key=lambda i: abs(theirs[i][0] - theirs[i][1]) if len(theirs[i]) == 2 else float("inf"))
    acc_ours = sum(argmax(ours[i]) == answers[i] for i in ids) / len(ids)
    acc_theirs = sum(argmax(theirs[i]) == answers[i] for i in ids) / len(ids)
    lines = [
        f"chosen answer agrees on {len(same)}/{len(ids)} instances ({len(same) / len(ids):.1%}); "
        f"acc ours {acc_ours:.3f}, lm-eval {acc_theirs:.3f}",
        f"|Δ loglik| over {len(diffs)} choices: max {max(diffs):.2e} ({worst}), mean {statistics.mean(diffs):.2e}; "
        f"closest lm-eval decision {margin}, margin {abs(theirs[margin][0] - theirs[margin][1]):.2e}",
    ]
    lines += [f"  disagree {i}: ours {ours[i]} lm-eval {theirs[i]}" for i in ids if i not in same]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", type=Path, default=ROOT / "suites/quartz.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="first N instances only (default: all)")
    parser.add_argument("--chunk", type=int, default=100, help="instances per turn in the interleaved scoring")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the end-to-end and cache measurements")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both sides (default: torch's)")
    parser.add_argument("--lm-eval-python", type=Path, default=LMEVAL_PYTHON)
    args = parser.parse_args()
    if not args.lm_eval_python.is_file():
        sys.exit(f"{args.lm_eval_python}: no lm-eval venv; see this script's docstring")
    if args.suite.resolve() != (ROOT / "suites/quartz.jsonl").resolve():
        sys.exit("the lm-eval task reads suites/quartz.jsonl; edit bench/lm_eval_tasks/muscle_quartz.yaml too")
    import torch
    import transformers  # noqa: F401 - imported before any timing, as lm-eval's side has it imported

    if args.threads:
        torch.set_num_threads(args.threads)
    model = smollm2_135m_dir()
    full = load_suite(args.suite)
    suite = part(full, full.instances[: args.limit]) if args.limit else full
    settings = SuiteSettings()
    n = len(suite)
    print(f"{n} instances, {sum(len(i.choices) for i in suite.instances)} log-likelihood requests; {model}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores", flush=True)
    loads = [load_average()]

    # 1. Scoring, interleaved chunk by chunk.
    lm_load, our_load, lm_score, our_score = Clock(), Clock(), Clock(), Clock()
    server = LmEvalServer(args.lm_eval_python, model, args.threads)
    lm_load.add(server.hello["load"], server.hello["load_cpu"])
    with clocked(our_load):
        backend = load(model)
    theirs_live: Scores = {}
    ours: Scores = {}
    chunks = [suite.instances[i : i + args.chunk] for i in range(0, n, args.chunk)]
    for k, chunk in enumerate(chunks):

        def lm_turn(chunk: Sequence[Instance] = chunk) -> None:
            theirs_live.update(server.score(chunk, lm_score))

        def our_turn(chunk: Sequence[Instance] = chunk) -> None:
            with clocked(our_score):
                result = predict_suite(backend, part(suite, chunk), settings, progress=False)
            ours.update({i.id: tuple(result.predictions[i.id].logliks or ()) for i in chunk})

        for turn in (lm_turn, our_turn) if k % 2 == 0 else (our_turn, lm_turn):
            turn()
        print(
            f"chunk {k + 1}/{len(chunks)}: lm-eval {lm_score.wall[-1]:.1f} s, ours {our_score.wall[-1]:.1f} s",
            flush=True,
        )
    server.close()
    backend.close()
    loads.append(load_average())
    from transformers import AutoTokenizer

    prefix = special_prefix(AutoTokenizer.from_pretrained(str(model)))

    # 2. End to end, and 3. cache and baseline, per round.
    lm_e2e, our_e2e, frozen = Clock(), Clock(), Clock()
    cold, cold_score, warm, warm_score = Clock(), Clock(), Clock(), Clock()
    theirs: Scores = {}
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="mc-bench-") as tmp:
            out = Path(tmp)

            def lm_side(out: Path = out) -> None:
                nonlocal theirs
                times, theirs = run_lm_eval(args.lm_eval_python, model, args.limit, out, args.threads)
                lm_e2e.add(times["wall"], times["cpu"])
                print(f"lm_eval run: {json.dumps({k: round(v, 1) for k, v in times.items()})}", flush=True)

            def our_side(out: Path = out) -> None:
                our_e2e.add(*run_cli(model, suite, out, args.threads))
                print(f"muscle-guard predict: {our_e2e.wall[-1]:.1f} s, CPU {our_e2e.cpu[-1]:.1f} s", flush=True)

            for side in (lm_side, our_side) if round_ % 2 == 0 else (our_side, lm_side):
                side()
                loads.append(load_average())

            cache = PredictionCache(out / "cache")
            with clocked(cold):
                backend = load(model)
                with clocked(cold_score):
                    result = predict_suite(backend, suite, settings, cache=cache, progress=False)
            backend.close()
            with clocked(warm):
                backend = load(model)
                with clocked(warm_score):
                    again = predict_suite(backend, suite, settings, cache=cache, progress=False)
            assert again.from_cache == n
            assert again.predictions == result.predictions
            path = out / "baseline.jsonl"
            write_baseline(path, backend.info, [(suite, settings, result)])
            backend.close()
            with clocked(frozen):
                old_side = predict_suite(read_baseline(path), suite, settings)
            assert old_side.predictions == result.predictions
            loads.append(load_average())

    def row(label: str, clock: Clock, anchor: Clock | None, instances: int = 0) -> None:
        w, c = sum(clock.wall), sum(clock.cpu)
        per = f"{instances / w:8.2f}" if instances else " " * 8
        if anchor:
            ratios = f"{sum(anchor.wall) / w:7.2f}× | {sum(anchor.cpu) / max(c, 1e-9):7.2f}×"
        else:
            ratios = f"{'anchor':>8} | {'anchor':>8}"
        print(f"| {label:<50} | {w:9.2f} | {c:9.2f} | {per} | {ratios} |")

    print(
        f"\nload average (1, 5, 15 min) at start, after the interleaved scoring and after each later step: {' | '.join(loads)}"
    )
    print(
        f"\n| {'measurement (same run)':<50} | {'wall s':>9} | {'CPU s':>9} | {'inst/s':>8} | {'wall ×':>8} | {'CPU ×':>8} |"
    )
    print(f"|{'-' * 52}|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")
    r = args.rounds
    row(f"lm-eval HFLM loglikelihood, {len(chunks)} interleaved chunks", lm_score, None, n)
    row("ours predict_suite, the same chunks", our_score, lm_score, n)
    row("lm-eval HFLM construction (model load)", lm_load, None)
    row("ours load_backend (weights hashed)", our_load, lm_load)
    row(f"lm_eval run, whole process ({r} run(s))", lm_e2e, None, n * r)
    row("muscle-guard predict, whole process", our_e2e, lm_e2e, n * r)
    row("cold: load + predict_suite, empty cache", cold, None, n * r)
    row("warm: load + predict_suite, all from the cache", warm, cold, n * r)
    row("cold predict_suite alone (load excluded)", cold_score, None, n * r)
    row("warm predict_suite alone (load excluded)", warm_score, cold_score, n * r)
    row("live old side: load + predict_suite (= cold)", cold, None, n * r)
    row("baseline old side: read_baseline + predict_suite", frozen, cold, n * r)
    print(f"\nBOS: ours prepends {prefix}, lm-eval's HFLM prepends {server.hello['prefix']}")
    print("ours (interleaved) vs the samples logged by `lm_eval run --log_samples`:")
    for line in agreement(ours, theirs, suite):
        print("  " + line)
    print("ours vs lm-eval's HFLM in the interleaved run:")
    for line in agreement(ours, theirs_live, suite):
        print("  " + line)


if __name__ == "__main__":
    main()
