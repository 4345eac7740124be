"""muscle-guard: gate base-model upgrades of fine-tuned models on negative flips, and fix them with MUSCLE.

Importing this package is cheap: torch, transformers and peft load only when a model does.
"""

from __future__ import annotations

__version__ = "0.1.0"
