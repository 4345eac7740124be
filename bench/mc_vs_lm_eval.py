"""Multiple-choice scoring: muscle-guard's hf backend against lm-evaluation-harness on the same instances.

SmolLM2-135M-Instruct (fp32, CPU) scores each of three suites, one after the other (--suites):
- quartz: suites/quartz.jsonl, 2 choices of a few words;
- socialiqa: bench/suites/socialiqa.jsonl, 3 choices of a few words (built by bench/mc_suites.py);
- mmlu: bench/suites/mmlu.jsonl, 4 one-token letter choices (the same prompt tokens for every choice).
Each suite has its lm-eval task in bench/lm_eval_tasks/ (muscle_<suite>.yaml) with the very same prompts
and choices. Per suite:
1. scoring, interleaved: lm-eval's HFLM exactly as `--model hf` builds it (batch 16; a long-lived process in
   lm-eval's own venv, the anchor) and muscle-guard's `predict_suite` (automatic batch, this process) take
   turns on chunks of --chunk instances, alternating which goes first, so both see the same machine load.
   Wall and CPU seconds per side; CPU seconds are the steadier number on a shared machine.
2. end to end, back to back: `lm_eval run --model hf ... --tasks muscle_quartz --log_samples` (the custom
   task holds the very same prompts and choices) against
   `muscle-guard predict` (cold cache), interpreter start to exit. Agreement is measured against the samples
   this lm-eval run logs: chosen answer per instance, accuracy, max |Δ loglik|.
3. muscle-guard only: a warm rerun served from the prediction cache against the cold run, and a baseline file
   as old side against the live model (load included).

Setup (once; lm-eval must not go into the project venv):
    python -m venv .muscle-cache/bench/lmeval-venv
    .muscle-cache/bench/lmeval-venv/bin/pip install -c constraints.txt torch==2.13.0 'lm-eval[hf]==0.4.*' \\
        transformers==5.23.0
Run from the repository root (not in CI):
    python bench/mc_vs_lm_eval.py [--suites quartz,socialiqa,mmlu] [--threads 1] [--chunk 100] [--rounds 1] [--limit 500]

The last table sums the suites up: agreement per instance and the speed ratios (lm-eval's time over ours).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _lmeval_common import (
    LMEVAL_PYTHON,
    ROOT,
    Clock,
    LmEvalServer,
    check_lm_eval,
    clocked,
    interleave,
    load,
    load_average,
    part,
    run_cli,
    run_lm_eval,
    setup_torch,
    table_header,
    table_row,
)

from demo.assets import model_dir
from muscle_guard.backends.hf.scoring import special_prefix
from muscle_guard.core.baseline import read_baseline, write_baseline
from muscle_guard.core.cache import PredictionCache
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.suite import Instance, Suite, load_suite

SUITES = {
    "quartz": ROOT / "suites/quartz.jsonl",
    "socialiqa": ROOT / "bench/suites/socialiqa.jsonl",
    "mmlu": ROOT / "bench/suites/mmlu.jsonl",
}
Scores = dict[str, tuple[float, ...]]


def argmax(row: Sequence[float]) -> int:
    return max(range(len(row)), key=row.__getitem__)  # first maximum, as numpy.argmax in lm-eval


def score(server: LmEvalServer, instances: Sequence[Instance], clock: Clock) -> Scores:
    """lm-eval's log-likelihood of every choice of `instances`."""
    out = server.call("loglikelihood", [(i.prompt or "", c) for i in instances for c in i.choices], clock)
    values = iter(float(r[0]) for r in out)
    return {i.id: tuple(next(values) for _ in i.choices) for i in instances}


def logged_scores(records: Sequence[dict[str, Any]]) -> Scores:
    """Per-choice log-likelihoods by id, from the samples `lm_eval run --log_samples` logs."""
    return {record["doc"]["id"]: tuple(float(r[0]) for r in record["filtered_resps"]) for record in records}


def decision_margin(scores: Sequence[float]) -> float:
    """How far the chosen answer's log-likelihood lies above the runner-up's (any number of choices)."""
    best, second = sorted(scores, reverse=True)[:2]
    return best - second


def agreement(ours: Scores, theirs: Scores, suite: Suite) -> list[str]:
    answers = {i.id: int(i.answer) for i in suite.instances}  # type: ignore[arg-type]
    ids = [i.id for i in suite.instances]
    same = [i for i in ids if argmax(ours[i]) == argmax(theirs[i])]
    diffs = [abs(a - b) for i in ids for a, b in zip(ours[i], theirs[i], strict=True)]
    worst = max(ids, key=lambda i: max(abs(a - b) for a, b in zip(ours[i], theirs[i], strict=True)))
    closest = min(ids, key=lambda i: decision_margin(theirs[i]))
    acc_ours = sum(argmax(ours[i]) == answers[i] for i in ids) / len(ids)
    acc_theirs = sum(argmax(theirs[i]) == answers[i] for i in ids) / len(ids)
    lines = [
        f"chosen answer agrees on {len(same)}/{len(ids)} instances ({len(same) / len(ids):.1%}); "
        f"acc ours {acc_ours:.3f}, lm-eval {acc_theirs:.3f}",
        f"|Δ loglik| over {len(diffs)} choices: max {max(diffs):.2e} ({worst}), mean {statistics.mean(diffs):.2e}; "
        f"closest lm-eval decision {closest}, margin {decision_margin(theirs[closest]):.2e}",
    ]
    lines += [f"  disagree {i}: ours {ours[i]} lm-eval {theirs[i]}" for i in ids if i not in same]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated, of: {', '.join(SUITES)}")
    parser.add_argument("--limit", type=int, default=0, help="first N instances only (default: all)")
    parser.add_argument("--chunk", type=int, default=100, help="instances per turn in the interleaved scoring")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the end-to-end and cache measurements")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both sides (default: torch's)")
    parser.add_argument("--lm-eval-python", type=Path, default=LMEVAL_PYTHON)
    args = parser.parse_args()
    check_lm_eval(args.lm_eval_python)
    names = [n.strip() for n in args.suites.split(",") if n.strip()]
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        sys.exit(f"--suites: unknown {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    summary = [run_suite(name, SUITES[name], args) for name in names]
    print("\n## Summary: ours against lm-eval, per suite (ratio = lm-eval's seconds / ours)\n")
    print(
        "| suite | instances | choices | same answer | max abs Δ loglik | scoring wall × | scoring CPU × | end to end wall × |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in summary:
        print(
            f"| {row['suite']} | {row['n']} | {row['choices']} | {row['same']}/{row['n']} | {row['max_delta']:.1e} "
            f"| {row['wall']:.2f}× | {row['cpu']:.2f}× | {row['e2e']:.2f}× |"
        )


def run_suite(name: str, path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement of the docstring on one suite; returns its summary row."""
    task = f"muscle_{name}"
    print(f"\n# {name} ({path.relative_to(ROOT)}, lm-eval task {task})", flush=True)
    torch = setup_torch(args.threads)
    model = model_dir("smollm2-135m")
    full = load_suite(path)
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

    def lm_turn(chunk: Sequence[Instance]) -> None:
        theirs_live.update(score(server, chunk, lm_score))

    def our_turn(chunk: Sequence[Instance]) -> None:
        with clocked(our_score):
            result = predict_suite(backend, part(suite, chunk), settings, progress=False)
        ours.update({i.id: tuple(result.predictions[i.id].logliks or ()) for i in chunk})

    chunks = interleave(suite, args.chunk, lm_turn, our_turn, lm_score, our_score)
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
                times, records = run_lm_eval(args.lm_eval_python, model, task, args.limit, out, args.threads)
                theirs = logged_scores(records)
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
                backend = load(model, weights=False)  # as the plugin: a cache that answers everything loads none
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

    print(
        f"\nload average (1, 5, 15 min) at start, after the interleaved scoring and after each later step: {' | '.join(loads)}"
    )
    table_header()
    r = args.rounds
    table_row(f"lm-eval HFLM loglikelihood, {chunks} interleaved chunks", lm_score, None, n)
    table_row("ours predict_suite, the same chunks", our_score, lm_score, n)
    table_row("lm-eval HFLM construction (model load)", lm_load, None)
    table_row("ours load_backend (weights hashed and loaded)", our_load, lm_load)
    table_row(f"lm_eval run, whole process ({r} run(s))", lm_e2e, None, n * r)
    table_row("muscle-guard predict, whole process", our_e2e, lm_e2e, n * r)
    table_row("cold: load + predict_suite, empty cache", cold, None, n * r)
    table_row("warm: open + predict_suite, all from the cache", warm, cold, n * r)
    table_row("cold predict_suite alone (load excluded)", cold_score, None, n * r)
    table_row("warm predict_suite alone (load excluded)", warm_score, cold_score, n * r)
    table_row("live old side: load + predict_suite (= cold)", cold, None, n * r)
    table_row("baseline old side: read_baseline + predict_suite", frozen, cold, n * r)
    print(f"\nBOS: ours prepends {prefix}, lm-eval's HFLM prepends {server.hello['prefix']}")
    print("ours (interleaved) vs the samples logged by `lm_eval run --log_samples`:")
    for line in agreement(ours, theirs, suite):
        print("  " + line)
    print("ours vs lm-eval's HFLM in the interleaved run:")
    for line in agreement(ours, theirs_live, suite):
        print("  " + line)
    ids = [i.id for i in suite.instances]
    return {
        "suite": name,
        "n": n,
        "choices": sum(len(i.choices) for i in suite.instances),
        "same": sum(argmax(ours[i]) == argmax(theirs[i]) for i in ids),
        "max_delta": max(abs(a - b) for i in ids for a, b in zip(ours[i], theirs[i], strict=True)),
        "wall": sum(lm_score.wall) / sum(our_score.wall),
        "cpu": sum(lm_score.cpu) / max(sum(our_score.cpu), 1e-9),
        "e2e": sum(lm_e2e.wall) / sum(our_e2e.wall),
    }


if __name__ == "__main__":
    main()
