"""Named errors, each carrying the one line a user sees: where the problem is and what to do."""

from __future__ import annotations


class MuscleGuardError(Exception):
    """Base of every error muscle-guard reports to a user without a traceback."""

    exit_code: int = 2


class SuiteError(MuscleGuardError):
    """A suite file is invalid. ``problems`` holds every `path:line: message` found, in file order."""

    exit_code = 1

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(problems))


class ConfigError(MuscleGuardError):
    """A setting (pyproject key, option, environment) has a bad value."""


class ModelRefError(MuscleGuardError):
    """A model reference (`--muscle-old`/`--muscle-new`, `--old`/`--new`) cannot be resolved or loaded."""


class BackendError(MuscleGuardError):
    """A model backend failed in a way the user can act on (out of memory, context too long, ...)."""


class InputTooLong(BackendError):
    """One request of a batch does not fit the model's context. `index` is its position in the batch, so the
    caller can name the suite line it came from."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


class BaselineError(MuscleGuardError):
    """A baseline predictions file is unreadable or was made for other suites or settings."""


class CacheError(MuscleGuardError):
    """The prediction cache directory cannot be used."""


class FixError(MuscleGuardError):
    """`muscle-guard fix` cannot train with the given inputs."""


class AssetError(MuscleGuardError):
    """A demo or benchmark asset (model or data package) is missing or broken."""


class ReportError(MuscleGuardError):
    """A run report (JSON) cannot be read or written: bad JSON, unknown schema version, unwritable path."""
