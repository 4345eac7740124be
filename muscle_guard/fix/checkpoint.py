"""Training checkpoints: `OUT/checkpoints/epoch-N/` (and `interrupted/` after Ctrl-C), written atomically.

A checkpoint is a normal PEFT adapter directory (usable as a model reference as is) plus
`training_state.pt` (optimizer, scheduler, RNG states; plain tensors, loaded with weights_only=True) and
`trainer_state.json` (where training stands and the metrics so far). It is written to a temporary sibling
directory and renamed into place, so a crash leaves either the old checkpoint or the new one.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import FixError

CHECKPOINTS = "checkpoints"
INTERRUPTED = "interrupted"
STATE_JSON = "trainer_state.json"
STATE_PT = "training_state.pt"
ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# A write in progress is .NAME.tmp-PID; a checkpoint being replaced is moved aside to .NAME.old-PID first.
_LEFTOVER = re.compile(r"^\.(epoch-\d+|interrupted|adapter_config\.json|adapter_model\.safetensors)\.(tmp|old)-(\d+)$")


@dataclass
class TrainState:
    """Where training stands. `epoch` counts completed epochs; `batches_done` the micro-batches of the current
    epoch already applied (always at an optimizer-step boundary); `history` one dict of metrics per epoch."""

    epoch: int = 0
    batches_done: int = 0
    global_step: int = 0
    loss_sum: float = 0.0
    loss_count: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str = ""  # hash of the training configuration and data: resume refuses a different one

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{k: data[k] for k in asdict(cls()) if k in data})


def epoch_dir(out: Path, epoch: int) -> Path:
    return out / CHECKPOINTS / f"epoch-{epoch}"


def rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _running(pid: int) -> bool:
    """Whether `pid` is a live process on this machine (a writer on another host sharing OUT looks dead)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError, ValueError):
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_leftovers(directory: Path) -> list[Path]:
    """Clear what a process killed mid-write (SIGKILL, power loss) left in `directory`: its `.NAME.tmp-PID`
    entries are removed; a `.NAME.old-PID` (a whole checkpoint moved aside to be replaced) is put back as NAME
    when NAME is missing, else removed. Entries of a process still running, and any other name, are kept.
    Returns the leftovers removed or restored."""
    touched = []
    entries = sorted(directory.iterdir()) if directory.is_dir() else []
    for path in entries:
        match = _LEFTOVER.match(path.name)
        if match is None or _running(int(match.group(3))):
            continue
        name, kind = match.group(1), match.group(2)
        if kind == "old" and not (directory / name).exists():
            os.replace(path, directory / name)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        touched.append(path)
    return touched


def save_checkpoint(target: Path, model: Any, optimizer: Any, scheduler: Any, state: TrainState) -> None:
    """Write a checkpoint directory atomically (temp dir + rename; an existing one is replaced)."""
    import torch

    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(target.parent)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save_pretrained(str(tmp))
        torch.save(
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
            tmp / STATE_PT,
        )
        (tmp / STATE_JSON).write_text(json.dumps(state.to_json(), indent=2) + "\n", encoding="utf-8")
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def replace_dir(src: Path, target: Path) -> None:
    """Move `src` to `target`; an existing `target` is moved aside first and removed after."""
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(src, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, target)


def read_state(directory: Path) -> TrainState:
    try:
        return TrainState.from_json(json.loads((directory / STATE_JSON).read_text(encoding="utf-8")))
    except (OSError, json.JSONDecodeError, TypeError) as exc:
        raise FixError(f"{directory}: unreadable checkpoint ({exc}); delete it or start without --resume") from None


def latest_checkpoint(out: Path) -> Path | None:
    """The checkpoint furthest along (an `interrupted/` one wins over the epoch it stopped in)."""
    root = out / CHECKPOINTS
    if not root.is_dir():
        return None
    sweep_leftovers(root)
    found: list[tuple[int, int, Path]] = []
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and (path / STATE_JSON).is_file():
            state = read_state(path)
            found.append((state.global_step, 1 if path.name == INTERRUPTED else 0, path))
    return max(found)[2] if found else None


def load_checkpoint(directory: Path, model: Any, optimizer: Any, scheduler: Any) -> TrainState:
    """Restore adapter weights, optimizer, scheduler and RNG from `directory`; returns its TrainState."""
    import torch
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    state = read_state(directory)
    weights = load_file(str(directory / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    blob = torch.load(directory / STATE_PT, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    return state


def export_adapter(checkpoint: Path, out: Path, base: str | None) -> None:
    """Copy the adapter of `checkpoint` to `out` (file by file, each atomically); `base` is recorded as the
    adapter's base_model_name_or_path when given."""
    out.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out)
    for name in ADAPTER_FILES:
        tmp = out / f".{name}.tmp-{os.getpid()}"
        if name == "adapter_config.json" and base is not None:
            config = json.loads((checkpoint / name).read_text(encoding="utf-8"))
            config["base_model_name_or_path"] = base
            tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        else:
            shutil.copyfile(checkpoint / name, tmp)
        os.replace(tmp, out / name)
