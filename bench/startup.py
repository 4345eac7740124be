"""pytest start-up with the muscle-guard plugin installed but unused, against pytest with it disabled.

    .venv/bin/python bench/startup.py [--runs 20]

Runs `pytest --collect-only -q` on a small test project, alternating `-p no:muscle_guard` (the anchor)
and the default (plugin loaded, dormant), and prints medians and their ratio. Also checks torch was not
imported by the dormant plugin.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from _pytest_timing import time_pytest

PROJECT = {
    "test_example.py": "def test_one():\n    assert 1 + 1 == 2\n",
    "conftest.py": (
        "import sys\n"
        "def pytest_sessionfinish(session):\n"
        "    assert 'torch' not in sys.modules, 'the dormant plugin imported torch'\n"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, text in PROJECT.items():
            (root / name).write_text(text)
        time_pytest(["--collect-only"], root)  # warm the file-system cache
        anchor, dormant = [], []
        for _ in range(args.runs):
            anchor.append(time_pytest(["--collect-only", "-p", "no:muscle_guard"], root))
            dormant.append(time_pytest(["--collect-only"], root))
    a, d = statistics.median(anchor), statistics.median(dormant)
    print(f"pytest without the plugin (anchor): median {a * 1000:.0f} ms over {args.runs} runs")
    print(f"pytest with the plugin, dormant:    median {d * 1000:.0f} ms")
    print(f"ratio dormant / anchor: {d / a:.3f}  (difference {1000 * (d - a):+.0f} ms)")


if __name__ == "__main__":
    main()
