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
