"""Helpers for muscle-guard's own tests and for plugin authors: tiny random models built in seconds.

Import `muscle_guard.testing.tiny_models` explicitly; this package imports nothing heavy.
"""

from __future__ import annotations
