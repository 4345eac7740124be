"""A gate whose predictions are all cached reads no model weights; a cache miss loads each model once.

The fingerprint that keys the cache comes from the model's files (content hashes of weights, adapter,
tokenizer), so the model itself is only built when something must be computed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.backends.hf import shared
from muscle_guard.testing import tiny_models as tm

QUESTIONS = [
    ("the capital of france is", [" paris", " london"]),
    ("the sun is", [" hot", " cold"]),
    ("a cat is an", [" animal", " apple"]),
]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("warm-pair")
    tok = tm.build_tokenizer(root / "tok")
    base = tm.build_causal_lm(root / "base", tok, seed=0)
    return tm.add_lora_adapter(base, root / "old", seed=1), tm.add_lora_adapter(base, root / "new", seed=2)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The adapters whose weights were loaded, in order, by any HFBackend in this process: with their base, or into
    a base another backend of the run loaded."""
    seen: list[str] = []
    real_load, real_add = shared.load_model, shared.add_adapter

    def counting(ref: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(Path(ref.raw).name)
        return real_load(ref, *args, **kwargs)

    def adding(model: Any, files: Any, name: str) -> None:
        seen.append(Path(files.adapter_dir).name)
        real_add(model, files, name)

    monkeypatch.setattr(shared, "load_model", counting)
    monkeypatch.setattr(shared, "add_adapter", adding)
    return seen


def test_a_warm_gate_loads_no_weights_and_a_cold_one_loads_each_model_once(
    pytester: pytest.Pytester, pair: tuple[Path, Path], loads: list[str]
) -> None:
    old, new = pair
    for name in ("first", "second"):  # two suites: still one load per model
        lines = [
            json.dumps({"id": f"{name}-{i}", "prompt": prompt, "choices": choices, "answer": 0})
            for i, (prompt, choices) in enumerate(QUESTIONS)
        ]
        pytester.makefile(".jsonl", **{f"suites/{name}": "\n".join(lines)})
    args = (f"--muscle-old={old}", f"--muscle-new={new}", "--muscle-max-nfr=1", "-p", "no:cacheprovider")

    cold = pytester.runpytest(*args, "--muscle-report=cold.json")
    assert cold.ret == pytest.ExitCode.OK
    assert sorted(loads) == ["new", "old"]

    loads.clear()
    warm = pytester.runpytest(*args, "--muscle-report=warm.json")
    assert warm.ret == pytest.ExitCode.OK
    assert loads == []
    reports = [json.loads((pytester.path / f"{run}.json").read_text(encoding="utf-8")) for run in ("cold", "warm")]
    assert reports[0]["suites"] == reports[1]["suites"]
    assert reports[0]["old"] == reports[1]["old"]
    assert reports[0]["new"] == reports[1]["new"]


def test_a_warm_gate_without_a_gpu_does_not_import_torch(pytester: pytest.Pytester, pair: tuple[Path, Path]) -> None:
    # Known without torch: a CPU-only torch build, or no trace of an NVIDIA driver (test_hf_device.py).
    from muscle_guard.backends.hf.device import cpu_only_torch, no_cuda_device

    if not (cpu_only_torch() or no_cuda_device()):
        pytest.skip("this machine has an NVIDIA driver: torch must be imported to know whether CUDA works")
    old, new = pair
    lines = [json.dumps({"id": "q0", "prompt": "the sun is", "choices": [" hot", " cold"], "answer": 0})]
    pytester.makefile(".jsonl", **{"suites/one": "\n".join(lines)})
    pytester.makeconftest(
        "import sys\ndef pytest_sessionfinish(session):\n    print('torch imported:', 'torch' in sys.modules)\n"
    )
    args = (f"--muscle-old={old}", f"--muscle-new={new}", "--muscle-max-nfr=1", "-p", "no:cacheprovider", "-s")

    cold = pytester.runpytest_subprocess(*args)
    warm = pytester.runpytest_subprocess(*args)

    assert cold.ret == warm.ret == pytest.ExitCode.OK
    cold.stdout.fnmatch_lines(["*torch imported: True*"])
    warm.stdout.fnmatch_lines(["*torch imported: False*"])


def test_a_run_of_two_pairs_loads_one_base_per_base(
    pytester: pytest.Pytester, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = pytester.path / "models"
    tok = tm.build_tokenizer(root / "tok")
    old_base = tm.build_causal_lm(root / "old-base", tok, seed=0)
    new_base = tm.build_causal_lm(root / "new-base", tok, seed=7)
    adapters = {
        f"{side}-{task}": tm.add_lora_adapter(base, root / f"{side}-{task}", seed=seed)
        for side, base in (("old", old_base), ("new", new_base))
        for task, seed in (("capitals", 1), ("science", 2))
    }
    tables = "".join(
        f'[tool.muscle-guard.pairs.{task}]\nold = "{adapters[f"old-{task}"]}"\nnew = "{adapters[f"new-{task}"]}"\n'
        f'suites = ["{task}"]\n'
        for task in ("capitals", "science")
    )
    pytester.makepyprojecttoml("[tool.muscle-guard]\nmax_nfr = 1.0\n" + tables)
    for task in ("capitals", "science"):
        lines = [
            json.dumps({"id": f"{task}-{i}", "prompt": prompt, "choices": choices, "answer": 0})
            for i, (prompt, choices) in enumerate(QUESTIONS)
        ]
        pytester.makefile(".jsonl", **{f"suites/{task}": "\n".join(lines)})
    base_loads: list[str] = []
    real = shared.load_model

    def by_base(ref: Any, *args: Any, **kwargs: Any) -> Any:
        loaded = real(ref, *args, **kwargs)
        base_loads.append(Path(loaded.base_path).name)
        return loaded

    monkeypatch.setattr(shared, "load_model", by_base)
    run = pytester.runpytest("-p", "no:cacheprovider", "--muscle-report=report.json")

    assert run.ret == pytest.ExitCode.OK
    assert sorted(base_loads) == ["new-base", "old-base"]  # two bases, four adapters
    assert sorted(loads) == ["new-capitals", "new-science", "old-capitals", "old-science"]
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    assert sorted(report["pairs"]) == ["capitals", "science"]
