"""`python -m muscle_guard.cli` (what `accelerate launch -m muscle_guard.cli ...` runs)."""

from muscle_guard.cli import main

main()
