"""The spread of `fix` on the tiny classifier pair over fixture seeds × fix seeds, on one CPU kernel path.

tests/fix asserts only what must hold on every CPU and seed (NF_c ≤ NF on held-out data, accuracy within a
margin, the shipped adapter is the selected checkpoint). This script measures how much margin those
assertions have: it builds `muscle_guard.testing.sentiment.build_classifier_pair(seed)` for each fixture seed,
runs `fix` with the unit test's settings for each fix seed, and prints one row per run plus the worst case.

Run it once per kernel path (the math libraries pick kernels per CPU; these settings force other paths):

    python bench/fix_seeds.py                                   # default kernels
    MKL_CBWR=COMPATIBLE python bench/fix_seeds.py
    MKL_ENABLE_INSTRUCTIONS=AVX2 python bench/fix_seeds.py
    ATEN_CPU_CAPABILITY=default python bench/fix_seeds.py

`--jsonl FILE` appends one JSON row per run (with the kernel settings) for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fix.settings import ACCURACY_MARGIN, TINY_CONFIG  # noqa: E402  (the unit test's own settings)

KERNEL_VARS = ("MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ATEN_CPU_CAPABILITY", "OMP_NUM_THREADS")


def run_one(root: Path, pair: Any, fixture_seed: int, fix_seed: int, config: Any) -> dict[str, Any]:
    from dataclasses import replace

    from muscle_guard.core.backend import RunOptions
    from muscle_guard.fix.request import FixRequest
    from muscle_guard.fix.run import run_fix

    out = root / f"fixed-{fixture_seed}-{fix_seed}"
    started = time.perf_counter()
    request = FixRequest(
        old=str(pair.old), new=str(pair.new), train=pair.train, out=out,
        config=replace(config, seed=fix_seed), strategy=config.strategy, suites=(pair.heldout,),
        options=RunOptions(device="cpu", progress=False), pyproject=root / "none.toml",
    )  # fmt: skip
    result = run_fix(request)
    (row,) = result.comparisons
    return {
        "fixture_seed": fixture_seed,
        "fix_seed": fix_seed,
        "n": row.n,
        "acc_old": row.acc_old,
        "acc_new": row.acc_new,
        "acc_fixed": row.acc_fixed,
        "nf": row.nf,
        "nf_c": row.nf_c,
        "ratio": row.nf_c / row.nf if row.nf else None,
        "selected": result.selected,
        "seconds": round(time.perf_counter() - started, 1),
    }


def with_overrides(config: Any, pairs: list[str]) -> Any:
    import dataclasses

    from muscle_guard.fix.strategies import Strategy

    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        if key not in fields:
            raise SystemExit(f"--set {pair}: no TrainConfig field {key!r} (one of {', '.join(fields)})")
        current = getattr(config, key)
        if isinstance(current, Strategy):
            changes[key] = Strategy(raw)
        elif isinstance(current, bool):
            changes[key] = raw.lower() in ("1", "true", "yes")
        elif current is None or isinstance(current, int | float):
            changes[key] = type(current)(raw) if current is not None else int(raw)
        else:
            changes[key] = raw
    return dataclasses.replace(config, **changes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixture-seeds", default="0,1,2,3,4")
    parser.add_argument("--fix-seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--jsonl", type=Path, help="append one JSON row per run")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a TrainConfig field (repeatable)"
    )
    args = parser.parse_args()
    config = with_overrides(TINY_CONFIG, args.set)

    import torch

    from muscle_guard.testing.sentiment import build_classifier_pair

    torch.set_num_threads(args.threads)
    kernels = {k: os.environ[k] for k in KERNEL_VARS if k in os.environ}
    label = " ".join(f"{k}={v}" for k, v in kernels.items()) or "default kernels"
    print(f"# {label}; fix settings: {config}", flush=True)
    print(f"{'fixture':>7} {'fix':>3} {'NF':>4} {'NF_c':>4} {'NF_c/NF':>7} {'acc new':>7} {'acc fix':>7} shipped")
    rows = []
    with tempfile.TemporaryDirectory(prefix="fix-seeds-") as tmp:
        for fixture_seed in (int(s) for s in args.fixture_seeds.split(",")):
            pair = build_classifier_pair(Path(tmp) / f"pair-{fixture_seed}", fixture_seed)
            for fix_seed in (int(s) for s in args.fix_seeds.split(",")):
                row = run_one(Path(tmp), pair, fixture_seed, fix_seed, config)
                rows.append(row)
                ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
                print(
                    f"{fixture_seed:>7} {fix_seed:>3} {row['nf']:>4} {row['nf_c']:>4} {ratio:>7} "
                    f"{row['acc_new']:>7.3f} {row['acc_fixed']:>7.3f} {row['selected']}",
                    flush=True,
                )
                if args.jsonl:
                    with args.jsonl.open("a", encoding="utf-8") as f:
                        f.write(json.dumps({**row, "kernels": kernels}) + "\n")
    ratios = [r["ratio"] for r in rows if r["ratio"] is not None]
    acc_drop = max(r["acc_new"] - r["acc_fixed"] for r in rows)
    print(
        f"# {len(rows)} runs: NF min {min(r['nf'] for r in rows)}; NF_c/NF median {statistics.median(ratios):.2f}, "
        f"max {max(ratios):.2f}; NF_c <= NF in {sum(r['nf_c'] <= r['nf'] for r in rows)}/{len(rows)}; "
        f"largest accuracy loss {acc_drop * 100:+.1f} points (margin {ACCURACY_MARGIN * 100:.0f})"
    )


if __name__ == "__main__":
    main()
