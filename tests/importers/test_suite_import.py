"""`muscle-guard suite import`: suites from the files people have, validated, with stable ids and provenance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from muscle_guard.cli import app
from muscle_guard.core.suite import Shape, load_suite

pytest.importorskip("datasets", reason="the import tests need Hugging Face datasets (pip install -e '.[dev]')")

QUESTIONS = [
    {"qid": "q1", "question": "Sound near a speaker is", "A": "louder", "B": "quieter", "key": "A", "lic": "x"},
    {"qid": "q2", "question": "Particles moving apart make the amplitude", "A": "increase", "B": "decrease",
     "key": "B", "lic": "x"},
]  # fmt: skip


def invoke(*args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["suite", "import", *map(str, args)])
    return result.exit_code, result.stderr


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_csv_file_becomes_a_multiple_choice_suite_with_its_provenance(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "quartz.csv", QUESTIONS)
    out = tmp_path / "suites" / "quartz.jsonl"

    code, err = invoke(data, "-o", out, "--field", "prompt=Question: {question}\nAnswer:", "--field", "choices=A,B",
                       "--field", "answer=key", "--field", "id=qid", "--license", "CC BY 4.0")  # fmt: skip

    assert code == 0, err
    suite = load_suite(out)
    assert suite.shape is Shape.MULTIPLE_CHOICE
    first, second = suite.instances
    assert (first.id, first.prompt, first.choices, first.answer) == (
        "q1", "Question: Sound near a speaker is\nAnswer:", (" louder", " quieter"), 0)  # fmt: skip
    assert second.answer == 1  # the letter B
    provenance = json.loads((tmp_path / "suites" / "quartz.source.json").read_text(encoding="utf-8"))
    assert provenance["license"] == "CC BY 4.0"
    assert provenance["source"] == str(data)
    assert provenance["fields"]["choices"] == "A,B"
    assert provenance["instances"] == 2
    assert f"wrote {out}: 2 multiple_choice instances" in err


def test_ids_without_an_id_field_are_stable_across_re_imports(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "quartz.csv", QUESTIONS)
    args = ("--field", "prompt=question", "--field", "choices=A,B", "--field", "answer=key")

    invoke(data, "-o", tmp_path / "one" / "quartz.jsonl", *args)
    reversed_data = write_csv(tmp_path / "reversed.csv", QUESTIONS[::-1])
    invoke(reversed_data, "-o", tmp_path / "two" / "quartz.jsonl", *args)

    one, two = (load_suite(tmp_path / n / "quartz.jsonl") for n in ("one", "two"))
    assert {i.id: i.prompt for i in one.instances} == {i.id: i.prompt for i in two.instances}
    assert all(i.id.startswith("quartz-") for i in one.instances)


def test_parquet_and_json_lines_give_classify_and_generation_suites(tmp_path: Path) -> None:
    import pandas as pd

    pd.DataFrame({"headline": ["a wry one", "a dry one"], "is_sarcastic": ["sarcastic", "literal"]}).to_parquet(
        tmp_path / "sarcasm.parquet"
    )
    (tmp_path / "gsm.jsonl").write_text(
        "".join(json.dumps({"q": f"{n} + 1?", "a": str(n + 1)}) + "\n" for n in range(3)), encoding="utf-8"
    )

    classify = invoke(tmp_path / "sarcasm.parquet", "-o", tmp_path / "sarcasm.jsonl", "--shape", "classify",
                      "--field", "text=headline", "--field", "label=is_sarcastic")  # fmt: skip
    generate = invoke(tmp_path / "gsm.jsonl", "-o", tmp_path / "gsm_out.jsonl", "--shape", "generate_exact",
                      "--field", "prompt=Q: {q}\nA:", "--field", "answer=a")  # fmt: skip

    assert classify[0] == 0, classify[1]
    assert generate[0] == 0, generate[1]
    labels = [i.label for i in load_suite(tmp_path / "sarcasm.jsonl").instances]
    assert labels == ["sarcastic", "literal"]
    answers = [(i.prompt, i.answer) for i in load_suite(tmp_path / "gsm_out.jsonl").instances]
    assert answers[0] == ("Q: 0 + 1?\nA:", "1")


def test_a_bad_mapping_names_the_row_and_the_fields_it_has(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "quartz.csv", QUESTIONS)

    code, err = invoke(data, "-o", tmp_path / "q.jsonl", "--field", "prompt=stem", "--field", "choices=A,B",
                       "--field", "answer=key")  # fmt: skip

    assert code == 1
    assert err.splitlines() == [  # said once for the whole file, with how many rows it concerns
        f"Error: {data} row 1: prompt: field 'stem' missing; the row has qid, question, A, B, key, lic (and 1 more "
        "row with the same problem)"
    ]
    assert not (tmp_path / "q.jsonl").exists()


def test_a_misspelt_column_in_a_large_file_is_one_line_counting_every_row(tmp_path: Path) -> None:
    rows = [{**QUESTIONS[i % 2], "qid": f"q{i}", "question": f"Question {i}?"} for i in range(600)]
    data = write_csv(tmp_path / "big.csv", rows)

    code, err = invoke(data, "-o", tmp_path / "q.jsonl", "--field", "prompt=Q: {questoin}", "--field", "choices=A,B",
                       "--field", "answer=key")  # fmt: skip

    assert code == 1
    assert err.splitlines() == [
        f"Error: {data} row 1: prompt: template field 'questoin' missing; the row has qid, question, A, B, key, lic "
        "(and 599 more rows with the same problem)"
    ]


def test_an_empty_cell_is_refused_never_the_text_none(tmp_path: Path) -> None:
    rows = [{"t": "a gripping film", "y": "fresh"}, {"t": "a dull film", "y": ""}]
    data = write_csv(tmp_path / "rt.csv", rows)

    code, err = invoke(
        data, "-o", tmp_path / "rt.jsonl", "--shape", "classify", "--field", "text=t", "--field", "label=y"
    )

    assert code == 1
    assert err.splitlines() == [f"Error: {data} row 2: label: field 'y' is empty; fill it in or leave the row out"]
    assert not (tmp_path / "rt.jsonl").exists()


def test_a_newline_typed_in_a_shell_template_is_a_newline(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "quartz.csv", QUESTIONS)

    code, err = invoke(data, "-o", tmp_path / "q.jsonl", "--field", "prompt=Question: {question}\\nAnswer:",
                       "--field", "choices=A,B", "--field", "answer=key")  # fmt: skip

    assert code == 0, err
    first = load_suite(tmp_path / "q.jsonl").instances[0]
    assert first.prompt == "Question: Sound near a speaker is\nAnswer:"  # a newline, not a backslash and an n


def test_an_incomplete_mapping_says_which_fields_to_pass(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "quartz.csv", QUESTIONS)

    code, err = invoke(data, "-o", tmp_path / "q.jsonl", "--field", "prompt=question")

    assert code == 2
    assert "needs choices, answer: pass --field choices=FIELD, --field answer=FIELD" in err


def test_repeated_rows_are_one_instance_and_the_count_is_said(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "quartz.csv", [*QUESTIONS, QUESTIONS[0]])

    code, err = invoke(data, "-o", tmp_path / "q.jsonl", "--field", "prompt=question", "--field", "choices=A,B",
                       "--field", "answer=key", "--field", "id=qid")  # fmt: skip

    assert code == 0, err
    assert len(load_suite(tmp_path / "q.jsonl")) == 2
    assert "1 duplicate row(s) left out" in err


def test_the_suite_never_lands_on_its_source(tmp_path: Path) -> None:
    data = tmp_path / "quartz.jsonl"
    data.write_text(json.dumps({"question": "q", "A": "a", "B": "b", "key": "A"}) + "\n", encoding="utf-8")

    code, err = invoke(
        data, "-o", data, "--field", "prompt=question", "--field", "choices=A,B", "--field", "answer=key"
    )

    assert code == 2
    assert "is also SOURCE" in err
    assert json.loads(data.read_text(encoding="utf-8"))["question"] == "q"


def test_a_hub_dataset_while_offline_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    code, err = invoke("allenai/quartz", "-o", tmp_path / "q.jsonl", "--field", "prompt=question",
                       "--field", "choices=choices", "--field", "answer=answerKey")  # fmt: skip

    assert code == 2
    assert "a hub dataset, and the hub is off" in err


def test_an_lm_eval_task_without_lm_eval_installed_says_which_extra(tmp_path: Path) -> None:
    try:
        import lm_eval  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("lm-eval is installed here: bench/import_vs_lm_eval.py covers the real import")
    task = Path(__file__).resolve().parents[2] / "bench" / "lm_eval_tasks" / "muscle_quartz.yaml"

    code, err = invoke("--lm-eval-task", task, "-o", tmp_path / "q.jsonl")

    assert code == 2
    assert "pip install 'muscle-guard[lm-eval]'" in err
