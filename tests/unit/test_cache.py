"""The prediction cache: what survives a kill, a corrupt file, a hostile symlink and a full or read-only disk."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from muscle_guard.core import cache as cache_module
from muscle_guard.core.cache import CacheRead, PredictionCache
from muscle_guard.core.errors import CacheError
from muscle_guard.core.predictions import Prediction

A = Prediction("a", logliks=(-0.5, -1.25))
B = Prediction("b", probs=(0.25, 0.75))
C = Prediction("c", text="Paris\nis the capital")


@pytest.fixture
def cache(tmp_path: Path) -> PredictionCache:
    return PredictionCache(tmp_path / "cache")


@pytest.fixture
def path(cache: PredictionCache) -> Path:
    return cache.path_for("f" * 64, "my suite", "s" * 32)


# --- round trips -----------------------------------------------------------------------------------------------------


def test_appended_entries_read_back(cache: PredictionCache, path: Path) -> None:
    cache.append(path, [("ka", A), ("kb", B)])
    cache.append(path, [("kc", C)])

    assert cache.read(path) == CacheRead({"ka": A, "kb": B, "kc": C}, skipped=0)


def test_a_missing_file_reads_as_empty(cache: PredictionCache, path: Path) -> None:
    assert cache.read(path) == CacheRead({}, skipped=0)


def test_appending_nothing_creates_nothing(cache: PredictionCache, path: Path) -> None:
    cache.append(path, [])

    assert not path.exists()


def test_a_later_entry_for_the_same_key_wins(cache: PredictionCache, path: Path) -> None:
    cache.append(path, [("k", A)])
    cache.append(path, [("k", B)])

    assert cache.read(path).entries == {"k": B}


def test_paths_separate_models_suites_and_settings(cache: PredictionCache) -> None:
    paths = {
        cache.path_for("model-1", "qa", "settings-1"),
        cache.path_for("model-2", "qa", "settings-1"),
        cache.path_for("model-1", "sarcasm", "settings-1"),
        cache.path_for("model-1", "qa", "settings-2"),
    }

    assert len(paths) == 4
    assert cache.path_for("model-1", "qa", "settings-1") == cache.path_for("model-1", "qa", "settings-1")


def test_a_suite_name_cannot_escape_the_cache(cache: PredictionCache) -> None:
    path = cache.path_for("model", "../../etc/passwd", "settings")

    assert path.parent.parent.parent == cache.root
    assert "/" not in path.name


# --- damage: kills, corrupt lines ------------------------------------------------------------------------------------


def test_a_torn_last_line_is_skipped_and_the_next_append_still_works(cache: PredictionCache, path: Path) -> None:
    cache.append(path, [("ka", A), ("kb", B)])
    with path.open("a", encoding="utf-8") as handle:  # a run killed in the middle of writing a line
        handle.write('{"k": "kc", "p": {"id": "c", "te')

    assert cache.read(path) == CacheRead({"ka": A, "kb": B}, skipped=1)

    cache.append(path, [("kc", C)])

    assert cache.read(path) == CacheRead({"ka": A, "kb": B, "kc": C}, skipped=1)


def test_corrupt_lines_are_counted_and_the_rest_is_kept(cache: PredictionCache, path: Path) -> None:
    cache.append(path, [("ka", A)])
    with path.open("ab") as handle:
        handle.write(b"garbage\n")
        handle.write(b'{"k": "x"}\n')  # no prediction
        handle.write(b"[1, 2]\n")
        handle.write(b'{"k": "x", "p": {"id": 3}}\n')  # id not a string
        handle.write(b'{"k": "x", "p": {"id": "x", "logliks": ["high"]}}\n')
        handle.write(b'{"k": "x", "p": {"id": "x", "text": "caf\xe9"}}\n')  # a damaged byte inside a text
        handle.write(b"\n")
    cache.append(path, [("kb", B)])

    assert cache.read(path) == CacheRead({"ka": A, "kb": B}, skipped=7)


# --- symlinks never lead out of the cache ------------------------------------------------------------------------


def test_a_symlinked_cache_file_pointing_outside_is_refused(cache: PredictionCache, path: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n", encoding="utf-8")
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)

    with pytest.raises(CacheError, match="is a symlink inside the cache directory; remove it"):
        cache.read(path)
    with pytest.raises(CacheError, match="is a symlink inside the cache directory"):
        cache.append(path, [("ka", A)])
    assert outside.read_text(encoding="utf-8") == "keep me\n"


def test_a_symlinked_directory_inside_the_cache_is_refused(cache: PredictionCache, path: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    cache.root.mkdir()
    (cache.root / "predictions").symlink_to(outside, target_is_directory=True)

    with pytest.raises(CacheError, match="predictions: is a symlink inside the cache directory"):
        cache.append(path, [("ka", A)])
    assert list(outside.rglob("*.jsonl")) == []


def test_a_symlinked_lock_file_is_refused(cache: PredictionCache, path: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n", encoding="utf-8")
    path.parent.mkdir(parents=True)
    Path(f"{path}.lock").symlink_to(outside)

    with pytest.raises(CacheError, match=r"\.lock: is a symlink inside the cache directory"), cache.lock(path):
        pass
    assert outside.read_text(encoding="utf-8") == "keep me\n"


def test_the_cache_root_itself_may_be_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "scratch"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    cache = PredictionCache(tmp_path / "link")
    path = cache.path_for("model", "qa", "settings")

    cache.append(path, [("ka", A)])

    assert cache.read(path).entries == {"ka": A}
    assert list(real.rglob("*.jsonl")) != []


# --- a disk that refuses to write ----------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_a_read_only_cache_directory_is_a_clear_error(cache: PredictionCache, path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.parent.chmod(0o555)
    try:
        with pytest.raises(
            CacheError, match="cache directory is not writable; fix its permissions or pass another one"
        ):
            cache.append(path, [("ka", A)])
    finally:
        path.parent.chmod(0o755)


def refuse_opens(monkeypatch: pytest.MonkeyPatch, error: int) -> None:
    def refuse(*args: object, **kwargs: object) -> int:
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "open", refuse)


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (errno.EACCES, "cache directory is not writable; fix its permissions or pass another one (--muscle-cache-dir)"),
        (errno.EROFS, "cache directory is not writable"),
        (errno.ENOSPC, "disk full while writing the cache; free space or pass another cache dir (--muscle-cache-dir)"),
        (errno.EIO, "cannot write the cache (Input/output error)"),
    ],
    ids=["permission denied", "read-only file system", "disk full", "i/o error"],
)
def test_a_refused_write_is_a_clear_error(
    cache: PredictionCache, path: Path, monkeypatch: pytest.MonkeyPatch, error: int, message: str
) -> None:
    path.parent.mkdir(parents=True)
    refuse_opens(monkeypatch, error)

    with pytest.raises(CacheError) as info:
        cache.append(path, [("ka", A)])

    assert str(info.value).startswith(f"{path}: {message}")


def test_a_refused_lock_is_a_clear_error(cache: PredictionCache, path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path.parent.mkdir(parents=True)
    refuse_opens(monkeypatch, errno.EACCES)

    with pytest.raises(CacheError, match="cache directory is not writable"), cache.lock(path):
        pass


def test_a_disk_filling_up_mid_write_leaves_a_readable_cache(
    cache: PredictionCache, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache.append(path, [("ka", A)])

    class HalfWrite:
        """A file on a disk that fills up halfway through our write."""

        def __init__(self, fd: int, *args: object, **kwargs: object) -> None:
            self.fd = fd

        def __enter__(self) -> HalfWrite:
            return self

        def __exit__(self, *exc: object) -> None:
            os.close(self.fd)

        def write(self, text: str) -> int:
            os.write(self.fd, text.encode()[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with monkeypatch.context() as patch:
        patch.setattr(os, "fdopen", HalfWrite)
        with pytest.raises(CacheError, match="disk full"):
            cache.append(path, [("kx", B)])

    cache.append(path, [("kc", C)])

    assert cache.read(path) == CacheRead({"ka": A, "kc": C}, skipped=1)


# --- permissions and locking -----------------------------------------------------------------------------------------


@pytest.fixture
def umask_027() -> Iterator[None]:
    previous = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("umask_027")
def test_created_files_and_directories_honour_the_umask(cache: PredictionCache, path: Path) -> None:
    cache.append(path, [("ka", A)])

    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o750


def test_a_second_writer_waits_for_the_lock_and_is_told(
    cache: PredictionCache, path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "LOCK_WAIT_NOTICE_S", 0.05)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with PredictionCache(cache.root).lock(path):
            held.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    notices: list[str] = []
    threading.Timer(0.3, release.set).start()

    started = time.monotonic()
    with cache.lock(path, on_wait=lambda: notices.append("waiting")):
        waited = time.monotonic() - started
    holder.join()

    assert notices == ["waiting"]
    assert waited >= 0.2
