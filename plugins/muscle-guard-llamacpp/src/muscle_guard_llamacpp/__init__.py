"""muscle-guard backend for GGUF models run by llama.cpp: `--muscle-new=gguf:model.Q4_K_M.gguf`.

`load` is the factory registered in the `muscle_guard.backends` entry-point group under the `gguf` scheme.
Importing this module is cheap: llama_cpp and numpy load only when a model does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.modelref import ModelRef

if TYPE_CHECKING:
    from muscle_guard_llamacpp.backend import LlamaCppBackend

__version__ = "0.1.0"
__all__ = ["load"]


def load(ref: ModelRef, options: RunOptions) -> LlamaCppBackend:
    """Load the GGUF file that `gguf:PATH` names (see backend.LlamaCppBackend)."""
    from muscle_guard_llamacpp.backend import LlamaCppBackend
    from muscle_guard_llamacpp.files import check_gguf

    path = check_gguf(ref)  # file errors come before the (slow) import of llama_cpp
    return LlamaCppBackend.load(ref, path, options)
