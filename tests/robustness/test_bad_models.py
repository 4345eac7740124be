"""Catalogue: model references that cannot be used. Each is refused before anything runs, in one line.

A model problem is a usage error of the run, found before any instance runs and said once (pytest exit 4, one
`ERROR:` line naming the option, no traceback, no report); `muscle-guard predict` prints it as `Error: ...`, exits 2
and writes no baseline. Unsafe models (pickle weights, custom
code) are refused without loading a byte of them as code.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from muscle_guard.core.registry import available_schemes
from tests.robustness.conftest import assert_no_traceback, good_lines, passing

if TYPE_CHECKING:
    from tests.robustness.conftest import Project, TinyModels


@dataclass(frozen=True)
class Setup:
    ref: str  # what the user types after --muscle-new / as MODEL
    message: str  # the line shown; `{option}` stands for --muscle-new or MODEL


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def missing_directory(project: Project, tiny: TinyModels) -> Setup:
    return Setup(
        "./models/v2-adapter",
        "{option}: ./models/v2-adapter does not exist; pass a model or adapter directory, a baseline file or "
        "scheme:target",
    )


def empty_directory(project: Project, tiny: TinyModels) -> Setup:
    (project.path / "models/empty").mkdir(parents=True)
    return Setup(
        "models/empty",
        "{option}: models/empty has neither adapter_config.json (a PEFT adapter) nor config.json (a model); "
        "point at a transformers or peft directory",
    )


def adapter_for_another_base(project: Project, tiny: TinyModels) -> Setup:
    return Setup(
        f"base={tiny.wide_lm},adapter={tiny.lm_adapter}",
        f"adapter {tiny.lm_adapter} was trained on base {tiny.lm} (hidden_size=32) but base {tiny.wide_lm} has "
        "hidden_size=48; pass the adapter's own base or retrain the adapter",
    )


def adapter_whose_base_is_missing(project: Project, tiny: TinyModels) -> Setup:
    adapter = copy_model(tiny.lm_adapter, project.path / "models/orphan")
    config = json.loads((adapter / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = "/models/llama-base-v1"  # trained on another machine
    (adapter / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return Setup(
        "models/orphan",
        f"base model /models/llama-base-v1 (recorded in {adapter}/adapter_config.json) does not exist; "
        f"pass the base explicitly: base=DIR,adapter={adapter}",
    )


def pickle_only_weights(project: Project, tiny: TinyModels) -> Setup:
    model = copy_model(tiny.lm, project.path / "models/pickled")
    (model / "model.safetensors").rename(model / "pytorch_model.bin")
    return Setup(
        "models/pickled",
        f"{model}: only pickle weights (pytorch_model.bin), which can run code when loaded; convert them to "
        "safetensors (e.g. load and save_pretrained with transformers) or pass --allow-pickle if you trust them",
    )


def needs_remote_code(project: Project, tiny: TinyModels) -> Setup:
    model = copy_model(tiny.lm, project.path / "models/custom")
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomLM"}
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return Setup(
        "models/custom",
        f"{model}/config.json: the model needs custom code from its directory (auto_map: AutoModelForCausalLM); "
        "review that code, then pass --trust-remote-code",
    )


def no_weights(project: Project, tiny: TinyModels) -> Setup:
    model = project.path / "models/config-only"
    model.mkdir(parents=True)
    shutil.copyfile(tiny.lm / "config.json", model / "config.json")
    return Setup("models/config-only", f"{model}: no weights found (the base model needs *.safetensors files)")


def unknown_scheme(project: Project, tiny: TinyModels) -> Setup:
    known = ", ".join(sorted(available_schemes()))
    return Setup("vllm:meta/llama", f"unknown model scheme 'vllm:'; installed backends: {known}")


def unreadable_fake_model(project: Project, tiny: TinyModels) -> Setup:
    project.write("models/broken.json", '{"answers": {')
    return Setup(
        "fake:models/broken.json",
        "fake:models/broken.json: cannot read fake answers file models/broken.json "
        "(Expecting property name enclosed in double quotes: line 1 column 14 (char 13))",
    )


def hub_id_while_offline(project: Project, tiny: TinyModels) -> Setup:
    return Setup(
        "example-org/llama-v2",
        "example-org/llama-v2: hub id given but the hub is offline (HF_HUB_OFFLINE=1) and the model is not cached; "
        "download it and pass the local directory",
    )


def missing_baseline(project: Project, tiny: TinyModels) -> Setup:
    return Setup(
        "baseline:baselines/v1.jsonl",
        "{option}: baseline file baselines/v1.jsonl does not exist; write one with `muscle-guard predict`",
    )


def tokenizer_only(project: Project, tiny: TinyModels) -> Setup:
    model = project.path / "models/tokenizer"
    model.mkdir(parents=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        if (tiny.lm / name).is_file():
            shutil.copyfile(tiny.lm / name, model / name)
    return Setup(
        "models/tokenizer",
        "{option}: models/tokenizer has neither adapter_config.json (a PEFT adapter) nor config.json (a model); "
        "point at a transformers or peft directory",
    )


def gguf_without_its_plugin(project: Project, tiny: TinyModels) -> Setup:
    project.write("models/model.gguf", b"GGUF")
    return Setup(
        "gguf:models/model.gguf",
        "no backend for 'gguf:' references; install it with: pip install muscle-guard-llamacpp (from a "
        "muscle-guard checkout: pip install ./plugins/muscle-guard-llamacpp)",
    )


def a_bare_gguf_file(project: Project, tiny: TinyModels) -> Setup:
    project.write("models/model.gguf", b"GGUF")
    return Setup(
        "models/model.gguf",
        "{option}: models/model.gguf is a file; expected a model directory or a baseline .jsonl (a GGUF file is "
        "read by a backend plugin: pass gguf:models/model.gguf)",
    )


def base_without_adapter(project: Project, tiny: TinyModels) -> Setup:
    return Setup(f"base={tiny.lm}", f"{{option}}: 'base={tiny.lm}' must be base=DIR_OR_ID,adapter=DIR")


CASES: dict[str, Callable[[Project, TinyModels], Setup]] = {
    "tokenizer-only directory": tokenizer_only,
    "gguf: without its plugin": gguf_without_its_plugin,
    "a bare .gguf file": a_bare_gguf_file,
    "base= without adapter=": base_without_adapter,
    "missing model directory": missing_directory,
    "directory that is no model": empty_directory,
    "adapter for another base": adapter_for_another_base,
    "adapter whose base is missing": adapter_whose_base_is_missing,
    "pickle-only weights": pickle_only_weights,
    "model that needs remote code": needs_remote_code,
    "config without weights": no_weights,
    "unknown scheme": unknown_scheme,
    "unreadable fake model": unreadable_fake_model,
    "hub id while offline": hub_id_while_offline,
    "missing baseline file": missing_baseline,
}
IDS = list(CASES)


@pytest.fixture(autouse=True)
def offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("name", IDS)
def test_pytest_says_it_once_as_a_usage_error(project: Project, tiny: TinyModels, name: str) -> None:
    setup = CASES[name](project, tiny)

    run = project.pytest("--muscle-report=report.json", new=setup.ref)

    message = setup.message.replace("{option}", "--muscle-new")
    if not message.startswith("--muscle-new"):
        message = f"--muscle-new: {message}"  # the line always names the option the reference came from
    assert run.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in run.stderr.splitlines() if line.strip()] == [f"ERROR: {message}"]
    assert run.outcomes == {}  # not one instance ran, so not one line per instance
    assert_no_traceback(run.output)
    assert not (project.path / "report.json").exists()  # no suite was compared: nothing to report


@pytest.mark.parametrize("name", IDS)
def test_predict_exits_2_with_the_one_line_and_writes_nothing(project: Project, tiny: TinyModels, name: str) -> None:
    setup = CASES[name](project, tiny)
    before = project.files()

    result = project.cli("predict", setup.ref, "suites", "-o", "baseline.jsonl")

    assert result.exit_code == 2
    assert result.error_lines() == ["Error: " + setup.message.replace("{option}", "MODEL")]
    assert project.files() == before
    assert_no_traceback(result.output)


def test_a_pair_that_cannot_run_is_said_once_and_the_other_pairs_run(project: Project, tiny: TinyModels) -> None:
    project.write(
        "pyproject.toml",
        '[tool.muscle-guard.pairs.geo]\nold = "fake:models/old.json"\nnew = "fake:models/new.json"\n'
        'suites = ["capitals"]\n[tool.muscle-guard.pairs.water]\nold = "fake:models/old.json"\n'
        'new = "./models/nowhere"\nsuites = ["rivers"]\n',
    )

    run = project.pytest("--muscle-report=report.json", old=None, new=None)

    assert run.outcomes == passing("capitals")  # the pair that can run does; rivers' items are deselected
    lines = [line for line in run.stdout.splitlines() if line.startswith("ERROR: ")]
    assert lines == [
        f"ERROR: model pair water: {project.path / 'pyproject.toml'} [tool.muscle-guard.pairs.water] new: "
        "./models/nowhere does not exist; pass a model or adapter directory, a baseline file or scheme:target (its "
        "suites did not run)"
    ]
    assert run.ret == pytest.ExitCode.USAGE_ERROR  # a run with a pair that could not run is no verdict
    assert_no_traceback(run.output)


def test_a_pair_of_one_model_twice_is_said_once_in_the_summary_and_the_markdown(
    project: Project, tiny: TinyModels
) -> None:
    run = project.pytest(
        "--muscle-markdown=summary.md", old="fake:models/old.json", new="fake:./models/../models/old.json"
    )

    warning = (
        "--muscle-old and --muscle-new are the same model (fake:models/old.json), so no instance can flip; check that "
        "the new model is the one meant"
    )
    assert run.outcomes == passing("capitals", "rivers")
    assert run.stdout.count(warning) == 1
    assert f"> **Warning:** {warning}" in (project.path / "summary.md").read_text(encoding="utf-8")


def test_under_xdist_it_is_said_once_too(project: Project, tiny: TinyModels) -> None:
    run = project.pytest("-n", "2", new="./models/nowhere")

    assert run.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in run.stderr.splitlines() if line.startswith("ERROR:")]
    assert errors == [
        "ERROR: --muscle-new: ./models/nowhere does not exist; pass a model or adapter directory, a baseline file or "
        "scheme:target"
    ]
    assert run.outcomes == {}


# --- problems found once the model runs -----------------------------------------------------------------------------


def test_prompts_longer_than_the_context_fail_their_suite_only(project: Project, tiny: TinyModels) -> None:
    long_prompt = "the cat and the dog " * 20  # 100 tokens; the model has 64 positions
    lines = [*good_lines("lon", 1), {"id": "essay", "prompt": long_prompt, "choices": [" yes", " no"], "answer": 0}]
    project.write_lines("suites/long.jsonl", lines)
    for name in ("capitals", "rivers"):  # the good suites, asked of the same real models
        project.write_lines(f"suites/{name}.jsonl", good_lines(name[:3]))
    project.write("pyproject.toml", "[tool.muscle-guard]\nmax_nfr = 1.0\n")  # random models: flips are fine
    message = (
        "suites/long.jsonl:2 (id 'essay'): prompt 'the cat and the dog the cat and the dog the cat and the d...' "
        "with choice ' yes' is 103 tokens, more than the model's 64; shorten the prompt or the prompt template"
    )

    run = project.pytest("-p", "no:randomly", old=str(tiny.lm_adapter), new=str(tiny.other_lm_adapter))

    long_items = {"suites/long.jsonl::lon0", "suites/long.jsonl::essay", "suites/long.jsonl::[gate]"}
    assert {n: o for n, o in run.outcomes.items() if n in long_items} == dict.fromkeys(long_items, "failed")
    assert {run.longrepr(n) for n in long_items} == {message}
    others = {n: o for n, o in run.outcomes.items() if n not in long_items}
    assert set(others.values()) <= {"passed", "xfailed"}
    assert len(others) == 8
    assert_no_traceback(run.output)

    result = project.cli("predict", str(tiny.lm_adapter), "suites/long.jsonl", "-o", "baseline.jsonl")

    assert result.exit_code == 2
    assert result.error_lines() == ["Error: " + message]
    assert not (project.path / "baseline.jsonl").exists()
