"""Backends: the registry over the `muscle_guard.backends` entry-point group.

An entry point names a factory `(ref: ModelRef, options: RunOptions) -> Backend`. The built-in schemes
(`hf`, `fake`) are registered by muscle-guard's own pyproject and also known here directly, so a source
checkout works without an install. Importing this package never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points

from muscle_guard.core.backend import Backend, ChoiceRequest, GenerateRequest, ModelInfo, RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ModelRef

ENTRY_POINT_GROUP = "muscle_guard.backends"
Factory = Callable[[ModelRef, RunOptions], Backend]

BUILTIN: dict[str, str] = {
    "hf": "muscle_guard.backends.hf:load",
    "fake": "muscle_guard.backends.fake:load",
    # Evaluation logs: frozen sides that answer from what another tool wrote (PredictionSources, not Backends).
    "lm-eval": "muscle_guard.backends.logs.lm_eval:open_log",
    "inspect": "muscle_guard.backends.logs.inspect:open_log",
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


def _provider(scheme: str) -> str:
    """The distribution that registers `scheme` (for error messages), or '' for a built-in."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == scheme and ep.dist is not None:
            return f"{ep.dist.name} {ep.dist.version}"
    return ""


def get_factory(scheme: str) -> Factory:
    """The factory registered for `scheme`; a clear error when none is installed."""
    target = available_schemes().get(scheme)
    if target is None:
        if scheme in KNOWN_PLUGINS:
            dist = KNOWN_PLUGINS[scheme]
            raise ModelRefError(
                f"no backend for '{scheme}:' references; install it with: pip install {dist} "
                f"(from a muscle-guard checkout: pip install ./plugins/{dist})"
            )
        known = ", ".join(sorted(available_schemes()))
        raise ModelRefError(f"unknown model scheme '{scheme}:'; installed backends: {known}")
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(import_module(module_name), attr)
    except Exception as exc:  # a broken plugin, whatever it raises, is one line, never a traceback
        provider = _provider(scheme)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = f"; reinstall or uninstall {provider.split()[0]}" if provider else ""
        source = f" from {provider}" if provider else ""
        raise ModelRefError(
            f"backend '{scheme}'{source} ({target}) failed to import: {type(exc).__name__}: {detail}{hint}"
        ) from None
    if not callable(factory):
        raise ModelRefError(f"backend '{scheme}' ({target}) is not a factory (ref, options) -> Backend")
    return factory  # type: ignore[no-any-return]


def load_backend(ref: ModelRef, options: RunOptions | None = None) -> Backend:
    """Load the backend serving `ref` (baseline references are not backends: see muscle_guard.core.baseline)."""
    return get_factory(ref.scheme)(ref, options or RunOptions())
