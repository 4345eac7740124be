"""accelerate's process state, set up so multi-process runs also work on CPU-only machines (gloo)."""

from __future__ import annotations

import os
from typing import Any


def launched_world_size() -> int:
    """Processes of this launch (accelerate launch / torchrun set WORLD_SIZE); 1 when not launched."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def partial_state() -> Any:
    """accelerate's PartialState; on machines without CUDA it asks for the CPU (gloo) backend, since
    accelerate otherwise treats a multi-process CPU launch as one process per machine."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def device_option(device: Any) -> str:
    """accelerate's device as a --device value: "cpu:0" (what a CPU process of a launch reports) is plain "cpu"."""
    return "cpu" if device.type == "cpu" else str(device)


def accelerator_on_cpu(device_option_value: str) -> bool:
    """Whether accelerate must run on the CPU: asked for, or launched as several processes on a machine without
    CUDA, where accelerate would otherwise start one unrelated single-process run per process."""
    import torch

    if device_option_value == "cpu":
        return True
    return launched_world_size() > 1 and not torch.cuda.is_available()


def check_one_group(num_processes: int, command: str) -> None:
    """Several launched processes that did not join one process group would each do the whole job alone and
    write the same outputs: refuse, in one line."""
    from muscle_guard.core.errors import ConfigError

    world = launched_world_size()
    if world > 1 and num_processes != world:
        raise ConfigError(
            f"{command}: launched as {world} processes but they formed a group of {num_processes}; each would "
            "repeat the whole run into the same output. Launch with accelerate's CPU or GPU settings for this "
            "machine (for example accelerate launch --cpu), or run one process"
        )
