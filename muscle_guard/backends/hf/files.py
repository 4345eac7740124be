"""Resolve a ModelRef to local model/adapter directories and vet them before anything heavy loads.

Safety rules live here: safetensors only unless `allow_pickle`, no custom code unless
`trust_remote_code`, hub ids only from a reachable hub (or a complete local snapshot). No torch import.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ADAPTER_CONFIG, MODEL_CONFIG, ModelRef, RefKind, looks_like_hub_id

Task = Literal["causal", "classify"]

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",
    "spiece.model",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "chat_template.jinja",
)
# Files that decide a model's outputs besides weights and tokenizer (generation_config is not among
# them: generation settings are always passed explicitly).
# Config fields an adapter's recorded base and the base in use must agree on.
SHAPE_FIELDS = (
    "model_type",
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
)
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


@dataclass(frozen=True)
class ModelFiles:
    """The local directories a reference resolves to, vetted, plus what was learnt reading them."""

    base_dir: Path
    base_name: str  # as the user or the adapter config gave it (a path or a hub id)
    adapter_dir: Path | None
    task: Task
    base_safetensors: bool
    adapter_safetensors: bool
    tokenizer_dir: Path
    num_labels: int | None = None  # for an adapter's classification head on a base without one
    recorded_base: str | None = None  # base_model_name_or_path of the adapter

    def fingerprint_files(self) -> dict[str, list[Path]]:
        """Files whose content changes predictions, grouped: base, adapter, tokenizer."""
        groups = {"base": [*weight_files(self.base_dir, self.base_safetensors), self.base_dir / MODEL_CONFIG]}
        if self.adapter_dir is not None:
            adapter = weight_files(self.adapter_dir, self.adapter_safetensors)
            groups["adapter"] = [*adapter, self.adapter_dir / ADAPTER_CONFIG]
        groups["tokenizer"] = tokenizer_files(self.tokenizer_dir)
        return groups


def weight_files(directory: Path, safetensors: bool) -> list[Path]:
    """The weight files of `directory` that loading reads (sorted)."""
    return sorted(p for p in directory.iterdir() if p.is_file() and _is_weight(p, safetensors))


def tokenizer_files(directory: Path) -> list[Path]:
    return [directory / name for name in TOKENIZER_FILES if (directory / name).is_file()]


def _is_weight(path: Path, use_safetensors: bool) -> bool:
    name = path.name
    if name.endswith(".safetensors") or name.endswith(".safetensors.index.json"):
        return use_safetensors
    if not use_safetensors and (name.endswith(PICKLE_SUFFIXES) or name.endswith(".bin.index.json")):
        return not name.startswith(("training_args", "optimizer", "scheduler", "rng_state"))
    return False


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelRefError(f"{path}: missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelRefError(f"{path}: unreadable ({exc})") from None
    if not isinstance(data, dict):
        raise ModelRefError(f"{path}: expected a JSON object")
    return data


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hub_offline() -> bool:
    """True when the user switched the hub off (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


def resolve_hub(repo_id: str, options: RunOptions) -> Path:
    """A local snapshot directory of `repo_id`: a complete cached one, else a download when online.

    Offline or unreachable hub → one ModelRefError line telling to pass a local directory; never hangs
    (local_files_only when offline, the hub client's own short timeouts otherwise).
    """
    from huggingface_hub import snapshot_download

    patterns = _HUB_PATTERNS + (["*.bin", "*.pt"] if options.allow_pickle else [])
    try:
        return Path(snapshot_download(repo_id, local_files_only=True, allow_patterns=patterns))
    except Exception:  # any failure here just means "not cached"
        pass
    if hub_offline():
        raise ModelRefError(
            f"{repo_id}: hub id given but the hub is offline (HF_HUB_OFFLINE=1) and the model is not cached; "
            "download it and pass the local directory"
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
    except Exception as exc:  # network, auth and not-found errors all get the same advice
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelRefError(
            f"{repo_id}: cannot fetch from the Hugging Face hub ({reason[:160]}); "
            "download the model and pass the local directory"
        ) from None


def local_dir(name: str, relative_to: Path | None = None) -> Path | None:
    """`name` as an existing local directory (as given, or relative to `relative_to`), else None."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    if relative_to is not None and not path.is_absolute() and (relative_to / path).is_dir():
        return (relative_to / path).resolve()
    return None


def _base_location(name: str, options: RunOptions, adapter_dir: Path | None) -> Path:
    local = local_dir(name, adapter_dir)
    if local is not None:
        return local
    if looks_like_hub_id(name):
        try:
            return resolve_hub(name, options)
        except ModelRefError as exc:
            if adapter_dir is None:
                raise
            raise ModelRefError(
                f"{exc} (base recorded in {adapter_dir / ADAPTER_CONFIG}: pass base=DIR,adapter={adapter_dir})"
            ) from None
    where = f" (recorded in {adapter_dir / ADAPTER_CONFIG})" if adapter_dir is not None else ""
    hint = f"; pass the base explicitly: base=DIR,adapter={adapter_dir}" if adapter_dir is not None else ""
    raise ModelRefError(f"base model {name}{where} does not exist{hint}")


def check_weights(directory: Path, what: str, options: RunOptions) -> bool:
    """Vet the weight files of `directory`; True when safetensors are used."""
    names = [p.name for p in directory.iterdir() if p.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        return True
    pickles = sorted(n for n in names if n.endswith(PICKLE_SUFFIXES) and not n.startswith("training_args"))
    if not pickles:
        raise ModelRefError(f"{directory}: no weights found ({what} needs *.safetensors files)")
    if not options.allow_pickle:
        raise ModelRefError(
            f"{directory}: only pickle weights ({pickles[0]}), which can run code when loaded; convert them to "
            "safetensors (e.g. load and save_pretrained with transformers) or pass --allow-pickle if you trust them"
        )
    return False


def check_remote_code(config_path: Path, config: dict[str, Any], options: RunOptions) -> None:
    if "auto_map" in config and not options.trust_remote_code:
        classes = ", ".join(sorted(str(k) for k in config["auto_map"])) if isinstance(config["auto_map"], dict) else ""
        raise ModelRefError(
            f"{config_path}: the model needs custom code from its directory (auto_map: {classes}); "
            "review that code, then pass --trust-remote-code"
        )


def task_of(model_config: dict[str, Any], adapter_config: dict[str, Any] | None, where: Path) -> Task:
    """'classify' or 'causal': the adapter's task_type wins, else the base's architectures."""
    task_type = (adapter_config or {}).get("task_type")
    if task_type == "SEQ_CLS":
        return "classify"
    if task_type == "CAUSAL_LM":
        return "causal"
    archs = [str(a) for a in model_config.get("architectures") or []]
    if any(a.endswith("ForSequenceClassification") for a in archs):
        return "classify"
    if not archs or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs):
        return "causal"
    raise ModelRefError(
        f"{where}: architecture {archs[0]} is not supported; muscle-guard's hf backend runs causal LMs "
        "(…ForCausalLM) and sequence classifiers (…ForSequenceClassification)"
    )


def check_same_base(recorded: str, in_use: Path, adapter_dir: Path) -> None:
    """Refuse an explicit base that differs (in shape) from the one the adapter recorded, naming both.

    Weight identity of two local bases is checked after this, by content hash (loading.check_same_weights).
    """
    recorded_dir = local_dir(recorded, adapter_dir)
    if recorded_dir is None:
        return  # a hub id or a path from another machine: nothing local to compare with
    if recorded_dir == in_use.resolve():
        return
    theirs = read_json(recorded_dir / MODEL_CONFIG) if (recorded_dir / MODEL_CONFIG).is_file() else {}
    ours = read_json(in_use / MODEL_CONFIG)
    for key in SHAPE_FIELDS:
        if key in theirs and key in ours and theirs[key] != ours[key]:
            raise ModelRefError(
                f"adapter {adapter_dir} was trained on base {recorded} ({key}={theirs[key]}) but base {in_use} "
                f"has {key}={ours[key]}; pass the adapter's own base or retrain the adapter"
            )


def resolve_files(ref: ModelRef, options: RunOptions) -> ModelFiles:
    """Local, vetted directories for `ref` (an adapter, base+adapter, a model directory or a hub id)."""
    if ref.kind in (RefKind.BASELINE, RefKind.SCHEME):
        raise ModelRefError(f"{ref.raw}: not a transformers/peft model reference")
    adapter_dir: Path | None = None
    adapter_config: dict[str, Any] | None = None
    recorded: str | None = None
    if ref.adapter is not None:
        adapter_dir = Path(ref.adapter).expanduser().resolve()
        adapter_config = read_json(adapter_dir / ADAPTER_CONFIG)
        check_remote_code(adapter_dir / ADAPTER_CONFIG, adapter_config, options)
        recorded = str(adapter_config.get("base_model_name_or_path") or "") or None
        if adapter_config.get("peft_type") not in (None, "LORA"):
            raise ModelRefError(
                f"{adapter_dir}: peft_type {adapter_config.get('peft_type')} is not supported (LoRA only)"
            )
    base_name = ref.base or ref.target
    if not base_name:
        raise ModelRefError(f"{ref.raw}: no base model; pass base=DIR,adapter=DIR")
    if ref.kind is RefKind.HUB:
        base_dir = resolve_hub(base_name, options)
    else:
        base_dir = _base_location(base_name, options, adapter_dir)
    config_path = base_dir / MODEL_CONFIG
    if not config_path.is_file():
        raise ModelRefError(f"{base_dir}: no {MODEL_CONFIG}; point at a transformers model directory")
    model_config = read_json(config_path)
    check_remote_code(config_path, model_config, options)
    base_safetensors = check_weights(base_dir, "the base model", options)
    adapter_safetensors = True
    num_labels: int | None = None
    if adapter_dir is not None:
        adapter_safetensors = check_weights(adapter_dir, "the adapter", options)
        if ref.kind is RefKind.BASE_ADAPTER and recorded:
            check_same_base(recorded, base_dir, adapter_dir)
    task = task_of(model_config, adapter_config, config_path)
    if task == "classify" and adapter_dir is not None:
        num_labels = head_size(adapter_dir)
    tokenizer_dir = adapter_dir if adapter_dir is not None and tokenizer_files(adapter_dir) else base_dir
    return ModelFiles(
        base_dir=base_dir,
        base_name=base_name,
        adapter_dir=adapter_dir,
        task=task,
        base_safetensors=base_safetensors,
        adapter_safetensors=adapter_safetensors,
        tokenizer_dir=tokenizer_dir,
        num_labels=num_labels,
        recorded_base=recorded,
    )


def head_size(adapter_dir: Path) -> int | None:
    """Rows of the classification head an adapter saves (modules_to_save), read from the file header.

    A safetensors file starts with the little-endian u64 length of a JSON header naming every tensor's
    shape: read there, without importing torch or touching the weights.
    """
    path = adapter_dir / "adapter_model.safetensors"
    if not path.is_file():
        return None
    for key, entry in safetensors_header(path).items():
        if key.endswith(("classifier.weight", "score.weight", "classifier.out_proj.weight")) and isinstance(
            entry, dict
        ):
            shape = entry.get("shape")
            if isinstance(shape, list) and shape and isinstance(shape[0], int):
                return shape[0]
    return None


def safetensors_header(path: Path) -> dict[str, Any]:
    """The JSON header of a safetensors file (tensor name → dtype, shape, offsets; `__metadata__`)."""
    try:
        with path.open("rb") as handle:
            size = int.from_bytes(handle.read(8), "little")
            if not 2 <= size <= 100_000_000:
                raise ValueError(f"header length {size}")
            header = json.loads(handle.read(size))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ModelRefError(f"{path}: not a readable safetensors file ({exc}); save the adapter again") from None
    if not isinstance(header, dict):
        raise ModelRefError(f"{path}: not a readable safetensors file (header is not an object)")
    return header
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        for key in handle.keys():  # noqa: SIM118 - safe_open is not a Mapping
            if key.endswith(("classifier.weight", "score.weight", "classifier.out_proj.weight")):
                return int(handle.get_slice(key).get_shape()[0])
    return None
