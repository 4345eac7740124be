"""LlamaCppBackend: muscle-guard's Backend protocol over a GGUF model run by llama.cpp.

Settings come from RunOptions (device: cpu, or auto/cuda to offload every layer when llama.cpp was built
with a GPU; batch_size: requests per decode call), `options.extra` (n_ctx, n_threads, pack_tokens,
kv_type) or the environment (MUSCLE_GUARD_LLAMACPP_N_CTX, _N_THREADS, _PACK_TOKENS, _KV_TYPE, _VERBOSE).

By default each request gets its own decode call (all choices of a prompt still share it). On quantized
weights llama.cpp's numbers depend on what else is in the call (activations are quantized, so summation
order differences grow to ~0.1 nats), so batching across requests would make an instance's answer depend
on its neighbours in the suite; one call per request gives what llama.cpp computes for that prompt alone,
as a deployment serving it would. A batch_size opts into cross-request batching (faster on GPUs).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, ModelInfo, RunOptions
from muscle_guard.core.errors import BackendError, ModelRefError
from muscle_guard.core.modelref import ModelRef
from muscle_guard_llamacpp import __version__
from muscle_guard_llamacpp.engine import DEFAULT_N_CTX, EngineSettings, LlamaEngine
from muscle_guard_llamacpp.files import file_sha256, fingerprint
from muscle_guard_llamacpp.generation import Generator
from muscle_guard_llamacpp.scoring import DEFAULT_PACK_TOKENS, ChoiceScorer

ENV_PREFIX = "MUSCLE_GUARD_LLAMACPP_"
# Bump when scoring or generation changes what they return: cached predictions of older runs are then unused.
METHOD_REVISION = 1
KV_TYPES = ("f16", "f32")


def _setting(options: RunOptions, key: str, default: int) -> int:
    value: Any = options.extra.get(key, os.environ.get(ENV_PREFIX + key.upper(), default))
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = -1
    if number < 0 or (number == 0 and key != "n_threads"):
        source = f"{ENV_PREFIX}{key.upper()}" if key not in options.extra else f"option {key}"
        raise ModelRefError(f"gguf: {source} must be a positive whole number, got {value!r}")
    return number


def engine_settings(options: RunOptions) -> EngineSettings:
    device = options.device.lower()
    if device not in ("auto", "cpu", "mps") and not device.startswith("cuda"):
        raise ModelRefError(f"gguf: device {options.device!r} is not supported; use cpu, cuda, mps or auto")
    if device == "auto":
        from muscle_guard_llamacpp.engine import _llama

        offload = bool(_llama().llama_supports_gpu_offload())
    else:
        offload = device != "cpu"  # llama.cpp offloads to the one GPU backend it was built with
    verbose = os.environ.get(ENV_PREFIX + "VERBOSE", "") not in ("", "0")
    kv_type = str(options.extra.get("kv_type", os.environ.get(ENV_PREFIX + "KV_TYPE", "f16"))).lower()
    if kv_type not in KV_TYPES:
        raise ModelRefError(f"gguf: kv_type must be one of {', '.join(KV_TYPES)}, got {kv_type!r}")
    return EngineSettings(
        n_ctx=_setting(options, "n_ctx", DEFAULT_N_CTX),
        n_threads=_setting(options, "n_threads", 0),
        offload=offload,
        kv_type=kv_type,
        verbose=verbose,
    )


class LlamaCppBackend:
    """A loaded GGUF model: multiple choice by log-likelihood and greedy generation, batched."""

    def __init__(self, engine: LlamaEngine, info: ModelInfo, pack_tokens: int, requests_per_call: int) -> None:
        self.engine = engine
        self._info = info
        self.scorer = ChoiceScorer(engine, pack_tokens, requests_per_call)
        self.generator = Generator(engine, requests_per_call)

    @classmethod
    def load(cls, ref: ModelRef, path: Path, options: RunOptions) -> LlamaCppBackend:
        settings = engine_settings(options)
        pack_tokens = _setting(options, "pack_tokens", DEFAULT_PACK_TOKENS)
        engine = LlamaEngine(path, settings, ref.raw)
        try:
            import llama_cpp

            sha = file_sha256(path, options.extra.get("hash_cache_dir"))
            parts = {
                "gguf_sha256": sha,
                "llama_cpp_python": llama_cpp.__version__,
                "method": f"muscle-guard-llamacpp/{METHOD_REVISION}",
                **settings.output_key(),
            }
            details: dict[str, object] = {
                "path": str(path),
                "gguf_sha256": sha,
                "llama_cpp_python": llama_cpp.__version__,
                "plugin": f"muscle-guard-llamacpp {__version__}",
                **settings.output_key(),
                **engine.describe(),
            }
        except BaseException:
            engine.close()
            raise
        info = ModelInfo(ref=ref.raw, kind="gguf", fingerprint=fingerprint(parts), details=details)
        return cls(engine, info, pack_tokens, options.batch_size or 1)

    @property
    def info(self) -> ModelInfo:
        return self._info

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[tuple[float, ...]]:
        return self.scorer.score(requests)

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        return self.generator.generate(requests)

    def classify(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
        raise BackendError(
            f"{self._info.ref}: GGUF models are causal LMs and cannot run classification suites (text + label); "
            "phrase the suite as multiple choice (prompt + choices) or use a transformers classifier"
        )

    def close(self) -> None:
        self.engine.close()
