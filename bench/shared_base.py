"""Four task adapters on one base: one gate run that loads the base once, against the same run loading it per
adapter and against four separate runs.

    .venv/bin/python bench/shared_base.py [--tasks 4] [--instances 40] [--runs 2]

Base: SmolLM2-135M-Instruct in float32 (demo.assets; installs the package on first use). Each task has a pair of
LoRA adapters on that base, old and new (random, seeded B matrices: what is measured is loading and memory, the
answers only have to differ), and a suite of `--instances` MMLU questions from bench/suites/mmlu.jsonl, its own
slice. The pairs are `[tool.muscle-guard.pairs.taskN]` tables of one pyproject.toml. Whole pytest processes on a
cold cache (`--muscle-no-cache`), interleaved, medians of `--runs`:

- shared: one run gating every pair, adapters sharing their base (peft multi-adapter; what the plugin does);
- unshared: the same run with the run's pool of shared bases taken away (each adapter loads its own base, as
  before this existed);
- separate: one run per pair (`--muscle-old/--muscle-new`, that pair's suite only), wall times summed, peak the
  largest of them.

Prints wall time and peak RSS per variant and the ratios against `shared`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from _pytest_timing import Timing, timed_pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / ".muscle-cache" / "bench" / "shared-base"
MMLU = ROOT / "bench" / "suites" / "mmlu.jsonl"
# Loaded by pytest from the run's rootdir: with BENCH_NO_SHARE set, backends get no pool to share bases in.
CONFTEST = """\
import os

if os.environ.get("BENCH_NO_SHARE"):
    from muscle_guard.backends.hf import shared

    shared._bases = lambda options: None
"""


def adapters(base: Path, tasks: int) -> dict[str, Path]:
    """old-taskN and new-taskN LoRA adapters on `base`, built once into the bench cache."""
    from muscle_guard.testing import tiny_models as tm

    out = {}
    for task in range(tasks):
        for side, offset in (("old", 0), ("new", 100)):
            name = f"{side}-task{task}"
            target = CACHE / name
            if not (target / "adapter_config.json").is_file():
                tm.add_lora_adapter(base, target, seed=1 + task + offset, b_std=0.05)
            out[name] = target
    return out


def project(root: Path, models: dict[str, Path], tasks: int, instances: int) -> None:
    rows = [json.loads(line) for line in MMLU.read_text(encoding="utf-8").splitlines() if line.strip()]
    suites = root / "suites"
    suites.mkdir()
    tables = ["[tool.muscle-guard]\nmax_nfr = 1.0\n"]
    for task in range(tasks):
        chunk = rows[task * instances : (task + 1) * instances]
        (suites / f"task{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in chunk), encoding="utf-8")
        tables.append(
            f'[tool.muscle-guard.pairs.task{task}]\nold = "{models[f"old-task{task}"]}"\n'
            f'new = "{models[f"new-task{task}"]}"\nsuites = ["task{task}"]\n'
        )
    (root / "pyproject.toml").write_text("\n".join(tables), encoding="utf-8")
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")


def separate(root: Path, models: dict[str, Path], tasks: int) -> Timing:
    """One run per pair: wall times add up, the peak is the largest."""
    runs = [
        timed_pytest(
            [f"--muscle-old={models[f'old-task{t}']}", f"--muscle-new={models[f'new-task{t}']}",
             "--muscle-no-cache", f"suites/task{t}.jsonl"],
            root,
        )
        for t in range(tasks)
    ]  # fmt: skip
    return Timing(sum(r.wall for r in runs), max(r.peak_mib for r in runs), max(r.rc for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--instances", type=int, default=40)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    from demo.assets import model_dir

    base = model_dir("smollm2-135m", ROOT / ".muscle-cache" / "assets")
    models = adapters(base, args.tasks)
    results: dict[str, list[Timing]] = {"shared": [], "unshared": [], "separate": []}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        project(root, models, args.tasks, args.instances)
        for _ in range(args.runs):
            results["shared"].append(timed_pytest(["--muscle-no-cache"], root))
            results["unshared"].append(timed_pytest(["--muscle-no-cache"], root, env={"BENCH_NO_SHARE": "1"}))
            results["separate"].append(separate(root, models, args.tasks))
    codes = {name: {t.rc for t in timings} for name, timings in results.items()}
    if any(code != {0} for code in codes.values()):
        raise SystemExit(f"a gate run failed: exit codes {codes}")
    wall = {name: statistics.median(t.wall for t in timings) for name, timings in results.items()}
    peak = {name: statistics.median(t.peak_mib for t in timings) for name, timings in results.items()}
    print(
        f"{args.tasks} task pairs (old and new adapter each) on one SmolLM2-135M base, {args.instances} MMLU "
        f"instances per task, cold cache, median of {args.runs} interleaved runs"
    )
    print(f"{'variant':<10} {'wall s':>8} {'peak MiB':>9} {'wall / shared':>14} {'peak / shared':>14}")
    for name in results:
        print(
            f"{name:<10} {wall[name]:>8.1f} {peak[name]:>9.0f} {wall[name] / wall['shared']:>14.2f} "
            f"{peak[name] / peak['shared']:>14.2f}"
        )


if __name__ == "__main__":
    main()
