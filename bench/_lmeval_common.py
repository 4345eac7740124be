"""What the benchmarks against lm-evaluation-harness share (bench/mc_vs_lm_eval.py, bench/gen_vs_lm_eval.py).

lm-eval runs in its own venv (see either script's docstring), as a long-lived server process for the
interleaved measurements and as `lm_eval run` for the end-to-end ones; muscle-guard runs in this process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from muscle_guard.core.backend import Backend, RunOptions
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.core.registry import load_backend
from muscle_guard.core.suite import Instance, Suite

ROOT = Path(__file__).resolve().parent.parent
LMEVAL_PYTHON = ROOT / ".muscle-cache/bench/lmeval-venv/bin/python"
TASKS = ROOT / "bench/lm_eval_tasks"
LMEVAL_BATCH = 16
SERVER_LOG = ROOT / ".muscle-cache/bench/lm-eval-server.log"
LMEVAL_BIN = LMEVAL_PYTHON.parent
OFFLINE = {**os.environ, "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
# A two-choice task over a JSON Lines file of {"question", "choices", "label"} (bench/logs_gate_cost.py,
# bench/paired_vs_unpaired.py): lm-eval scores "Question: ...\nAnswer:" + each choice, metric acc.
MC_TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_choice: choices
doc_to_target: label
target_delimiter: ""
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""


def need_lm_eval() -> None:
    if not (LMEVAL_BIN / "lm_eval").exists():
        sys.exit(f"{LMEVAL_BIN}: no lm-eval venv; see tests/fixtures/eval_logs/make_lm_eval_logs.py")


def write_mc_task(tasks: Path, name: str, data: Path) -> None:
    """`tasks/NAME.yaml`: MC_TASK over `data`, for `lm_eval run --include_path tasks`."""
    tasks.mkdir(parents=True, exist_ok=True)
    (tasks / f"{name}.yaml").write_text(MC_TASK.format(name=name, data=data), encoding="utf-8")


def log_samples(model: Path, task: str, tasks: Path, out: Path, *extra: str, quiet: bool = False) -> Path:
    """`lm_eval run` of a local hf model on one task of `tasks`, samples logged under `out`, offline, on CPU."""
    subprocess.run(
        [str(LMEVAL_BIN / "lm_eval"), "run", "--model", "hf", "--model_args", f"pretrained={model},dtype=float32",
         "--tasks", task, "--include_path", str(tasks), "--log_samples", "--output_path", str(out),
         "--device", "cpu", "--batch_size", "32", *extra],
        check=True, env=OFFLINE, capture_output=quiet,
    )  # fmt: skip
    return out


# Runs lm-eval's own command line, timing HFLM's construction (model load) and its request calls:
# loglikelihood as "score", generate_until as "generate".
DRIVER = """
import json, sys, time
start = time.perf_counter()
from lm_eval.models.huggingface import HFLM
times = {"load": 0.0}
init = HFLM.__init__
def timed_init(self, *args, **kwargs):
    t = time.perf_counter(); init(self, *args, **kwargs); times["load"] += time.perf_counter() - t
HFLM.__init__ = timed_init
def timed(method, key):
    def call(self, *args, **kwargs):
        t = time.perf_counter(); out = method(self, *args, **kwargs)
        times[key] = times.get(key, 0.0) + time.perf_counter() - t; return out
    return call
HFLM.loglikelihood = timed(HFLM.loglikelihood, "score")
HFLM.generate_until = timed(HFLM.generate_until, "generate")
report, sys.argv = sys.argv[1], ["lm_eval", *sys.argv[2:]]
from lm_eval.__main__ import cli_evaluate
try:
    cli_evaluate()
finally:
    times["in_process"] = time.perf_counter() - start
    json.dump(times, open(report, "w"))
"""

# A long-lived lm-eval process: HFLM as `--model hf` builds it, answering chunks of requests sent as JSON
# lines [method, [arguments, ...]] ("loglikelihood": [context, continuation]; "generate_until": [context,
# gen_kwargs]), so that both sides can take turns chunk by chunk on a machine whose load moves.
SERVER = """
import json, sys, time
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
model, batch = sys.argv[1], int(sys.argv[2])
t, c = time.perf_counter(), time.process_time()
lm = HFLM(pretrained=model, dtype="float32", device="cpu", batch_size=batch)
plain = lm.tokenizer("muscle", add_special_tokens=False)["input_ids"]
print(json.dumps({"load": time.perf_counter() - t, "load_cpu": time.process_time() - c,
                  "prefix": lm.tok_encode("muscle")[: -len(plain)] if plain else []}), flush=True)
for line in sys.stdin:
    method, args = json.loads(line)
    requests = [Instance(method, {}, tuple(a), i) for i, a in enumerate(args)]
    t, c = time.perf_counter(), time.process_time()
    out = getattr(lm, method)(requests)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    print(json.dumps({"wall": wall, "cpu": cpu, "out": out}, default=float), flush=True)
"""


@dataclass
class Clock:
    """Wall and CPU seconds, summed over the pieces of one measurement."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def add(self, wall: float, cpu: float) -> None:
        self.wall.append(wall)
        self.cpu.append(cpu)


@contextmanager
def clocked(clock: Clock) -> Iterator[None]:
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    clock.add(time.perf_counter() - wall, time.process_time() - cpu)


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def env_for(threads: int | None) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def check_lm_eval(python: Path) -> None:
    if not python.is_file():
        sys.exit(f"{python}: no lm-eval venv; see this script's docstring")


def setup_torch(threads: int | None) -> Any:
    """torch (and transformers) imported before any timing, as lm-eval's side has them imported; threads set."""
    import torch
    import transformers  # noqa: F401

    if threads:
        torch.set_num_threads(threads)
    return torch


class LmEvalServer:
    """The long-lived lm-eval process of SERVER."""

    def __init__(self, python: Path, model: Path, threads: int | None, log: Path = SERVER_LOG) -> None:
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [str(python), "-c", SERVER, str(model), str(LMEVAL_BATCH)],
            cwd=ROOT, env=env_for(threads), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"),
            text=True,
        )  # fmt: skip
        self.hello = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            sys.exit(f"the lm-eval server stopped ({self.process.wait()}); see {self.log}")
        out: dict[str, Any] = json.loads(line)
        return out

    def call(self, method: str, args: Sequence[Sequence[Any]], clock: Clock) -> list[Any]:
        """HFLM.`method` on one request per item of `args`; its results in order, its time added to `clock`."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps([method, args]) + "\n")
        self.process.stdin.flush()
        reply = self._read()
        clock.add(reply["wall"], reply["cpu"])
        out: list[Any] = reply["out"]
        return out

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def run_lm_eval(
    python: Path,
    model: Path,
    task: str,
    limit: int,
    out: Path,
    threads: int | None,
    extra: Sequence[str] = (),
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """One `lm_eval run` of `task`: its timings (load, requests, wall, CPU) and the samples it logs."""
    command = [
        str(python), "-c", DRIVER, str(out / "times.json"), "run", "--model", "hf",
        "--model_args", f"pretrained={model},dtype=float32", "--device", "cpu", "--batch_size", str(LMEVAL_BATCH),
        "--tasks", task, "--include_path", str(TASKS), "--log_samples", "--output_path", str(out / "lm-eval"),
        *extra,
    ]  # fmt: skip
    if limit:
        command += ["--limit", str(limit)]
    env = env_for(threads)
    env["HF_HOME"] = str(out / "hf-home")  # the json dataset is prepared afresh, as on a first run
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    if done.returncode != 0:
        sys.exit(f"lm-eval failed ({done.returncode}):\n{done.stderr[-4000:]}")
    times = json.loads((out / "times.json").read_text())
    times.update(wall=wall, cpu=cpu)
    (samples,) = (out / "lm-eval").rglob(f"samples_{task}_*.jsonl")
    return times, [json.loads(line) for line in samples.read_text().splitlines()]


def run_cli(
    model: Path, suite: Suite, out: Path, threads: int | None, pyproject: Path | None = None
) -> tuple[float, float]:
    """`muscle-guard predict` end to end with an empty cache: (wall, CPU) seconds, interpreter start included.

    It writes its baseline to out/cli-baseline.jsonl; with no `pyproject`, the suite's settings are the defaults.
    """
    lines = suite.path.read_text(encoding="utf-8").splitlines(keepends=True)
    path = out / suite.path.name  # the same instances as the lm-eval task (all of them, or the first --limit)
    path.write_text("".join(lines[: suite.instances[-1].line]), encoding="utf-8")
    command = [
        str(Path(sys.executable).with_name("muscle-guard")), "predict", str(model), str(path),
        "-o", str(out / "cli-baseline.jsonl"), "--cache-dir", str(out / "cli-cache"),
        "--device", "cpu", "--dtype", "float32", "--pyproject", str(pyproject or out / "none.toml"),
    ]  # fmt: skip
    cpu, start = children_cpu(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env_for(threads), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"muscle-guard predict failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return time.perf_counter() - start, children_cpu() - cpu


def load(model: Path, *, weights: bool = True) -> Backend:
    """The hf backend of `model`; with `weights` its model is loaded now (as lm-eval's HFLM loads at
    construction), else on its first request, as the plugin does (a run served from the cache loads none)."""
    backend = load_backend(parse_model_ref(str(model)), RunOptions(device="cpu", dtype="float32", progress=False))
    if weights:
        _ = getattr(backend, "loaded", None)
    return backend


def part(suite: Suite, instances: Sequence[Instance]) -> Suite:
    return Suite(suite.name, suite.path, suite.shape, tuple(instances))


Turn = Callable[[Sequence[Instance]], None]


def interleave(suite: Suite, chunk: int, lm_turn: Turn, our_turn: Turn, lm_clock: Clock, our_clock: Clock) -> int:
    """Both sides take turns on chunks of `chunk` instances, alternating which goes first; the number of chunks."""
    n = len(suite)
    chunks = [suite.instances[i : i + chunk] for i in range(0, n, chunk)]
    for k, instances in enumerate(chunks):
        for turn in (lm_turn, our_turn) if k % 2 == 0 else (our_turn, lm_turn):
            turn(instances)
        print(
            f"chunk {k + 1}/{len(chunks)}: lm-eval {lm_clock.wall[-1]:.1f} s, ours {our_clock.wall[-1]:.1f} s",
            flush=True,
        )
    return len(chunks)


def table_header() -> None:
    print(
        f"\n| {'measurement (same run)':<50} | {'wall s':>9} | {'CPU s':>9} | {'inst/s':>8} | {'wall ×':>8} | {'CPU ×':>8} |"
    )
    print(f"|{'-' * 52}|{'-' * 11}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 10}|")


def table_row(label: str, clock: Clock, anchor: Clock | None, instances: int = 0) -> None:
    """One Markdown row: seconds, instances per second, and the anchor's time over this one (speed-up)."""
    w, c = sum(clock.wall), sum(clock.cpu)
    per = f"{instances / w:8.2f}" if instances else " " * 8
    if anchor:
        ratios = f"{sum(anchor.wall) / w:7.2f}× | {sum(anchor.cpu) / max(c, 1e-9):7.2f}×"
    else:
        ratios = f"{'anchor':>8} | {'anchor':>8}"
    print(f"| {label:<50} | {w:9.2f} | {c:9.2f} | {per} | {ratios} |")
