"""Multiple choice by summed log-likelihood (lm-evaluation-harness `acc` semantics), prompt computed once.

Tokenization follows lm-eval's `_encode_pair`: trailing spaces of the context move onto the
continuation, `context + continuation` is encoded whole and the continuation tokens are those after the
context's tokens. The tokenizer's own leading special tokens (BOS) start every context.

Each batch runs in two steps. (1) The left-padded contexts run once, keeping the KV cache and the
logits of the last position only: they score every choice's first token. (2) The continuations of
multi-token choices run against their instance's cached context rows (selected per choice), with explicit
positions, so no prompt token is computed twice and the LM head only sees continuation positions.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muscle_guard.backends.hf.batching import MIN_FILL, BatchSizer
from muscle_guard.core.backend import ChoiceRequest
from muscle_guard.core.errors import BackendError, InputTooLong

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class EncodedChoices:
    """One request as token ids; `index` is its position in the caller's list."""

    index: int
    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]

    @property
    def length(self) -> int:
        return len(self.context) + max(len(c) for c in self.continuations)


def special_prefix(tokenizer: Any) -> list[int]:
    """The special tokens the tokenizer puts before a text by default (e.g. BOS); [] when none."""
    plain = tokenizer("muscle", add_special_tokens=False)["input_ids"]
    full = tokenizer("muscle")["input_ids"]
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start])
    return []


def encode_requests(tokenizer: Any, requests: Sequence[ChoiceRequest], max_length: int) -> list[EncodedChoices]:
    prefix = special_prefix(tokenizer)
    fallback = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    contexts: list[str] = []
    wholes: list[str] = []
    for request in requests:
        context = request.context
        spaces = len(context) - len(context.rstrip())
        moved = context[len(context) - spaces :] if spaces else ""
        context = context[: len(context) - spaces]
        contexts.append(context)
        wholes.extend(context + moved + continuation for continuation in request.continuations)
    context_ids = tokenizer(contexts, add_special_tokens=False)["input_ids"] if contexts else []
    whole_ids = tokenizer(wholes, add_special_tokens=False)["input_ids"] if wholes else []
    encoded: list[EncodedChoices] = []
    offset = 0
    for index, (request, ctx) in enumerate(zip(requests, context_ids, strict=True)):
        head = (prefix if request.special_tokens else []) + list(ctx)
        if not head:
            head = [fallback]  # lm-eval's prefix token for an empty context
        conts = []
        for choice, whole in zip(
            request.continuations, whole_ids[offset : offset + len(request.continuations)], strict=True
        ):
            cont = tuple(whole[len(ctx) :])
            if not cont:
                raise BackendError(f"choice {choice!r} of prompt {_short(request.context)} encodes to no tokens")
            if len(head) + len(cont) > max_length:
                raise InputTooLong(
                    f"prompt {_short(request.context)} with choice {_short(choice)} is {len(head) + len(cont)} "
                    f"tokens, more than the model's {max_length}; shorten the prompt or the prompt template",
                    index,
                )
            conts.append(cont)
        offset += len(request.continuations)
        encoded.append(EncodedChoices(index, tuple(head), tuple(conts)))
    return encoded


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def accepts(model: Any, argument: str) -> bool:
    """Whether the (peft-unwrapped) model's forward takes `argument`."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return argument in inspect.signature(inner.forward).parameters
    except (TypeError, ValueError):
        return False


def vocabulary_size(model: Any) -> int:
    """Width of the model's logits: its output embedding's rows (the config's vocab_size as a fallback)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    weight = getattr(head, "weight", None)
    if weight is not None and weight.dim() == 2:
        return int(weight.shape[0])
    config = getattr(model, "config", None)
    size = getattr(getattr(config, "get_text_config", lambda: config)(), "vocab_size", None)
    return int(size) if isinstance(size, int) and size > 0 else 1


def returned_cache(output: Any) -> Any:
    """The KV cache a forward returned: `cache` in transformers 5, `past_key_values` before."""
    if "cache" in output:
        return output["cache"]
    return output.past_key_values


def select_cache_rows(cache: Any, rows: torch.Tensor) -> Any:
    """A cache holding only `rows` (repeats allowed) of `cache`, which stays untouched.

    Layers are copied shallowly: selecting rows builds new tensors, and the forward pass then appends
    the continuation's keys to those new tensors, never to the shared context cache.
    """
    if hasattr(cache, "layers"):
        selected = copy.copy(cache)
        selected.layers = [copy.copy(layer) for layer in cache.layers]
    else:  # pragma: no cover - other cache classes: correct, just more memory
        selected = copy.deepcopy(cache)
    selected.batch_select_indices(rows)
    return selected


class ChoiceScorer:
    """Scores EncodedChoices batches against one causal LM."""

    def __init__(self, model: Any, pad_id: int, device: torch.device, sizer: BatchSizer) -> None:
        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.sizer = sizer
        self.keep_last = accepts(model, "logits_to_keep")
        # ALiBi models (e.g. Bloom) take no position ids: they derive positions from the attention mask.
        self.positions = accepts(model, "position_ids")
        self.vocabulary = vocabulary_size(model)
        # transformers 5 renamed the forward's `past_key_values` to `cache` (the old name warns, then goes).
        self.cache_argument = "cache" if accepts(model, "cache") else "past_key_values"

    def _fits(self, rows: int, context: int, longest: int, width: int) -> bool:
        """Whether a chunk of `rows` continuations (the longest feeding `longest` tokens) may take one more of
        `width`: within the sizer's rows and tokens, the logits budget, and not padded to twice its width."""
        return (
            self.sizer.fits(rows, context + longest)
            and self.sizer.fits_logits(rows * longest, self.vocabulary)
            and width >= MIN_FILL * longest
        )

    def score(self, batch: Sequence[EncodedChoices]) -> list[tuple[float, ...]]:
        import torch

        width = max(len(item.context) for item in batch)
        ids = torch.full((len(batch), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, item in enumerate(batch):
            ids[row, width - len(item.context) :] = torch.tensor(item.context)
            mask[row, width - len(item.context) :] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        needs_cache = any(len(c) > 1 for item in batch for c in item.continuations)
        extra: dict[str, Any] = {"logits_to_keep": 1} if self.keep_last else {}
        if self.positions:
            extra["position_ids"] = positions
        out = self.model(input_ids=ids, attention_mask=mask, use_cache=needs_cache, **extra)
        first = out.logits[:, -1, :].float().log_softmax(-1)
        scores = [[0.0] * len(item.continuations) for item in batch]
        for row, item in enumerate(batch):
            targets = torch.tensor([c[0] for c in item.continuations], device=first.device)
            for choice, value in enumerate(first[row, targets].tolist()):
                scores[row][choice] = value
        if needs_cache:
            self._score_tails(batch, returned_cache(out), mask, scores)
        return [tuple(row) for row in scores]

    def _score_tails(
        self, batch: Sequence[EncodedChoices], cache: Any, mask: torch.Tensor, scores: list[list[float]]
    ) -> None:
        """Add the log-likelihood of every continuation token after the first, against the cached contexts."""
        import torch

        tails = [
            (row, choice, cont)
            for row, item in enumerate(batch)
            for choice, cont in enumerate(item.continuations)
            if len(cont) > 1
        ]
        tails.sort(key=lambda t: -len(t[2]))  # similar lengths share a chunk: little padding
        lengths = torch.tensor([len(item.context) for item in batch], device=self.device)
        start = 0
        while start < len(tails):
            end, longest = start + 1, len(tails[start][2]) - 1
            while end < len(tails) and self._fits(end + 1 - start, mask.shape[1], longest, len(tails[end][2]) - 1):
                end += 1
            chunk = tails[start:end]
            start = end
            width = len(chunk[0][2]) - 1  # the last token is predicted, never fed
            inputs = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            targets = torch.zeros((len(chunk), width), dtype=torch.long)
            valid = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (_, _, cont) in enumerate(chunk):
                n = len(cont) - 1
                inputs[i, :n] = torch.tensor(cont[:-1])
                targets[i, :n] = torch.tensor(cont[1:])
                valid[i, :n] = 1
            rows = torch.tensor([row for row, _, _ in chunk], device=self.device)
            inputs, targets, valid = inputs.to(self.device), targets.to(self.device), valid.to(self.device)
            attention = torch.cat([mask.index_select(0, rows), valid], dim=1)
            positions = lengths.index_select(0, rows)[:, None] + torch.arange(width, device=self.device)[None, :]
            extra = {"position_ids": positions} if self.positions else {}
            extra[self.cache_argument] = select_cache_rows(cache, rows)
            logits = self.model(input_ids=inputs, attention_mask=attention, use_cache=True, **extra).logits.float()
            picked = logits.gather(-1, targets[..., None]).squeeze(-1) - logits.logsumexp(-1)
            sums = (picked * valid).sum(-1).tolist()
            for (row, choice, _), value in zip(chunk, sums, strict=True):
                scores[row][choice] += value
