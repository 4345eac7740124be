"""HFBackend: batched predictions over a loaded model (work in progress: loading only)."""

from __future__ import annotations

from muscle_guard.backends.base import RunOptions
from muscle_guard.errors import BackendError
from muscle_guard.modelref import ModelRef


class HFBackend:
    """Placeholder until the batched scoring lands; `loading.load_model` is usable already."""

    @classmethod
    def load(cls, ref: ModelRef, options: RunOptions) -> HFBackend:
        raise BackendError(f"{ref.raw}: the hf backend's predictions are not implemented yet in this checkout")
