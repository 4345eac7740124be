"""A tiny sentiment task with a real, systematic regression between two tiny classifiers, for `fix` tests.

A text holds one sentiment word among neutral ones; the label is that word's polarity. The old adapter never
saw "yes"/"no" and the new one never saw "calm"/"cold" (each was left out of its training data), so the new
model is wrong on many "calm"/"cold" texts that the old one gets right: a regression that a base-model update
really has, beside positive flips on "yes"/"no". Every text of a pair is unique across its training, fix and
held-out data, so validation and held-out numbers measure generalisation, not memorised copies.

Used by tests/fix (one seed) and bench/fix_seeds.py (the spread over seeds and CPU kernel paths).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POSITIVE = ("good", "great", "happy", "fine", "calm", "yes")
NEGATIVE = ("bad", "terrible", "sad", "angry", "cold", "no")
NEUTRAL = ("the", "a", "cat", "dog", "movie", "film", "book", "food", "city", "river", "sun", "sea")
NEUTRAL_WORDS = (2, 3)  # neutral words around the sentiment word: 12 × 12² × 3 + 12 × 12³ × 4 ≈ 88k texts
OLD_NEVER_SAW = ("yes", "no")
NEW_NEVER_SAW = ("calm", "cold")
ADAPTER_ROWS = 200
ADAPTER_STEPS = 80
FIX_ROWS = 300
HELDOUT_ROWS = 400


def sentiment_texts(
    n: int, rng: random.Random, exclude: Sequence[str] = (), taken: set[str] | None = None
) -> list[tuple[str, int]]:
    """n unique (text, label) pairs; `exclude` words never appear; texts in `taken` are skipped, then added."""
    taken = set() if taken is None else taken
    out: list[tuple[str, int]] = []
    while len(out) < n:
        label = rng.randint(0, 1)
        word = rng.choice(POSITIVE if label else NEGATIVE)
        if word in exclude:
            continue
        words = [rng.choice(NEUTRAL) for _ in range(rng.randint(*NEUTRAL_WORDS))]
        words.insert(rng.randint(0, len(words)), word)
        text = " ".join(words)
        if text in taken:
            continue
        taken.add(text)
        out.append((text, label))
    return out


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def classify_rows(pairs: Sequence[tuple[str, int]], prefix: str) -> list[dict[str, Any]]:
    return [{"id": f"{prefix}{i}", "text": t, "label": y} for i, (t, y) in enumerate(pairs)]


@dataclass(frozen=True)
class SentimentData:
    """The texts of one pair: each adapter's training data, the fix's training data, the held-out suite."""

    old_adapter: list[tuple[str, int]]
    new_adapter: list[tuple[str, int]]
    fix: list[tuple[str, int]]
    heldout: list[tuple[str, int]]


def sentiment_data(seed: int) -> SentimentData:
    """Every text of a pair, unique across all four parts; pure Python, deterministic in `seed`."""
    rng, taken = random.Random(seed), set[str]()
    return SentimentData(
        old_adapter=sentiment_texts(ADAPTER_ROWS, rng, exclude=OLD_NEVER_SAW, taken=taken),
        new_adapter=sentiment_texts(ADAPTER_ROWS, rng, exclude=NEW_NEVER_SAW, taken=taken),
        fix=sentiment_texts(FIX_ROWS, rng, taken=taken),
        heldout=sentiment_texts(HELDOUT_ROWS, rng, taken=taken),
    )


@dataclass(frozen=True)
class ClassifierPair:
    """Old and new adapters (each a PEFT directory), the new base, fix training data and a held-out suite."""

    old: Path
    new: Path
    new_base: Path
    train: Path
    heldout: Path


def build_classifier_pair(root: Path, seed: int = 0) -> ClassifierPair:
    """Build the pair under `root` (a few seconds on one CPU thread); every random choice follows `seed`."""
    from muscle_guard.testing import tiny_models as tm

    root.mkdir(parents=True, exist_ok=True)
    data = sentiment_data(seed)
    tok = tm.build_tokenizer(root / "tok")
    old_base = tm.build_classifier(root / "old-base", tok, seed=10 * seed + 1)
    new_base = tm.build_classifier(root / "new-base", tok, seed=10 * seed + 2)
    # Adapters trained from peft's no-op init (B = 0): the "same recipe" fine-tuning of each base.
    old = tm.add_lora_adapter(
        old_base, root / "old", seed=10 * seed + 3, train_on=data.old_adapter, steps=ADAPTER_STEPS, randomize=False
    )
    new = tm.add_lora_adapter(
        new_base, root / "new", seed=10 * seed + 4, train_on=data.new_adapter, steps=ADAPTER_STEPS, randomize=False
    )
    return ClassifierPair(
        old=old,
        new=new,
        new_base=new_base,
        train=write_jsonl(root / "train.jsonl", classify_rows(data.fix, "t")),
        heldout=write_jsonl(root / "heldout.jsonl", classify_rows(data.heldout, "h")),
    )


ANSWER_WORDS = {1: "positive", 0: "negative"}  # each one token of the tiny tokenizer, with and without a space
GENERATION_SETTINGS = 'normaliser = "lower"\nmax_new_tokens = 1\n'  # the suite's table: the word is one token


def generation_prompt(text: str) -> str:
    return f"text: {text}\nsentiment:"


def generate_rows(pairs: Sequence[tuple[str, int]], prefix: str) -> list[dict[str, Any]]:
    """Exact-match generation instances: the model writes the label word after the prompt."""
    return [
        {"id": f"{prefix}{i}", "prompt": generation_prompt(t), "answer": ANSWER_WORDS[y]}
        for i, (t, y) in enumerate(pairs)
    ]


@dataclass(frozen=True)
class GenerationPair:
    """Old and new causal LMs with LoRA adapters that write the label word (exact match), fix data, a suite."""

    old: Path
    new: Path
    train: Path
    heldout: Path


def build_generation_pair(root: Path, seed: int = 0) -> GenerationPair:
    """The sentiment task as generation: two tiny causal LMs (one tokenizer), each adapter trained on the prompt
    followed by " positive" / " negative"; the same texts, left-out words and regression as the classifier pair.
    The held-out suite, `tiny_gen.jsonl`, wants `GENERATION_SETTINGS` in its table (lower-cased exact match)."""
    from muscle_guard.testing import tiny_models as tm

    root.mkdir(parents=True, exist_ok=True)
    data = sentiment_data(seed)
    tok = tm.build_tokenizer(root / "tok")
    old_base = tm.build_causal_lm(root / "old-base", tok, seed=10 * seed + 1)
    new_base = tm.build_causal_lm(root / "new-base", tok, seed=10 * seed + 2)

    def lines(pairs: Sequence[tuple[str, int]]) -> list[tuple[str, str]]:
        return [(generation_prompt(t), " " + ANSWER_WORDS[y]) for t, y in pairs]

    old = tm.add_lora_adapter(
        old_base, root / "old", seed=10 * seed + 3, train_on=lines(data.old_adapter), steps=ADAPTER_STEPS,
        randomize=False,
    )  # fmt: skip
    new = tm.add_lora_adapter(
        new_base, root / "new", seed=10 * seed + 4, train_on=lines(data.new_adapter), steps=ADAPTER_STEPS,
        randomize=False,
    )  # fmt: skip
    return GenerationPair(
        old=old,
        new=new,
        train=write_jsonl(root / "train.jsonl", generate_rows(data.fix, "t")),
        heldout=write_jsonl(root / "tiny_gen.jsonl", generate_rows(data.heldout, "h")),
    )
