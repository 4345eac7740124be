"""The `hf` backend: transformers models and peft LoRA adapters (causal LMs and sequence classifiers).

`load` is the entry point registered for the `hf` scheme. This module imports nothing heavy; torch,
transformers and peft load when a model does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.modelref import ModelRef

if TYPE_CHECKING:
    from muscle_guard.backends.hf.backend import HFBackend

__all__ = ["load"]


def load(ref: ModelRef, options: RunOptions) -> HFBackend:
    """Load the model `ref` names and return a backend serving it (see backend.HFBackend)."""
    from muscle_guard.backends.hf.backend import HFBackend

    return HFBackend.load(ref, options)
