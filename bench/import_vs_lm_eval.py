"""An lm-eval task imported as a suite scores the same per-instance answers as lm-eval does on that task.

1. `muscle-guard suite import --lm-eval-task bench/lm_eval_tasks/muscle_quartz.yaml` (run in lm-eval's venv, where
   muscle-guard is installed too: lm-eval renders the task) writes a suite of the first --limit documents;
2. `lm_eval run --model hf --tasks muscle_quartz --log_samples` scores the task with SmolLM2-135M-Instruct;
3. muscle-guard scores the imported suite with the same model (`predict_suite`, this venv).
Prints the instances imported, whether they equal suites/quartz.jsonl (the task's own data), how many chosen
answers agree with lm-eval's, both accuracies and the max |Δ loglik|.

Setup: the lm-eval venv of bench/mc_vs_lm_eval.py, plus `.muscle-cache/bench/lmeval-venv/bin/pip install -c
constraints.txt -e .` (muscle-guard itself, for the import). Run from the repository root:

    python bench/import_vs_lm_eval.py [--limit 200]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from _lmeval_common import LMEVAL_PYTHON, ROOT, TASKS, check_lm_eval, load, run_lm_eval

from demo.assets import model_dir
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.suite import load_suite


def argmax(row: tuple[float, ...]) -> int:
    return max(range(len(row)), key=row.__getitem__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    check_lm_eval(LMEVAL_PYTHON)
    model = model_dir("smollm2-135m", ROOT / ".muscle-cache" / "assets")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        imported_path = out / "quartz_imported.jsonl"
        subprocess.run(
            [str(LMEVAL_PYTHON), "-m", "muscle_guard.cli", "suite", "import", "--lm-eval-task",
             str(TASKS / "muscle_quartz.yaml"), "-o", str(imported_path), "--limit", str(args.limit)],
            cwd=ROOT, check=True,
        )  # fmt: skip
        imported = load_suite(imported_path)
        _, records = run_lm_eval(LMEVAL_PYTHON, model, "muscle_quartz", args.limit, out, args.threads)
    original = load_suite(ROOT / "suites" / "quartz.jsonl").instances[: len(imported)]
    same_data = [(i.prompt, i.choices, i.answer) for i in imported.instances] == [
        (o.prompt, o.choices, o.answer) for o in original
    ]
    theirs = {int(r["doc_id"]): tuple(float(x[0]) for x in r["filtered_resps"]) for r in records}
    predictions = predict_suite(load(model), imported, SuiteSettings(), progress=False).predictions
    ours = {n: predictions[i.id].logliks or () for n, i in enumerate(imported.instances)}
    docs = sorted(theirs)
    answers = {n: int(i.answer) for n, i in enumerate(imported.instances)}  # type: ignore[arg-type]
    same = sum(argmax(ours[d]) == argmax(theirs[d]) for d in docs)
    worst = max(abs(a - b) for d in docs for a, b in zip(ours[d], theirs[d], strict=True))
    print(
        f"imported {len(imported)} instances of lm-eval task muscle_quartz; equal to suites/quartz.jsonl: {same_data}"
    )
    print(f"| same chosen answer | {same}/{len(docs)} |")
    acc_ours = sum(argmax(ours[d]) == answers[d] for d in docs) / len(docs)
    acc_theirs = sum(argmax(theirs[d]) == answers[d] for d in docs) / len(docs)
    print(f"| accuracy (muscle-guard / lm-eval) | {acc_ours:.4f} / {acc_theirs:.4f} |")
    print(f"| max abs Δ loglik | {worst:.2e} |")


if __name__ == "__main__":
    main()
