"""What `fix` says about the configuration before it trains: settings it does not apply, budgets no fix can reach.

Each is one line through the progress channel (core.progress.message), said once per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from muscle_guard.core.config import ProjectConfig
from muscle_guard.core.floor import below_floor, configured_floor, read_floor
from muscle_guard.core.gates import uses_rate_budget
from muscle_guard.core.progress import message
from muscle_guard.core.suite import Suite


def say_prompt_formats_are_not_used(project: ProjectConfig) -> None:
    """fix renders prompts as the suites write them; a configured model prompt format is not applied (yet)."""
    keys = [k for k in ("old_prompt", "new_prompt") if project.run.get(k) not in (None, "", "none")]
    keys += [
        f"{p.name}.{side}_prompt" for p in project.pairs for side in ("old", "new") if p.prompt(side).kind != "none"
    ]
    if keys:
        message(
            f"note: fix trains and judges on the suites' prompts without the models' prompt formats ({', '.join(keys)} "
            "in pyproject.toml); the gate applies them, so it measures the fixed adapter under another rendering"
        )


def say_budgets_below_the_floor(project: ProjectConfig, suites: Sequence[Suite], root: Path) -> None:
    """A --suite whose max_nfr is below its noise floor (`muscle-guard floor`): no fix can reach it on training
    noise alone, and `--aim budget` will likely ship nothing."""
    path = configured_floor(project.run, root)
    if path is None:
        return
    floor = read_floor(path)
    for suite in suites:
        gates = project.settings_for(suite.name).gates
        note = below_floor(suite.name, gates.max_nfr if uses_rate_budget(gates) else 0.0, floor.rate(suite.name))
        if note:
            message(f"warning: {note} ({path}); no fix gets under it")
