"""What McNemar's paired test says where lm-eval's unpaired comparison says nothing (issue #36 point 6).

lm-eval's `scripts/model_comparator.py` compares two runs with an unpaired z-test on the aggregate accuracies,
Z = (acc1 − acc2) / √(se1² + se2²). Both runs answered the *same* docs, so the per-doc outcomes are paired; the
z-test ignores that and overestimates the variance of the difference. muscle-guard's gate pairs the docs and
tests #NF against #PF with McNemar's exact test.

Two real lm-eval 0.4.13 runs (its own venv, as tests/fixtures/eval_logs/make_lm_eval_logs.py describes): a tiny
random causal LM ("v1") and the same model fine-tuned for a few steps towards the wrong answer of 30 docs v1
gets right ("v2": a real, narrow regression, with whatever else those steps moved), on a 400-doc two-choice task.
Then both tests on the same two runs: the z-test from the results files as model_comparator.py computes it, and
`muscle-guard check --json` from the samples files.

    python bench/paired_vs_unpaired.py          # writes under .muscle-cache/bench/paired/, ~1 minute on a CPU
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _lmeval_common import log_samples, need_lm_eval, write_mc_task  # noqa: E402

WORK = ROOT / ".muscle-cache/bench/paired"
DOCS, BROKEN, SEED = 400, 30, 5
LR, EPOCHS = float(os.environ.get("PAIRED_LR", "1e-4")), int(os.environ.get("PAIRED_EPOCHS", "2"))
WORDS = ["apple", "river", "stone", "cloud", "green", "happy", "seven", "train", "music", "paper"]


def lm_eval(model: Path, tasks: Path, out: Path) -> Path:
    return log_samples(model, "paired_mc", tasks, out, "--seed", "0", quiet=True)


def samples(run: Path) -> dict[int, dict]:
    (path,) = run.rglob("samples_paired_mc_*.jsonl")
    return {r["doc_id"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def results(run: Path) -> dict:
    (path,) = run.rglob("results_*.json")
    return json.loads(path.read_text(encoding="utf-8"))["results"]["paired_mc"]


def regress(v1: Path, v2: Path, docs: list[dict], right: list[int]) -> None:
    """v2: v1 trained a few steps towards the wrong choice of BROKEN docs that v1 answers right."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(SEED)
    tok = AutoTokenizer.from_pretrained(v1)
    model = AutoModelForCausalLM.from_pretrained(v1)
    chosen = random.Random(SEED).sample(right, BROKEN)
    pairs = []
    for i in chosen:
        doc = docs[i]
        prompt = f"Question: {doc['question']}\nAnswer:"
        wrong = doc["choices"][1 - doc["label"]]
        ids = tok(prompt + wrong, return_tensors="pt").input_ids
        labels = ids.clone()
        labels[:, : len(tok(prompt).input_ids)] = -100
        pairs.append((ids, labels))
    optim = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(EPOCHS):
        for ids, labels in pairs:
            optim.zero_grad()
            model(input_ids=ids, labels=labels).loss.backward()
            optim.step()
    model.save_pretrained(v2)
    tok.save_pretrained(v2)


def main() -> None:
    need_lm_eval()
    from muscle_guard.testing import tiny_models as tm

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    rng = random.Random(SEED)
    docs = []
    for i in range(DOCS):
        a, b = rng.sample(WORDS, 2)
        docs.append({"question": f"Which word comes first, {a} or {b}? ({i})", "choices": [f" {a}", f" {b}"],
                     "label": int(b < a)})  # fmt: skip
    data = WORK / "paired_mc.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    write_mc_task(WORK / "tasks", "paired_mc", data)
    tok = tm.build_tokenizer(WORK / "tok", vocab_words=[*WORDS, "Which", "word", "comes", "first", "Question"])
    v1 = tm.build_causal_lm(WORK / "model-v1", tok, seed=SEED, n_layers=2)
    run1 = lm_eval(v1, WORK / "tasks", WORK / "runs" / "v1")
    right = [i for i, s in samples(run1).items() if s["acc"] == 1.0]
    regress(v1, WORK / "model-v2", docs, right)
    run2 = lm_eval(WORK / "model-v2", WORK / "tasks", WORK / "runs" / "v2")

    # lm-eval's scripts/model_comparator.py, calculate_z_value (two-tailed, from the aggregate results)
    r1, r2 = results(run1), results(run2)
    z = (r1["acc,none"] - r2["acc,none"]) / math.sqrt(r1["acc_stderr,none"] ** 2 + r2["acc_stderr,none"] ** 2)
    p_two = math.erfc(abs(z) / math.sqrt(2))

    gate_dir = WORK / "gate"
    gate_dir.mkdir()
    (gate_dir / "pyproject.toml").write_text("[tool.pytest.ini_options]\n[tool.muscle-guard]\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "muscle_guard.cli", "check", "--old", f"lm-eval:{run1}", "--new", f"lm-eval:{run2}",
         "--alpha", "0.05", "--json"],
        cwd=gate_dir, capture_output=True, text=True, check=False,
    )  # fmt: skip
    suite = json.loads(done.stdout)["suites"][0]
    m, verdict = suite["metrics"], suite["verdict"]
    print(f"two lm-eval runs of {DOCS} docs: v1 acc {r1['acc,none']:.4f} (± {r1['acc_stderr,none']:.4f}), "
          f"v2 acc {r2['acc,none']:.4f} (± {r2['acc_stderr,none']:.4f})")  # fmt: skip
    print(f"lm-eval model_comparator (unpaired z): Z = {z:.3f}, p = {p_two:.3f} two-sided, {p_two / 2:.3f} one-sided: "
          f"{'significant' if p_two < 0.05 else 'not significant'} at 0.05")  # fmt: skip
    print(f"muscle-guard (paired, McNemar exact one-sided): NF {m['nf']}, PF {m['pf']}, p = {m['mcnemar_p']:.2g}: "
          f"{'significant' if m['mcnemar_p'] < 0.05 else 'not significant'} at 0.05; gate "
          f"{'pass' if verdict['passed'] else 'FAIL'} (exit {done.returncode})")  # fmt: skip


if __name__ == "__main__":
    main()
