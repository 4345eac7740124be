"""The backend plugin mechanism: schemes come from the `muscle_guard.backends` entry-point group.

Each test installs a throwaway distribution (a `*.dist-info` with an entry_points.txt, plus its module)
into a directory on sys.path, exactly what `pip install` leaves in site-packages, so importlib.metadata
discovers it the way it discovers a real plugin. These tests need no model library and always run.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

import muscle_guard.core.registry as registry
from muscle_guard.core.backend import Backend, RunOptions
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import RefKind, parse_model_ref
from muscle_guard.core.pipeline import predict_suite
from muscle_guard.core.registry import ENTRY_POINT_GROUP, available_schemes, get_factory, load_backend
from muscle_guard.core.suite import load_suite

InstallPlugin = Callable[..., Path]

# A complete plugin in a few lines: it scores the choice whose text is longest as the most likely.
ECHO_PLUGIN = """
from muscle_guard.core.backend import ModelInfo


class EchoBackend:
    def __init__(self, ref, options):
        self.options = options
        self.info = ModelInfo(ref=ref.raw, kind="echo", fingerprint="echo-" + ref.target)

    def score_choices(self, requests):
        return [tuple(float(len(c)) for c in r.continuations) for r in requests]

    def generate(self, requests):
        return [r.context[::-1] for r in requests]

    def classify(self, texts):
        return [(0.5, 0.5) for _ in texts]

    def close(self):
        pass


def load(ref, options):
    return EchoBackend(ref, options)
"""


@pytest.fixture
def install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[InstallPlugin]:
    """`install_plugin(dist, {scheme: "module:attr"}, {module: source})`: a distribution on sys.path."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    modules: list[str] = []

    def install(dist: str, schemes: dict[str, str], sources: dict[str, str]) -> Path:
        info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n", encoding="utf-8")
        lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{name} = {target}" for name, target in schemes.items())]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        for module, source in sources.items():
            (site / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
            modules.append(module)
        return site

    yield install
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def without_scheme(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Hide one installed scheme from the registry (this environment may have the real plugin)."""

    def hide(scheme: str) -> None:
        def filtered(group: str) -> list[EntryPoint]:
            return [ep for ep in entry_points(group=group) if ep.name != scheme]

        monkeypatch.setattr(registry, "entry_points", filtered)

    return hide


def test_an_installed_plugin_serves_its_scheme(install_plugin: InstallPlugin) -> None:
    install_plugin("muscle-guard-echo", {"echo": "echo_backend:load"}, {"echo_backend": ECHO_PLUGIN})

    assert available_schemes()["echo"] == "echo_backend:load"
    ref = parse_model_ref("echo:some-model", "--muscle-new")
    assert (ref.kind, ref.scheme, ref.target) == (RefKind.SCHEME, "echo", "some-model")
    backend = load_backend(ref, RunOptions(batch_size=4))
    assert isinstance(backend, Backend)
    assert backend.info.fingerprint == "echo-some-model"
    assert backend.options.batch_size == 4  # type: ignore[attr-defined]


def test_a_plugin_backend_predicts_suites_through_the_core(install_plugin: InstallPlugin, tmp_path: Path) -> None:
    install_plugin("muscle-guard-echo", {"echo": "echo_backend:load"}, {"echo_backend": ECHO_PLUGIN})
    suite_path = tmp_path / "mc.jsonl"
    lines = [
        {"id": "short-right", "prompt": "Q:", "choices": [" a", " bbb"], "answer": 1},
        {"id": "long-wrong", "prompt": "Q:", "choices": [" aaaa", " b"], "answer": 1},
    ]
    suite_path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")

    backend = load_backend(parse_model_ref("echo:m"))
    predictions = predict_suite(backend, load_suite(suite_path), SuiteSettings(), progress=False).predictions

    assert predictions["short-right"].logliks == (2.0, 4.0)
    assert predictions["long-wrong"].logliks == (5.0, 2.0)


def test_an_installed_plugin_is_listed_for_an_unknown_scheme(install_plugin: InstallPlugin) -> None:
    install_plugin("muscle-guard-echo", {"echo": "echo_backend:load"}, {"echo_backend": ECHO_PLUGIN})

    with pytest.raises(ModelRefError) as excinfo:
        load_backend(parse_model_ref("nosuch:model"))

    message = str(excinfo.value)
    assert message.startswith("unknown model scheme 'nosuch:'; installed backends: ")
    assert {"echo", "fake", "hf"} <= set(message.rpartition(": ")[2].split(", "))
    assert "\n" not in message


def test_an_absent_known_plugin_names_the_package_to_install(without_scheme: Callable[[str], None]) -> None:
    without_scheme("gguf")
    ref = parse_model_ref("gguf:models/smollm2.Q4_1.gguf", "--muscle-new")

    with pytest.raises(ModelRefError, match=r"pip install muscle-guard-llamacpp\b") as excinfo:
        load_backend(ref)

    assert "'gguf:'" in str(excinfo.value)
    assert "\n" not in str(excinfo.value)


BROKEN_MODULES = {
    "missing dependency": ("broken_backend:load", "import llama_cpp_not_installed_here\n", "ModuleNotFoundError"),
    "error at import": ("broken_backend:load", "raise RuntimeError('no GPU runtime\\nsecond line')\n", "RuntimeError"),
    "syntax error": ("broken_backend:load", "def load(:\n", "SyntaxError"),
    "missing factory": ("broken_backend:lod", "def load(ref, options):\n    return None\n", "AttributeError"),
}


@pytest.mark.parametrize(("target", "source", "error"), BROKEN_MODULES.values(), ids=BROKEN_MODULES.keys())
def test_a_plugin_that_fails_to_import_is_one_clear_line(
    install_plugin: InstallPlugin, target: str, source: str, error: str
) -> None:
    install_plugin("muscle-guard-broken", {"broken": target}, {"broken_backend": source})

    with pytest.raises(ModelRefError) as excinfo:
        get_factory("broken")

    message = str(excinfo.value)
    assert "\n" not in message
    assert message.startswith(f"backend 'broken' from muscle-guard-broken 1.0 ({target}) failed to import: {error}")
    assert message.endswith("reinstall or uninstall muscle-guard-broken")


def test_an_entry_point_that_is_not_callable_is_refused(install_plugin: InstallPlugin) -> None:
    install_plugin("muscle-guard-odd", {"odd": "odd_backend:load"}, {"odd_backend": "load = 42\n"})

    with pytest.raises(ModelRefError, match=r"^backend 'odd' \(odd_backend:load\) is not a factory"):
        get_factory("odd")


def test_the_built_in_schemes_work_without_an_install(without_scheme: Callable[[str], None]) -> None:
    without_scheme("fake")  # a source checkout: no entry points registered at all for fake

    assert available_schemes()["fake"] == "muscle_guard.backends.fake:load"
    assert get_factory("fake").__module__ == "muscle_guard.backends.fake"
