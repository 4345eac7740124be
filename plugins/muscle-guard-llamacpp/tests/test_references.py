"""`gguf:PATH` references that cannot work fail with one line naming the path, before llama.cpp is touched."""

from __future__ import annotations

from pathlib import Path

import pytest
from muscle_guard_llamacpp import load

from muscle_guard.core.backend import RunOptions
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import RefKind, parse_model_ref


def _load(raw: str) -> object:
    return load(parse_model_ref(raw, "--muscle-new"), RunOptions())


def test_a_gguf_reference_is_a_plugin_scheme(tmp_path: Path) -> None:
    ref = parse_model_ref(f"gguf:{tmp_path}/model.Q4_K_M.gguf", "--muscle-new")

    assert (ref.kind, ref.scheme, ref.target) == (RefKind.SCHEME, "gguf", f"{tmp_path}/model.Q4_K_M.gguf")


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda d: d / "missing.gguf", r"missing\.gguf does not exist; gguf: takes the path", id="missing"),
        pytest.param(lambda d: d, r"is a directory; gguf: takes a \.gguf file; it holds a\.gguf", id="directory"),
        pytest.param(
            lambda d: _write(d / "m.safetensors", b"{}\x00\x00"), r"is not a GGUF file \(starts with", id="other"
        ),
        pytest.param(lambda d: _write(d / "empty.gguf", b""), r"is not a GGUF file \(empty\)", id="empty"),
    ],
)
def test_unusable_files_are_one_line_errors(tmp_path: Path, make: object, expected: str) -> None:
    _write(tmp_path / "a.gguf", b"GGUF")
    target = make(tmp_path)  # type: ignore[operator]

    with pytest.raises(ModelRefError, match=expected) as excinfo:
        _load(f"gguf:{target}")

    assert str(excinfo.value).startswith(f"gguf:{target}: ")
    assert "\n" not in str(excinfo.value)


def test_an_empty_target_asks_for_a_file() -> None:
    with pytest.raises(ModelRefError, match=r"no file given; write gguf:PATH/TO/MODEL\.gguf"):
        _load("gguf:")


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
