"""Tokenized examples and the model calls `fix` makes on them: token logits, choice log-likelihoods, class logits.

Imported lazily (it imports torch inside its functions only). Sequences are right-padded (choice scoring
left-pads); a causal LM's logits are shifted here so that position i predicts token i+1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muscle_guard.fix.data import Example

if TYPE_CHECKING:
    from torch import Tensor


@dataclass(frozen=True)
class Encoded:
    """One example as token ids.

    Causal: `ids` = context + target, the last `n_target` of them the target's; `choices` holds the ids of
    context + each choice and `choice_lens` each continuation's length (multiple choice only).
    Classification: `ids` = the text's ids.
    """

    index: int
    ids: tuple[int, ...]
    n_target: int = 0
    label: int | None = None
    choices: tuple[tuple[int, ...], ...] = ()
    choice_lens: tuple[int, ...] = ()


def encode(
    examples: Sequence[Example], tokenizer: Any, task: str, max_length: int, target_texts: Sequence[str] | None = None
) -> list[Encoded]:
    """Tokenize `examples` for `task` ("causal" | "classify"); `target_texts` replaces the targets (sequence KD).

    Causal sequences are encoded exactly as the hf backend scores choices (lm-eval's context/continuation
    split, the tokenizer's BOS first), then cut from the left to `max_length` so the continuation survives.
    """
    if task == "classify":
        rows = tokenizer([e.context for e in examples])["input_ids"] if examples else []
        return [Encoded(e.index, tuple(ids[:max_length]), label=e.label) for e, ids in zip(examples, rows, strict=True)]
    from muscle_guard.backends.hf.scoring import encode_requests
    from muscle_guard.core.backend import ChoiceRequest

    targets = [e.target for e in examples] if target_texts is None else list(target_texts)
    requests = [ChoiceRequest(e.context, (t, *e.choices)) for e, t in zip(examples, targets, strict=True)]
    out = []
    for example, item in zip(examples, encode_requests(tokenizer, requests, 1 << 30), strict=True):
        (target, *choices) = [_cut(item.context, cont, max_length) for cont in item.continuations]
        out.append(
            Encoded(
                example.index,
                target[0],
                target[1],
                example.label,
                tuple(c[0] for c in choices),
                tuple(c[1] for c in choices),
            )
        )
    return out


def _cut(context: Sequence[int], continuation: Sequence[int], max_length: int) -> tuple[tuple[int, ...], int]:
    ids = (list(context) + list(continuation))[-max_length:]
    return tuple(ids), min(len(continuation), len(ids) - 1)


def pad(rows: Sequence[Sequence[int]], pad_id: int, device: Any = None, left: bool = False) -> tuple[Tensor, Tensor]:
    """Padded ids and attention mask: right-padded, or left-padded with `left`."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        where = slice(width - len(row), width) if left else slice(0, len(row))
        ids[i, where] = torch.tensor(row, dtype=torch.long)
        mask[i, where] = 1
    return ids.to(device), mask.to(device)


def pad_id_of(tokenizer: Any) -> int:
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


@dataclass(frozen=True)
class TokenBatch:
    """Shifted next-token targets for a batch of causal sequences: `logits[:, i]` predicts `targets[:, i]`."""

    ids: Tensor
    attention: Tensor
    targets: Tensor
    mask: Tensor  # positions that count in the loss


def token_batch(items: Sequence[Encoded], pad_id: int, device: Any, target_only: bool) -> TokenBatch:
    """All context and target positions count (the paper's MUSCLE), or only the target's (`target_only`)."""
    import torch

    ids, attention = pad([e.ids for e in items], pad_id, device)
    targets = ids[:, 1:]
    mask = attention[:, 1:].bool()
    if target_only:
        keep = torch.zeros_like(mask)
        for i, e in enumerate(items):
            end = len(e.ids) - 1
            keep[i, end - e.n_target : end] = True
        mask = keep
    return TokenBatch(ids, attention, targets, mask)


def token_logits(model: Any, batch: TokenBatch) -> Tensor:
    """`[B, L-1, V]` logits aligned with `batch.targets`."""
    logits: Tensor = model(input_ids=batch.ids, attention_mask=batch.attention).logits
    return logits[:, :-1]


def class_logits(model: Any, items: Sequence[Encoded], pad_id: int, device: Any) -> Tensor:
    """`[B, K]` classifier logits."""
    ids, attention = pad([e.ids for e in items], pad_id, device)
    logits: Tensor = model(input_ids=ids, attention_mask=attention).logits
    return logits


def choice_scores(model: Any, items: Sequence[Encoded], pad_id: int, device: Any) -> tuple[Tensor, Tensor]:
    """Each choice's summed log-likelihood given the context: `[B, C_max]` scores and the `[B, C_max]` mask of
    real choices. One forward pass over every (instance, choice) sequence of the batch.

    The rows are left-padded (positions counted from each row's first real token), so every continuation ends
    the row and the LM head runs only over the last `longest continuation + 1` positions (`logits_to_keep`):
    with Gemma-3's 262k-token vocabulary the full-sequence head and its log-softmax would cost more than the
    transformer body.
    """
    import torch
    import torch.nn.functional as F

    rows = [c for e in items for c in e.choices]
    lens = torch.tensor([n for e in items for n in e.choice_lens])
    ids, attention = pad(rows, pad_id, device, left=True)
    keep = int(lens.max()) + 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)
    try:
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions, logits_to_keep=keep).logits
    except TypeError:  # a model class without `logits_to_keep`: the full sequence's logits
        logits = model(input_ids=ids, attention_mask=attention, position_ids=positions).logits
    logp = F.log_softmax(logits[:, -keep:-1].float(), dim=-1)  # [N, K, V]: predicts the last K tokens
    token_logp = logp.gather(-1, ids[:, -(keep - 1) :].unsqueeze(-1)).squeeze(-1)
    offsets = torch.arange(keep - 1, device=token_logp.device)
    in_cont = offsets.unsqueeze(0) >= (keep - 1 - lens.to(token_logp.device)).unsqueeze(1)
    per_choice = torch.where(in_cont, token_logp, torch.zeros_like(token_logp)).sum(-1)

    width = max(len(e.choices) for e in items)
    scores = torch.zeros((len(items), width), device=per_choice.device)
    mask = torch.zeros((len(items), width), dtype=torch.bool, device=per_choice.device)
    at = 0
    for i, e in enumerate(items):
        n = len(e.choices)
        scores[i, :n] = per_choice[at : at + n]
        mask[i, :n] = True
        at += n
    return scores, mask


def length_batches(items: Sequence[Encoded], batch_size: int) -> list[list[Encoded]]:
    """Batches of similar length (for inference passes: minimal padding); order is restored by `index`."""
    ordered = sorted(items, key=lambda e: (len(e.ids) + sum(len(c) for c in e.choices), e.index))
    return [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
