"""Tiny random models shared by the backend tests (built once per session, in seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from muscle_guard.core.backend import RunOptions
from muscle_guard.testing import tiny_models as tm

# Tiny models spend their time in thread hand-offs, not arithmetic: one intra-op thread is ~10-100x
# faster for them, above all on a busy 2-core machine.
torch.set_num_threads(1)


@dataclass(frozen=True)
class Tiny:
    tokenizer: Path
    lm: Path  # base causal LM
    other_lm: Path  # same shapes, other weights
    wide_lm: Path  # another hidden size
    classifier: Path
    lm_adapter: Path
    classifier_adapter: Path
    noop_lm_adapter: Path
    noop_classifier_adapter: Path


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    root = tmp_path_factory.mktemp("tiny")
    tok = tm.build_tokenizer(root / "tok")
    lm = tm.build_causal_lm(root / "lm", tok, seed=0)
    classifier = tm.build_classifier(root / "cls", tok, seed=0)
    return Tiny(
        tokenizer=tok,
        lm=lm,
        other_lm=tm.build_causal_lm(root / "lm-other", tok, seed=7),
        wide_lm=tm.build_causal_lm(root / "lm-wide", tok, seed=0, hidden=48),
        classifier=classifier,
        lm_adapter=tm.add_lora_adapter(lm, root / "lm-adapter", seed=1),
        classifier_adapter=tm.add_lora_adapter(classifier, root / "cls-adapter", seed=1),
        noop_lm_adapter=tm.add_lora_adapter(lm, root / "lm-noop", seed=1, randomize=False),
        noop_classifier_adapter=tm.add_lora_adapter(classifier, root / "cls-noop", seed=1, randomize=False),
    )


@pytest.fixture
def quiet() -> RunOptions:
    return RunOptions(device="cpu", progress=False)
