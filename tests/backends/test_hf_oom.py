"""Out-of-memory back-off: halve the batch and retry; at batch size 1 a clear error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

from muscle_guard.backends.hf import load
from muscle_guard.backends.hf.backend import HFBackend
from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, RunOptions
from muscle_guard.core.errors import BackendError
from muscle_guard.core.modelref import parse_model_ref

from .conftest import Tiny

# Similar lengths, so that batches are cut by the row limit (a batch also ends at an item under half its longest).
REQUESTS = [
    ChoiceRequest("Question: is the sky blue? Answer:", (" yes", " no", " maybe not")),
    ChoiceRequest("Question: is the fire hot? Answer:", (" yes", " no")),
    ChoiceRequest("The capital of france is the city", (" paris", " london", " rome", " berlin madrid")),
    ChoiceRequest("the cat and the dog and the", (" dog", " cow sheep horse")),
    ChoiceRequest("Question: is the sea blue? Answer:", (" yes", " no")),
]


def fail_above(backend: HFBackend, limit: int, error: Callable[[], Exception]) -> list[int]:
    """Make the innermost model's forward raise `error` for batches larger than `limit`; log batch sizes."""
    assert backend.loaded is not None
    inner: Any = backend.loaded.model.get_base_model()
    original = inner.forward
    seen: list[int] = []

    def forward(*args: Any, **kwargs: Any) -> Any:
        rows = kwargs["input_ids"].shape[0] if "input_ids" in kwargs else args[0].shape[0]
        seen.append(rows)
        if rows > limit:
            raise error()
        return original(*args, **kwargs)

    inner.forward = forward
    return seen


@pytest.mark.parametrize(
    "error",
    [
        lambda: torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        lambda: RuntimeError("MPS backend out of memory"),
    ],
    ids=["cuda", "runtime"],
)
def test_choices_back_off_and_stay_exact(tiny: Tiny, error: Callable[[], Exception]) -> None:
    expected = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False)).score_choices(
        REQUESTS
    )
    backend = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False, batch_size=16))
    seen = fail_above(backend, 2, error)
    got = backend.score_choices(REQUESTS)
    for one, other in zip(got, expected, strict=True):
        assert one == pytest.approx(other, abs=1e-5)
    assert max(seen) > 2  # it did try bigger batches first
    assert backend.batch_size in (8, 4, 2)


def test_generation_backs_off_too(tiny: Tiny) -> None:
    requests = [GenerateRequest(p, max_new_tokens=5) for p in ("The", "Is fire hot?", "cat dog cow", "one two")]
    expected = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False)).generate(requests)
    backend = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False))
    fail_above(backend, 1, lambda: torch.cuda.OutOfMemoryError("CUDA out of memory"))
    assert backend.generate(requests) == expected
    assert backend.batch_size == 1


def test_out_of_memory_at_batch_size_one_is_a_clear_error(tiny: Tiny) -> None:
    backend = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False, batch_size=2))
    fail_above(backend, 0, lambda: torch.cuda.OutOfMemoryError("CUDA out of memory"))
    with pytest.raises(BackendError, match=r"out of memory on cpu at batch size 1 .*smaller --dtype"):
        backend.score_choices(REQUESTS)


def test_other_runtime_errors_are_not_swallowed(tiny: Tiny) -> None:
    backend = load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False))
    limits = (backend.sizer.rows, backend.sizer.tokens, backend.sizer.logits)
    fail_above(backend, 0, lambda: RuntimeError("shape mismatch"))
    with pytest.raises(RuntimeError, match="shape mismatch"):
        backend.score_choices(REQUESTS)
    assert (backend.sizer.rows, backend.sizer.tokens, backend.sizer.logits) == limits  # no back-off


def test_batch_size_must_be_positive(tiny: Tiny) -> None:
    from muscle_guard.core.errors import ConfigError

    with pytest.raises(ConfigError, match="batch size must be at least 1"):
        load(parse_model_ref(str(tiny.lm_adapter)), RunOptions(device="cpu", progress=False, batch_size=0))
