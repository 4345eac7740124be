"""Wall time of one whole `pytest` process, shared by the benchmarks that time pytest runs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Peak RSS of one child process: run it under a tiny wrapper that reports its own children's maximum.
WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode\n"
    "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


@dataclass(frozen=True)
class Timing:
    wall: float
    peak_mib: float
    rc: int


def timed_pytest(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timing:
    """Wall time, peak RSS and exit code of `python -m pytest -q -p no:cacheprovider ARGS` in `cwd` (`env` adds
    to this process's environment)."""
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    wall = time.perf_counter() - started
    rc, rss_kib = proc.stdout.split()
    return Timing(wall, int(rss_kib) / 1024, int(rc))


def time_pytest(args: list[str], cwd: Path) -> float:
    """Seconds for `python -m pytest -q -p no:cacheprovider ARGS` in `cwd`, which must exit 0."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started
