"""The versions of the software that computes predictions, read without importing it.

Versions come from the installed distributions (`importlib.metadata`, which imports nothing), so a process that
never imports torch (an xdist controller, a warm gate) reads what a process that ran the model reads.
"""

from __future__ import annotations

import importlib.metadata
import sys

# Libraries whose versions explain a run, and whose upgrade can change what a model computes.
ML_LIBRARIES = ("torch", "transformers", "peft", "accelerate")


def library_versions(names: tuple[str, ...] = ML_LIBRARIES, imported: bool = True) -> dict[str, str]:
    """name → version for each of `names` that is installed; with `imported`, also for one this process has
    imported from a source tree (no distribution: only the module tells)."""
    out: dict[str, str] = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(sys.modules.get(name), "__version__", None) if imported else None
            if version is not None:
                out[name] = str(version)
    return out


def compute_stack() -> str:
    """One line naming muscle-guard and the libraries a model runs on, e.g. "muscle_guard 0.1.0; torch 2.13.0; …".

    Part of a model's fingerprint: cached predictions are reused only by the same code (an upgrade of
    muscle-guard's scoring, of torch's kernels or of transformers' model code recomputes them). Distributions
    only, never what this process happens to have imported: a warm gate and a cold one must agree.
    """
    import muscle_guard

    parts = {"muscle_guard": muscle_guard.__version__, **library_versions(imported=False)}
    return "; ".join(f"{name} {version}" for name, version in parts.items())
