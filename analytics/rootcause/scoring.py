"""How surprising, how explanatory and how trustworthy a segment is: pure functions of numbers.

surprise    z = contribution / its standard error; p = the normal upper tail of z.
correction  Bonferroni over every segment tested (what the drill-down uses: hundreds of
            segments, and one strong cause should survive them all); Holm's step-down for
            callers that rank a family of tests and want the uniformly more powerful variant.
power       the share of the change a segment explains, clipped to [0, 1], averaged with the
            share of the tail's rise when the metric is continuous (a robust twin).
score       power x (0.25 + 0.75 (1 - p_adjusted)) x the kind's weight (entity 1, condition
            0.8, mechanism 0.6) x a slice weight (stage time 0.35; a slice finding 0.5 or 1).
confidence  (1 - p_adjusted) x min(1, power / 0.5): "high" >= 0.9, "medium" >= 0.5, else "low".
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "HIGH",
    "KIND_WEIGHT",
    "MEDIUM",
    "bonferroni",
    "confidence",
    "holm",
    "level",
    "norm_sf",
    "power",
    "raw_power",
    "score",
    "share_of",
]

KIND_WEIGHT = {"entity": 1.0, "condition": 0.8, "mechanism": 0.6}
HIGH, MEDIUM = 0.9, 0.5
FULL_POWER = 0.5  # a segment explaining half the change is as explanatory as confidence needs


def norm_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z: the one-sided p-value of a surprise z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def bonferroni(p: float, tests: int) -> float:
    """p adjusted for `tests` tests: p x tests, capped at 1."""
    return min(1.0, p * tests)


def holm(p: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given: the k-th smallest p times
    (m - k + 1), made monotone, capped at 1."""
    values = np.asarray(p, dtype=np.float64)
    m = len(values)
    order = np.argsort(values, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(values[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return out


def share_of(contribution: float, delta: float) -> float:
    """A contribution as a share of the change it is part of (0 for no change)."""
    return contribution / delta if delta else 0.0


def power(share: float, tail_share: float | None = None) -> float:
    """Explanatory power: the share of the delta explained, averaged with the share of the
    tail's rise explained when there is one; each clipped to [0, 1]."""
    out = max(0.0, min(1.0, share))
    if tail_share is not None:
        out = 0.5 * (out + max(0.0, min(1.0, tail_share)))
    return out


def raw_power(share: float, tail_share: float | None = None) -> float:
    """`power` clipped below only: narrowing a finding compares powers above 100 % too."""
    out = max(0.0, share)
    if tail_share is not None:
        out = 0.5 * (out + max(0.0, tail_share))
    return out


def score(pw: float, p_adjusted: float, kind: str = "entity", slice_weight: float = 1.0) -> float:
    """The ranking score of a segment of power `pw` (see the module doc)."""
    weight = KIND_WEIGHT.get(kind, 1.0) * slice_weight
    return pw * (0.25 + 0.75 * (1.0 - p_adjusted)) * weight


def confidence(pw: float, p_adjusted: float) -> float:
    """How much a finding is to be trusted, in [0, 1]."""
    return (1.0 - p_adjusted) * min(1.0, pw / FULL_POWER)


def level(value: float) -> str:
    """The word for a confidence value."""
    return "high" if value >= HIGH else "medium" if value >= MEDIUM else "low"
