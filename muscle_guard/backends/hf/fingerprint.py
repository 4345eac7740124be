"""Content hashes of model files: the identity of what a backend computes with.

Weights are hashed by content (sha256), never by path, so a copied or moved model keeps its fingerprint
and a retrained one at the same path does not. Hashing gigabytes takes seconds, so results may be cached
in `options.extra["hash_cache_dir"]`. A cached hash is used only while the file's stat identity is unchanged:
device, inode, size, mtime_ns and ctime_ns. mtime alone is not enough: `cp -p` and `rsync -a` rewrite a file
and then set its old mtime back. ctime cannot be set back by a user-level tool (any write, rename, chmod or
new inode moves it), so a rewritten file is always hashed again; the check itself is the one `stat` call
that was already made (docs/RELIABILITY.md has the measured cost).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from muscle_guard.core.fsutil import atomic_write_text

_CHUNK = 1 << 22
_SHA256_BLOB = re.compile(r"^[0-9a-f]{64}$")
CACHE_FILE = "sha256-cache.json"


def stat_identity(stat: os.stat_result) -> dict[str, int]:
    """What must be unchanged for a remembered hash of a file to stand (see the module docstring)."""
    return {
        "dev": stat.st_dev,
        "inode": stat.st_ino,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
    }


class FileHasher:
    """sha256 of files, remembered per path and stat identity in an optional JSON cache file."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self._cache_path = Path(cache_dir) / CACHE_FILE if cache_dir else None
        self._memo: dict[str, dict[str, object]] = {}
        self._dirty = False
        if self._cache_path is not None and self._cache_path.is_file():
            try:
                data = json.loads(self._cache_path.read_text(encoding="utf-8"))
                self._memo = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._memo = {}  # a broken cache is only a slower run

    def sha256(self, path: Path) -> str:
        target = path.resolve()
        # Files of a hub snapshot are links to blobs named by their sha256: no need to read them.
        if path.is_symlink() and target.parent.name == "blobs" and _SHA256_BLOB.match(target.name):
            return target.name
        identity = stat_identity(target.stat())
        key = str(target)
        entry = self._memo.get(key)
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in identity.items()):
            return str(entry["sha256"])
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        value = digest.hexdigest()
        self._memo[key] = {**identity, "sha256": value}
        self._dirty = True
        return value

    def save(self) -> None:
        """Merge new entries into the cache file (locked, atomic); silently skipped if it cannot be written."""
        if self._cache_path is None or not self._dirty:
            return
        from filelock import FileLock, Timeout

        try:
            self._cache_path.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(str(self._cache_path) + ".lock", timeout=10):
                merged: dict[str, object] = {}
                if self._cache_path.is_file():
                    try:
                        loaded = json.loads(self._cache_path.read_text(encoding="utf-8"))
                        merged = loaded if isinstance(loaded, dict) else {}
                    except ValueError:
                        merged = {}
                merged.update(self._memo)
                # Atomic, and with the user's umask (a bare mkstemp file would stay 0600).
                atomic_write_text(self._cache_path, json.dumps(merged))
        except (OSError, Timeout):
            return
        self._dirty = False


def group_digest(hasher: FileHasher, files: Iterable[Path]) -> str:
    """One hash over (file name, content hash) pairs: independent of the directory's location."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(f"{path.name}\0{hasher.sha256(path)}\n".encode())
    return digest.hexdigest()


def combine(parts: Mapping[str, str]) -> str:
    """A short fingerprint over named parts (group digests and settings such as dtype)."""
    blob = json.dumps(dict(sorted(parts.items())), sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
