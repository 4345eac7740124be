"""Write an imported suite and its provenance: `NAME.jsonl` and `NAME.source.json` beside it, atomically."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from muscle_guard import __version__
from muscle_guard.core.fsutil import atomic_write_text
from muscle_guard.core.suite import Instance, load_suite


def provenance_path(suite: Path) -> Path:
    """Where an imported suite's source, licence and mapping are kept (suite discovery reads only .jsonl)."""
    return suite.with_suffix(".source.json")


def write_suite(path: Path, instances: Sequence[Instance], provenance: Mapping[str, Any]) -> None:
    """The suite (one instance per line, as `load_suite` reads it) and its provenance; the suite is read back and
    validated before this returns."""
    lines = "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in instances)
    record = {
        **provenance,
        "instances": len(instances),
        "imported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "muscle_guard": __version__,
    }
    atomic_write_text(path, lines)
    atomic_write_text(provenance_path(path), json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    load_suite(path)
