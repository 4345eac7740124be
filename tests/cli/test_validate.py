"""`muscle-guard validate`: a table of good suites on stdout, every problem as `path:line:` on stderr."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from muscle_guard.cli import app

GOOD_SUITES: dict[str, list[dict[str, Any]]] = {
    "choices": [
        {"id": "c1", "prompt": "2+2=", "choices": [" 3", " 4"], "answer": 1},
        {"id": "c2", "prompt": "3+3=", "choices": [" 6", " 7"], "answer": 0},
    ],
    "math": [{"id": "m1", "prompt": "6*7=", "answer": "42"}],
    "summaries": [{"id": "s1", "prompt": "Summarise: a cat sat.", "reference": "cat sat"}],
    "sentiment": [
        {"id": "t1", "text": "lovely", "label": 1},
        {"id": "t2", "text": "awful", "label": 0},
        {"id": "t3", "text": "fine", "label": 1},
    ],
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory (the working directory) with a good `suites/` folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "suites").mkdir()
    for name, lines in GOOD_SUITES.items():
        write(tmp_path / "suites" / f"{name}.jsonl", lines)
    return tmp_path


def write(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), encoding="utf-8")
    return path


def validate(*args: str) -> Result:
    return CliRunner().invoke(app, ["validate", *args])


def table_row(output: str, suite: str) -> list[str]:
    """The cells of the table row whose first cell is `suite`."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells[0] == suite:
            return cells
    raise AssertionError(f"no row for {suite} in:\n{output}")


def test_good_suites_are_listed_with_instances_shape_and_scorer(project: Path) -> None:
    result = validate("suites")

    assert result.exit_code == 0, result.output
    assert table_row(result.stdout, "suites/choices.jsonl") == [
        "suites/choices.jsonl",
        "2",
        "multiple_choice",
        "loglik (acc)",
        "ok",
    ]
    assert table_row(result.stdout, "suites/math.jsonl")[1:4] == ["1", "generate_exact", "exact match (exact)"]
    assert table_row(result.stdout, "suites/summaries.jsonl")[1:4] == ["1", "generate_score", "rouge1"]
    assert table_row(result.stdout, "suites/sentiment.jsonl")[1:4] == ["3", "classify", "argmax label"]
    assert result.stderr == ""


def test_the_default_is_the_suites_folder(project: Path) -> None:
    result = validate()

    assert result.exit_code == 0
    assert table_row(result.stdout, "suites/math.jsonl")[1] == "1"


def test_the_scorer_column_follows_pyproject_settings(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        "[tool.muscle-guard]\nmc-norm = 'acc_norm'\n[tool.muscle-guard.suites.math]\nnormaliser = 'final_number'\n",
        encoding="utf-8",
    )

    result = validate("suites")

    assert table_row(result.stdout, "suites/math.jsonl")[3] == "exact match (final_number)"
    assert table_row(result.stdout, "suites/choices.jsonl")[3] == "loglik (acc_norm)"


def test_a_broken_suite_fails_with_every_problem_on_stderr(project: Path) -> None:
    broken = write(
        project / "suites" / "broken.jsonl",
        [
            {"id": "a", "prompt": "p", "choices": ["x", "y"], "answer": 0},
            "{not json",
            {"id": "a", "prompt": "q", "choices": ["x", "y"], "answer": 5},
            {"id": "b[1]", "prompt": "q", "choices": ["x", "y"], "answer": 1},
        ],
    )

    result = validate("suites")

    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.strip()]
    assert [p.split(": ", 1)[0] for p in problems] == [f"error {broken.relative_to(project)}:{n}" for n in (2, 3, 4)]
    assert "'b[1]' must not contain tabs, newlines, '::' or brackets (it becomes a pytest node id)" in problems[2]
    assert table_row(result.stdout, "suites/broken.jsonl")[1:] == ["-", "-", "-", "3 error(s)"]
    assert table_row(result.stdout, "suites/math.jsonl")[4] == "ok"  # the other suites are still checked
    assert "Traceback" not in result.output


def test_long_problem_lines_and_paths_are_never_wrapped_or_cut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    deep = tmp_path / ("a-rather-long-directory-name-" * 4) / "suite-with-a-long-name.jsonl"
    write(deep, [{"id": "a", "prompt": "p", "choices": ["x"], "answer": 0}])

    result = validate(str(deep))

    assert f"error {deep}:1: 'choices' needs at least two options, got 1\n" in result.stderr
    assert str(deep) in result.stdout.replace("\n", "").replace("│", "").replace(" ", "")


def test_config_problems_keep_their_table_name(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.muscle-guard]\nmax-nfr = 2\n", encoding="utf-8")

    result = validate("suites")

    assert result.exit_code == 1
    assert (
        "error pyproject.toml [tool.muscle-guard]: max-nfr = 2 is invalid; expected a fraction between 0 and 1"
        in result.stderr
    )


def test_json_output_is_one_document_with_ok_errors_and_suites(project: Path) -> None:
    broken = write(project / "suites" / "broken.jsonl", [{"id": "x", "prompt": "p"}])

    result = validate("suites", "--json")

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert document["errors"] == [
        f"{broken.relative_to(project)}:1: cannot tell the task shape: expected prompt+choices+answer, prompt+answer, prompt+reference or text+label"
    ]
    by_path = {row["path"]: row for row in document["suites"]}
    assert by_path["suites/broken.jsonl"] == {"path": "suites/broken.jsonl", "ok": False, "errors": 1}
    assert by_path["suites/sentiment.jsonl"] == {
        "path": "suites/sentiment.jsonl",
        "ok": True,
        "name": "sentiment",
        "instances": 3,
        "shape": "classify",
        "scorer": "argmax label",
    }


def test_json_output_of_good_suites_is_ok(project: Path) -> None:
    result = validate("suites", "--json")

    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert (document["ok"], document["errors"], len(document["suites"])) == (True, [], 4)


def test_a_missing_path_fails_with_a_message(project: Path) -> None:
    result = validate("suites/math.jsonl", "nope.jsonl")

    assert result.exit_code == 1
    assert "error nope.jsonl: no such file or directory" in result.stderr
    assert table_row(result.stdout, "suites/math.jsonl")[4] == "ok"
    assert "Traceback" not in result.output


def test_a_folder_without_suites_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()

    result = validate("empty")

    assert result.exit_code == 1
    assert "error empty: no .jsonl suites found" in result.stderr


def test_show_prompt_renders_each_models_format_of_the_suites_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from muscle_guard.testing import tiny_models as tm

    tok = tm.build_tokenizer(tmp_path / "tok", chat_template=tm.TINY_CHAT_TEMPLATE)
    base = tm.build_causal_lm(tmp_path / "lm", tok, seed=0)
    old, new = (tm.add_lora_adapter(base, tmp_path / name, seed=s) for name, s in (("old", 1), ("new", 2)))
    write(tmp_path / "suites" / "sky.jsonl", [{"id": "q1", "prompt": "is the sky blue?", "choices": [" yes", " no"],
                                             "answer": 0}])  # fmt: skip
    (tmp_path / "pyproject.toml").write_text(
        '[tool.muscle-guard.suites.sky]\nprompt_template = "Q: {prompt}"\n'
        f'[tool.muscle-guard.pairs.team]\nold = "{old}"\nnew = "{new}"\nsuites = ["sky"]\n'
        'old_prompt = "{prompt}\\nA:"\nnew_prompt = "chat:Be brief."\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)

    result = validate("--show-prompt", "--json")

    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["suites"]
    assert row["prompts"]["old"]["text"] == "Q: is the sky blue?\nA:"
    assert row["prompts"]["new"]["text"] == "<s>system: Be brief.\nuser: Q: is the sky blue?\nassistant:"
    assert row["prompts"]["new"]["format"] == "chat:Be brief."
    shown = validate("--show-prompt")
    assert "sky new (" in shown.stdout
    assert "assistant:" in shown.stdout
