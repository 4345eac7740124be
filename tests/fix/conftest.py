"""Tiny model pairs with real negative flips between them, built once per session, for the `fix` tests.

The classifier pair is `muscle_guard.testing.sentiment` (unique texts, a systematic regression on the words
the new adapter never saw); bench/fix_seeds.py measures its spread over seeds and CPU kernel paths, which is
what the assertions' margins rest on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import typer
from typer.testing import CliRunner

from muscle_guard.cli.fix import fix
from muscle_guard.testing import tiny_models as tm
from muscle_guard.testing.sentiment import ClassifierPair, build_classifier_pair, sentiment_texts, write_jsonl

# One intra-op thread is far faster for tiny models on a busy 2-core machine (see tests/backends).
torch.set_num_threads(1)

Pair = ClassifierPair
__all__ = ["Pair", "RunCli", "write_jsonl"]


@pytest.fixture(scope="session")
def classifier_pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    return build_classifier_pair(tmp_path_factory.mktemp("fix-cls"), seed=0)


def mc_rows(n: int, rng: random.Random, prefix: str, taken: set[str]) -> list[dict[str, Any]]:
    """Multiple choice: "Text: ... Sentiment:" → " positive" / " negative"; texts unique across `taken`."""
    return [
        {"id": f"{prefix}{i}", "prompt": f"Text: {t}. Sentiment:", "choices": [" negative", " positive"], "answer": y}
        for i, (t, y) in enumerate(sentiment_texts(n, rng, taken=taken))
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
    rng, taken = random.Random(5), set[str]()
    train_rows = mc_rows(24, rng, "t", taken)
    pairs = [(r["prompt"], r["choices"][r["answer"]]) for r in train_rows]
    old_base = tm.build_causal_lm(root / "old-base", tok, seed=1)
    new_base = tm.build_causal_lm(root / "new-base", tok, seed=2)
    other_base = tm.build_causal_lm(root / "other-base", other_tok, seed=3)
    heldout = mc_rows(16, rng, "h", taken)  # no text of the training data
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
    """`run_cli(*args)`: invoke the `fix` command in-process (no pyproject unless `--pyproject` is given: built-in
    suite settings)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(fix)
    runner = CliRunner()

    def run(*args: str) -> Any:
        argv = [*args, "--device", "cpu"]
        if "--pyproject" not in args:
            argv += ["--pyproject", str(tmp_path / "no-pyproject.toml")]
        return runner.invoke(app, argv, catch_exceptions=False)

    return run
