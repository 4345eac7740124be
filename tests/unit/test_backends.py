"""The backend registry and the fake backend that the other tests (and users' own tests) run on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from muscle_guard.backends.fake import FakeBackend
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.core.registry import (
    Backend,
    ChoiceRequest,
    GenerateRequest,
    available_schemes,
    get_factory,
    load_backend,
)


def answers_file(tmp_path: Path, content: object, name: str = "answers.json") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def test_the_built_in_schemes_are_always_known() -> None:
    assert {"hf", "fake"} <= set(available_schemes())


def test_an_unknown_scheme_lists_the_installed_backends() -> None:
    with pytest.raises(ModelRefError, match=r"unknown model scheme 'nope:'; installed backends: .*fake.*hf"):
        get_factory("nope")


def test_a_first_party_plugin_scheme_says_what_to_install() -> None:
    if "gguf" in available_schemes():
        pytest.skip("the gguf plugin is installed here")

    with pytest.raises(ModelRefError, match="pip install muscle-guard-llamacpp"):
        get_factory("gguf")


def test_a_fake_reference_loads_a_fake_backend(tmp_path: Path) -> None:
    path = answers_file(tmp_path, {"answers": {}})

    backend = load_backend(parse_model_ref(f"fake:{path}"))

    assert isinstance(backend, FakeBackend)
    assert isinstance(backend, Backend)
    assert (backend.info.ref, backend.info.kind) == ("fake:answers", "fake")


def test_the_fake_fingerprint_follows_the_answers_file(tmp_path: Path) -> None:
    one = load_backend(parse_model_ref(f"fake:{answers_file(tmp_path, {'answers': {'a': 1}}, 'one.json')}"))
    same = load_backend(parse_model_ref(f"fake:{answers_file(tmp_path, {'answers': {'a': 1}}, 'same.json')}"))
    other = load_backend(parse_model_ref(f"fake:{answers_file(tmp_path, {'answers': {'a': 0}}, 'other.json')}"))

    assert one.info.fingerprint == same.info.fingerprint != other.info.fingerprint


def test_the_fake_backend_answers_from_its_table() -> None:
    fake = FakeBackend("m", {"Q: 2+2=": 1, "lovely": 2, "6*7=": "42"}, fingerprint="f", n_classes=3)

    choices = fake.score_choices([ChoiceRequest("Q: 2+2=", (" 3", " 4")), ChoiceRequest("unlisted", (" a", " b"))])
    probs = fake.classify(["lovely", "unlisted"])
    texts = fake.generate([GenerateRequest("6*7=", 8), GenerateRequest("unlisted", 8)])

    assert [max(range(2), key=s.__getitem__) for s in choices] == [1, 0]
    assert [max(range(3), key=p.__getitem__) for p in probs] == [2, 0]
    assert sum(probs[0]) == pytest.approx(1.0)
    assert texts == ["42", ""]
    assert fake.calls == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "cannot read fake answers file"),
        ({"classes": 2}, "must hold an object with an 'answers' table"),
        ([1, 2], "must hold an object with an 'answers' table"),
    ],
    ids=["missing", "not JSON", "no answers", "not an object"],
)
def test_a_bad_fake_answers_file_is_a_model_ref_error(tmp_path: Path, content: object, message: str) -> None:
    path = tmp_path / "answers.json" if content is None else answers_file(tmp_path, content)

    with pytest.raises(ModelRefError, match=message):
        load_backend(parse_model_ref(f"fake:{path}"))
