"""Model references: every form a user can type after `--muscle-old`/`--muscle-new`, and the errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ModelRef, RefKind, parse_model_ref


def adapter_dir(root: Path, name: str = "adapter", base: str | None = "org/base-model") -> Path:
    path = root / name
    path.mkdir(parents=True)
    config = {"peft_type": "LORA"} if base is None else {"peft_type": "LORA", "base_model_name_or_path": base}
    (path / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return path


def model_dir(root: Path, name: str = "model") -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}", encoding="utf-8")
    return path


def baseline_file(root: Path, name: str = "old.jsonl") -> Path:
    path = root / name
    path.write_text("{}\n", encoding="utf-8")
    return path


# --- accepted forms --------------------------------------------------------------------------------------------------


def test_an_adapter_directory_takes_its_base_from_adapter_config(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path)

    ref = parse_model_ref(str(path))

    assert ref == ModelRef(str(path), RefKind.ADAPTER, "hf", base="org/base-model", adapter=str(path))


def test_an_explicit_base_and_adapter(tmp_path: Path) -> None:
    adapter = adapter_dir(tmp_path, base=None)
    raw = f"base=org/base-model,adapter={adapter}"

    assert parse_model_ref(raw) == ModelRef(
        raw, RefKind.BASE_ADAPTER, "hf", base="org/base-model", adapter=str(adapter)
    )


def test_base_and_adapter_in_either_order_with_spaces(tmp_path: Path) -> None:
    adapter = adapter_dir(tmp_path)

    ref = parse_model_ref(f"adapter={adapter}, base={tmp_path / 'base'}")

    assert (ref.kind, ref.base, ref.adapter) == (RefKind.BASE_ADAPTER, str(tmp_path / "base"), str(adapter))


def test_a_model_directory(tmp_path: Path) -> None:
    path = model_dir(tmp_path)

    assert parse_model_ref(str(path)) == ModelRef(str(path), RefKind.MODEL, "hf", target=str(path))


def test_an_adapter_config_wins_over_a_model_config(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path)
    (path / "config.json").write_text("{}", encoding="utf-8")

    assert parse_model_ref(str(path)).kind is RefKind.ADAPTER


@pytest.mark.parametrize("name", ["old.jsonl", "old.json"])
def test_a_baseline_file(tmp_path: Path, name: str) -> None:
    path = baseline_file(tmp_path, name)

    assert parse_model_ref(str(path)) == ModelRef(str(path), RefKind.BASELINE, "baseline", target=str(path))


def test_a_baseline_scheme(tmp_path: Path) -> None:
    path = baseline_file(tmp_path, "frozen.preds")

    ref = parse_model_ref(f"baseline:{path}")

    assert (ref.kind, ref.scheme, ref.target) == (RefKind.BASELINE, "baseline", str(path))


@pytest.mark.parametrize(
    ("raw", "scheme", "target"),
    [
        ("fake:answers.json", "fake", "answers.json"),
        ("gguf:models/q4.gguf", "gguf", "models/q4.gguf"),
        ("my-backend+v2:some/target", "my-backend+v2", "some/target"),
    ],
)
def test_a_plugin_scheme_passes_its_target_through(raw: str, scheme: str, target: str) -> None:
    assert parse_model_ref(raw) == ModelRef(raw, RefKind.SCHEME, scheme, target=target)


def test_hf_prefix_resolves_what_follows_it(tmp_path: Path) -> None:
    adapter = adapter_dir(tmp_path)
    model = model_dir(tmp_path)

    assert parse_model_ref(f"hf:{adapter}") == ModelRef(
        f"hf:{adapter}", RefKind.ADAPTER, "hf", base="org/base-model", adapter=str(adapter)
    )
    assert parse_model_ref(f"hf:{model}") == ModelRef(f"hf:{model}", RefKind.MODEL, "hf", target=str(model))
    assert parse_model_ref("hf:org/name") == ModelRef("hf:org/name", RefKind.HUB, "hf", target="org/name")


def test_hf_prefix_refuses_what_is_not_a_model(tmp_path: Path) -> None:
    path = baseline_file(tmp_path)

    with pytest.raises(ModelRefError, match="is not a transformers model"):
        parse_model_ref(f"hf:{path}")


@pytest.mark.parametrize("raw", ["org/name", "HuggingFaceTB/SmolLM2-135M", "meta-llama/Llama-3.2-1B_v1.0"])
def test_a_hub_id(raw: str) -> None:
    assert parse_model_ref(raw) == ModelRef(raw, RefKind.HUB, "hf", target=raw)


def test_surrounding_whitespace_is_ignored(tmp_path: Path) -> None:
    path = model_dir(tmp_path)

    assert parse_model_ref(f"  {path}\n").kind is RefKind.MODEL


def test_an_existing_path_that_looks_like_a_scheme_is_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    model_dir(tmp_path, "ab:cd")

    assert parse_model_ref("ab:cd") == ModelRef("ab:cd", RefKind.MODEL, "hf", target="ab:cd")


# --- errors ----------------------------------------------------------------------------------------------------------


def error_of(raw: str, option: str = "--muscle-old") -> str:
    with pytest.raises(ModelRefError) as info:
        parse_model_ref(raw, option)
    return str(info.value)


@pytest.mark.parametrize("raw", ["./models/old", "/nonexistent/model", "models/old/checkpoint-100"])
def test_a_missing_path_is_named_with_the_option(raw: str) -> None:
    assert error_of(raw) == (
        f"--muscle-old: {raw} does not exist; pass a model or adapter directory, a baseline file or scheme:target"
    )


def test_a_directory_with_neither_config(tmp_path: Path) -> None:
    assert error_of(str(tmp_path)) == (
        f"--muscle-old: {tmp_path} has neither adapter_config.json (a PEFT adapter) nor config.json (a model); "
        "point at a transformers or peft directory"
    )


def test_an_adapter_without_a_recorded_base_asks_for_one(tmp_path: Path) -> None:
    path = adapter_dir(tmp_path, base=None)

    assert f"no base_model_name_or_path; pass the base explicitly as base=DIR,adapter={path}" in error_of(str(path))


def test_an_unreadable_adapter_config(tmp_path: Path) -> None:
    path = tmp_path / "adapter"
    path.mkdir()
    (path / "adapter_config.json").write_text("{not json", encoding="utf-8")

    assert error_of(str(path)).startswith(f"{path / 'adapter_config.json'}: unreadable adapter config")


@pytest.mark.parametrize(
    "raw",
    ["base=org/m", "base=org/m,adapter=", "base=org/m,adapter=x,extra=y", "base=,adapter=x", "base=org/m;adapter=x"],
)
def test_a_malformed_base_adapter_pair(raw: str) -> None:
    assert error_of(raw) == f"--muscle-old: {raw!r} must be base=DIR_OR_ID,adapter=DIR"


def test_an_adapter_that_is_not_an_adapter_directory(tmp_path: Path) -> None:
    assert error_of(f"base=org/m,adapter={tmp_path}") == (
        f"--muscle-old: {tmp_path} is not a PEFT adapter directory (no adapter_config.json)"
    )


def test_a_file_that_is_not_a_baseline(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")

    assert error_of(str(path)) == (f"--muscle-old: {path} is a file; expected a model directory or a baseline .jsonl")


def test_a_missing_baseline_file(tmp_path: Path) -> None:
    assert error_of(f"baseline:{tmp_path / 'gone.jsonl'}") == (
        f"--muscle-old: baseline file {tmp_path / 'gone.jsonl'} does not exist; write one with `muscle-guard predict`"
    )


@pytest.mark.parametrize("raw", ["", "   "])
def test_an_empty_reference(raw: str) -> None:
    assert error_of(raw, "--muscle-new").startswith("--muscle-new: empty model reference")
