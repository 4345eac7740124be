"""Catalogue: `muscle-guard fix` asked to train with what it cannot use.

Each is refused before the first optimizer step with one `Error:` line and exit 2 (bad input, as the command's
help says), and `--out` is left as it was: not created, or unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from muscle_guard.testing import tiny_models as tm
from tests.robustness.conftest import assert_no_traceback

if TYPE_CHECKING:
    from tests.robustness.conftest import Project, TinyModels


@dataclass(frozen=True)
class FixModels:
    old_classifier: Path
    new_classifier: Path
    old_lm: Path
    new_lm_other_tokenizer: Path


@pytest.fixture(scope="module")
def models(tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> FixModels:
    root = tmp_path_factory.mktemp("fix-models")
    other_tok = tm.build_tokenizer(root / "tok-other", vocab_size=700)
    other_lm = tm.build_causal_lm(root / "lm-other", other_tok, seed=3, max_positions=64)
    old_base = tm.build_classifier(root / "cls-old", tiny.tokenizer, seed=1, max_positions=64)
    new_base = tm.build_classifier(root / "cls-new", tiny.tokenizer, seed=2, max_positions=64)
    return FixModels(
        old_classifier=tm.add_lora_adapter(old_base, root / "cls-old-adapter", seed=1),
        new_classifier=tm.add_lora_adapter(new_base, root / "cls-new-adapter", seed=2),
        old_lm=tiny.lm_adapter,
        new_lm_other_tokenizer=tm.add_lora_adapter(other_lm, root / "lm-other-adapter", seed=3),
    )


WORDS = ["bad", "good", "sad", "great", "angry", "happy", "cold", "fine"]
TEXTS = [{"id": f"t{i}", "text": f"the {w} movie", "label": i % 2} for i, w in enumerate(WORDS)]
QUESTIONS = [
    {"id": f"q{i}", "prompt": f"Is the {w} movie good?", "choices": [" no", " yes"], "answer": i % 2}
    for i, w in enumerate(WORDS)
]


@dataclass(frozen=True)
class Case:
    args: list[str]  # after --old/--new (classifiers unless `causal`), --out out
    message: str
    causal: bool = False
    setup: Callable[[Project], object] = lambda project: None
    pyproject: str = ""  # written to pp.toml and passed as --pyproject when given


def lines(rows: list[dict[str, object]]) -> str:
    return "".join(json.dumps(row) + "\n" for row in rows)


def writes(contents: dict[str, str]) -> Callable[[Project], object]:
    """A setup that writes files into the project."""
    return lambda project: [project.write(name, text) for name, text in contents.items()]


def previous_run(project: Project) -> None:
    (project.path / "texts.jsonl").write_text(lines(TEXTS), encoding="utf-8")
    (project.path / "out/checkpoints/epoch-1").mkdir(parents=True)


CASES: dict[str, Case] = {
    "empty training file": Case(
        ["--train", "empty.jsonl"],
        "empty.jsonl: empty suite (no instances); add lines or remove the file",
        setup=writes({"empty.jsonl": ""}),
    ),
    "missing training file": Case(["--train", "nothing.jsonl"], "nothing.jsonl: no such file; check the suite path"),
    "broken training line": Case(
        ["--train", "train.jsonl"],
        "train.jsonl:2: invalid JSON (Expecting ',' delimiter at column 13)",
        setup=writes({"train.jsonl": lines(TEXTS[:1]) + '{"id": "t1" "text": "x", "label": 1}\n'}),
    ),
    "training data of another task": Case(
        ["--train", "questions.jsonl"],
        "--new is a classify model but the training data is multiple_choice; they must match",
        setup=writes({"questions.jsonl": lines(QUESTIONS)}),
    ),
    "labels the model does not have": Case(
        ["--train", "texts.jsonl"],
        "texts.jsonl:2: label 5 is out of range for a 2-class model",
        setup=writes({"texts.jsonl": lines([TEXTS[0], {**TEXTS[1], "label": 5}, *TEXTS[2:]])}),
    ),
    "one distinct text": Case(
        ["--train", "same.jsonl"],
        "same.jsonl: every instance has the same input after normalisation, so no validation split can avoid "
        "copies of training rows; add varied training data or pass --val-fraction 0",
        setup=writes(
            {
                "same.jsonl": lines(
                    [{**t, "text": ("The good movie", "the GOOD movie!")[i % 2]} for i, t in enumerate(TEXTS)]
                )
            }
        ),
    ),
    "check suite of another task": Case(
        ["--train", "texts.jsonl", "--suite", "questions.jsonl"],
        "--suite questions.jsonl is multiple_choice but the training data texts.jsonl is classify; fix trains on the "
        "task the suite gates: give training data of that shape",
        setup=writes({"texts.jsonl": lines(TEXTS), "questions.jsonl": lines(QUESTIONS)}),
    ),
    "training on the check suite": Case(
        ["--train", "texts.jsonl", "--suite", "gate.jsonl"],
        "1 training instance(s) have the same prompt/text as a --suite instance; training on the suites the gate "
        "checks would game it. Remove them from the training data, or pass --allow-overlap:\n"
        "  texts.jsonl:2 (id t1) = gate.jsonl:1 (id g0)",
        setup=writes(
            {"texts.jsonl": lines(TEXTS), "gate.jsonl": lines([{"id": "g0", "text": "The GOOD movie!", "label": 1}])}
        ),
    ),
    "output that is a file": Case(
        ["--train", "texts.jsonl"],
        "--out out is a file; pass a directory",
        setup=writes({"texts.jsonl": lines(TEXTS), "out": "notes\n"}),
    ),
    "output of a previous run": Case(
        ["--train", "texts.jsonl"],
        "--out out holds a previous fix run; continue it with --resume or pass another --out",
        setup=previous_run,
    ),
    "resume without a checkpoint": Case(
        ["--train", "texts.jsonl", "--resume"],
        "--resume: no checkpoint in out/checkpoints; start without --resume",
        setup=writes({"texts.jsonl": lines(TEXTS)}),
    ),
    # Issue #34: training data judged with the --suite's settings, and validation that could not measure the aim.
    "label names the --suite does not define": Case(
        ["--train", "named.jsonl", "--suite", "gate.jsonl"],
        "named.jsonl:1: label 'neg' is not one of the labels (none are set); set labels = [...] in "
        "[tool.muscle-guard.suites.gate] in pp.toml, or write the label as a class index",
        setup=writes(
            {
                "named.jsonl": lines([{**t, "label": ("neg", "pos")[t["label"]]} for t in TEXTS]),
                "gate.jsonl": lines([{"id": "g0", "text": "an unseen film", "label": 1}]),
            }
        ),
        pyproject="[tool.muscle-guard.suites.named]\nlabels = ['neg', 'pos']\n",  # the training file's: not used
    ),
    "suites judged differently": Case(
        ["--train", "texts.jsonl", "--suite", "a.jsonl", "--suite", "b.jsonl"],
        "--suite a.jsonl and --suite b.jsonl are judged with different settings (labels: ['neg', 'pos'] against "
        "['bad', 'good']); fix validates as the gate judges, under one set of settings: run fix once per group of "
        "suites that share them",
        setup=writes(
            {
                "texts.jsonl": lines(TEXTS),
                "a.jsonl": lines([{"id": "a0", "text": "an unseen film", "label": 1}]),
                "b.jsonl": lines([{"id": "b0", "text": "another unseen film", "label": 0}]),
            }
        ),
        pyproject="[tool.muscle-guard.suites.a]\nlabels = ['neg', 'pos']\n"
        "[tool.muscle-guard.suites.b]\nlabels = ['bad', 'good']\n",
    ),
    "a budget validation cannot measure": Case(
        ["--train", "texts.jsonl", "--suite", "gate.jsonl"],
        "fix --aim budget: the old model ",
        setup=writes(
            {"texts.jsonl": lines(TEXTS), "gate.jsonl": lines([{"id": "g0", "text": "an unseen film", "label": 1}])}
        ),
        pyproject="[tool.muscle-guard.suites.gate]\nmax_nfr = 1.0\n",  # nothing validation could ever fail
    ),
    "token-level fix across tokenizers": Case(
        ["--train", "questions.jsonl", "--strategy", "muscle"],
        "--strategy muscle is token-level and needs the same tokenizer for old and new",
        causal=True,
        setup=writes({"questions.jsonl": lines(QUESTIONS)}),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fix_refuses_with_one_line_and_leaves_out_alone(project: Project, models: FixModels, name: str) -> None:
    case = CASES[name]
    case.setup(project)
    old, new = (
        (models.old_lm, models.new_lm_other_tokenizer)
        if case.causal
        else (models.old_classifier, models.new_classifier)
    )
    before = {f: (project.path / f).read_bytes() for f in project.files()}
    dirs_before = sorted(p for p in project.path.rglob("*") if p.is_dir())

    pyproject = "none.toml"
    if case.pyproject:
        project.write("pp.toml", case.pyproject)
        pyproject = "pp.toml"
        before["pp.toml"] = (project.path / "pp.toml").read_bytes()
    result = project.cli(
        "fix", "--old", str(old), "--new", str(new), "--out", "out", *case.args,
        "--device", "cpu", "--epochs", "1", "--pyproject", pyproject,
    )  # fmt: skip

    assert result.exit_code == 2, result.output
    errors = [line for line in result.error_lines() if line.startswith("Error: ")]
    assert errors  # status lines may come first (what fix decided), then the refusal
    assert errors[0].startswith("Error: " + case.message.splitlines()[0])
    said = result.stderr[result.stderr.index("Error: ") :].replace("Error: ", "").strip()
    assert said.startswith(case.message)
    assert {f: (project.path / f).read_bytes() for f in project.files()} == before
    assert sorted(p for p in project.path.rglob("*") if p.is_dir()) == dirs_before
    assert_no_traceback(result.output)
