"""Importing muscle-guard, its pytest plugin or its CLI never loads torch and friends.

Everyone who runs `pytest` in an environment where muscle-guard is installed pays for what its plugin
imports, so each check runs in a fresh interpreter and looks at `sys.modules` afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "transformers", "peft", "accelerate", "safetensors", "numpy", "scipy", "rouge_score")
LIGHT_MODULES = (
    "muscle_guard",
    "muscle_guard.pytest_plugin",
    "muscle_guard.cli",
    "muscle_guard.core.suite",
    "muscle_guard.core.config",
    "muscle_guard.core.scoring",
    "muscle_guard.core.cache",
    "muscle_guard.core.pipeline",
    "muscle_guard.core.baseline",
    "muscle_guard.backends",
)


def heavy_modules_after(code: str, cwd: Path) -> list[str]:
    """Run `code` in a fresh interpreter in `cwd`; the heavy modules it left loaded."""
    report = (
        f"import json as _j, sys as _s; print('\\nHEAVY=' + _j.dumps(sorted(m for m in {HEAVY!r} if m in _s.modules)))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    done = subprocess.run(
        [sys.executable, "-c", f"{code}\n{report}"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    marker = done.stdout.rsplit("HEAVY=", 1)
    assert len(marker) == 2, done.stdout[-2000:]
    loaded: list[str] = json.loads(marker[1])
    return loaded


def test_importing_the_library_plugin_and_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    assert heavy_modules_after(f"import {', '.join(LIGHT_MODULES)}", tmp_path) == []


def test_pytest_help_with_the_plugin_installed_loads_nothing_heavy(tmp_path: Path) -> None:
    code = (
        "import contextlib, io, pytest\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    pytest.main(['--help'])\n"
        "assert '--muscle-old' in out.getvalue(), 'the muscle-guard plugin did not load'\n"
    )

    assert heavy_modules_after(code, tmp_path) == []


def test_validating_suites_from_the_cli_loads_nothing_heavy(tmp_path: Path) -> None:
    (tmp_path / "qa.jsonl").write_text('{"id": "a", "prompt": "2+2=", "answer": "4"}\n', encoding="utf-8")
    code = (
        "from typer.testing import CliRunner\n"
        "from muscle_guard.cli import app\n"
        "result = CliRunner().invoke(app, ['validate', 'qa.jsonl'])\n"
        "assert result.exit_code == 0, result.output\n"
    )

    assert heavy_modules_after(code, tmp_path) == []
