"""The Backend protocol: batched model calls that the core turns into Predictions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class ChoiceRequest:
    """Score every continuation given the context: returns one summed log-likelihood per continuation."""

    context: str
    continuations: tuple[str, ...]
    special_tokens: bool = True  # add the tokenizer's BOS; False when a chat template wrote the context's own


@dataclass(frozen=True)
class GenerateRequest:
    """Greedy continuation of `context`, at most `max_new_tokens` tokens, cut before the first stop string."""

    context: str
    max_new_tokens: int
    stop: tuple[str, ...] = ()
    special_tokens: bool = True  # as ChoiceRequest's


@dataclass(frozen=True)
class RunOptions:
    """How to run a backend: device/dtype/batching and the safety switches."""

    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    dtype: str = "auto"  # auto (bf16 on CUDA, fp32 elsewhere) | float32 | bfloat16 | float16
    batch_size: int | None = None  # None: automatic, backing off on out-of-memory
    trust_remote_code: bool = False
    allow_pickle: bool = False
    progress: bool = True
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


# `RunOptions.extra[SHARED]`: a dict that a front end gives every backend of one run, for what backends may share
# within it (the hf backend keeps one loaded base for all adapters on it there). Without it nothing is shared.
SHARED = "shared"


@dataclass(frozen=True)
class ModelInfo:
    """What a report says about a model."""

    ref: str
    kind: str
    fingerprint: str
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "kind": self.kind, "fingerprint": self.fingerprint, "details": dict(self.details)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            ref=str(data["ref"]),
            kind=str(data["kind"]),
            fingerprint=str(data["fingerprint"]),
            details=dict(data.get("details", {})),
        )


@runtime_checkable
class Backend(Protocol):
    """A loaded model. Methods take whole batches; order of results follows order of requests.

    `fingerprint` hashes everything about the model that changes its outputs (weights, adapter, tokenizer,
    dtype); rendering and generation settings are hashed by the caller on top of it.
    """

    @property
    def info(self) -> ModelInfo: ...

    def score_choices(self, requests: Sequence[ChoiceRequest]) -> list[tuple[float, ...]]: ...

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]: ...

    def classify(self, texts: Sequence[str]) -> list[tuple[float, ...]]: ...

    def close(self) -> None: ...
