"""How many negative flips does retraining alone cause? The floor under the compatibility table's NFR.

`bench/compat_table.py` trains, for each seed, an old and a new task adapter with one recipe. Comparing the
adapters of *different* seeds of the same base measures the flips a plain retrain causes, with no model update
at all:
- old_i → old_j: the old model retrained with another seed (what users would see without any upgrade);
- new_i → new_j: the new model retrained with another seed;
- old_i → new_i: the update the table starts from (its "plain new model" NFR);
- old_i → fixed_i: after each fix strategy (the table's NFR_c), for reference.

Every prediction comes from the compat table's prediction cache, where its runs left them, so nothing is
recomputed when the table has run (a missing one is computed and cached).

    python bench/retrain_flips.py                 # every task with adapters for at least two seeds
    python bench/retrain_flips.py --tasks rotten_tomatoes,sarcasm
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".muscle-cache/bench/compat"
SUITES = {
    "rotten_tomatoes": ROOT / "suites/rotten_tomatoes.jsonl",
    "sarcasm": ROOT / "suites/sarcasm.jsonl",
    "quartz_cls": WORK / "suites/quartz_cls.jsonl",
    "sarcasm_mc": ROOT / "suites/sarcasm_mc.jsonl",
}
PAIR = {"sarcasm_mc": "causal"}


def predictions(ref: Path, suite: Any, project: Any, cache: Any) -> dict[str, Any]:
    from muscle_guard.core.backend import RunOptions
    from muscle_guard.core.pipeline import predict_suite
    from muscle_guard.core.sources import close_source, open_source

    source = open_source(str(ref), RunOptions(device="cpu", progress=False), str(ref))
    try:
        return dict(
            predict_suite(source, suite, project.settings_for(suite.name), cache=cache, progress=False).predictions
        )
    finally:
        close_source(source)


def nfr(suite: Any, project: Any, old: dict[str, Any], new: dict[str, Any]) -> float:
    from muscle_guard.core.evaluate import evaluate_suite

    return float(evaluate_suite(suite, project.settings_for(suite.name), old, new).metrics.nfr)


def _ms(values: list[float]) -> str:
    std = statistics.stdev(values) * 100 if len(values) > 1 else 0.0
    return f"{statistics.mean(values) * 100:.1f} ± {std:.1f} ({len(values)})"


def task_rows(name: str, project: Any, cache: Any) -> list[str]:
    from muscle_guard.core.suite import load_suite

    seeds = sorted(
        int(p.name.removeprefix("seed"))
        for p in (WORK / "adapters" / name).glob("seed*")
        if (p / "old/adapter_config.json").is_file() and (p / "new/adapter_config.json").is_file()
    )
    if len(seeds) < 2:
        return []
    suite = load_suite(SUITES[name])
    side = {
        (which, s): predictions(WORK / "adapters" / name / f"seed{s}" / which, suite, project, cache)
        for s in seeds
        for which in ("old", "new")
    }
    pairs = list(itertools.permutations(seeds, 2))
    rows = [
        (
            "old_i → old_j (retrain the old model)",
            [nfr(suite, project, side["old", i], side["old", j]) for i, j in pairs],
        ),
        (
            "new_i → new_j (retrain the new model)",
            [nfr(suite, project, side["new", i], side["new", j]) for i, j in pairs],
        ),
        ("old_i → new_i (the update)", [nfr(suite, project, side["old", s], side["new", s]) for s in seeds]),
    ]
    fixed_root = WORK / "fixed" / PAIR.get(name, "minilm") / name
    strategies = sorted({p.name for p in fixed_root.glob("seed*/*") if (p / "adapter_config.json").is_file()})
    for strategy in strategies:
        values = [
            nfr(suite, project, side["old", s], predictions(fixed_root / f"seed{s}" / strategy, suite, project, cache))
            for s in seeds
            if (fixed_root / f"seed{s}" / strategy / "adapter_config.json").is_file()
        ]
        rows.append((f"old_i → fixed_i ({strategy})", values))
    out = [f"\n**{name}** (n = {len(suite)}; seeds {', '.join(map(str, seeds))}; NFR % mean ± std (pairs))\n"]
    out += ["| comparison | NFR |", "|---|---|"]
    out += [f"| {label} | {_ms(values)} |" for label, values in rows if values]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(SUITES), help="comma-separated (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.chdir(ROOT)
    import torch

    torch.set_num_threads(args.threads)
    from muscle_guard.core.cache import PredictionCache
    from muscle_guard.core.config import load_project_config

    project = load_project_config(ROOT / "pyproject.toml")
    cache = PredictionCache(WORK / "predictions")
    for name in args.tasks.split(","):
        print("\n".join(task_rows(name, project, cache)), flush=True)


if __name__ == "__main__":
    main()
