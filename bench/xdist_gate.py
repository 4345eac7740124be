"""A live-model gate with and without pytest-xdist, warm and cold, against plain pytest items of the same count.

    .venv/bin/python bench/xdist_gate.py [--copies 3] [--runs 3] [--workers 2]

The demo's Rotten Tomatoes pair (MiniLM old and new adapters; run `make demo` once first) gates `--copies`
copies of suites/rotten_tomatoes.jsonl (500 instances each, under different names, so 1,500 by default).
Whole processes, interleaved, medians of `--runs`:

- warm: every prediction is in the cache (no weights are loaded, see HFBackend);
- cold: an empty cache each run (both models load and predict every suite);
- plain: a test file with as many trivial parametrized tests, the cost of pytest and xdist themselves.

Prints seconds per variant, the ratios `-n W` / `-n 0`, and the gate's `-n W` ratio set against plain
pytest's own `-n W` ratio (what the plugin adds to what xdist costs anyway).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from _pytest_timing import time_pytest

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = ROOT / ".muscle-cache/demo/adapters"
BASE = ROOT / ".muscle-cache/demo/bases/minilm-l3-cls"  # the adapters record it relative to the repository


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    old, new = ADAPTERS / "old-rotten_tomatoes", ADAPTERS / "new-rotten_tomatoes"
    if not (old.is_dir() and new.is_dir() and BASE.is_dir()):
        sys.exit(f"{ADAPTERS}: no demo adapters; run `make demo` first")
    source = (ROOT / "suites/rotten_tomatoes.jsonl").read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="xdist-gate-") as tmp:
        root = Path(tmp)
        (root / "suites").mkdir()
        for k in range(args.copies):
            (root / "suites" / f"rt_{k}.jsonl").write_text(source, encoding="utf-8")
        n = args.copies * source.count("\n")
        (root / "test_plain.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\ndef test_item(i):\n    pass\n"
        )
        models = [f"--muscle-{side}=base={BASE},adapter={path}" for side, path in (("old", old), ("new", new))]
        gate = ["suites", *models, "--muscle-max-nfr=1"]
        warm_cache, cold_cache = root / "warm-cache", root / "cold-cache"
        time_pytest([*gate, f"--muscle-cache-dir={warm_cache}"], root)  # fills the warm cache
        xdist = ["-n", str(args.workers)]
        times: dict[str, list[float]] = {}
        for run in range(args.runs):
            variants = {
                "plain -n 0": ["test_plain.py", "-n", "0"],
                f"plain -n {args.workers}": ["test_plain.py", *xdist],
                "warm -n 0": [*gate, f"--muscle-cache-dir={warm_cache}", "-n", "0"],
                f"warm -n {args.workers}": [*gate, f"--muscle-cache-dir={warm_cache}", *xdist],
                "cold -n 0": [*gate, f"--muscle-cache-dir={cold_cache}", "-n", "0"],
                f"cold -n {args.workers}": [*gate, f"--muscle-cache-dir={cold_cache}", *xdist],
            }
            order = list(variants) if run % 2 == 0 else list(reversed(variants))
            for name in order:
                shutil.rmtree(cold_cache, ignore_errors=True)
                times.setdefault(name, []).append(time_pytest(variants[name], root))
            print(f"run {run + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    w = args.workers
    print(f"\n{n} instances ({args.copies} suites), {args.runs} runs, medians:")
    for name, value in med.items():
        print(f"  {name:<12} {value:6.1f} s")
    plain_ratio = med[f"plain -n {w}"] / med["plain -n 0"]
    warm_ratio = med[f"warm -n {w}"] / med["warm -n 0"]
    cold_ratio = med[f"cold -n {w}"] / med["cold -n 0"]
    print(f"plain pytest -n {w} / -n 0: {plain_ratio:.2f}×  (what xdist itself costs here)")
    print(f"warm gate   -n {w} / -n 0: {warm_ratio:.2f}×  (÷ plain's: {warm_ratio / plain_ratio:.2f})")
    print(f"cold gate   -n {w} / -n 0: {cold_ratio:.2f}×")


if __name__ == "__main__":
    main()
