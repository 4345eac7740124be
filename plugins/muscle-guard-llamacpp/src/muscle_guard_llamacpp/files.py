"""The GGUF file behind a `gguf:PATH` reference: checks with one-line errors, and its content hash."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from muscle_guard.core.errors import ModelRefError
from muscle_guard.core.modelref import ModelRef

GGUF_MAGIC = b"GGUF"


def check_gguf(ref: ModelRef) -> Path:
    """The file `ref` names, if it is a readable GGUF file; a ModelRefError naming the path otherwise."""
    if not ref.target:
        raise ModelRefError(f"{ref.raw}: no file given; write gguf:PATH/TO/MODEL.gguf")
    path = Path(ref.target).expanduser()
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.gguf"))
        hint = f"; it holds {', '.join(found[:3])}" if found else ""
        raise ModelRefError(f"{ref.raw}: {path} is a directory; gguf: takes a .gguf file{hint}")
    if not path.is_file():
        raise ModelRefError(f"{ref.raw}: {path} does not exist; gguf: takes the path of a .gguf model file")
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelRefError(f"{ref.raw}: cannot read {path} ({exc.strerror or exc})") from None
    if magic != GGUF_MAGIC:
        what = "empty" if not magic else f"starts with {magic!r}, not {GGUF_MAGIC!r}"
        raise ModelRefError(
            f"{ref.raw}: {path} is not a GGUF file ({what}); gguf: takes llama.cpp model files "
            "(for transformers directories use the directory itself or hf:DIR)"
        )
    return path


def file_sha256(path: Path, hash_cache_dir: str | None = None) -> str:
    """sha256 of the file's bytes (not its path), remembered in `hash_cache_dir` when muscle-guard has one."""
    try:
        # muscle-guard's hasher caches by path and stat identity: a multi-GB model is read once, not per run.
        from muscle_guard.backends.hf.fingerprint import FileHasher
    except ImportError:  # pragma: no cover - an older or newer muscle-guard without it
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while block := handle.read(1 << 22):
                digest.update(block)
        return digest.hexdigest()
    hasher = FileHasher(hash_cache_dir)
    value = hasher.sha256(path)
    hasher.save()
    return value


def fingerprint(parts: Mapping[str, object]) -> str:
    """A short hash over everything that changes what the model computes."""
    blob = json.dumps(dict(sorted(parts.items())), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
