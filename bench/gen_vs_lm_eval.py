"""Greedy generation: muscle-guard's hf backend against lm-evaluation-harness on the same instances.

SmolLM2-135M-Instruct (fp32, CPU) continues the first --limit prompts (default 40) of the GSM-Symbolic suite
(suites/gsm_symbolic.jsonl), greedily, with the suite's settings from pyproject.toml (prompt template, stop
strings: the default ("\\n\\n",); normaliser final_number) except max_new_tokens, --max-new-tokens (default
64) on both sides; lm-eval gets the same stop strings as `until` and the same limit as `max_gen_toks`:
1. generation, interleaved: lm-eval's `HFLM.generate_until` exactly as `--model hf` builds it (batch 16,
   gen_kwargs {until, max_gen_toks, do_sample: false}; a long-lived process in lm-eval's own venv, the anchor)
   and muscle-guard's `predict_suite` (automatic batch, this process) take turns on chunks of --chunk instances
   (default 16: one batch on either side), alternating which goes first, so both see the same machine load.
   Wall and CPU seconds of the generation calls per side. Agreement per instance: the generated text (equal
   after stripping surrounding whitespace, and byte for byte) and the answer the suite scores (the text through
   the suite's normaliser, muscle_guard.core.scoring), with each side's accuracy.
2. end to end, back to back (--rounds, 0 skips it): `lm_eval run --model hf ... --tasks muscle_gsm_symbolic
   --gen_kwargs max_gen_toks=N --log_samples` (the custom task bench/lm_eval_tasks/muscle_gsm_symbolic.yaml holds
   the very same prompts and stop strings) against `muscle-guard predict` (cold cache), interpreter start to exit;
   both sides' generations compared with the samples this lm-eval run logs.

Setup: the lm-eval venv of bench/mc_vs_lm_eval.py (see its docstring).
Run from the repository root (not in CI):
    python bench/gen_vs_lm_eval.py [--threads 1] [--limit 40] [--max-new-tokens 64] [--chunk 16] [--rounds 1]
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
from muscle_guard.core.baseline import read_baseline
from muscle_guard.core.config import SuiteSettings, load_project_config
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.scoring import get_normaliser, judge
from muscle_guard.core.suite import Instance, Suite, load_suite

SUITE = ROOT / "suites/gsm_symbolic.jsonl"
TASK = "muscle_gsm_symbolic"
TASK_STOP = ("\n\n",)  # `until` in bench/lm_eval_tasks/muscle_gsm_symbolic.yaml
SERVER_LOG = ROOT / ".muscle-cache/bench/lm-eval-gen-server.log"
Texts = dict[str, str]


def gen_kwargs(settings: SuiteSettings) -> dict[str, Any]:
    return {"until": list(settings.stop), "max_gen_toks": settings.max_new_tokens, "do_sample": False}


def generate(server: LmEvalServer, instances: Sequence[Instance], settings: SuiteSettings, clock: Clock) -> Texts:
    """lm-eval's greedy generation for `instances`, on the prompts our backend gets."""
    args = [(settings.render(i.prompt or ""), gen_kwargs(settings)) for i in instances]
    out = server.call("generate_until", args, clock)
    return {i.id: str(text) for i, text in zip(instances, out, strict=True)}


def logged_texts(records: Sequence[dict[str, Any]], settings: SuiteSettings) -> Texts:
    """The raw generations by id from the samples `lm_eval run --log_samples` logs, after checking their requests."""
    texts: Texts = {}
    for record in records:
        doc = record["doc"]
        context, kwargs = record["arguments"]["gen_args_0"]["arg_0"], record["arguments"]["gen_args_0"]["arg_1"]
        if context != settings.render(doc["prompt"]):
            sys.exit(f"lm_eval run sent another prompt for {doc['id']}: {context!r}")
        until = kwargs.get("until", [])
        same_stop = set(settings.stop) <= set([until] if isinstance(until, str) else until)
        if kwargs.get("max_gen_toks") != settings.max_new_tokens or not same_stop or kwargs.get("do_sample"):
            sys.exit(f"lm_eval run used other generation settings for {doc['id']}: {kwargs}")
        texts[doc["id"]] = record["resps"][0][0]
    return texts


def cli_texts(path: Path, suite: Suite, settings: SuiteSettings) -> Texts:
    """The generations of the baseline `muscle-guard predict` wrote (refused if made with other settings)."""
    predictions = read_baseline(path).predictions_for(suite, settings)
    return {i: p.text or "" for i, p in predictions.items()}


def first_difference(a: str, b: str) -> int:
    """The index of the first character where `a` and `b` differ (the shorter one's length if one starts the other)."""
    return next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def agreement(ours: Texts, theirs: Texts, suite: Suite, settings: SuiteSettings) -> list[str]:
    normalise = get_normaliser(settings.normaliser)
    ids = [i.id for i in suite.instances]
    n = len(ids)
    identical = [i for i in ids if ours[i] == theirs[i]]
    same_text = [i for i in ids if ours[i].strip() == theirs[i].strip()]
    same_answer = [i for i in ids if normalise(ours[i]) == normalise(theirs[i])]

    def accuracy(texts: Texts) -> float:
        return statistics.mean(judge(i, Prediction(i.id, text=texts[i.id]), settings).correct for i in suite.instances)

    lines = [
        f"generated text agrees on {len(same_text)}/{n} instances after stripping ({len(same_text) / n:.1%}), "
        f"byte for byte on {len(identical)}/{n}",
        f"{settings.normaliser} answer agrees on {len(same_answer)}/{n} instances ({len(same_answer) / n:.1%}); "
        f"acc ours {accuracy(ours):.3f}, lm-eval {accuracy(theirs):.3f}",
        f"mean length: ours {statistics.mean(len(ours[i]) for i in ids):.1f} chars, "
        f"lm-eval {statistics.mean(len(theirs[i]) for i in ids):.1f} chars",
    ]
    for i in ids:
        if i not in same_text:
            at = first_difference(ours[i], theirs[i])
            lines.append(
                f"  differ {i}: answers {normalise(ours[i])!r} / {normalise(theirs[i])!r}; from char {at}: "
                f"ours {ours[i][at : at + 60]!r}, lm-eval {theirs[i][at : at + 60]!r}"
            )
    return lines


def cli_pyproject(path: Path, settings: SuiteSettings) -> Path:
    """A pyproject.toml giving `muscle-guard predict` the benchmark's settings (JSON strings are TOML strings)."""
    path.write_text(
        "[tool.muscle-guard]\n"
        f"normaliser = {json.dumps(settings.normaliser)}\n"
        f"prompt_template = {json.dumps(settings.prompt_template)}\n"
        f"max_new_tokens = {settings.max_new_tokens}\n"
        f"stop = {json.dumps(list(settings.stop))}\n",
        encoding="utf-8",
    )
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=40, help="first N instances only (0: all; default 40)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="generation limit of both sides (default 64)")
    parser.add_argument("--chunk", type=int, default=16, help="instances per turn in the interleaved generation")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the end-to-end measurement (0: none)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both sides (default: torch's)")
    parser.add_argument("--lm-eval-python", type=Path, default=LMEVAL_PYTHON)
    args = parser.parse_args()
    check_lm_eval(args.lm_eval_python)
    if args.max_new_tokens < 1:
        sys.exit("--max-new-tokens must be at least 1")
    full = load_suite(SUITE)
    suite = part(full, full.instances[: args.limit]) if args.limit else full
    project = load_project_config(ROOT / "pyproject.toml")
    settings = project.settings_for(full.name, {"max_new_tokens": args.max_new_tokens})
    if args.rounds and (settings.stop != TASK_STOP or settings.prompt_template != "{prompt}"):
        sys.exit(
            f"the lm-eval task sends the bare prompt and stops at {TASK_STOP}, the suite's settings say "
            f"{settings.prompt_template!r} and {settings.stop}; edit bench/lm_eval_tasks/{TASK}.yaml or use --rounds 0"
        )
    torch = setup_torch(args.threads)
    model = model_dir("smollm2-135m")
    n = len(suite)
    print(
        f"{n} instances of {SUITE.name}, greedy, max_new_tokens {settings.max_new_tokens}, stop "
        f"{list(settings.stop)}, normaliser {settings.normaliser}; {model}"
    )
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores", flush=True)
    loads = [load_average()]

    # 1. Generation, interleaved chunk by chunk.
    lm_load, our_load, lm_gen, our_gen = Clock(), Clock(), Clock(), Clock()
    server = LmEvalServer(args.lm_eval_python, model, args.threads, SERVER_LOG)
    lm_load.add(server.hello["load"], server.hello["load_cpu"])
    with clocked(our_load):
        backend = load(model)
    theirs_live: Texts = {}
    ours: Texts = {}

    def lm_turn(chunk: Sequence[Instance]) -> None:
        theirs_live.update(generate(server, chunk, settings, lm_gen))

    def our_turn(chunk: Sequence[Instance]) -> None:
        with clocked(our_gen):
            result = predict_suite(backend, part(suite, chunk), settings, progress=False)
        ours.update({i.id: result.predictions[i.id].text or "" for i in chunk})

    chunks = interleave(suite, args.chunk, lm_turn, our_turn, lm_gen, our_gen)
    server.close()
    backend.close()
    loads.append(load_average())
    from transformers import AutoTokenizer

    prefix = special_prefix(AutoTokenizer.from_pretrained(str(model)))

    # 2. End to end, back to back, per round.
    lm_e2e, our_e2e = Clock(), Clock()
    theirs: Texts = {}
    ours_cli: Texts = {}
    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="gen-bench-") as tmp:
            out = Path(tmp)

            def lm_side(out: Path = out) -> None:
                nonlocal theirs
                extra = ["--gen_kwargs", f"max_gen_toks={settings.max_new_tokens}"]
                times, records = run_lm_eval(args.lm_eval_python, model, TASK, args.limit, out, args.threads, extra)
                theirs = logged_texts(records, settings)
                lm_e2e.add(times["wall"], times["cpu"])
                print(f"lm_eval run: {json.dumps({k: round(v, 1) for k, v in times.items()})}", flush=True)

            def our_side(out: Path = out) -> None:
                nonlocal ours_cli
                pyproject = cli_pyproject(out / "pyproject.toml", settings)
                our_e2e.add(*run_cli(model, suite, out, args.threads, pyproject))
                ours_cli = cli_texts(out / "cli-baseline.jsonl", suite, settings)
                print(f"muscle-guard predict: {our_e2e.wall[-1]:.1f} s, CPU {our_e2e.cpu[-1]:.1f} s", flush=True)

            for side in (lm_side, our_side) if round_ % 2 == 0 else (our_side, lm_side):
                side()
                loads.append(load_average())

    print(
        f"\nload average (1, 5, 15 min) at start, after the interleaved generation and after each later step: {' | '.join(loads)}"
    )
    table_header()
    r = args.rounds
    table_row(f"lm-eval HFLM generate_until, {chunks} interleaved chunks", lm_gen, None, n)
    table_row("ours predict_suite, the same chunks", our_gen, lm_gen, n)
    table_row("lm-eval HFLM construction (model load)", lm_load, None)
    table_row("ours load_backend (weights hashed)", our_load, lm_load)
    if r:
        table_row(f"lm_eval run, whole process ({r} run(s))", lm_e2e, None, n * r)
        table_row("muscle-guard predict, whole process", our_e2e, lm_e2e, n * r)
    print(f"\nBOS: ours prepends {prefix}, lm-eval's HFLM prepends {server.hello['prefix']}")
    print("ours vs lm-eval's HFLM in the interleaved run:")
    for line in agreement(ours, theirs_live, suite, settings):
        print("  " + line)
    if r:
        print("ours (interleaved) vs the samples logged by `lm_eval run --log_samples`:")
        for line in agreement(ours, theirs, suite, settings):
            print("  " + line)
        print("`muscle-guard predict` vs the samples logged by `lm_eval run --log_samples`:")
        for line in agreement(ours_cli, theirs, suite, settings):
            print("  " + line)


if __name__ == "__main__":
    main()
