"""`muscle-guard fix`: train a compatibility adapter (MUSCLE) on the new base so the old model's right answers stay right.

Importing this package never imports torch; the heavy modules (train, teachers, student) import it inside
their functions.
"""

from __future__ import annotations
