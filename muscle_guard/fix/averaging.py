"""Checkpoint weight averaging (`--select average`): ship the mean of the last epochs' adapters, not one epoch.

One epoch's validation NFR on a few hundred instances moves by several flips from epoch to epoch (issue #16
measured 5, 7, 24, 14, 20, 11, ... on one run), so picking the epoch with the lowest one picks noise. The
uniform average of the adapter weights of the last ⌈E/2⌉ epochs (stochastic weight averaging over epochs, cheap
for a LoRA: a few MB per checkpoint) is one model whose answers do not hinge on where the last step landed.

LoRA's A and B matrices (and a classifier's trained head) are averaged entry by entry, as LoRA soups do; the
mean of products B·A is not the product of means, but the epochs being averaged lie on one late, slowly moving
stretch of a single run from one start, where the two are close. The average is read from the epoch
checkpoints on disk, so it is the same after `--resume`.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import FixError
from muscle_guard.fix.checkpoint import CHECKPOINTS, epoch_dir

AVERAGE = "average"
WEIGHTS = "adapter_model.safetensors"


def averaged_epochs(epochs: int) -> list[int]:
    """The epochs (1-based) whose adapters `--select average` averages: the last ⌈epochs/2⌉."""
    return list(range(epochs - math.ceil(epochs / 2) + 1, epochs + 1))


def average_dir(out: Path) -> Path:
    return out / CHECKPOINTS / AVERAGE


def mean_weights(paths: Sequence[Path]) -> dict[str, Any]:
    """The entry-wise mean of adapter weight files with the same tensors (accumulated in float64)."""
    import torch
    from safetensors.torch import load_file

    if not paths:
        raise ValueError("no checkpoints to average")
    total: dict[str, Any] = {}
    dtypes: dict[str, Any] = {}
    for path in paths:
        weights = load_file(str(path))
        if total and set(weights) != set(total):
            raise FixError(f"{path}: other tensors than the checkpoints before it; they cannot be averaged")
        for name, tensor in weights.items():
            dtypes.setdefault(name, tensor.dtype)
            total[name] = total.get(name, torch.zeros(tensor.shape, dtype=torch.float64)) + tensor.double()
    return {name: (t / len(paths)).to(dtypes[name]) for name, t in total.items()}


def load_average(model: Any, out: Path, epochs: Sequence[int]) -> None:
    """Load the mean of `epochs`' adapters (OUT/checkpoints/epoch-N) into `model`, a PeftModel."""
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(model, mean_weights([epoch_dir(out, e) / WEIGHTS for e in epochs]))


def save_average(out: Path, model: Any) -> Path:
    """Save `model`'s adapter as OUT/checkpoints/average/, atomically. A plain adapter without trainer state, so
    `--resume` never mistakes it for a place to continue."""
    from muscle_guard.fix.checkpoint import replace_dir

    target = average_dir(out)
    tmp = target.parent / f".{target.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    replace_dir(tmp, target)
    return target
