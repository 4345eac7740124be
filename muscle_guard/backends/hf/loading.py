"""Load a transformers model (+ a peft LoRA adapter) from a ModelRef: the one way models get loaded.

Used by the hf backend for predictions and by `muscle-guard fix` for teachers and students.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muscle_guard.backends.hf.device import device_name_for, dtype_name, dtype_name_for
from muscle_guard.backends.hf.files import ModelFiles, Task, local_dir, read_json, resolve_files, weight_files
from muscle_guard.backends.hf.fingerprint import FileHasher, group_digest
from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import MODEL_CONFIG, ModelRef

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to run: the (peft-wrapped) module, its tokenizer and where it came from.

    `model` is a `PeftModel` when an adapter was given, else the transformers model. `tokenizer` always
    has a pad token (eos or unk when the checkpoint has none). With `trainable=True` the LoRA parameters
    require grad; the module is left in eval mode either way (dropout off) — call `.train()` yourself.
    """

    model: Any
    tokenizer: Any
    task: Task
    device: torch.device
    dtype: torch.dtype
    base_path: str
    adapter_path: str | None
    files: ModelFiles
    max_length: int
    adapter_name: str = "default"  # the peft adapter of `model` to run (a shared base holds several)

    @property
    def has_adapter(self) -> bool:
        return self.adapter_path is not None

    @property
    def plan(self) -> ModelPlan:
        return ModelPlan(self.files, str(self.device), self.dtype_name)

    @property
    def dtype_name(self) -> str:
        return dtype_name(self.dtype)


@contextlib.contextmanager
def _quiet_loading(progress: bool) -> Iterator[None]:
    # transformers draws its own "Loading weights" bar; keep stderr clean unless progress is wanted, and, as
    # our own bars, only on a terminal (in CI logs and pipes a bar is just noise around the one error line).
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped module functions
    was_enabled = hf_logging.is_progress_bar_enabled()
    quiet = not (progress and sys.stderr.isatty())
    if quiet and was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if quiet and was_enabled:
            hf_logging.enable_progress_bar()


@dataclass(frozen=True)
class ModelPlan:
    """What loading a reference will give, learnt from its files alone: no weights are read.

    Enough for the fingerprint and the model's description, so a run whose predictions are all cached
    never loads the model (see HFBackend), nor, on a CPU-only torch build, imports torch.
    """

    files: ModelFiles
    device_name: str  # resolved: cpu, cuda, cuda:N or mps
    dtype_name: str  # resolved: float32, bfloat16 or float16

    @property
    def task(self) -> Task:
        return self.files.task

    @property
    def device(self) -> torch.device:
        import torch

        return torch.device(self.device_name)

    @property
    def dtype(self) -> torch.dtype:
        import torch

        dtype: torch.dtype = getattr(torch, self.dtype_name)
        return dtype

    @property
    def num_labels(self) -> int:
        """The classifier's class count as transformers will build it: the adapter's saved head, else the
        base config's `id2label` (or `num_labels`), else transformers' default of 2."""
        if self.files.num_labels is not None:
            return self.files.num_labels
        config = read_json(self.files.base_dir / MODEL_CONFIG)
        id2label = config.get("id2label")
        if isinstance(id2label, dict) and id2label:
            return len(id2label)
        declared = config.get("num_labels")
        return declared if isinstance(declared, int) and declared > 0 else 2


def plan_model(ref: ModelRef, options: RunOptions) -> ModelPlan:
    """Resolve and vet `ref` and choose its device and dtype, without loading it.

    Raises ModelRefError for references that cannot be used (missing, pickle-only, custom code, an
    adapter on another base) and ConfigError for a bad device or dtype.
    """
    files = resolve_files(ref, options)
    device = device_name_for(options.device)
    dtype = dtype_name_for(options.dtype, device)
    if files.adapter_dir is not None and files.recorded_base:
        check_same_weights(files, FileHasher(options.extra.get("hash_cache_dir")))
    return ModelPlan(files, device, dtype)


def load_model(
    ref: ModelRef, options: RunOptions, *, trainable: bool = False, plan: ModelPlan | None = None
) -> LoadedModel:
    """Load `ref` on the device and dtype of `options` (after `plan_model`, unless its plan is given)."""
    plan = plan or plan_model(ref, options)
    files, device, dtype = plan.files, plan.device, plan.dtype
    with _quiet_loading(options.progress):
        tokenizer = load_tokenizer(files, options)
        model = _load_base(files, options, device, dtype, tokenizer)
        if files.adapter_dir is not None:
            model = _load_adapter(model, files, trainable)
    if not trainable:
        model.requires_grad_(False)
    model.eval()
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        task=files.task,
        device=device,
        dtype=dtype,
        base_path=str(files.base_dir),
        adapter_path=str(files.adapter_dir) if files.adapter_dir is not None else None,
        files=files,
        max_length=max_length_of(model, tokenizer),
    )


def check_same_weights(files: ModelFiles, hasher: FileHasher) -> None:
    """An explicit base must hold the same weights as the adapter's recorded base, when that is local."""
    if files.adapter_dir is None or files.recorded_base is None:
        return
    recorded_dir = local_dir(files.recorded_base, files.adapter_dir)
    if recorded_dir is None or recorded_dir == files.base_dir.resolve():
        return
    ours = weight_files(files.base_dir, files.base_safetensors)
    theirs = weight_files(recorded_dir, files.base_safetensors)
    if not theirs:
        return  # nothing comparable there (e.g. a different weight format): config checks already ran
    same = group_digest(hasher, ours) == group_digest(hasher, theirs)
    hasher.save()
    if not same:
        raise ModelRefError(
            f"adapter {files.adapter_dir} was trained on base {files.recorded_base} but base {files.base_dir} "
            "has different weights; pass the adapter's own base or retrain the adapter on this one"
        )


def load_tokenizer(files: ModelFiles, options: RunOptions) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(files.tokenizer_dir), local_files_only=True, trust_remote_code=options.trust_remote_code
        )
    except (OSError, ValueError) as exc:
        raise ModelRefError(f"{files.tokenizer_dir}: cannot load the tokenizer ({_first_line(exc)})") from None
    if tokenizer.pad_token is None:
        # Any token will do: padded positions are always masked out.
        tokenizer.pad_token = tokenizer.unk_token or tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise ModelRefError(f"{files.tokenizer_dir}: the tokenizer has no pad, unk or eos token to pad batches with")
    return tokenizer


def _load_base(files: ModelFiles, options: RunOptions, device: torch.device, dtype: torch.dtype, tokenizer: Any) -> Any:
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    auto: Any = AutoModelForSequenceClassification if files.task == "classify" else AutoModelForCausalLM
    kwargs: dict[str, Any] = {
        "dtype": dtype,
        "local_files_only": True,
        "trust_remote_code": options.trust_remote_code,
        "use_safetensors": files.base_safetensors,
    }
    if files.num_labels is not None:
        kwargs["num_labels"] = files.num_labels
    spread = options.device.strip().lower() == "map"
    if spread:
        # Too big for one device: accelerate places layers over the GPUs, then CPU memory.
        kwargs["device_map"] = "auto"
    elif device.type == "cuda":
        # Load straight onto the GPU (accelerate), without a full copy in CPU memory first.
        kwargs["device_map"] = {"": device}
    try:
        model = auto.from_pretrained(str(files.base_dir), **kwargs)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelRefError(f"{files.base_dir}: cannot load the model ({_first_line(exc)})") from None
    if device.type != "cuda" and not spread:
        model.to(device)
    if files.task == "classify" and getattr(model.config, "pad_token_id", None) is None:
        # Decoder classifiers find each text's last token by the pad id.
        model.config.pad_token_id = tokenizer.pad_token_id
    return model


def _load_adapter(model: Any, files: ModelFiles, trainable: bool) -> Any:
    from peft import PeftModel

    assert files.adapter_dir is not None
    with _fitting(files):
        return PeftModel.from_pretrained(model, str(files.adapter_dir), is_trainable=trainable)


def add_adapter(model: Any, files: ModelFiles, name: str) -> None:
    """Load the adapter of `files` into the PeftModel `model` under `name`, beside the adapters it has."""
    assert files.adapter_dir is not None
    with _fitting(files):
        model.load_adapter(str(files.adapter_dir), adapter_name=name, is_trainable=False)
    model.requires_grad_(False)


@contextlib.contextmanager
def _fitting(files: ModelFiles) -> Iterator[None]:
    """Loading an adapter: a mismatch with the base is one line that says what to do."""
    try:
        with warnings.catch_warnings():
            # peft 0.21 calls an API that transformers 5 deprecates: noise for our users.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            yield
    except (RuntimeError, ValueError, KeyError, OSError) as exc:
        raise ModelRefError(
            f"adapter {files.adapter_dir} does not fit base {files.base_name} ({_first_line(exc)[:200]}); "
            "was it trained on another base? pass its own base as base=DIR,adapter=DIR"
        ) from None


def max_length_of(model: Any, tokenizer: Any) -> int:
    """Longest sequence the model accepts (positions in its config, else the tokenizer's limit)."""
    config = model.config
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length", "n_ctx"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    limit = getattr(tokenizer, "model_max_length", None)
    return limit if isinstance(limit, int) and 0 < limit < 1_000_000 else 2048


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def model_identity(files: ModelFiles, hasher: FileHasher) -> dict[str, str]:
    """Content digests of the base, adapter and tokenizer files (see fingerprint.py)."""
    return {group: group_digest(hasher, paths) for group, paths in files.fingerprint_files().items()}


__all__ = [
    "LoadedModel",
    "ModelPlan",
    "add_adapter",
    "load_model",
    "load_tokenizer",
    "max_length_of",
    "model_identity",
    "plan_model",
]
