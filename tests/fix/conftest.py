"""Tiny model pairs with real negative flips between them, built once per session, for the `fix` tests.

The classifier task: a short text holds one sentiment word next to a neutral one; the label is that word's
polarity. The old adapter never saw "yes"/"no" and the new one never saw "calm"/"cold" (each was left out of
its training data), so the new model is wrong on about half the "calm"/"cold" texts, which the old one gets
right: a systematic regression, as a real base-model update has, and positive flips on "yes"/"no".
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
from typer.testing import CliRunner

from muscle_guard.cli.fix import fix
from muscle_guard.fix.data import normalise_for_overlap
from muscle_guard.testing import tiny_models as tm

# One intra-op thread is far faster for tiny models on a busy 2-core machine (see tests/backends).
torch.set_num_threads(1)

POSITIVE = ("good", "great", "happy", "fine", "calm", "yes")
NEGATIVE = ("bad", "terrible", "sad", "angry", "cold", "no")
NEUTRAL = ("the", "a", "cat", "dog", "movie", "film", "book", "food", "city", "river")
ADAPTER_STEPS = 80
NEUTRAL_WORDS = (1, 1)  # neutral words around the sentiment word


def sentiment_texts(
    n: int, seed: int, exclude: Sequence[str] = (), avoid: set[str] | None = None
) -> list[tuple[str, int]]:
    """n (text, label) pairs; `exclude` words never appear; texts in `avoid` (normalised) are skipped."""
    rng = random.Random(seed)
    out: list[tuple[str, int]] = []
    while len(out) < n:
        label = rng.randint(0, 1)
        word = rng.choice(POSITIVE if label else NEGATIVE)
        if word in exclude:
            continue
        words = [rng.choice(NEUTRAL) for _ in range(rng.randint(*NEUTRAL_WORDS))]
        words.insert(rng.randint(0, len(words)), word)
        text = " ".join(words)
        if avoid is not None and normalise_for_overlap(text) in avoid:
            continue
        out.append((text, label))
    return out


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Pair:
    """Old and new model references plus training data and a held-out suite of the same task."""

    old: Path
    new: Path
    new_base: Path
    train: Path
    heldout: Path


@pytest.fixture(scope="session")
def classifier_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    root = tmp_path_factory.mktemp("fix-cls")
    tok = tm.build_tokenizer(root / "tok")
    old_base = tm.build_classifier(root / "old-base", tok, seed=1)
    new_base = tm.build_classifier(root / "new-base", tok, seed=2)
    old_data = sentiment_texts(200, seed=3, exclude=("yes", "no"))
    new_data = sentiment_texts(200, seed=4, exclude=("calm", "cold"))
    # Adapters trained from peft's no-op init (B = 0): the "same recipe" fine-tuning of each base.
    old = tm.add_lora_adapter(old_base, root / "old", seed=3, train_on=old_data, steps=ADAPTER_STEPS, randomize=False)
    new = tm.add_lora_adapter(new_base, root / "new", seed=4, train_on=new_data, steps=ADAPTER_STEPS, randomize=False)
    train = sentiment_texts(200, seed=5)
    seen = {normalise_for_overlap(t) for t, _ in train}
    heldout = sentiment_texts(200, seed=6, avoid=seen)  # texts never seen in training
    return Pair(
        old=old,
        new=new,
        new_base=new_base,
        train=write_jsonl(
            root / "train.jsonl", [{"id": f"t{i}", "text": t, "label": y} for i, (t, y) in enumerate(train)]
        ),
        heldout=write_jsonl(
            root / "heldout.jsonl", [{"id": f"h{i}", "text": t, "label": y} for i, (t, y) in enumerate(heldout)]
        ),
    )


def mc_rows(n: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    """Multiple choice: "Text: ... Sentiment:" → " positive" / " negative"."""
    return [
        {"id": f"{prefix}{i}", "prompt": f"Text: {t}. Sentiment:", "choices": [" negative", " positive"], "answer": y}
        for i, (t, y) in enumerate(sentiment_texts(n, seed))
    ]


@dataclass(frozen=True)
class CausalPairs:
    old: Path
    new: Path  # same tokenizer as old
    new_other_tokenizer: Path  # another vocabulary
    train: Path
    heldout: Path


@pytest.fixture(scope="session")
def causal_pairs(tmp_path_factory: pytest.TempPathFactory) -> CausalPairs:
    root = tmp_path_factory.mktemp("fix-lm")
    tok = tm.build_tokenizer(root / "tok")
    other_tok = tm.build_tokenizer(root / "tok-other", vocab_size=700)
    train_rows = mc_rows(24, seed=5, prefix="t")
    pairs = [(r["prompt"], r["choices"][r["answer"]]) for r in train_rows]
    old_base = tm.build_causal_lm(root / "old-base", tok, seed=1)
    new_base = tm.build_causal_lm(root / "new-base", tok, seed=2)
    other_base = tm.build_causal_lm(root / "other-base", other_tok, seed=3)
    seen = {normalise_for_overlap(r["prompt"]) for r in train_rows}
    heldout = [r for r in mc_rows(16, seed=6, prefix="h") if normalise_for_overlap(r["prompt"]) not in seen]
    return CausalPairs(
        old=tm.add_lora_adapter(old_base, root / "old", seed=1, train_on=pairs, steps=10),
        new=tm.add_lora_adapter(new_base, root / "new", seed=2, train_on=pairs, steps=10),
        new_other_tokenizer=tm.add_lora_adapter(other_base, root / "other", seed=3, train_on=pairs, steps=10),
        train=write_jsonl(root / "train.jsonl", train_rows),
        heldout=write_jsonl(root / "heldout.jsonl", heldout),
    )


RunCli = Callable[..., Any]


@pytest.fixture
def run_cli(tmp_path: Path) -> RunCli:
    """`run_cli(*args)`: invoke the `fix` command in-process (no pyproject: built-in suite settings)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(fix)
    runner = CliRunner()

    def run(*args: str) -> Any:
        argv = [*args, "--device", "cpu", "--pyproject", str(tmp_path / "no-pyproject.toml")]
        return runner.invoke(app, argv, catch_exceptions=False)

    return run
