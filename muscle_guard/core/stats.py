"""The statistics of a gate, in one pure module (no scipy: `import muscle_guard` stays light): intervals for rates
and for paired differences, a bootstrap for continuous scores, and family-wise corrections of p-values.

- `wilson`: the Wilson score interval of a rate k/n (a flip rate, an accuracy): good coverage at the small counts
  of CI suites, never outside [0, 1], defined at k = 0 and k = n.
- `paired_difference`: the interval of p₂ − p₁ for two rates measured on the same instances (Δacc between the old
  and the new model; ΔNFR between the new and the fixed model), Newcombe's hybrid score method 10 (Statistics in
  Medicine 17:2635, 1998): Wilson intervals of both margins, combined with the pairs' correlation.
- `bootstrap_mean`: a seeded percentile bootstrap of a mean (a continuous suite's mean D), deterministic.
- `holm` and `benjamini_hochberg`: adjusted p-values for a family of tests (several pairs × suites).

The exact one-sided McNemar test stays in `core.flips` (integers, exact at any n).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A 95% interval [low, high] (fractions) of an estimate."""

    low: float
    high: float

    def contains(self, value: float) -> bool:
        return self.low - 1e-12 <= value <= self.high + 1e-12

    def to_json(self) -> list[float]:
        return [self.low, self.high]


def wilson(k: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of k successes in n trials; [0, 1] when n = 0 (nothing is known)."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Interval(0.0, 1.0)
    p = k / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if k == 0 else max(0.0, centre - half)
    high = 1.0 if k == n else min(1.0, centre + half)
    return Interval(low, high)


def paired_difference(a: int, b: int, c: int, d: int, z: float = Z95) -> Interval:
    """The interval of p₂ − p₁ on paired binary outcomes: `a` instances where both are 1, `b` where only the first
    is, `c` where only the second is, `d` where neither is (p₁ = (a + b)/n, p₂ = (a + c)/n). Newcombe's method 10."""
    n = a + b + c + d
    if min(a, b, c, d) < 0:
        raise ValueError(f"counts must be >= 0, got {(a, b, c, d)}")
    if n == 0:
        return Interval(-1.0, 1.0)
    p1, p2 = (a + b) / n, (a + c) / n
    one, two = wilson(a + b, n, z), wilson(a + c, n, z)
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denominator) if denominator else 0.0
    diff = p2 - p1
    down = math.sqrt(max(0.0, (p2 - two.low) ** 2 - 2 * phi * (p2 - two.low) * (one.high - p1) + (one.high - p1) ** 2))
    up = math.sqrt(max(0.0, (two.high - p2) ** 2 - 2 * phi * (two.high - p2) * (p1 - one.low) + (p1 - one.low) ** 2))
    return Interval(max(-1.0, diff - down), min(1.0, diff + up))


def bootstrap_mean(values: Sequence[float], seed: int = 0, resamples: int = BOOTSTRAP_RESAMPLES) -> Interval:
    """The 95% percentile-bootstrap interval of the mean of `values` (paired differences such as D), seeded so
    that a report is the same every time it is computed."""
    n = len(values)
    if n == 0:
        return Interval(0.0, 0.0)
    rng = random.Random(seed)
    means = sorted(math.fsum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    return Interval(means[int(0.025 * resamples)], means[min(resamples - 1, math.ceil(0.975 * resamples) - 1)])


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error rate), in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (false discovery rate), in the order given."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for position, i in enumerate(order):
        rank = m - position
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def unadjusted(pvalues: Sequence[float]) -> list[float]:
    """The p-values as they are (correction = "none")."""
    return list(pvalues)


CORRECTIONS: dict[str, Callable[[Sequence[float]], list[float]]] = {
    "holm": holm,
    "bh": benjamini_hochberg,
    "none": unadjusted,
}
