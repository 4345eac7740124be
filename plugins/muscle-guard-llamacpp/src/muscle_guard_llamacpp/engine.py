"""A llama.cpp model and one multi-sequence context, driven through llama-cpp-python's C bindings.

The high-level `llama_cpp.Llama` runs one sequence at a time. Scoring and generation here submit many
sequences per `llama_decode` instead: a token may belong to several sequences at once (a prompt shared by
all of its choices is computed once, in the same call as the choices), and logits are requested only for
the positions that are scored or sampled. The KV cache is unified, so `n_ctx` cells are shared by all
sequences of a call.
"""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from muscle_guard.core.errors import BackendError, ModelRefError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_N_CTX = 4096
_REQUIRED_CONTEXT_FIELDS = ("n_seq_max", "kv_unified", "flash_attn_type", "n_threads_batch")


@dataclass(frozen=True)
class Token:
    """One token of a `llama_decode` call: its position, the sequences it belongs to, whether to keep its logits."""

    id: int
    pos: int
    seqs: tuple[int, ...]
    logits: bool = False


@dataclass(frozen=True)
class EngineSettings:
    """How the context is built. `offload`, `flash_attn` and the KV types change outputs: they are fingerprinted."""

    n_ctx: int = DEFAULT_N_CTX
    n_threads: int = 0  # 0: half the cores this process may use (see default_threads)
    offload: bool = False  # all layers on the GPU (needs a GPU build of llama.cpp)
    flash_attn: bool = False
    kv_type: str = "f16"  # llama.cpp's default; f32 removes the rounding of cached keys and values
    verbose: bool = False

    def output_key(self) -> dict[str, object]:
        return {"offload": self.offload, "flash_attn": self.flash_attn, "kv_type": self.kv_type}


def _llama() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelRefError(
            f"gguf: needs llama-cpp-python ({exc}); install it with: pip install llama-cpp-python "
            "(it builds llama.cpp from source: expect several minutes)"
        ) from None
    missing = [f for f in _REQUIRED_CONTEXT_FIELDS if f not in {n for n, *_ in llama_cpp.llama_context_params._fields_}]
    if missing:
        raise ModelRefError(
            f"gguf: llama-cpp-python {llama_cpp.__version__} is too old (no {', '.join(missing)}); "
            "install llama-cpp-python>=0.3.36"
        )
    return llama_cpp


def default_threads() -> int:
    """Half the usable cores, as llama-cpp-python does: llama.cpp's threads spin at every barrier, so one
    thread too many (another process busy, pytest-xdist workers) makes a call many times slower, while
    one thread too few costs at most a factor of two. Results do not depend on the thread count."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


class LlamaEngine:
    """Owns a model, a context with `n_seq_max` sequences and a batch buffer; `close()` frees all three."""

    def __init__(self, path: Path, settings: EngineSettings, label: str) -> None:
        lib = _llama()
        self._lib = lib
        self.label = label
        logging.getLogger("llama-cpp-python").setLevel(logging.DEBUG if settings.verbose else logging.ERROR)
        lib.llama_backend_init()
        if settings.offload and not lib.llama_supports_gpu_offload():
            raise ModelRefError(
                f"{label}: this llama-cpp-python build cannot use a GPU; pass device cpu, or reinstall it with "
                'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-binary :all: llama-cpp-python'
            )
        model_params = lib.llama_model_default_params()
        model_params.n_gpu_layers = -1 if settings.offload else 0
        self._model = lib.llama_model_load_from_file(str(path).encode(), model_params)
        if not self._model:
            raise ModelRefError(
                f"{label}: llama.cpp could not load {path} (damaged file or an architecture this llama.cpp "
                "does not know; set MUSCLE_GUARD_LLAMACPP_VERBOSE=1 to see its log)"
            )
        self._ctx: Any = None
        self._batch: Any = None
        try:
            self._init_context(settings)
        except BaseException:
            self.close()
            raise

    def _init_context(self, settings: EngineSettings) -> None:
        lib = self._lib
        if lib.llama_model_has_encoder(self._model) or lib.llama_model_is_recurrent(self._model):
            raise ModelRefError(f"{self.label}: encoder-decoder and recurrent GGUF models are not supported")
        self.vocab = lib.llama_model_get_vocab(self._model)
        self.n_vocab = int(lib.llama_vocab_n_tokens(self.vocab))
        self.n_ctx_train = int(lib.llama_model_n_ctx_train(self._model))
        self.n_seq_max = int(lib.llama_max_parallel_sequences())
        self.n_threads = settings.n_threads or default_threads()
        params = lib.llama_context_default_params()
        params.n_ctx = min(settings.n_ctx, self.n_ctx_train) if self.n_ctx_train > 0 else settings.n_ctx
        params.n_batch = params.n_ctx  # one decode call may fill the whole cache
        params.n_ubatch = min(512, params.n_ctx)
        params.n_seq_max = self.n_seq_max
        params.kv_unified = True  # sequences share the cells; otherwise each would get n_ctx / n_seq_max
        params.n_threads = self.n_threads
        params.n_threads_batch = self.n_threads
        params.flash_attn_type = (
            lib.LLAMA_FLASH_ATTN_TYPE_ENABLED if settings.flash_attn else lib.LLAMA_FLASH_ATTN_TYPE_DISABLED
        )
        params.type_k = params.type_v = lib.GGML_TYPE_F32 if settings.kv_type == "f32" else lib.GGML_TYPE_F16
        params.no_perf = True
        self._ctx = lib.llama_init_from_model(self._model, params)
        if not self._ctx:
            raise ModelRefError(f"{self.label}: llama.cpp could not create a context of {params.n_ctx} tokens")
        self.n_ctx = int(lib.llama_n_ctx(self._ctx))
        self._memory = lib.llama_get_memory(self._ctx)
        self._batch = lib.llama_batch_init(self.n_ctx, 0, self.n_seq_max)
        self.bos = int(lib.llama_vocab_bos(self.vocab))
        self.eos = int(lib.llama_vocab_eos(self.vocab))
        self.add_bos = bool(lib.llama_vocab_get_add_bos(self.vocab))

    def describe(self) -> dict[str, object]:
        buf = ctypes.create_string_buffer(256)
        self._lib.llama_model_desc(self._model, buf, len(buf))
        return {
            "model": buf.value.decode("utf-8", "replace"),
            "n_params": int(self._lib.llama_model_n_params(self._model)),
            "n_ctx": self.n_ctx,
            "n_ctx_train": self.n_ctx_train,
            "n_threads": self.n_threads,
        }

    # Tokens and text

    def tokenize(self, text: str, add_special: bool = False) -> list[int]:
        """Token ids of `text`; special-token text (e.g. `<|im_start|>`) is parsed as transformers does."""
        data = text.encode("utf-8")
        size = len(data) + 8
        for _ in range(2):
            buf = (self._lib.llama_token * size)()
            n = int(self._lib.llama_tokenize(self.vocab, data, len(data), buf, size, add_special, True))
            if n >= 0:
                return list(buf[:n])
            size = -n
        raise BackendError(f"{self.label}: llama.cpp could not tokenize {text[:40]!r}")  # pragma: no cover

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens render as nothing)."""
        buf = ctypes.create_string_buffer(64)
        n = int(self._lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False))
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = int(self._lib.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False))
        return buf.raw[:n]

    def is_end(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    # Decoding

    def decode(self, tokens: Sequence[Token]) -> list[int]:
        """Run one `llama_decode` over `tokens` (which must fit in the cache); the batch index of each logits row."""
        if len(tokens) > self.n_ctx:
            raise BackendError(f"{self.label}: {len(tokens)} tokens in one call, more than n_ctx {self.n_ctx}")
        batch = self._batch
        rows: list[int] = []
        for i, token in enumerate(tokens):
            batch.token[i] = token.id
            batch.pos[i] = token.pos
            batch.n_seq_id[i] = len(token.seqs)
            for j, seq in enumerate(token.seqs):
                batch.seq_id[i][j] = seq
            batch.logits[i] = token.logits
            if token.logits:
                rows.append(i)
        batch.n_tokens = len(tokens)
        code = int(self._lib.llama_decode(self._ctx, batch))
        if code != 0:
            what = "no room in the KV cache" if code == 1 else f"error {code}"
            raise BackendError(f"{self.label}: llama_decode failed ({what}) on a batch of {len(tokens)} tokens")
        return rows

    def logits(self, row: int) -> npt.NDArray[np.float32]:
        """The logits of batch index `row` of the last decode call (a view: copy it to keep it)."""
        import numpy as np

        pointer = self._lib.llama_get_logits_ith(self._ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def forget(self, seq: int = -1) -> None:
        """Drop the cached keys and values of sequence `seq` (every sequence when -1)."""
        if seq < 0:
            self._lib.llama_memory_clear(self._memory, False)
        else:
            self._lib.llama_memory_seq_rm(self._memory, seq, -1, -1)

    def close(self) -> None:
        lib = self._lib
        if self._batch is not None:
            lib.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx:
            lib.llama_free(self._ctx)
            self._ctx = None
        if self._model:
            lib.llama_model_free(self._model)
            self._model = None
