"""Batch planning with out-of-memory back-off, and the progress bar of long passes.

Items arrive sorted longest first, so the first batch is the largest one: if anything runs out of
memory it is that batch, early, and the shrunk size then holds for the rest of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from muscle_guard.backends.hf.device import free_memory, is_oom
from muscle_guard.core.errors import BackendError, ConfigError

T = TypeVar("T")
R = TypeVar("R")

AUTO_ROWS = {"cuda": 128, "mps": 32, "cpu": 32}
AUTO_TOKENS = {"cuda": 65536, "mps": 16384, "cpu": 16384}
# Full-vocabulary logits one pass may hold (positions × vocabulary, float32): 512 MiB on CUDA, 128 MiB elsewhere,
# whatever the vocabulary (Gemma-3's 262k included). Applies to fixed batch sizes too: it splits, never changes,
# the work.
AUTO_LOGITS = {"cuda": 2**27, "mps": 2**25, "cpu": 2**25}
# A batch ends where an item is shorter than this fraction of its longest one: items come longest first, and
# padding a short item to a long neighbour's width costs more than the extra pass.
MIN_FILL = 0.5


class BatchSizer:
    """The current limits of one forward pass: rows (sequences) and padded tokens. Halved on OOM."""

    def __init__(self, device: str, batch_size: int | None) -> None:
        """`device` is a torch device's name (cpu, cuda, cuda:1, mps)."""
        if batch_size is not None and batch_size < 1:
            raise ConfigError(f"batch size must be at least 1 (or automatic), got {batch_size}")
        self.device = device
        kind = device.partition(":")[0]
        self.automatic = batch_size is None
        self.rows = batch_size if batch_size is not None else AUTO_ROWS.get(kind, 32)
        # A fixed batch size is the user's call: only the automatic one is also capped by tokens.
        self.tokens: int | None = AUTO_TOKENS.get(kind, 16384) if self.automatic else None
        self.logits = AUTO_LOGITS.get(kind, 2**25)

    def fits(self, rows: int, longest: int) -> bool:
        if rows > self.rows:
            return False
        return self.tokens is None or rows * longest <= self.tokens

    def shrink(self, what: str) -> None:
        """Halve the limits after an out-of-memory error; at one row there is nothing left to try."""
        free_memory(self.device)
        if self.rows <= 1:
            raise BackendError(
                f"out of memory on {self.device} at batch size 1 ({what}); use a smaller --dtype "
                "(bfloat16/float16), shorter prompts or fewer max_new_tokens, or a device with more memory"
            )
        self.rows = max(1, self.rows // 2)
        if self.tokens is not None:
            self.tokens = max(1, self.tokens // 2)
        self.logits = max(1, self.logits // 2)

    def fits_logits(self, positions: int, vocabulary: int) -> bool:
        """Whether `positions` rows of full-vocabulary logits stay within the logits budget."""
        return positions * vocabulary <= self.logits


def plan_batch(
    items: Sequence[T], start: int, sizer: BatchSizer, rows: Callable[[T], int], length: Callable[[T], int]
) -> int:
    """End index of the batch starting at `start`: as many items as the limits allow, at least one, and none
    shorter than MIN_FILL of the batch's longest (items come longest first)."""
    end, total, longest = start, 0, 0
    while end < len(items):
        item_rows, item_len = rows(items[end]), length(items[end])
        if end > start and not sizer.fits(total + item_rows, max(longest, item_len)):
            break
        if end > start and item_len < MIN_FILL * longest:
            break
        total, longest = total + item_rows, max(longest, item_len)
        end += 1
    return end


def run_batches(
    items: Sequence[T],
    sizer: BatchSizer,
    run: Callable[[Sequence[T]], list[R]],
    rows: Callable[[T], int],
    length: Callable[[T], int],
    advance: Callable[[int], None],
    what: str,
) -> list[R]:
    """Apply `run` to consecutive batches of `items`, retrying a batch with halved limits on OOM."""
    results: list[R] = []
    start = 0
    while start < len(items):
        end = plan_batch(items, start, sizer, rows, length)
        oom = False
        try:
            results.extend(run(items[start:end]))
        except (RuntimeError, MemoryError) as exc:
            if not (isinstance(exc, MemoryError) or is_oom(exc)):
                raise
            oom = True  # handled outside the except block so the failed batch's tensors are freed
        if oom:
            sizer.shrink(f"{what}, {length(items[start])} tokens")
            continue
        advance(end - start)
        start = end
    return results
