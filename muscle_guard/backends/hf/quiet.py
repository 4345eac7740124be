"""Silence transformers' "Loading weights" bars and the peft/transformers deprecation noise while building or
loading models outside the backend (test fixtures, the demo's adapter training)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging

    hf_logging: Any = logging  # untyped module functions
    enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # no "LOAD REPORT" for the heads we add on purpose
    try:
        with warnings.catch_warnings():
            # peft 0.21 calls an API that transformers 5 deprecates.
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if enabled:
            hf_logging.enable_progress_bar()
