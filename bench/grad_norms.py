"""How hard each loss term pulls the student: gradient norms of every term `fix` mixes, on the demo's pair.

A term mixed with another (`(1 − w)·L + w·CE`) only matters if its gradient is of the same order as the other's;
Adam then normalises the sum, so a term a hundred times smaller is simply lost. This measures, at the student's
starting point (the new adapter) and on the demo's fix data, the norm of the gradient over the trainable weights
of each term alone: the ground-truth cross-entropy, MUSCLE's KD term (Eq. 1), the focal KD term, and the
ensemble KD term with and without its T² factor (`fix/losses.py`).

Run from the repository root after `make demo` (it reads the demo's cached adapters and fix data):
    .venv/bin/python bench/grad_norms.py --threads 1
and after `make demo-causal`, the same at the choice level on its SmolLM2 -> Gemma-3 pair (the tokenizers differ,
so each term compares the instance's distribution over its two answers; w = 0.9 as that demo's fix):
    .venv/bin/python bench/grad_norms.py --pair causal --batches 8 --batch-size 8 --ensemble-weight 0.9 --threads 1
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".muscle-cache/demo"


# (old adapter, new adapter, fix data, suite settings) of each demo pair, under DEMO
PAIRS = {
    "minilm": (
        "adapters/old-rotten_tomatoes",
        "adapters/new-rotten_tomatoes",
        "data/rotten_tomatoes",
        "rotten_tomatoes",
    ),
    "causal": ("adapters/old-sarcasm_mc", "adapters/new-sarcasm_mc", "data/sarcasm_mc", "sarcasm_mc"),
}


def term_losses(z: Any, z_old: Any, z_new: Any, y: Any, mask: Any, t: float, w: float) -> dict[str, Any]:
    """Each term alone, on the student's logits `z` (class logits, or masked choice scores)."""
    from muscle_guard.fix import losses

    ce = losses.ce_loss(z, y, mask)
    ensemble = losses.ensemble_loss(z, z_old, z_new, y, mask, t, w)
    return {
        "CE (ground truth)": ce,
        "MUSCLE KD (Eq. 1)": losses.muscle_loss(z, z_old, z_new, y, mask, t),
        "focal KD term (α=1, β=5)": losses.focal_loss(z, z_old, y, mask, t) - ce,
        f"ensemble KD w={w:g} without T²": ensemble / t**2,
        f"ensemble KD w={w:g} with T² (ours)": ensemble,
    }


def scores(model: Any, items: Any, pad_id: int, causal: bool) -> Any:
    """What the loss sees: class logits, or each instance's choice scores with padded choices masked."""
    from muscle_guard.fix import batches as B
    from muscle_guard.fix import losses

    if not causal:
        return B.class_logits(model, items, pad_id, "cpu")
    return losses.mask_choices(*B.choice_scores(model, items, pad_id, "cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--pair", choices=sorted(PAIRS), default="minilm", help="the demo's pair, or demo-causal's")
    parser.add_argument("--ensemble-weight", type=float, default=0.5, help="the old teacher's weight w")
    args = parser.parse_args()

    import torch

    from muscle_guard.core.backend import RunOptions
    from muscle_guard.core.config import load_project_config
    from muscle_guard.core.suite import load_suite
    from muscle_guard.fix import batches as B
    from muscle_guard.fix import models
    from muscle_guard.fix.config import TrainConfig
    from muscle_guard.fix.data import build_examples

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    old_name, new_name, data, suite_name = PAIRS[args.pair]
    causal = args.pair == "causal"
    old_dir, new_dir = DEMO / old_name, DEMO / new_name
    train = next(p for p in (DEMO / data / "fix_train-1000.jsonl", DEMO / data / "fix_train.jsonl") if p.is_file())
    options = RunOptions(device="cpu", progress=False)
    old = models.load(models.parse_ref(str(old_dir), "--old"), options, trainable=False)
    new = models.load(models.parse_ref(str(new_dir), "--new"), options, trainable=True)
    student = models.make_student(new, TrainConfig())
    params = [p for p in student.parameters() if p.requires_grad]
    suite = load_suite(train)
    examples = build_examples(suite, load_project_config(ROOT / "pyproject.toml").settings_for(suite_name))
    examples = examples[: args.batches * args.batch_size]
    task = "causal" if causal else "classify"
    enc_new = B.encode(examples, new.tokenizer, task, 512)
    enc_old = B.encode(examples, old.tokenizer, task, 512)
    pad_new, pad_old = B.pad_id_of(new.tokenizer), B.pad_id_of(old.tokenizer)
    t = args.temperature
    norms: dict[str, list[float]] = {}
    values: dict[str, list[float]] = {}
    for b in range(0, len(examples), args.batch_size):
        items_new, items_old = enc_new[b : b + args.batch_size], enc_old[b : b + args.batch_size]
        with torch.no_grad():
            z_old = scores(old.model, items_old, pad_old, causal)
            z_new = scores(student, items_new, pad_new, causal)
        y = torch.tensor([e.label for e in items_new])
        mask = torch.ones_like(y, dtype=torch.bool)
        z = scores(student, items_new, pad_new, causal)
        for name, loss in term_losses(z, z_old, z_new, y, mask, t, args.ensemble_weight).items():
            grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
            norm = torch.sqrt(torch.stack([(g.float() ** 2).sum() for g in grads if g is not None]).sum())
            norms.setdefault(name, []).append(float(norm))
            values.setdefault(name, []).append(float(loss.detach()))
    ce = statistics.mean(norms["CE (ground truth)"])
    print(f"{args.pair} pair ({suite_name}), {len(examples)} fix rows in batches of {args.batch_size}, T = {t:g}, "
          "student = the new adapter (before any step)")  # fmt: skip
    print("| term | loss value, mean | gradient norm, mean ± std over batches | ÷ CE's |")
    print("|---|---:|---:|---:|")
    for name in norms:
        m, s = statistics.mean(norms[name]), statistics.stdev(norms[name])
        print(f"| {name} | {statistics.mean(values[name]):.4f} | {m:.4f} ± {s:.4f} | {m / ce:.3f} |")


if __name__ == "__main__":
    main()
