"""`fix` under `accelerate launch --num_processes 2` on CPU (gloo): sharded data, one writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fix.conftest import Pair

DRIVER = """
import torch
torch.set_num_threads(1)
import typer
from muscle_guard.cli.fix import fix
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(fix)
app()
"""


@pytest.mark.slow
@pytest.mark.parametrize("device", [["--device", "cpu"], []], ids=["--device cpu", "default device"])
def test_two_cpu_processes_train_one_adapter(classifier_pair: Pair, tmp_path: Path, device: list[str]) -> None:
    # Without --device, on a machine without CUDA, the processes used to train alone, each the whole run.
    driver = tmp_path / "fix_cli.py"
    driver.write_text(DRIVER, encoding="utf-8")
    out = tmp_path / "out"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "0"]
    args = ["--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train)]
    args += ["--out", str(out), "--epochs", "1", "--lr", "1e-2", "--batch-size", "8", *device]
    args += ["--pyproject", str(tmp_path / "none.toml")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([*launch, str(driver), *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    record = json.loads((out / "muscle_fix.json").read_text())
    assert record["processes"] == 2
    assert (
        record["schedule"]["batches_per_epoch"] == 13
    )  # 200 training instances (100 validate) / 2 processes / batch 8
    assert [e["epoch"] for e in record["epochs"]] == [1]
    assert (out / "adapter_model.safetensors").is_file()
    # The default ships the mean of the last epochs (here epoch 1 alone); no temp dirs left.
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["average", "epoch-1"]
    assert done.stderr.count("fix: shipped ") == 1  # messages from the main process only
