"""The closed sets of names that settings and suite lines may use, in one place so that every front end refuses a
misspelt one when it reads it (not once per instance when a model has answered). core.scoring implements them."""

from __future__ import annotations

NORMALISERS = ("exact", "lower", "final_number")
SCORERS = ("rouge1", "rouge2", "rougeL", "exact")
