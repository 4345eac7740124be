"""One loaded base for every adapter on it: a team's task adapters share their base's weights in memory.

A base-model upgrade gates many adapters, each its own backend. Loading the base once per adapter costs its load
time and its memory again for each one; instead the first adapter on a base loads it as usual (a PeftModel whose
adapter is "default"), and each further adapter on the same base is added to that PeftModel with peft's
`load_adapter` under a name of its own. A backend activates its adapter (`set_adapter`) before each request, so
every forward pass runs exactly one adapter: the results are those of a model loaded alone
(tests/backends/test_hf_shared_base.py checks it bit for bit).

What is shared lives in the run's pool (`RunOptions.extra[SHARED]`, a dict the front end owns: the pytest
plugin keeps one per session): backends opened without one share nothing. Shared: adapter references on the
same base directory, task, device, dtype, class count and trust settings. Not shared: plain models, `--device
map` (accelerate places each model itself), and anything trained (`fix` loads its own models).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from muscle_guard.backends.hf.device import free_memory
from muscle_guard.backends.hf.loading import (
    LoadedModel,
    ModelPlan,
    add_adapter,
    load_model,
    load_tokenizer,
    max_length_of,
)
from muscle_guard.core.backend import SHARED, RunOptions
from muscle_guard.core.modelref import ModelRef

Key = tuple[object, ...]


@dataclass
class _SharedBase:
    """A loaded PeftModel and the adapters in it (adapter directory → peft adapter name)."""

    model: Any
    names: dict[str, str]
    users: int = 0


_POOL_KEY = "hf.bases"


def _bases(options: RunOptions) -> dict[Key, _SharedBase] | None:
    pool = options.extra.get(SHARED)
    if not isinstance(pool, dict):
        return None
    bases: dict[Key, _SharedBase] = pool.setdefault(_POOL_KEY, {})
    return bases


def _key(plan: ModelPlan, options: RunOptions) -> Key | None:
    files = plan.files
    if files.adapter_dir is None or options.device.strip().lower() == "map":
        return None
    return (
        str(files.base_dir.resolve()), plan.task, plan.device_name, plan.dtype_name, files.num_labels,
        files.base_safetensors, options.trust_remote_code, options.allow_pickle,
    )  # fmt: skip


def acquire(ref: ModelRef, options: RunOptions, plan: ModelPlan) -> LoadedModel:
    """`ref` loaded for inference, on the base another backend of this process already loaded when it can be.
    Every `acquire` is matched by one `release`."""
    key, bases = _key(plan, options), _bases(options)
    if key is None or bases is None:
        return load_model(ref, options, plan=plan)
    assert plan.files.adapter_dir is not None
    adapter = str(plan.files.adapter_dir.resolve())
    shared = bases.get(key)
    if shared is None:
        loaded = load_model(ref, options, plan=plan)
        bases[key] = _SharedBase(loaded.model, {adapter: loaded.adapter_name}, users=1)
        return loaded
    name = shared.names.get(adapter)
    if name is None:
        name = f"adapter{len(shared.names)}"
        add_adapter(shared.model, plan.files, name)
        shared.names[adapter] = name
    shared.users += 1
    tokenizer = load_tokenizer(plan.files, options)  # small, and an adapter directory may hold its own
    return LoadedModel(
        model=shared.model,
        tokenizer=tokenizer,
        task=plan.task,
        device=plan.device,
        dtype=plan.dtype,
        base_path=str(plan.files.base_dir),
        adapter_path=adapter,
        files=plan.files,
        max_length=max_length_of(shared.model, tokenizer),
        adapter_name=name,
    )


def activate(loaded: LoadedModel) -> None:
    """Make `loaded`'s adapter the one its (maybe shared) PeftModel runs."""
    several = len(getattr(loaded.model, "peft_config", {})) > 1
    if several and loaded.model.active_adapter != loaded.adapter_name:
        loaded.model.set_adapter(loaded.adapter_name, inference_mode=True)


def release(loaded: LoadedModel, options: RunOptions, plan: ModelPlan) -> None:
    """Drop one user of `loaded`'s base (acquired with `options` and `plan`); the last one frees it."""
    key, bases = _key(plan, options), _bases(options)
    if key is not None and bases is not None and key in bases and bases[key].model is loaded.model:
        shared = bases[key]
        shared.users -= 1
        if shared.users > 0:
            return
        del bases[key]
    free_memory(loaded.device)


def loaded_bases(pool: dict[str, Any]) -> int:
    """How many shared bases a run's pool holds now (for tests and benchmarks)."""
    return len(pool.get(_POOL_KEY, {}))


__all__ = ["acquire", "activate", "loaded_bases", "release"]
