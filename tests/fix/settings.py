"""The `fix` settings of the tiny-model tests, shared with bench/fix_seeds.py (which measures their spread)."""

from __future__ import annotations

from muscle_guard.fix.config import TrainConfig

# Tiny models learn at a much higher rate than the paper's 1e-4 for 7B models.
TINY_CONFIG = TrainConfig(epochs=10, lr=1e-2, batch_size=16, seed=0)
TINY = ("--lr", "1e-2", "--batch-size", "16", "--seed", "0")
# The fixed model may lose at most this much held-out accuracy against the new one (bench/fix_seeds.py: the
# largest loss over 5 fixture seeds × 3 fix seeds × 4 CPU kernel paths, with room to spare).
ACCURACY_MARGIN = 0.02
