"""Multiple choice by summed log-likelihood (lm-evaluation-harness `acc` semantics), as muscle-guard's hf backend.

Tokenization follows lm-eval's `_encode_pair`: trailing spaces of the context move onto the continuation,
`context + continuation` is encoded whole and the continuation is what follows the context's tokens; the
model's BOS (when its GGUF says to add one) starts every context.

A request is one `llama_decode` call, as a tree: the context's tokens belong to the sequences of all of
its choices (computed once), each choice's tokens to its own sequence. Logits are kept only at the last
context token (it scores every choice's first token) and at the choice tokens that predict a next
choice token. With `max_units > 1` several requests share a call (at most `pack_tokens` tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from muscle_guard.core.backend import ChoiceRequest
from muscle_guard.core.errors import BackendError

if TYPE_CHECKING:
    from muscle_guard_llamacpp.engine import LlamaEngine, Token

DEFAULT_PACK_TOKENS = 512  # tokens per shared decode call: bigger packs waste attention on masked-out cells


@dataclass(frozen=True)
class Unit:
    """The choices `first..first+len(continuations)` of request `index`, with their shared context, as token ids."""

    index: int
    first: int
    context: tuple[int, ...]
    continuations: tuple[tuple[int, ...], ...]

    @property
    def cost(self) -> int:
        """Tokens this unit puts in a decode call (a choice's last token is predicted, never fed)."""
        return len(self.context) + sum(len(c) - 1 for c in self.continuations)


def encode(
    tokenize: Callable[[str], list[int]], prefix: Sequence[int], fallback: int, requests: Sequence[ChoiceRequest]
) -> list[tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]]:
    """(context ids, continuation ids per choice) of every request."""
    out = []
    for request in requests:
        context = request.context.rstrip()
        moved = request.context[len(context) :]
        context_ids = tokenize(context) if context else []
        head = tuple(prefix) + tuple(context_ids) or (fallback,)  # lm-eval's prefix token for an empty context
        conts = []
        for choice in request.continuations:
            whole = tokenize(context + moved + choice)
            cont = tuple(whole[len(context_ids) :])
            if not cont:
                raise BackendError(f"choice {choice!r} of prompt {_short(request.context)} encodes to no tokens")
            conts.append(cont)
        out.append((head, tuple(conts)))
    return out


def split_units(
    encoded: Sequence[tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]], max_seqs: int, n_ctx: int
) -> list[Unit]:
    """One unit per request, or several when it has more choices than sequences or cache cells allow."""
    units = []
    for index, (head, conts) in enumerate(encoded):
        first = 0
        while first < len(conts):
            end, cost = first, len(head)
            while end < len(conts) and end - first < max_seqs and cost + len(conts[end]) - 1 <= n_ctx:
                cost += len(conts[end]) - 1
                end += 1
            if end == first:
                longest = len(head) + len(conts[first])
                raise BackendError(
                    f"prompt and choice {first} of request {index} are {longest} tokens, more than n_ctx {n_ctx}"
                )
            units.append(Unit(index, first, head, conts[first:end]))
            first = end
    return units


def packs(units: Sequence[Unit], max_tokens: int, max_seqs: int, max_units: int | None) -> Iterator[list[Unit]]:
    """Consecutive units grouped so that each group fits one decode call."""
    group: list[Unit] = []
    tokens = seqs = 0
    for unit in units:
        full = tokens + unit.cost > max_tokens or seqs + len(unit.continuations) > max_seqs
        if group and (full or (max_units is not None and len(group) >= max_units)):
            yield group
            group, tokens, seqs = [], 0, 0
        group.append(unit)
        tokens += unit.cost
        seqs += len(unit.continuations)
    if group:
        yield group


def tree_tokens(group: Sequence[Unit]) -> list[Token]:
    """The decode batch of a group: each context once, in all of its choices' sequences, then the choices."""
    from muscle_guard_llamacpp.engine import Token

    tokens: list[Token] = []
    seq = 0
    for unit in group:
        seqs = tuple(range(seq, seq + len(unit.continuations)))
        last = len(unit.context) - 1
        tokens.extend(Token(t, p, seqs, p == last) for p, t in enumerate(unit.context))
        for s, cont in zip(seqs, unit.continuations, strict=True):
            tokens.extend(Token(t, len(unit.context) + p, (s,), True) for p, t in enumerate(cont[:-1]))
        seq += len(unit.continuations)
    return tokens


def log_probs(logits: object, targets: Sequence[int]) -> list[float]:
    """log softmax(logits)[t] for each target t, in float64."""
    import numpy as np

    row = np.asarray(logits, dtype=np.float64)
    top = row.max()
    norm = top + np.log(np.exp(row - top).sum())
    return [float(row[t] - norm) for t in targets]


class ChoiceScorer:
    """Scores ChoiceRequests against one LlamaEngine."""

    def __init__(self, engine: LlamaEngine, pack_tokens: int = DEFAULT_PACK_TOKENS, max_units: int | None = 1) -> None:
        self.engine = engine
        self.pack_tokens = max(1, min(pack_tokens, engine.n_ctx))
        self.max_units = max_units

    def score(self, requests: Sequence[ChoiceRequest]) -> list[tuple[float, ...]]:
        engine = self.engine
        prefix = [engine.bos] if engine.add_bos else []
        fallback = engine.bos if engine.bos >= 0 else engine.eos
        encoded = encode(engine.tokenize, prefix, fallback, requests)
        scores = [[0.0] * len(request.continuations) for request in requests]
        units = split_units(encoded, engine.n_seq_max, engine.n_ctx)
        for group in packs(units, self.pack_tokens, engine.n_seq_max, self.max_units):
            rows = iter(engine.decode(tree_tokens(group)))
            for unit in group:
                # Rows come in batch order: the context's last token, then each choice's fed tokens.
                firsts = log_probs(engine.logits(next(rows)), [cont[0] for cont in unit.continuations])
                for offset, (cont, value) in enumerate(zip(unit.continuations, firsts, strict=True)):
                    tail = sum(log_probs(engine.logits(next(rows)), [target])[0] for target in cont[1:])
                    scores[unit.index][unit.first + offset] = value + tail
            engine.forget()
        return [tuple(row) for row in scores]


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")
