"""Shared CLI plumbing: one `Error: ...` line on stderr and the right exit code for our errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from muscle_guard.core.errors import MuscleGuardError

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False, soft_wrap=True)


@contextmanager
def reported_errors(exit_code: int | None = None) -> Iterator[None]:
    """Turn MuscleGuardError into `Error: ...` on stderr and its exit code (or `exit_code`, for a command whose
    codes mean something else); Ctrl-C into exit 130."""
    try:
        yield
    except MuscleGuardError as exc:
        for line in str(exc).splitlines() or [type(exc).__name__]:
            print(f"Error: {line}", file=sys.stderr)
        raise typer.Exit(exc.exit_code if exit_code is None else exit_code) from None
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        raise typer.Exit(130) from None
