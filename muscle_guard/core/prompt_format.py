"""How one model wants its prompts: as they are, in a plain template, or through its tokenizer's chat template.

Each model of a pair has its own format (`old_prompt` / `new_prompt`), applied after the suite's own
`prompt_template`: a cross-family upgrade (SmolLM2-Instruct → Gemma-3) renders each side its own way. One
spelling everywhere (pyproject.toml, pytest's ini keys, the command line):

- `"none"` (the default): the suite's prompt as it is;
- a template containing `{prompt}`, e.g. `"Question: {prompt}\\nAnswer:"`: plain substitution;
- `"chat"` or `"chat:SYSTEM MESSAGE"`: the prompt is the user's message of a one-turn conversation (after the
  system message, if any), rendered by the tokenizer's chat template with the assistant's turn opened.

With a chat template, multiple choice follows lm-evaluation-harness's `--apply_chat_template`: the choice is
scored right after the opened assistant turn with lm-eval's target delimiter (" ") dropped. A suite's choice holds
that delimiter ("Capital? | Paris" is the prompt "Capital?" and the choice " Paris"), so one leading space is
removed: " Paris" is scored as "Paris". No BOS is added on top of what the template wrote. The format is part
of the prediction cache key and of a baseline's header: a changed format never reads old predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from muscle_guard.core.errors import BackendError, ConfigError

Kind = Literal["none", "template", "chat"]
SYNTAX = "'none', 'chat', 'chat:SYSTEM MESSAGE' or a template containing {prompt}"


@runtime_checkable
class ChatRenderer(Protocol):
    """A backend that can render a conversation with its tokenizer's chat template (no weights needed)."""

    def render_chat(self, messages: Sequence[dict[str, str]]) -> str: ...


@dataclass(frozen=True)
class PromptFormat:
    kind: Kind = "none"
    template: str = "{prompt}"
    system: str | None = None
    where: str = field(default="", compare=False)  # where it was set (`--muscle-old-prompt`), for errors

    @property
    def is_chat(self) -> bool:
        return self.kind == "chat"

    @property
    def text(self) -> str:
        """The spelling that parses back to this format."""
        if self.kind == "chat":
            return "chat" if self.system is None else f"chat:{self.system}"
        return self.template if self.kind == "template" else "none"

    def key(self) -> dict[str, Any]:
        """What goes into the prediction cache key and a baseline's header; {} for "none", so that caches and
        baselines written before formats existed stay valid."""
        if self.kind == "none":
            return {}
        return {"model_prompt": self.text}

    def apply(self, text: str, model: object, where: str) -> str:
        """`text` (the suite-rendered prompt) as this model must see it; `where` names the model for errors."""
        if self.kind == "none":
            return text
        if self.kind == "template":
            return self.template.replace("{prompt}", text)
        if not isinstance(model, ChatRenderer):
            origin = f"{self.where} = {self.text!r}: " if self.where else ""
            raise BackendError(f"{origin}{where}: this model's backend has no chat template; set its prompt format "
                               "to 'none' or a template containing {prompt}")  # fmt: skip
        messages = ([{"role": "system", "content": self.system}] if self.system is not None else []) + [
            {"role": "user", "content": text}
        ]
        return model.render_chat(messages)

    def continuation(self, choice: str) -> str:
        """A choice as it is scored: under a chat template without its leading delimiter space (lm-eval's way)."""
        return choice[1:] if self.is_chat and choice.startswith(" ") and choice.strip() else choice


NONE = PromptFormat()


def parse_prompt_format(value: Any, where: str) -> PromptFormat:
    """Parse one spelling (see the module docstring); ConfigError names `where` and what is accepted."""
    if value is None:
        return NONE
    if not isinstance(value, str):
        raise ConfigError(f"{where} = {value!r} is not a string; expected {SYNTAX}")
    if value in ("", "none"):
        return NONE
    if value == "chat":
        return PromptFormat("chat", where=where)
    if value.startswith("chat:"):
        return PromptFormat("chat", system=value[len("chat:") :].strip() or None, where=where)
    if "{prompt}" in value:
        return PromptFormat("template", template=value, where=where)
    raise ConfigError(f"{where} = {value!r} is invalid; expected {SYNTAX}")
