"""End to end on real transformers + peft directories: exactly the negative flips fail.

Two LoRA adapters on one tiny random Llama base play the old and the new model. The expected flips are
computed here independently of muscle-guard (a plain full forward per choice, summed log-softmax over the
choice's tokens), then pytest runs the plugin on the adapter directories.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from muscle_guard.testing import tiny_models as tm

torch.set_num_threads(1)

QUESTIONS = [
    ("the capital of france is", [" paris", " london", " rome"]),
    ("the sun is", [" hot", " cold", " green"]),
    ("a cat is an", [" animal", " apple", " city"]),
    ("water is", [" fire", " water", " earth"]),
    ("two plus two equals", [" four", " five", " three"]),
    ("the sky is", [" blue", " red", " black"]),
    ("a dog is", [" happy", " sad", " angry"]),
    ("the king and the", [" queen", " man", " child"]),
    ("one two three", [" four", " six", " nine"]),
    ("the river is", [" fast", " slow", " big"]),
    ("the moon is", [" white", " yellow", " small"]),
    ("a horse is", [" big", " small", " fast"]),
    ("what is the", [" answer", " question", " result"]),
    ("yes or", [" no", " maybe", " true"]),
    ("the film was", [" good", " bad", " great"]),
    ("the food was", [" fine", " terrible", " good"]),
]


def _picks(adapter: Path, base: Path, tokenizer: Path) -> list[int]:
    """Each question's choice with the highest summed log-likelihood, one full sequence at a time."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer))
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base)), str(adapter)).eval()
    picks = []
    with torch.inference_mode():
        for prompt, choices in QUESTIONS:
            context = tok(prompt).input_ids
            scores = []
            for choice in choices:
                full = tok(prompt + choice).input_ids
                assert full[: len(context)] == context
                logprobs = torch.log_softmax(model(torch.tensor([full])).logits[0].float(), dim=-1)
                scores.append(sum(logprobs[i - 1, full[i]].item() for i in range(len(context), len(full))))
            picks.append(max(range(len(choices)), key=lambda i: scores[i]))
    return picks


@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[int], list[int]]:
    root = tmp_path_factory.mktemp("hf-pair")
    tok = tm.build_tokenizer(root / "tok")
    base = tm.build_causal_lm(root / "base", tok, seed=0)
    old = tm.add_lora_adapter(base, root / "old", seed=1, b_std=2.0)
    new = tm.add_lora_adapter(base, root / "new", seed=2, b_std=2.0)
    return old, new, _picks(old, base, tok), _picks(new, base, tok)


def test_exactly_the_independently_computed_negative_flips_fail(
    pytester: pytest.Pytester, hf_pair: tuple[Path, Path, list[int], list[int]]
) -> None:
    old, new, old_picks, new_picks = hf_pair
    # The old model is right everywhere by construction, so every disagreement is a negative flip.
    flips = {f"q{i:02d}" for i, (o, n) in enumerate(zip(old_picks, new_picks, strict=True)) if o != n}
    assert 0 < len(flips) < len(QUESTIONS), "the pair must disagree on some questions, not all"
    lines = [
        json.dumps({"id": f"q{i:02d}", "prompt": prompt, "choices": choices, "answer": old_picks[i]})
        for i, (prompt, choices) in enumerate(QUESTIONS)
    ]
    pytester.makefile(".jsonl", **{"suites/questions": "\n".join(lines)})

    result = pytester.runpytest_subprocess(
        f"--muscle-old={old}", f"--muscle-new={new}", "-p", "no:cacheprovider", "-rf"
    )

    failed = {line.split("::")[1].split(" ")[0] for line in result.outlines if line.startswith("FAILED suites/")}
    assert failed == flips | {"[gate]"}
    result.assert_outcomes(failed=len(flips) + 1, passed=len(QUESTIONS) - len(flips))


def test_the_report_environment_is_the_same_with_and_without_xdist(
    pytester: pytest.Pytester, hf_pair: tuple[Path, Path, list[int], list[int]]
) -> None:
    # `-n 0` imports torch, transformers and peft in the process that writes the report; an xdist controller
    # never does (its workers do): the report must still name their versions.
    old, new, old_picks, _ = hf_pair
    lines = [
        json.dumps({"id": f"q{i:02d}", "prompt": prompt, "choices": choices, "answer": old_picks[i]})
        for i, (prompt, choices) in enumerate(QUESTIONS[:4])
    ]
    pytester.makefile(".jsonl", **{"suites/questions": "\n".join(lines)})

    environments = []
    for xdist in ([], ["-n", "2"]):
        pytester.runpytest_subprocess(
            f"--muscle-old={old}", f"--muscle-new={new}", "--muscle-report=report.json", "-p", "no:cacheprovider",
            "-p", "no:hypothesispytest", *xdist,
        )  # fmt: skip
        environments.append(json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))["environment"])

    serial, parallel = environments
    assert {"torch", "transformers", "peft"} <= set(serial)
    assert parallel == serial
