"""Parse what a user types after `--muscle-old`/`--muscle-new` into a ModelRef. One parser, one error style."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from muscle_guard.core.errors import ModelRefError

_SCHEME = re.compile(r"^([a-z][a-z0-9_+-]+):(?!//)(.*)$")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PAIR = re.compile(r"(?:^|,)\s*(?:base|adapter)\s*=")

ADAPTER_CONFIG = "adapter_config.json"
MODEL_CONFIG = "config.json"


class RefKind(str, Enum):
    ADAPTER = "adapter"  # PEFT adapter directory; its base comes from adapter_config.json
    BASE_ADAPTER = "base+adapter"  # explicit base plus adapter: base=DIR,adapter=DIR
    MODEL = "model"  # full model directory
    HUB = "hub"  # hub id (only when online)
    BASELINE = "baseline"  # a predictions file written by `muscle-guard predict`
    SCHEME = "scheme"  # `scheme:target`, served by a backend plugin


@dataclass(frozen=True)
class ModelRef:
    """A resolved model reference. `scheme` names the backend that serves it."""

    raw: str
    kind: RefKind
    scheme: str
    target: str = ""
    base: str | None = None
    adapter: str | None = None

    @property
    def display(self) -> str:
        return self.raw


def read_adapter_base(adapter_dir: Path) -> str:
    """The `base_model_name_or_path` recorded in a PEFT adapter directory."""
    config_path = adapter_dir / ADAPTER_CONFIG
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelRefError(f"{config_path}: unreadable adapter config ({exc})") from None
    base = data.get("base_model_name_or_path") if isinstance(data, dict) else None
    if not isinstance(base, str) or not base:
        raise ModelRefError(
            f"{config_path}: no base_model_name_or_path; pass the base explicitly as base=DIR,adapter={adapter_dir}"
        )
    return base


def parse_model_ref(raw: str, option: str = "model") -> ModelRef:
    """Resolve `raw` (an option's value) without loading anything heavy.

    Accepted forms: an adapter directory; `base=DIR_OR_ID,adapter=DIR` (either order); a model directory; a baseline
    `.jsonl` file; `scheme:target` for a registered backend (e.g. `hf:DIR`, `baseline:FILE`, `fake:SPEC`);
    a hub id `org/name` (needs network access).
    """
    text = raw.strip()
    if not text:
        raise ModelRefError(f"{option}: empty model reference; pass a model or adapter directory or a baseline file")
    if _PAIR.search(text):
        parts = dict(_split_pair(p, option, raw) for p in text.split(","))
        unknown = set(parts) - {"base", "adapter"}
        if unknown or "base" not in parts or "adapter" not in parts:
            raise ModelRefError(f"{option}: {raw!r} must be base=DIR_OR_ID,adapter=DIR")
        adapter = Path(parts["adapter"])
        if not (adapter / ADAPTER_CONFIG).is_file():
            raise ModelRefError(f"{option}: {adapter} is not a PEFT adapter directory (no {ADAPTER_CONFIG})")
        return ModelRef(raw, RefKind.BASE_ADAPTER, "hf", base=parts["base"], adapter=str(adapter))
    match = _SCHEME.match(text)
    if match and not Path(text).exists():
        scheme, target = match.groups()
        if scheme == "baseline":
            return _baseline(raw, Path(target), option)
        if scheme == "hf":
            inner = parse_model_ref(target, option)
            if inner.kind not in (RefKind.ADAPTER, RefKind.BASE_ADAPTER, RefKind.MODEL, RefKind.HUB):
                raise ModelRefError(
                    f"{option}: {target} is not a transformers model; hf: takes a model or adapter directory, "
                    "base=DIR_OR_ID,adapter=DIR or a hub id"
                )
            return ModelRef(raw, inner.kind, "hf", inner.target, inner.base, inner.adapter)
        return ModelRef(raw, RefKind.SCHEME, scheme, target=target)
    path = Path(text)
    if path.is_dir():
        if (path / ADAPTER_CONFIG).is_file():
            return ModelRef(raw, RefKind.ADAPTER, "hf", base=read_adapter_base(path), adapter=str(path))
        if (path / MODEL_CONFIG).is_file():
            return ModelRef(raw, RefKind.MODEL, "hf", target=str(path))
        raise ModelRefError(
            f"{option}: {path} has neither {ADAPTER_CONFIG} (a PEFT adapter) nor {MODEL_CONFIG} (a model); "
            "point at a transformers or peft directory"
        )
    if path.is_file():
        if path.suffix in (".jsonl", ".json"):
            return _baseline(raw, path, option)
        hint = f" (a GGUF file is read by a backend plugin: pass gguf:{path})" if path.suffix == ".gguf" else ""
        raise ModelRefError(f"{option}: {path} is a file; expected a model directory or a baseline .jsonl{hint}")
    if looks_like_hub_id(text):
        return ModelRef(raw, RefKind.HUB, "hf", target=text)
    raise ModelRefError(
        f"{option}: {text} does not exist; pass a model or adapter directory, a baseline file or scheme:target"
    )


def _split_pair(part: str, option: str, raw: str) -> tuple[str, str]:
    key, sep, value = part.partition("=")
    if not sep or not value:
        raise ModelRefError(f"{option}: {raw!r} must be base=DIR_OR_ID,adapter=DIR")
    return key.strip(), value.strip()


def _baseline(raw: str, path: Path, option: str) -> ModelRef:
    if not path.is_file():
        raise ModelRefError(f"{option}: baseline file {path} does not exist; write one with `muscle-guard predict`")
    return ModelRef(raw, RefKind.BASELINE, "baseline", target=str(path))


def looks_like_hub_id(text: str) -> bool:
    """Whether `text` has the form of a Hugging Face Hub repository id (`owner/name`), not a relative path."""
    return bool(_HUB_ID.match(text)) and not text.startswith((".", "/", "~"))
