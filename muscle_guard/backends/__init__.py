"""Backends: the registry over the `muscle_guard.backends` entry-point group.

An entry point names a factory `(ref: ModelRef, options: RunOptions) -> Backend`. The built-in schemes
(`hf`, `fake`) are registered by muscle-guard's own pyproject and also known here directly, so a source
checkout works without an install. Importing this package never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

from muscle_guard.backends.base import Backend, ChoiceRequest, GenerateRequest, ModelInfo, RunOptions
from muscle_guard.errors import ModelRefError
from muscle_guard.modelref import ModelRef

ENTRY_POINT_GROUP = "muscle_guard.backends"
Factory = Callable[[ModelRef, RunOptions], Backend]

BUILTIN: dict[str, str] = {
    "hf": "muscle_guard.backends.hf:load",
    "fake": "muscle_guard.backends.fake:load",
}
# Schemes served by first-party plugins in plugins/: an absent one names the package to install.
KNOWN_PLUGINS: dict[str, str] = {"gguf": "muscle-guard-llamacpp"}

__all__ = [
    "Backend",
    "ChoiceRequest",
    "GenerateRequest",
    "ModelInfo",
    "RunOptions",
    "available_schemes",
    "get_factory",
    "load_backend",
]


def available_schemes() -> dict[str, str]:
    """Scheme → `module:attr` of every registered backend (entry points win over built-ins)."""
    schemes = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        schemes[ep.name] = ep.value
    return schemes


def get_factory(scheme: str) -> Factory:
    """The factory registered for `scheme`; a clear error when none is installed."""
    target = available_schemes().get(scheme)
    if target is None:
        if scheme in KNOWN_PLUGINS:
            raise ModelRefError(f"no backend for '{scheme}:' references; install it with: pip install {KNOWN_PLUGINS[scheme]}")
        known = ", ".join(sorted(available_schemes()))
        raise ModelRefError(f"unknown model scheme '{scheme}:'; installed backends: {known}")
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelRefError(f"backend '{scheme}' ({target}) failed to import: {exc}") from None
    return factory  # type: ignore[no-any-return]


def load_backend(ref: ModelRef, options: RunOptions | None = None) -> Backend:
    """Load the backend serving `ref` (baseline references are not backends: see muscle_guard.baseline)."""
    return get_factory(ref.scheme)(ref, options or RunOptions())
