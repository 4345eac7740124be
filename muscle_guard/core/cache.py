"""Prediction cache: one append-only JSONL file per (model fingerprint, suite, rendering settings).

Entries are keyed by the instance's content hash, so editing one instance invalidates only that entry.
Each batch is appended as whole lines and fsynced, so a run killed half-way resumes from what was written;
a torn last line is skipped (recomputed), never fatal. A file lock serialises writers across processes.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from muscle_guard.core.errors import CacheError
from muscle_guard.core.predictions import Prediction
from muscle_guard.core.run_options import DEFAULT_CACHE_DIR

LOCK_WAIT_NOTICE_S = 2.0


@dataclass(frozen=True)
class CacheRead:
    """The usable entries of a cache file and how many lines had to be skipped."""

    entries: dict[str, Prediction]
    skipped: int


class PredictionCache:
    """A directory of prediction files. All paths stay inside `root`; symlinks are never followed out."""

    def __init__(self, root: str | Path = DEFAULT_CACHE_DIR, option: str = "--muscle-cache-dir") -> None:
        self.root = Path(root)
        self.option = option  # how the user set the directory, named in every error: pytest's or a command's

    def check_writable(self) -> None:
        """Refuse, before any model runs, a cache directory that cannot take a file: one error for the run, not
        one per suite once the models have answered. Leaves nothing behind."""
        directory = self.root / "predictions"
        self._ensure_dir(directory)
        probe = directory / f".write-check-{os.getpid()}"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise _write_error(directory, exc, self.option) from None

    def path_for(self, model_fingerprint: str, suite_name: str, settings_key: str) -> Path:
        safe_suite = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in suite_name)
        return self.root / "predictions" / model_fingerprint[:24] / f"{safe_suite}-{settings_key[:16]}.jsonl"

    def _check(self, path: Path) -> None:
        """Refuse a path that escapes the cache through a symlink."""
        root = self.root.resolve()
        current = path
        while current != self.root and current != current.parent:
            if current.is_symlink():
                raise CacheError(
                    f"{current}: is a symlink inside the cache directory; remove it (the cache never follows links)"
                )
            current = current.parent
        if not path.resolve().is_relative_to(root):
            raise CacheError(f"{path}: resolves outside the cache directory {self.root}; remove the link")

    def read(self, path: Path) -> CacheRead:
        """Every well-formed entry of `path` (missing file → empty). Later lines win."""
        if not path.exists():
            return CacheRead({}, 0)
        self._check(path)
        entries: dict[str, Prediction] = {}
        skipped = 0
        try:
            with path.open("rb") as handle:
                for line in handle:
                    try:
                        # Strict UTF-8 per line: a damaged byte costs its line, never a garbled prediction.
                        record = json.loads(line.decode("utf-8"))
                        entries[str(record["k"])] = Prediction.from_json(record["p"])
                    except (ValueError, KeyError, TypeError):
                        skipped += 1
        except OSError as exc:
            raise CacheError(
                f"{path}: cannot read the cache ({exc.strerror}); check permissions or pass another cache dir "
                f"({self.option})"
            ) from None
        return CacheRead(entries, skipped)

    def append(self, path: Path, items: Iterable[tuple[str, Prediction]]) -> None:
        """Append entries as whole lines, then flush and fsync (the caller holds the lock)."""
        lines = [json.dumps({"k": key, "p": pred.to_json()}, ensure_ascii=False) + "\n" for key, pred in items]
        if not lines:
            return
        self._ensure_dir(path.parent)
        self._check(path)
        try:
            torn = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            with os.fdopen(fd, "a", encoding="utf-8") as handle:
                # A run killed mid-line leaves a torn line; start ours on a fresh one.
                handle.write(("\n" if torn else "") + "".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _write_error(path, exc, self.option) from None

    @contextmanager
    def lock(self, path: Path, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the cross-process lock of one cache file."""
        self._ensure_dir(path.parent)
        lock_path = path.with_name(path.name + ".lock")
        self._check(lock_path)  # filelock opens it for writing: never through a planted link
        lock = FileLock(str(lock_path))
        try:
            try:
                lock.acquire(timeout=LOCK_WAIT_NOTICE_S)
            except Timeout:
                if on_wait is not None:
                    on_wait()
                lock.acquire()
        except OSError as exc:
            raise _write_error(path, exc, self.option) from None
        try:
            yield
        finally:
            lock.release()

    def _ensure_dir(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _write_error(directory, exc, self.option) from None
        self._check(directory)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


def _write_error(path: Path, exc: OSError, option: str) -> CacheError:
    if exc.errno == errno.ENOSPC:
        return CacheError(f"{path}: disk full while writing the cache; free space or pass another cache dir ({option})")
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return CacheError(
            f"{path}: a file is in the way of the cache directory; remove it or pass another cache dir ({option})"
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return CacheError(
            f"{path}: cache directory is not writable; fix its permissions or pass another one ({option})"
        )
    return CacheError(f"{path}: cannot write the cache ({exc.strerror or exc})")
