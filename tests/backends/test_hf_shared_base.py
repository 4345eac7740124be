"""Adapters on one base share one loaded base (peft multi-adapter), with the answers of models loaded alone.

Sharing is scoped to a run: backends given the same pool (`RunOptions.extra[SHARED]`, as the pytest plugin gives
its session's backends) share; backends without one never do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from muscle_guard.backends.hf import load, shared
from muscle_guard.backends.hf.backend import HFBackend
from muscle_guard.core.backend import SHARED, ChoiceRequest, GenerateRequest, RunOptions
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.testing import tiny_models as tm

from .conftest import Tiny

CHOICES = [
    ChoiceRequest("The capital of France is", (" Paris", " Rome", " a long way from here")),
    ChoiceRequest("yes or no?", (" yes", " no")),
]
GENERATE = [GenerateRequest("Once upon a time", 6, ()), GenerateRequest("hello", 4, ())]
TEXTS = ["the movie was great", "bad", "a long and slow film with a terrible story"]
Ask = Callable[[HFBackend], Any]


def ask_lm(backend: HFBackend) -> Any:
    return backend.score_choices(CHOICES), backend.generate(GENERATE)


def ask_classifier(backend: HFBackend) -> Any:
    return backend.classify(TEXTS)


@pytest.fixture(scope="module")
def adapters(tiny: Tiny, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Three adapters on the tiny LM, three on the tiny classifier (heads in modules_to_save)."""
    root = tmp_path_factory.mktemp("shared")
    return {
        "lm": [tiny.lm_adapter] + [tm.add_lora_adapter(tiny.lm, root / f"lm{s}", seed=s) for s in (2, 3)],
        "classifier": [tiny.classifier_adapter]
        + [tm.add_lora_adapter(tiny.classifier, root / f"cls{s}", seed=s) for s in (2, 3)],
    }


@pytest.fixture
def pool() -> dict[str, Any]:
    return {}


@pytest.fixture
def pooled(quiet: RunOptions, pool: dict[str, Any]) -> RunOptions:
    """Options of one run whose backends share what they can."""
    return replace(quiet, extra={SHARED: pool})


def open_backend(adapter: Path, quiet: RunOptions) -> HFBackend:
    backend = load(parse_model_ref(str(adapter)), quiet)
    assert isinstance(backend, HFBackend)
    return backend


@pytest.mark.parametrize(("kind", "ask"), [("lm", ask_lm), ("classifier", ask_classifier)])
def test_adapters_on_one_base_load_it_once_and_answer_as_if_alone(
    adapters: dict[str, list[Path]],
    quiet: RunOptions,
    pooled: RunOptions,
    pool: dict[str, Any],
    kind: str,
    ask: Ask,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alone = []
    for adapter in adapters[kind]:  # each loaded by itself, without a pool
        backend = open_backend(adapter, quiet)
        alone.append(ask(backend))
        backend.close()
    assert len({repr(answers) for answers in alone}) == len(alone)  # the adapters do differ

    loads = []
    real_load = shared.load_model
    monkeypatch.setattr(shared, "load_model", lambda *a, **k: loads.append(a[0]) or real_load(*a, **k))
    backends = [open_backend(adapter, pooled) for adapter in adapters[kind]]
    # Interleaved, and each asked twice: switching adapters back and forth changes nothing.
    together = [ask(b) for b in backends]
    again = [ask(b) for b in reversed(backends)][::-1]

    assert together == alone
    assert again == alone
    assert len(loads) == 1
    assert shared.loaded_bases(pool) == 1
    models = {id(b.loaded.model) for b in backends if b.loaded is not None}
    assert len(models) == 1
    for backend in backends[:-1]:
        backend.close()
    assert shared.loaded_bases(pool) == 1  # the last user still holds it
    assert ask(backends[-1]) == alone[-1]
    backends[-1].close()
    assert shared.loaded_bases(pool) == 0


def test_the_same_adapter_twice_is_one_adapter_on_one_base(tiny: Tiny, pooled: RunOptions) -> None:
    first, second = open_backend(tiny.lm_adapter, pooled), open_backend(tiny.lm_adapter, pooled)

    assert ask_lm(first) == ask_lm(second)
    assert first.loaded is not None
    assert second.loaded is not None
    assert first.loaded.model is second.loaded.model
    assert len(first.loaded.model.peft_config) == 1
    first.close()
    second.close()


def test_backends_without_a_pool_share_nothing(tiny: Tiny, quiet: RunOptions) -> None:
    first, second = open_backend(tiny.lm_adapter, quiet), open_backend(tiny.lm_adapter, quiet)

    assert first.loaded is not None
    assert second.loaded is not None
    assert first.loaded.model is not second.loaded.model


def test_other_dtypes_and_plain_models_do_not_share(tiny: Tiny, pooled: RunOptions, pool: dict[str, Any]) -> None:
    fp32 = open_backend(tiny.lm_adapter, pooled)
    bf16 = open_backend(tiny.lm_adapter, replace(pooled, dtype="bfloat16"))
    plain = open_backend(tiny.lm, pooled)
    for backend in (fp32, bf16, plain):
        ask_lm(backend)

    assert shared.loaded_bases(pool) == 2  # fp32 and bf16; the plain model is not a shared base
    assert fp32.loaded is not None
    assert bf16.loaded is not None
    assert plain.loaded is not None
    assert fp32.loaded.model is not bf16.loaded.model
    for backend in (fp32, bf16, plain):
        backend.close()
    assert shared.loaded_bases(pool) == 0
