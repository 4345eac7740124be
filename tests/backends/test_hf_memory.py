"""Scoring memory is bounded whatever the vocabulary: long choices on a model with a 131k-token vocabulary.

Run in a fresh process so its peak resident memory is the scoring's own. Without the logits budget the
continuation pass held every continuation position's full-vocabulary logits at once (32 continuations ×
159 positions × 131,072 × 4 bytes = 2.7 GB, twice over inside logsumexp).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from muscle_guard.testing import tiny_models as tm

VOCABULARY = 131_072
PEAK_LIMIT_MIB = 1200

SCRIPT = r"""
import json, resource, sys
import torch
torch.set_num_threads(1)
from muscle_guard.core.backend import ChoiceRequest, RunOptions
from muscle_guard.backends.hf import load
from muscle_guard.core.modelref import parse_model_ref

words = "the cat and the dog saw a big red house near the river".split()
long = " " + " ".join(words[i % len(words)] for i in range(160))
requests = [ChoiceRequest(f"question {i} is", (long, " the" + long)) for i in range(16)]
backend = load(parse_model_ref(sys.argv[1]), RunOptions(device="cpu", progress=False))
scores = backend.score_choices(requests)
print(json.dumps({"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "scores": scores}))
"""


@pytest.fixture(scope="module")
def wide_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wide-vocab")
    tok = tm.build_tokenizer(root / "tok")
    return tm.build_causal_lm(root / "lm", tok, seed=0, vocab_size=VOCABULARY, hidden=16, intermediate=32)


def test_long_choices_on_a_wide_vocabulary_stay_within_a_bounded_peak(wide_model: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(wide_model)], capture_output=True, text=True, check=True, timeout=600
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])

    assert result["peak_mib"] < PEAK_LIMIT_MIB
    assert len(result["scores"]) == 16
    assert all(len(pair) == 2 and all(s < 0 for s in pair) for pair in result["scores"])
