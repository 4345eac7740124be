"""A model's chat template as its prompt format, the lm-evaluation-harness `--apply_chat_template` way."""

from __future__ import annotations

from pathlib import Path

import pytest

from muscle_guard.backends.hf import load
from muscle_guard.backends.hf.backend import HFBackend
from muscle_guard.backends.hf.scoring import encode_requests
from muscle_guard.core.backend import ChoiceRequest, GenerateRequest, RunOptions
from muscle_guard.core.config import SuiteSettings
from muscle_guard.core.errors import BackendError
from muscle_guard.core.modelref import parse_model_ref
from muscle_guard.core.pipeline import run_instances
from muscle_guard.core.prompt_format import parse_prompt_format
from muscle_guard.core.suite import Instance, Shape
from muscle_guard.testing import tiny_models as tm

from .conftest import Tiny

QUESTION = Instance(id="q", shape=Shape.MULTIPLE_CHOICE, prompt="is the sky blue?", choices=(" yes", " no"), answer=0)
GENERATE = Instance(id="g", shape=Shape.GENERATE_EXACT, prompt="the cat is", reference="x")


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("chat")
    tok = tm.build_tokenizer(root / "tok", chat_template=tm.TINY_CHAT_TEMPLATE)
    base = tm.build_causal_lm(root / "lm", tok, seed=0)
    return tm.add_lora_adapter(base, root / "adapter", seed=1)


def backend(path: Path, quiet: RunOptions) -> HFBackend:
    loaded = load(parse_model_ref(str(path)), quiet)
    assert isinstance(loaded, HFBackend)
    return loaded


def test_the_chat_template_renders_without_loading_weights(chat_model: Path, quiet: RunOptions) -> None:
    model = backend(chat_model, quiet)

    text = model.render_chat([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])

    assert text == "<s>system: Be brief.\nuser: hi\nassistant:"
    assert not model.is_loaded


def test_choices_under_a_chat_template_are_scored_as_lm_eval_does(chat_model: Path, quiet: RunOptions) -> None:
    model = backend(chat_model, quiet)
    chat = parse_prompt_format("chat:Be brief.", "test")
    settings = SuiteSettings(prompt_template="Q: {prompt}")

    (prediction,) = run_instances(model, Shape.MULTIPLE_CHOICE, [QUESTION], settings, chat)

    # lm-eval: context = the template applied to the one user turn, the choice right after the opened assistant
    # turn without its delimiter (" yes" -> "yes"), and no BOS beyond the one the template wrote.
    context = "<s>system: Be brief.\nuser: Q: is the sky blue?\nassistant:"
    expected = model.score_choices([ChoiceRequest(context, ("yes", "no"), special_tokens=False)])[0]
    assert prediction.logliks == expected
    assert model.loaded is not None
    tokenizer = model.loaded.tokenizer
    (encoded,) = encode_requests(tokenizer, [ChoiceRequest(context, ("yes",), special_tokens=False)], 512)
    assert encoded.context.count(tokenizer.bos_token_id) == 1
    doubled = model.score_choices([ChoiceRequest(context, ("yes", "no"))])[0]
    assert doubled != expected  # a second BOS would change the answer's evidence


def test_generation_under_a_chat_template_continues_the_assistant_turn(chat_model: Path, quiet: RunOptions) -> None:
    model = backend(chat_model, quiet)
    chat = parse_prompt_format("chat", "test")

    (prediction,) = run_instances(model, Shape.GENERATE_EXACT, [GENERATE], SuiteSettings(max_new_tokens=5), chat)

    context = "<s>user: the cat is\nassistant:"
    assert prediction.text == model.generate([GenerateRequest(context, 5, ("\n\n",), special_tokens=False)])[0]


def test_a_tokenizer_without_a_chat_template_is_one_clear_error(tiny: Tiny, quiet: RunOptions) -> None:
    model = backend(tiny.lm_adapter, quiet)

    with pytest.raises(BackendError, match="has no chat template; set this model's prompt format"):
        run_instances(model, Shape.MULTIPLE_CHOICE, [QUESTION], SuiteSettings(), parse_prompt_format("chat", "x"))


def test_a_plain_template_is_substituted_for_every_backend(tiny: Tiny, quiet: RunOptions) -> None:
    model = backend(tiny.lm_adapter, quiet)
    template = parse_prompt_format("Question: {prompt}\nAnswer:", "x")

    (prediction,) = run_instances(model, Shape.MULTIPLE_CHOICE, [QUESTION], SuiteSettings(), template)

    direct = model.score_choices([ChoiceRequest("Question: is the sky blue?\nAnswer:", (" yes", " no"))])[0]
    assert prediction.logliks == direct
