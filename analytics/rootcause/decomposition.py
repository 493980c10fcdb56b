"""The mix + rate decomposition of a change in a mean, and its surprise: pure functions over
polars frames and numpy arrays (no store, no catalog).

A population of units, each with a metric value y and a period flag (0 = baseline, 1 = period),
changes its mean from M0 to M1. A segment (dimension = value) holding the share w0 / w1 of the
units with mean m0 / m1 contributes

    contribution = w1 (m1 - m0) + (w1 - w0) (m0 - M0)

(rate term + mix term; for a single-valued dimension the contributions of its segments sum to
M1 - M0). Its surprise z is the smaller of two standardized changes, in the direction of `sign`
(every metric here is "higher is worse", so the drill-down looks for what pushed it up):
  * the contribution over its standard error (the segment variance pooled over both periods and
    shrunk towards the population's by SHRINK pseudo-units; the mix term with binomial noise);
  * a difference in differences: the segment's own change against the change of the rest of
    the population. A big segment that merely shares a uniform change is not surprising.

`decompose(frame, dimensions)` does it all for any frame of dimension columns, a metric column
and a period flag. The drill-down uses the same pieces on its own membership table (a unit may
sit in several segments of one dimension: every piece of equipment an order's QC touched).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import polars as pl

from orderscope.analytics.rootcause.scoring import power, raw_power, share_of

__all__ = [
    "SHRINK",
    "Contribution",
    "Dual",
    "MaskStats",
    "SliceStats",
    "Sums",
    "decompose",
    "long_membership",
    "segment_sums",
]

SHRINK = 10.0  # pseudo-units of population variance mixed into a segment's variance
TAIL = 0.95  # the robust twin of a continuous metric: a unit above the baseline's 95th percentile


class Sums(NamedTuple):
    """Count, sum and sum of squares of y in the baseline (0) and the period (1)."""

    n0: float
    s0: float
    ss0: float
    n1: float
    s1: float
    ss1: float

    @classmethod
    def of(cls, y: np.ndarray, per: np.ndarray) -> Sums:
        y0, y1 = y[per == 0], y[per == 1]
        return cls(
            float((per == 0).sum()),
            float(y0.sum()),
            float((y0**2).sum()),
            float((per == 1).sum()),
            float(y1.sum()),
            float((y1**2).sum()),
        )


class Contribution(NamedTuple):
    """A segment's contribution to the change (metric units), its surprise z and its means."""

    contribution: float
    surprise: float
    baseline_mean: float
    period_mean: float


class SliceStats:
    """The decomposition of one population's change, for segments given as sums or unit masks.

    N0 / N1 are the population's unit counts (at least 1), M0 / M1 its means, `delta` their
    difference, `var` the variance of y over both periods together."""

    def __init__(
        self,
        totals: Sums,
        sign: float | None = None,
        y: np.ndarray | None = None,
        per: np.ndarray | None = None,
    ) -> None:
        self.y, self.per = y, per
        self.totals = totals
        n0, s0, ss0, n1, s1, ss1 = totals
        self.N0, self.N1 = max(n0, 1.0), max(n1, 1.0)
        self.M0, self.M1 = s0 / self.N0, s1 / self.N1
        self.delta = self.M1 - self.M0
        n = n0 + n1
        self.var = max((ss0 + ss1) / n - ((s0 + s1) / n) ** 2, 0.0) if n else 0.0
        self.sign = 1.0 if sign is None else sign

    @classmethod
    def of_units(cls, y: np.ndarray, per: np.ndarray, sign: float | None = None) -> SliceStats:
        return cls(Sums.of(y, per), sign, y, per)

    def of_sums(self, seg: Sums) -> Contribution:
        """The contribution and surprise of the segment whose sums are `seg` (see the module
        doc). A segment new in the period is measured against the population's baseline."""
        n0, s0, ss0, n1, s1, ss1 = seg
        n = n0 + n1
        w0 = n0 / self.N0
        w1 = n1 / self.N1
        m0 = s0 / n0 if n0 else self.M0
        m1 = s1 / n1 if n1 else m0
        c = w1 * (m1 - m0) + (w1 - w0) * (m0 - self.M0)
        v = self._shrunk(n, ss0 + ss1, s0 + s1)
        inv0 = 1.0 / n0 if n0 else 1.0 / self.N0
        se2 = w1 * w1 * v * (1.0 / max(n1, 1.0) + inv0)
        se2 += (m0 - self.M0) ** 2 * (w1 * (1 - w1) / self.N1 + w0 * (1 - w0) / self.N0)
        t = self.totals
        rn0, rs0, rss0, rn1, rs1, rss1 = (t[0] - n0, t[1] - s0, t[2] - ss0, t[3] - n1, t[4] - s1, t[5] - ss1)
        rn = rn0 + rn1
        if rn0 >= 1 and rn1 >= 1:
            rv = self._shrunk(rn, rss0 + rss1, rs0 + rs1)
            rest_change = rs1 / rn1 - rs0 / rn0
            rest_var = rv * (1.0 / rn1 + 1.0 / rn0)
        else:
            rest_change, rest_var = 0.0, 0.0
        did = (m1 - m0) - rest_change
        se_did = math.sqrt(v * (1.0 / max(n1, 1.0) + inv0) + rest_var) or 1e-12
        z_did = self.sign * did / se_did
        se = math.sqrt(se2) if se2 > 0 else 1e-12
        return Contribution(c, min(self.sign * c / se, z_did), m0, m1)

    def _shrunk(self, n: float, ss: float, s: float) -> float:
        """The sample variance of n values (sum s, sum of squares ss), shrunk towards `var`."""
        v = (ss - s**2 / n) / (n - 1) if n > 1 else self.var
        return (n * max(v, 0.0) + SHRINK * self.var) / (n + SHRINK)

    def mask_sums(self, mask: np.ndarray) -> Sums:
        assert self.y is not None and self.per is not None, "built from sums: no units to mask"
        y, per = self.y[mask], self.per[mask]
        y0, y1 = y[per == 0], y[per == 1]
        return Sums(
            float(len(y0)),
            float(y0.sum()),
            float((y0 * y0).sum()),
            float(len(y1)),
            float(y1.sum()),
            float((y1 * y1).sum()),
        )

    def of_mask(self, mask: np.ndarray) -> tuple[Contribution, Sums]:
        sums = self.mask_sums(mask)
        return self.of_sums(sums), sums


@dataclass(frozen=True)
class MaskStats:
    """A set of units decomposed on the metric and on its twin (see `Dual`)."""

    contribution: float
    surprise: float  # the larger of the two surprises
    surprise_mean: float
    surprise_tail: float
    tail_contribution: float
    baseline_mean: float
    period_mean: float
    baseline_units: int
    period_units: int
    share: float
    tail_share: float | None

    def power(self) -> float:
        return power(self.share, self.tail_share)

    def raw_power(self) -> float:
        return raw_power(self.share, self.tail_share)


class Dual:
    """The metric's decomposition plus a robust twin for continuous metrics on an abnormality
    indicator: the unit is in the population's baseline top 5 %, or abnormal by `flags` (for
    the drill-down: a visit past its node's SLA; for cycle time a node re-entered before the
    handover, rework and cancel loops). Heavy-tailed dwell times make mean-based tests weak,
    while a cause typically pushes its units into abnormality, which is rare in a baseline.
    A binary metric may bring a sharper indicator of its own (`twin`: flow loops)."""

    def __init__(
        self,
        y: np.ndarray,
        per: np.ndarray,
        binary: bool,
        flags: np.ndarray | None = None,
        twin: np.ndarray | None = None,
    ) -> None:
        self.m = SliceStats.of_units(y, per)
        self.has_twin = twin is not None
        self.binary = binary and twin is None
        if twin is not None:
            self.e = twin.astype(np.float64)
            self.t = SliceStats.of_units(self.e, per, sign=self.m.sign)
        elif binary:
            self.t = self.m
            self.e = y
        else:
            base = y[per == 0]
            threshold = float(np.quantile(base, TAIL)) if len(base) else 0.0
            e = y > threshold
            if flags is not None:
                e |= flags
            self.e = e.astype(np.float64)
            self.t = SliceStats.of_units(self.e, per, sign=self.m.sign)
        self.tests = 1 if self.binary else 2
        # what a contribution is a share of: the delta when the metric rose; when it did not,
        # the drill-down sets the gross rise (see findings.segment_candidates)
        self.D, self.Dt = self.m.delta, self.t.delta

    def of_mask(self, mask: np.ndarray) -> MaskStats:
        (c, z, m0, m1), sums = self.m.of_mask(mask)
        (ct, zt, _, _), _ = self.t.of_mask(mask)
        return MaskStats(
            contribution=c,
            surprise=max(z, zt),
            surprise_mean=z,
            surprise_tail=zt,
            tail_contribution=ct,
            baseline_mean=m0,
            period_mean=m1,
            baseline_units=int(sums.n0),
            period_units=int(sums.n1),
            share=share_of(c, self.D),
            tail_share=None if self.binary else share_of(ct, self.Dt),
        )


# --- frames ------------------------------------------------------------------------------------


def segment_sums(membership: pl.DataFrame, units: pl.DataFrame, twin: np.ndarray) -> pl.DataFrame:
    """Per segment (dim, value), in the order segments first appear: n0, s0, ss0, n1, s1, ss1
    of y and e0, e1 (the sums of the 0/1 `twin` indicator, one value per unit).

    membership: unit, dim, value (a unit may hold several values of one dim); units: unit, per,
    y, with unit = row number."""
    joined = membership.join(units.select("unit", "per", "y").with_columns(pl.Series("e", twin)), on="unit")
    per_period = joined.group_by("dim", "value", "per", maintain_order=True).agg(
        pl.len().alias("n"),
        pl.col("y").sum().alias("s"),
        (pl.col("y") ** 2).sum().alias("ss"),
        pl.col("e").sum().alias("se"),
    )

    def at(col: str, per: int) -> pl.Expr:
        return pl.col(col).filter(pl.col("per") == per).sum().cast(pl.Float64)

    return per_period.group_by("dim", "value", maintain_order=True).agg(
        at("n", 0).alias("n0"),
        at("s", 0).alias("s0"),
        at("ss", 0).alias("ss0"),
        at("n", 1).alias("n1"),
        at("s", 1).alias("s1"),
        at("ss", 1).alias("ss1"),
        at("se", 0).alias("e0"),
        at("se", 1).alias("e1"),
    )


def long_membership(units: pl.DataFrame, dimensions: Sequence[str]) -> pl.DataFrame:
    """unit, dim, value (as text) for every unit and dimension column of `units`."""
    parts = [
        units.select("unit", pl.lit(d).alias("dim"), pl.col(d).cast(pl.String).alias("value"))
        for d in dimensions
    ]
    if not parts:
        return pl.DataFrame(schema={"unit": pl.Int64, "dim": pl.String, "value": pl.String})
    return pl.concat(parts).drop_nulls("value").unique(maintain_order=True)


def decompose(
    frame: pl.DataFrame,
    dimensions: Sequence[str],
    metric: str = "y",
    period: str = "per",
    sign: float | None = None,
) -> pl.DataFrame:
    """Every segment (dimension = value) of `frame` decomposed: dimension, value,
    baseline_units, period_units, baseline_mean, period_mean, contribution (metric units),
    share (of the delta of the whole frame's mean) and surprise (z). `period` is 1 for the
    period's rows, 0 for the baseline's."""
    units = frame.select(
        pl.col(metric).cast(pl.Float64).alias("y"),
        pl.col(period).cast(pl.Int8).alias("per"),
        *dimensions,
    ).with_row_index("unit")
    units = units.with_columns(pl.col("unit").cast(pl.Int64))
    stats = SliceStats.of_units(units["y"].to_numpy(), units["per"].to_numpy(), sign)
    table = segment_sums(long_membership(units, dimensions), units, np.zeros(units.height))
    rows = []
    for d, v, *sums in table.select("dim", "value", "n0", "s0", "ss0", "n1", "s1", "ss1").iter_rows():
        c, z, m0, m1 = stats.of_sums(Sums(*sums))
        rows.append((d, v, int(sums[0]), int(sums[3]), m0, m1, c, share_of(c, stats.delta), z))
    schema = {
        "dimension": pl.String,
        "value": pl.String,
        "baseline_units": pl.Int64,
        "period_units": pl.Int64,
        "baseline_mean": pl.Float64,
        "period_mean": pl.Float64,
        "contribution": pl.Float64,
        "share": pl.Float64,
        "surprise": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
