"""Wall time of one whole `pytest` process, shared by the benchmarks that time pytest runs."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


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
