"""What gating two evaluation logs costs (issue #36 point 5): `pytest --muscle-old=lm-eval:v1 --muscle-new=lm-eval:v2`
over two real 1,000-doc lm-eval runs, against the anchor, a plain pytest file of as many trivial tests, measured
interleaved in the same run (each round runs both, in alternating order). Prints the median times and the ratio.

The runs are written once by lm-eval itself (0.4.13, its own venv, as tests/fixtures/eval_logs/make_lm_eval_logs.py
describes) from two tiny random models on a 1,000-doc multiple-choice task, under .muscle-cache/bench/logs/.

    python bench/logs_gate_cost.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _lmeval_common import log_samples, need_lm_eval, write_mc_task  # noqa: E402

WORK = ROOT / ".muscle-cache/bench/logs"
DOCS = 1000


def runs() -> tuple[Path, Path]:
    """Two lm-eval runs of 1,000 docs (written once)."""
    out = WORK / "runs"
    if all((out / name).is_dir() for name in ("v1", "v2")):
        return out / "v1", out / "v2"
    from muscle_guard.testing import tiny_models as tm

    rng = random.Random(3)
    words = ["apple", "river", "stone", "cloud", "green", "happy", "seven", "train", "music", "paper"]
    rows = []
    for i in range(DOCS):
        a, b = rng.sample(words, 2)
        rows.append({"question": f"Which word comes first, {a} or {b}? ({i})", "choices": [f" {a}", f" {b}"],
                     "label": int(b < a)})  # fmt: skip
    WORK.mkdir(parents=True, exist_ok=True)
    data = WORK / "cost_mc.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    tasks = WORK / "tasks"
    write_mc_task(tasks, "cost_mc", data)
    tok = tm.build_tokenizer(WORK / "tok")
    for name, seed in (("v1", 1), ("v2", 2)):
        log_samples(tm.build_causal_lm(WORK / f"model-{name}", tok, seed=seed), "cost_mc", tasks, out / name)
    return out / "v1", out / "v2"


# Bytecode written as usual (these machines set PYTHONDONTWRITEBYTECODE=1, under which every run compiles, and
# pytest re-rewrites the asserts of, every module of its plugins again: a cost users do not pay after a first run).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed(command: list[str], cwd: Path) -> float:
    began = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False, env=ENV)
    if done.returncode not in (0, 1):
        sys.exit(f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    need_lm_eval()
    old, new = runs()
    gate_dir, plain_dir = WORK / "gate", WORK / "plain"
    for folder in (gate_dir, plain_dir):
        folder.mkdir(exist_ok=True)
    # Each folder its own pytest root (the repository's pyproject.toml would otherwise be read).
    (gate_dir / "pyproject.toml").write_text(
        "[tool.pytest.ini_options]\n[tool.muscle-guard]\nmax_nfr = 1.0\n", encoding="utf-8"
    )
    (plain_dir / "pyproject.toml").write_text("[tool.pytest.ini_options]\n", encoding="utf-8")
    (plain_dir / "test_plain.py").write_text(
        "import pytest\n\n\n@pytest.mark.parametrize('i', range(1001))\ndef test_trivial(i):\n    assert i >= 0\n",
        encoding="utf-8",
    )
    quiet = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    gate = [sys.executable, "-m", "pytest", *quiet, f"--muscle-old=lm-eval:{old}", f"--muscle-new=lm-eval:{new}"]
    plain = [sys.executable, "-m", "pytest", *quiet, "test_plain.py"]
    times: dict[str, list[float]] = {"gate": [], "plain": []}
    timed(gate, gate_dir)  # warm the file system cache and the bytecode
    timed(plain, plain_dir)
    for round_ in range(args.rounds):
        order = [("gate", gate, gate_dir), ("plain", plain, plain_dir)]
        for name, command, cwd in order if round_ % 2 == 0 else order[::-1]:
            times[name].append(timed(command, cwd))
    g, p = statistics.median(times["gate"]), statistics.median(times["plain"])
    print(f"gate of two {DOCS}-doc lm-eval runs ({DOCS + 1} tests): median {g:.2f} s over {args.rounds} rounds")
    print(f"plain pytest file of {DOCS + 1} trivial tests:        median {p:.2f} s")
    print(f"ratio {g / p:.2f}× (target ≤ 1.2×)")


if __name__ == "__main__":
    main()
