"""Build the two extra multiple-choice suites of bench/mc_vs_lm_eval.py from the evals wheel (ASSETS.md).

    .venv/bin/python bench/mc_suites.py [--size 500]

- `bench/suites/socialiqa.jsonl`: Social IQa (Sap et al. 2019, CC BY 4.0), 3 choices of a few words each,
  from `evals/registry/data/theory_of_mind/socialiqa/test.jsonl`; prompt `Question: <context> <question>\\nAnswer:`,
  choices with their leading space (lm-eval's `acc` convention, as suites/quartz.jsonl).
- `bench/suites/mmlu.jsonl`: MMLU (Hendrycks et al. 2021, MIT), from `evals/registry/data/sandbagging/
  samples-all-large.jsonl`, whose questions already end in the lettered options and `Answer:`; the choices
  are the one-token letters ` A` … ` D`, as lm-eval's `mmlu` task scores them.

The first `--size` rows of each file that parse, in file order; ids carry the source line, so a rebuild
gives the same ids. Checked in, so the benchmark needs no download; the builder is here to show where they
come from.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from demo.build_suites import DEFAULT_WHEELS, EVALS, dump_jsonl, fetch_wheel, read_member

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench/suites"
SOCIALIQA_MEMBER = "evals/registry/data/theory_of_mind/socialiqa/test.jsonl"
MMLU_MEMBER = "evals/registry/data/sandbagging/samples-all-large.jsonl"
_SIQA = re.compile(r"(?s)(?P<stem>.*?) A: (?P<a>.*?); B: (?P<b>.*?); C: (?P<c>.*?)\.?")
_MMLU = re.compile(r"(?s).*\nA\. .*\nB\. .*\nC\. .*\nD\. .*\nAnswer:")


def _rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, json.loads(line)


def socialiqa(text: str, size: int) -> list[dict[str, Any]]:
    out = []
    for number, row in _rows(text):
        content = [m for m in row["input"] if m.get("role") == "user"][-1]["content"]
        match = _SIQA.fullmatch(content.strip())
        if match is None or str(row["ideal"]).strip() not in "ABC":
            continue
        choices = [" " + match[k].strip() for k in "abc"]
        if len(set(choices)) < 3:
            continue
        prompt = f"Question: {match['stem'].strip()}\nAnswer:"
        answer = "ABC".index(str(row["ideal"]).strip())
        out.append({"id": f"siqa-{number:04d}", "prompt": prompt, "choices": choices, "answer": answer})
        if len(out) == size:
            break
    return out


def mmlu(text: str, size: int) -> list[dict[str, Any]]:
    out = []
    for number, row in _rows(text):
        question, answer = str(row["question"]), str(row["answer"]).strip()
        if _MMLU.fullmatch(question) is None or answer not in "ABCD":
            continue
        out.append(
            {
                "id": f"mmlu-{number:04d}",
                "prompt": question,
                "choices": [" A", " B", " C", " D"],
                "answer": "ABCD".index(answer),
            }
        )
        if len(out) == size:
            break
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=500)
    args = parser.parse_args()
    wheel = fetch_wheel(EVALS, DEFAULT_WHEELS)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, build, member in (("socialiqa", socialiqa, SOCIALIQA_MEMBER), ("mmlu", mmlu, MMLU_MEMBER)):
        instances = build(read_member(wheel, member), args.size)
        (OUT / f"{name}.jsonl").write_bytes(dump_jsonl(instances))
        print(f"{OUT / name}.jsonl: {len(instances)} instances from {member}")


if __name__ == "__main__":
    main()
