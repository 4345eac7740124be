"""Chat-templated multiple choice: muscle-guard's `chat` prompt format against lm-eval's `--apply_chat_template`.

SmolLM2-135M-Instruct (fp32, CPU; its tokenizer has a chat template) scores the first --limit instances of
suites/quartz.jsonl both ways:
- lm-eval 0.4: `lm_eval run --model hf --tasks muscle_quartz_chat --apply_chat_template [--system_instruction S]`
  (bench/lm_eval_tasks/muscle_quartz_chat.yaml: the usual lm-eval spelling, choices without their leading space
  and target_delimiter " ");
- muscle-guard: the same suite with the new model's prompt format `chat` (or `chat:S`), through `predict_suite`.
Prints agreement per instance (chosen answer), accuracy both ways, the max |Δ loglik| and whether the first
rendered context is the same string. lm-eval runs in its own venv (see bench/mc_vs_lm_eval.py for the setup).

    python bench/chat_vs_lm_eval.py [--limit 200] [--system "You are a careful assistant."]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _lmeval_common import LMEVAL_PYTHON, ROOT, check_lm_eval, load, part, run_lm_eval

from demo.assets import model_dir
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.pipeline import predict_suite, render_context
from muscle_guard.core.prompt_format import parse_prompt_format
from muscle_guard.core.suite import load_suite


def argmax(row: tuple[float, ...]) -> int:
    return max(range(len(row)), key=row.__getitem__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--system", default=None, help="a system message (lm-eval --system_instruction)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    check_lm_eval(LMEVAL_PYTHON)
    model = model_dir("smollm2-135m", ROOT / ".muscle-cache" / "assets")
    suite = load_suite(ROOT / "suites" / "quartz.jsonl")
    suite = part(suite, suite.instances[: args.limit])
    prompt = parse_prompt_format("chat" if args.system is None else f"chat:{args.system}", "--system")
    extra = ["--apply_chat_template"] + (["--system_instruction", args.system] if args.system else [])
    with tempfile.TemporaryDirectory() as tmp:
        _, records = run_lm_eval(LMEVAL_PYTHON, model, "muscle_quartz_chat", args.limit, Path(tmp), args.threads, extra)
    theirs = {r["doc"]["id"]: tuple(float(x[0]) for x in r["filtered_resps"]) for r in records}
    their_context = records[0]["arguments"]["gen_args_0"]["arg_0"]
    backend = load(model)
    settings = SuiteSettings()
    ours = {
        i: p.logliks or ()
        for i, p in predict_suite(backend, suite, settings, prompt=prompt, progress=False).predictions.items()
    }
    first = next(i for i in suite.instances if i.id == records[0]["doc"]["id"])
    our_context = render_context(backend, first, settings, prompt, "SmolLM2")
    ids = [i.id for i in suite.instances]
    answers = {i.id: int(i.answer) for i in suite.instances}  # type: ignore[arg-type]
    same = sum(argmax(ours[i]) == argmax(theirs[i]) for i in ids)
    worst = max(abs(a - b) for i in ids for a, b in zip(ours[i], theirs[i], strict=True))
    acc_ours = sum(argmax(ours[i]) == answers[i] for i in ids) / len(ids)
    acc_theirs = sum(argmax(theirs[i]) == answers[i] for i in ids) / len(ids)
    print(f"QuaRTz, first {len(ids)} instances, SmolLM2-135M-Instruct fp32, prompt format {prompt.text!r}")
    print(f"| same chosen answer | {same}/{len(ids)} |")
    print(f"| accuracy (muscle-guard / lm-eval) | {acc_ours:.4f} / {acc_theirs:.4f} |")
    print(f"| max abs Δ loglik | {worst:.2e} |")
    print(f"| first context identical | {our_context == their_context} |")
    if our_context != their_context:
        print(f"ours:    {our_context!r}\nlm-eval: {their_context!r}")


if __name__ == "__main__":
    main()
