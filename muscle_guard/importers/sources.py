"""Rows from a Hugging Face `datasets` source: local JSON, JSON Lines, CSV or Parquet files offline, a hub
dataset when online. `datasets` is the optional extra `muscle-guard[import]`."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from muscle_guard.core.errors import ConfigError
from muscle_guard.core.modelref import looks_like_hub_id

BUILDERS = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Source:
    """Where rows come from, as a user named it; `label` is how messages and the metadata name it."""

    path_or_id: str
    split: str | None = None
    config: str | None = None

    @property
    def local(self) -> Path | None:
        path = Path(self.path_or_id)
        return path if path.exists() else None

    @property
    def label(self) -> str:
        split = f" [{self.split}]" if self.split else ""
        return f"{self.path_or_id}{split}"


def _datasets() -> Any:
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "importing from a datasets source needs Hugging Face datasets: pip install 'muscle-guard[import]'"
        ) from None
    datasets.disable_progress_bars()
    return datasets


def read_rows(source: Source) -> Iterator[Mapping[str, Any]]:
    """The rows of `source`, in order; ConfigError for what cannot be read, naming the source."""
    datasets = _datasets()
    local = source.local
    try:
        if local is not None:
            files = sorted(p for p in local.iterdir() if p.suffix in BUILDERS) if local.is_dir() else [local]
            builders = {BUILDERS.get(p.suffix) for p in files}
            if not files or None in builders or len(builders) != 1:
                raise ConfigError(
                    f"{source.path_or_id}: expected .json, .jsonl, .csv or .parquet files of one kind "
                    f"(found {', '.join(sorted({p.suffix or p.name for p in files})) or 'none'})"
                )
            (builder,) = builders
            data = datasets.load_dataset(builder, data_files=[str(p) for p in files], split=source.split or "train")
        elif looks_like_hub_id(source.path_or_id):
            if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
                raise ConfigError(f"{source.path_or_id}: a hub dataset, and the hub is off (HF_HUB_OFFLINE); "
                                  "download it where you are online, or pass local files")  # fmt: skip
            data = datasets.load_dataset(source.path_or_id, source.config, split=source.split or "test")
        else:
            raise ConfigError(f"{source.path_or_id}: no such file or directory, and not a hub dataset id (owner/name)")
    except ConfigError:
        raise
    except Exception as exc:  # datasets raises many types (ValueError, FileNotFoundError, ConnectionError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{source.label}: cannot read the dataset ({first})") from None
    for row in data:
        yield dict(row)
