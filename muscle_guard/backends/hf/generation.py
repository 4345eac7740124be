"""Greedy generation: left-padded, length-sorted batches, stopped at EOS, a stop string or max_new_tokens.

The output is cut before the first stop string (lm-eval `generate_until` semantics). Requests with
different `max_new_tokens`/`stop` never share a batch; results come back in request order by the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from muscle_guard.backends.hf.scoring import special_prefix
from muscle_guard.core.backend import GenerateRequest
from muscle_guard.core.errors import BackendError, InputTooLong

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class EncodedPrompt:
    index: int
    ids: tuple[int, ...]
    max_new_tokens: int
    stop: tuple[str, ...]

    @property
    def group(self) -> tuple[int, tuple[str, ...]]:
        return (self.max_new_tokens, self.stop)


def encode_prompts(tokenizer: Any, requests: Sequence[GenerateRequest], max_length: int) -> list[EncodedPrompt]:
    prefix = special_prefix(tokenizer)
    fallback = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    texts = [r.context for r in requests]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    encoded = []
    for index, (request, body) in enumerate(zip(requests, ids, strict=True)):
        if request.max_new_tokens < 1:
            raise BackendError(f"max_new_tokens must be at least 1, got {request.max_new_tokens}")
        prompt = tuple((prefix if request.special_tokens else []) + list(body)) or (fallback,)
        if len(prompt) + request.max_new_tokens > max_length:
            raise InputTooLong(
                f"prompt {request.context[:57]!r} is {len(prompt)} tokens; with max_new_tokens="
                f"{request.max_new_tokens} that exceeds the model's {max_length}; shorten it or lower max_new_tokens",
                index,
            )
        encoded.append(EncodedPrompt(index, prompt, request.max_new_tokens, tuple(request.stop)))
    return encoded


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest occurrence of any stop string."""
    cut = len(text)
    for s in stop:
        if s:
            found = text.find(s)
            if found != -1:
                cut = min(cut, found)
    return text[:cut]


def _stop_criteria(tokenizer: Any, stop: tuple[str, ...], prompt_width: int) -> Any:
    from transformers import StoppingCriteria, StoppingCriteriaList

    class StopStrings(StoppingCriteria):  # type: ignore[misc]
        # Decoding the new tokens finds stop strings that span several tokens, whatever the tokenizer.
        def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
            import torch

            texts = tokenizer.batch_decode(input_ids[:, prompt_width:], skip_special_tokens=True)
            done = [any(s and s in text for s in stop) for text in texts]
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([StopStrings()]) if any(stop) else None


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Tokens that end a generation: the model's generation config EOS ids and the tokenizer's EOS."""
    ids: list[int] = []
    config_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for value in config_eos if isinstance(config_eos, list) else [config_eos]:
        if isinstance(value, int):
            ids.append(value)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


class Generator:
    """Runs batches of EncodedPrompt (same max_new_tokens and stop) through `model.generate`."""

    def __init__(self, model: Any, tokenizer: Any, device: torch.device) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.eos = eos_ids(model, tokenizer)

    def generate(self, batch: Sequence[EncodedPrompt]) -> list[str]:
        import torch
        from transformers import GenerationConfig

        first = batch[0]
        width = max(len(p.ids) for p in batch)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, prompt in enumerate(batch):
            ids[row, width - len(prompt.ids) :] = torch.tensor(prompt.ids)
            mask[row, width - len(prompt.ids) :] = 1
        config_cls: Any = GenerationConfig  # untyped in transformers 5
        config = config_cls(
            max_new_tokens=first.max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=pad,
            eos_token_id=self.eos or None,
        )
        out = self.model.generate(
            input_ids=ids.to(self.device),
            attention_mask=mask.to(self.device),
            generation_config=config,
            stopping_criteria=_stop_criteria(self.tokenizer, first.stop, width),
        )
        texts = self.tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
        return [cut_at_stop(text, first.stop) for text in texts]
