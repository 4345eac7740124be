"""Greedy generation with stop strings and a token budget per request, one or many sequences at a time.

With `max_sequences` 1 (the backend's default) this is exactly `llama_cpp.Llama`'s greedy completion of
each prompt alone. Above 1 it is continuous batching: every `llama_decode` call carries the next token of
each running sequence plus the prompts of waiting requests while cache cells and sequences are free; a
finished sequence hands its cells to the next request at once. Each sequence reserves
`prompt + max_new_tokens` cells when it starts, so a call never runs out of room half-way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from muscle_guard.core.backend import GenerateRequest
from muscle_guard.core.errors import BackendError

if TYPE_CHECKING:
    from muscle_guard_llamacpp.engine import LlamaEngine, Token


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` up to the earliest stop string, and whether one occurred."""
    cuts = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[: min(cuts)], True) if cuts else (text, False)


@dataclass
class _Running:
    index: int
    request: GenerateRequest
    prompt_len: int
    last: int = -1  # the token sampled last: fed at the next call
    out: bytearray = field(default_factory=bytearray)
    n_new: int = 0

    @property
    def cells(self) -> int:
        return self.prompt_len + self.request.max_new_tokens

    def text(self) -> str:
        return self.out.decode("utf-8", errors="replace")


class Generator:
    """Greedy continuations of GenerateRequests on one LlamaEngine."""

    def __init__(self, engine: LlamaEngine, max_sequences: int = 1) -> None:
        self.engine = engine
        self.max_sequences = max(1, min(max_sequences, engine.n_seq_max))

    def generate(self, requests: Sequence[GenerateRequest]) -> list[str]:
        engine = self.engine
        prefix = [engine.bos] if engine.add_bos else []
        results = [""] * len(requests)
        waiting: deque[tuple[int, list[int]]] = deque()
        for index, request in enumerate(requests):
            prompt = prefix + engine.tokenize(request.context)
            if not prompt:
                prompt = [engine.bos if engine.bos >= 0 else engine.eos]
            if len(prompt) + request.max_new_tokens > engine.n_ctx:
                raise BackendError(
                    f"{engine.label}: prompt {_short(request.context)} is {len(prompt)} tokens; with "
                    f"max_new_tokens {request.max_new_tokens} that is more than n_ctx {engine.n_ctx} "
                    "(set MUSCLE_GUARD_LLAMACPP_N_CTX, or shorten the prompt)"
                )
            if request.max_new_tokens > 0:
                waiting.append((index, prompt))
        running: dict[int, _Running] = {}
        free = list(range(self.max_sequences - 1, -1, -1))
        used = 0
        engine.forget()
        while waiting or running:
            tokens: list[Token] = []
            order: list[int] = []  # the sequence of each logits row, in batch order
            for seq, state in running.items():
                tokens.append(_token(state.last, state.prompt_len + state.n_new - 1, seq))
                order.append(seq)
            while (
                waiting and free and used + len(waiting[0][1]) + requests[waiting[0][0]].max_new_tokens <= engine.n_ctx
            ):
                index, prompt = waiting.popleft()
                seq = free.pop()
                state = _Running(index, requests[index], len(prompt))
                running[seq] = state
                used += state.cells
                last = len(prompt) - 1
                tokens.extend(_token(t, p, seq, p == last) for p, t in enumerate(prompt))
                order.append(seq)
            rows = engine.decode(tokens)
            for seq, row in zip(order, rows, strict=True):
                state = running[seq]
                token = int(engine.logits(row).argmax())
                if self._advance(state, token):
                    results[state.index] = cut_at_stop(state.text(), state.request.stop)[0]
                    del running[seq]
                    engine.forget(seq)
                    free.append(seq)
                    used -= state.cells
        return results

    def _advance(self, state: _Running, token: int) -> bool:
        """Take `token` as the next one of `state`; True when the sequence is finished."""
        if self.engine.is_end(token):
            return True
        state.last = token
        state.n_new += 1
        state.out.extend(self.engine.piece(token))
        if state.request.stop and cut_at_stop(state.text(), state.request.stop)[1]:
            return True
        return state.n_new >= state.request.max_new_tokens


def _token(token: int, pos: int, seq: int, logits: bool = True) -> Token:
    from muscle_guard_llamacpp.engine import Token

    return Token(token, pos, (seq,), logits)


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
