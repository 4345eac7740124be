"""`fix --unlabelled`: more inputs for the ensemble's teacher term, without labels, on the tiny classifier pair.

These tests assert what the option does to the data (counted, kept out of validation and of the suites,
recorded, refused where it cannot apply), never how many flips it removes: that is an effect of the data and
the CPU, measured in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from muscle_guard.fix.search import file_hash
from muscle_guard.testing.sentiment import sentiment_texts
from tests.fix.conftest import CausalPairs, Pair, RunCli, mc_rows, write_jsonl
from tests.fix.settings import TINY


def texts_of(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()]


def fix(pair: Pair, run_cli: RunCli, out: Path, *extra: str) -> object:
    return run_cli(
        "--old", str(pair.old), "--new", str(pair.new), "--train", str(pair.train), "--out", str(out),
        "--suite", str(pair.heldout), "--strategy", "ensemble", "--epochs", "1", "--grad-accum", "1", "--no-check", *TINY, *extra,
    )  # fmt: skip


def steps(stdout: str) -> int:
    found = re.search(r"1 epochs × (\d+) optimizer steps", stdout)
    assert found, stdout
    return int(found.group(1))


def test_unlabelled_inputs_join_training_but_never_validation(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    train = texts_of(classifier_pair.train)
    taken = set(train) | set(texts_of(classifier_pair.heldout))
    fresh = [text for text, _ in sentiment_texts(64, random.Random(5), taken=taken)]
    # The fresh inputs, and a copy of every training input: the copies of validation inputs must be left out.
    more = write_jsonl(tmp_path / "more.jsonl", [{"text": t} for t in [*fresh, *train]])
    plain = fix(classifier_pair, run_cli, tmp_path / "plain")
    result = fix(classifier_pair, run_cli, tmp_path / "fixed", "--unlabelled", str(more))
    assert result.exit_code == 0, result.stderr
    counts = re.search(r"fix: (\d+) training and (\d+) validation instances", result.stderr)
    assert counts, result.stderr
    n_train, n_val = int(counts.group(1)), int(counts.group(2))
    assert n_train + n_val == len(train)
    assert f"{n_val} --unlabelled input(s) equal a validation input and are left out" in result.stderr
    assert f"+ {len(fresh) + n_train} unlabelled inputs from {more}" in result.stderr
    assert steps(result.stderr) > steps(plain.stderr)  # batch 16: the inputs are trained on
    record = json.loads((tmp_path / "fixed" / "muscle_fix.json").read_text())
    assert record["data"]["unlabelled"] == {"path": str(more), "sha256": file_hash(more)}
    assert json.loads((tmp_path / "plain" / "muscle_fix.json").read_text())["data"]["unlabelled"] is None


def test_unlabelled_inputs_from_a_suite_are_refused(classifier_pair: Pair, run_cli: RunCli, tmp_path: Path) -> None:
    suite_text = texts_of(classifier_pair.heldout)[3]
    more = write_jsonl(tmp_path / "more.jsonl", [{"text": "something new"}, {"text": suite_text.upper()}])
    result = fix(classifier_pair, run_cli, tmp_path / "fixed", "--unlabelled", str(more))
    assert result.exit_code == 2
    assert "1 training instance(s) have the same prompt/text as a --suite instance" in result.stderr
    assert f"{more}:2 (id unlabelled:line-2)" in result.stderr
    assert not (tmp_path / "fixed").exists()


def test_unlabelled_inputs_need_a_label_free_teacher_term(
    classifier_pair: Pair, run_cli: RunCli, tmp_path: Path
) -> None:
    more = write_jsonl(tmp_path / "more.jsonl", [{"text": "something new"}])
    result = run_cli(
        "--old", str(classifier_pair.old), "--new", str(classifier_pair.new), "--train", str(classifier_pair.train),
        "--out", str(tmp_path / "fixed"), "--strategy", "muscle", "--unlabelled", str(more), *TINY,
    )  # fmt: skip
    assert result.exit_code == 2
    assert "--unlabelled inputs have no labels" in result.stderr
    assert "not with --strategy muscle" in result.stderr
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{"prompt": "no text"}\n', encoding="utf-8")
    result = fix(classifier_pair, run_cli, tmp_path / "other", "--unlabelled", str(broken))
    assert result.exit_code == 2
    assert f"{broken}:2: a classifier's unlabelled input is" in result.stderr


def test_unlabelled_multiple_choice_trains_at_the_choice_level_only(
    causal_pairs: CausalPairs, run_cli: RunCli, tmp_path: Path
) -> None:
    """Across tokenizers the ensemble distils each instance's distribution over its choices: an input without an
    answer fits that; the token level teacher-forces the right answer, which such an input does not have."""
    taken = {json.loads(line)["prompt"] for p in (causal_pairs.train, causal_pairs.heldout) for line in
             p.read_text(encoding="utf-8").splitlines()}  # fmt: skip
    rows = [{k: r[k] for k in ("prompt", "choices")} for r in mc_rows(12, random.Random(9), "u", taken)]
    more = write_jsonl(tmp_path / "more.jsonl", rows)
    common = ("--old", str(causal_pairs.old), "--train", str(causal_pairs.train), "--strategy", "ensemble",
              "--epochs", "1", "--no-check", "--lr", "5e-3", "--batch-size", "4", "--unlabelled", str(more))  # fmt: skip
    result = run_cli(*common, "--new", str(causal_pairs.new_other_tokenizer), "--level", "choice",
                     "--out", str(tmp_path / "choice"))  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert f"+ 12 unlabelled inputs from {more}" in result.stderr
    assert json.loads((tmp_path / "choice" / "muscle_fix.json").read_text())["config"]["choice_level"] is True
    tokens = run_cli(*common, "--new", str(causal_pairs.new), "--out", str(tmp_path / "tokens"))
    assert tokens.exit_code == 2
    assert "--unlabelled inputs have no labels" in tokens.stderr
    assert "not at the token level" in tokens.stderr
