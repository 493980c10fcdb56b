"""Flow anomalies: process variants and loops in status sequences, period vs baseline.

Variant  -- an order's sequence of node visits (stage_dwell, so amendments that repeat a state
            do not count), e.g. CREATED>PAID>RISK_CHECKED>...>DELIVERED, built in the store with
            string_agg(node, '>' ORDER BY entered_at, entered_by_event) and counted per variant.
Loop     -- a node revisited: the cycle from one visit of a node to its next visit, e.g.
            PAID>PICKING>CANCELLED>PAID (out-of-stock cancel and reinstatement) or
            PICKING>PICKED>QC_INSPECTING>PICKING (QC rework). Scanning a sequence, a cycle is
            emitted at each revisit and scanning restarts there, so a rotation of the same cycle
            (PICKING>CANCELLED>PAID>PICKING) is not counted twice.

Windows: the orders created in the period and those created in the baseline window (default:
the same length just before). Orders of the period are younger, so their sequences are cut
shorter by the data clock; to compare like with like the baseline's sequences are cut at
clock - (period.end - baseline.end): both windows are seen at the same age.

Significance of a loop (or variant) rising: with x1 of n1 period orders and x0 of n0 baseline
orders showing it, under "no change" x1 ~ Binomial(x0 + x1, n1 / (n0 + n1)) (the conditional
test of two Poisson rates). p is its upper tail (variants: two-sided), Bonferroni-corrected over
everything tested; `significant` = corrected p < ALPHA and x1 >= MIN_COUNT. z is the log rate
ratio over its standard error (0.5 added to each count).

Concentration of a loop: among the period's orders with the loop, the share in a segment
(channel, sku_category, warehouse_id, region and their pairs) against that segment's share of
all period orders: lift = share_of_loops / share_of_orders, with a binomial upper-tail p.
`where` is found by greedy descent: the single-dimension segment with the smallest p (lift > 1,
p < ALPHA), then the same search within that segment for the remaining dimensions, and so on:
a dimension that only correlates with an earlier one is not named.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import datetime
from itertools import combinations
from typing import Any

import polars as pl
from scipy import stats

from orderscope.domain.periods import Period, parse_period
from orderscope.ports import Stores
from orderscope.views.visits import VARIANT_SEPARATOR as SEP
from orderscope.views.visits import loop_segments, order_segments, order_variants

ALPHA = 0.01
MIN_COUNT = 5
# The slice dimensions (orderscope.views.metrics.SLICE_DIMENSIONS) in the order a loop's
# concentration is read: what was ordered, then where. The order names the pair segments
# ("channel+sku_category") and breaks ties between equally surprising segments, so it is part
# of the output.
DIMENSIONS = ("channel", "sku_category", "warehouse_id", "region")
EXPLAINED = 3  # loops whose concentration is shown when none is significant
LoopCounts = dict[str, tuple[int, int]]  # cycle -> (orders with it, occurrences)


# --- typed results ------------------------------------------------------------------------------


@dataclass
class Segment:
    """A segment of the period's orders and its share of one loop's orders."""

    dimension: str  # "channel" or a pair "channel+sku_category"
    value: str  # "marketplace" or "marketplace+electronics"
    segment: dict[str, Any]
    loop_orders: int
    orders: int
    share_of_loops: float
    share_of_orders: float
    lift: float | None
    p_value: float
    log_p: float = field(default=0.0, repr=False)  # the ranking key, not shown

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("log_p")
        return d


@dataclass
class FlowLoop:
    """A cycle back to a node, its frequency in the period against the baseline, and where
    its orders concentrate (shown for the loops worth explaining)."""

    loop: list[str]
    cycle: str
    revisited: str
    orders: int
    occurrences: int
    rate: float
    baseline_orders: int
    baseline_occurrences: int
    baseline_rate: float
    rate_ratio: float | None
    z: float
    p_value: float
    p_adjusted: float
    significant: bool
    concentration: list[Segment] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    log_p: float = field(default=0.0, repr=False)  # the ranking key, not shown

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in vars(self).items() if k not in ("concentration", "where", "log_p")}
        return {**d, "concentration": [s.to_dict() for s in self.concentration], "where": dict(self.where)}


@dataclass
class FlowVariant:
    """A process variant's share of the period's orders against the baseline's."""

    variant: list[str]
    orders: int
    share: float
    baseline_orders: int
    baseline_share: float
    share_ratio: float | None
    direction: str  # up | down | flat
    has_loop: bool
    z: float
    p_value: float
    p_adjusted: float
    significant: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FlowReport:
    """Variants and loops of the period against the baseline window (most significant first)."""

    period: Period
    baseline: Period
    as_of: datetime
    orders: int  # created in the period
    baseline_orders: int
    variants_seen: int  # distinct variants of the period
    baseline_variants_seen: int
    tests: int  # loops and variants tested (the Bonferroni factor)
    alpha: float
    variants: list[FlowVariant]
    loops: list[FlowLoop]

    def to_dict(self) -> dict[str, Any]:
        return {
            "period": _period(self.period),
            "baseline": _period(self.baseline),
            "as_of": self.as_of,
            "orders": {"period": self.orders, "baseline": self.baseline_orders},
            "variant_count": {"period": self.variants_seen, "baseline": self.baseline_variants_seen},
            "tests": self.tests,
            "alpha": self.alpha,
            "variants": [v.to_dict() for v in self.variants],
            "loops": [r.to_dict() for r in self.loops],
        }


def _period(p: Period) -> dict[str, Any]:
    return {"label": p.label, "start": p.start, "end": p.end}


# --- the statistics -----------------------------------------------------------------------------


def loop_cycles(variant: str) -> list[str]:
    """The cycles of a variant, in order (see the module doc)."""
    seq = variant.split(SEP) if variant else []
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, node in enumerate(seq):
        j = seen.get(node)
        if j is not None:
            out.append(SEP.join(seq[j : i + 1]))
            seen = {node: i}
        else:
            seen[node] = i
    return out


def upper_p(x1: int, x0: int, n1: int, n0: int) -> float:
    """P(X >= x1), X ~ Binomial(x0 + x1, n1 / (n0 + n1)): the period's count rising."""
    if x1 <= 0 or n1 <= 0 or n0 <= 0:
        return 1.0
    return float(stats.binom.sf(x1 - 1, x0 + x1, n1 / (n0 + n1)))


def upper_log_p(x1: int, x0: int, n1: int, n0: int) -> float:
    """log of `upper_p` computed in the log domain (it ranks tails far below float range); 0
    where there is nothing to test."""
    if x1 > 0 and n0 > 0 and n1 > 0:
        return float(stats.binom.logsf(x1 - 1, x0 + x1, n1 / (n0 + n1)))
    return 0.0


def two_sided_p(x1: int, x0: int, n1: int, n0: int) -> float:
    """Twice the smaller tail of the same conditional binomial test (at most 1)."""
    if n1 <= 0 or n0 <= 0 or x0 + x1 == 0:
        return 1.0
    p = n1 / (n0 + n1)
    lo = float(stats.binom.cdf(x1, x0 + x1, p))
    hi = float(stats.binom.sf(x1 - 1, x0 + x1, p))
    return min(1.0, 2 * min(lo, hi))


def log_ratio_z(x1: int, x0: int, n1: int, n0: int) -> float:
    """The log rate ratio over its standard error, 0.5 added to each count."""
    if n1 <= 0 or n0 <= 0:
        return 0.0
    a, b = x1 + 0.5, x0 + 0.5
    return math.log((a / n1) / (b / n0)) / math.sqrt(1 / a + 1 / b)


def loop_counts(variants: pl.DataFrame) -> LoopCounts:
    """cycle -> (orders with it, occurrences) over a variants frame (variant, orders, has_loop)."""
    out: LoopCounts = {}
    for variant, cnt in variants.filter(pl.col("has_loop") == 1).select("variant", "orders").iter_rows():
        cyc = loop_cycles(variant)
        for c in set(cyc):
            orders, occurrences = out.get(c, (0, 0))
            out[c] = (orders + cnt, occurrences + cnt * cyc.count(c))
    return out


def loop_rows(lp: LoopCounts, lb: LoopCounts, n1: int, n0: int, tests: int, alpha: float) -> list[FlowLoop]:
    """Each cycle of either window (counts `lp` of the period's n1 orders, `lb` of the
    baseline's n0) tested for a rise, most surprising first."""
    loops = []
    for c in sorted(set(lp) | set(lb)):
        x1, occ1 = lp.get(c, (0, 0))
        x0, occ0 = lb.get(c, (0, 0))
        p = upper_p(x1, x0, n1, n0)
        p_adj = min(1.0, p * tests)
        loops.append(
            FlowLoop(
                loop=c.split(SEP),
                cycle=c,
                revisited=c.split(SEP)[0],
                orders=x1,
                occurrences=occ1,
                rate=x1 / n1 if n1 else 0.0,
                baseline_orders=x0,
                baseline_occurrences=occ0,
                baseline_rate=x0 / n0 if n0 else 0.0,
                rate_ratio=((x1 / n1) / (x0 / n0)) if n1 and n0 and x0 else None,
                z=log_ratio_z(x1, x0, n1, n0),
                p_value=p,
                p_adjusted=p_adj,
                significant=bool(p_adj < alpha and x1 >= MIN_COUNT),
                log_p=upper_log_p(x1, x0, n1, n0),
            )
        )
    loops.sort(key=lambda r: (r.log_p, -r.orders, r.cycle))
    return loops


def variant_rows(
    cp: dict[str, int], cb: dict[str, int], n1: int, n0: int, tests: int, alpha: float
) -> list[FlowVariant]:
    """Each variant of either window (orders `cp` of the period's n1, `cb` of the baseline's
    n0) tested for a change of share, smallest p first."""
    variants = []
    for v in sorted(set(cp) | set(cb)):
        x1, x0 = int(cp.get(v, 0)), int(cb.get(v, 0))
        p = two_sided_p(x1, x0, n1, n0)
        p_adj = min(1.0, p * tests)
        share1 = x1 / n1 if n1 else 0.0
        share0 = x0 / n0 if n0 else 0.0
        variants.append(
            FlowVariant(
                variant=v.split(SEP),
                orders=x1,
                share=share1,
                baseline_orders=x0,
                baseline_share=share0,
                share_ratio=(share1 / share0) if share0 else None,
                direction="up" if share1 > share0 else ("down" if share1 < share0 else "flat"),
                has_loop=bool(loop_cycles(v)),
                z=log_ratio_z(x1, x0, n1, n0),
                p_value=p,
                p_adjusted=p_adj,
                significant=bool(p_adj < alpha and max(x1, x0) >= MIN_COUNT),
            )
        )
    variants.sort(key=lambda r: (r.p_value, -abs(r.orders - r.baseline_orders)))
    return variants


# --- the use case -------------------------------------------------------------------------------


def flow_anomalies(
    stores: Stores,
    period: Period | str,
    baseline: Period | str | None = None,
    *,
    as_of: datetime | None = None,
    top: int = 20,
    alpha: float = ALPHA,
) -> FlowReport:
    """Variants and loops of the period against the baseline window; loops ranked by how
    surprising their rise is, each with where it concentrates; at most `top` of each."""
    period = parse_period(period) if isinstance(period, str) else period
    baseline = (parse_period(baseline) if isinstance(baseline, str) else baseline) or period.previous()
    clock = as_of or stores.series.data_clock() or period.end
    # both windows seen at the same age: the baseline's sequences cut as far before the clock
    # as the baseline ends before the period
    cut_b = clock - (period.end - baseline.end)
    vp = order_variants(stores, period.start, period.end, clock)
    vb = order_variants(stores, baseline.start, baseline.end, cut_b)
    n1 = int(vp["orders"].sum() or 0)
    n0 = int(vb["orders"].sum() or 0)
    lp, lb = loop_counts(vp), loop_counts(vb)
    cp = dict(zip(vp["variant"].to_list(), vp["orders"].to_list(), strict=False))
    cb = dict(zip(vb["variant"].to_list(), vb["orders"].to_list(), strict=False))
    tests = max(1, len(set(lp) | set(lb)) + len(set(cp) | set(cb)))
    loops = loop_rows(lp, lb, n1, n0, tests, alpha)[:top]
    # concentration of the loops worth explaining (significant, else the top few)
    explain = [r for r in loops if r.significant] or loops[:EXPLAINED]
    if explain:
        seg_loops = loop_segments(stores, period.start, period.end, clock, DIMENSIONS)
        seg_all = order_segments(stores, period.start, period.end, DIMENSIONS)
        for r in explain:
            r.concentration, r.where = concentration(r.cycle, seg_loops, seg_all, alpha)
    return FlowReport(
        period=period,
        baseline=baseline,
        as_of=clock,
        orders=n1,
        baseline_orders=n0,
        variants_seen=vp.height,
        baseline_variants_seen=vb.height,
        tests=tests,
        alpha=alpha,
        variants=variant_rows(cp, cb, n1, n0, tests, alpha)[:top],
        loops=loops,
    )


# --- concentration ------------------------------------------------------------------------------


def concentration(
    cycle: str, seg_loops: pl.DataFrame, seg_all: pl.DataFrame, alpha: float
) -> tuple[list[Segment], dict[str, str]]:
    """The ten segments the loop's orders concentrate in most surprisingly, and `where` (the
    greedy descent of the module doc). seg_loops: looping orders per variant and segment;
    seg_all: the period's orders per segment."""
    if seg_loops.height == 0:
        return [], {}
    has = [cycle in loop_cycles(v) for v in seg_loops["variant"].to_list()]
    sel = seg_loops.filter(pl.Series(has, dtype=pl.Boolean))
    total_loops = int(sel["orders"].sum() or 0)
    total_orders = int(seg_all["orders"].sum() or 0)
    if total_loops == 0 or total_orders == 0:
        return [], {}
    rows = segment_rows(sel, seg_all, total_loops, total_orders)
    # ties (equal p and count) in the order the segments are listed, then by value: the
    # store's group order is no order at all
    listed = {"+".join(dims): i for i, dims in enumerate(_segment_sets())}
    rows.sort(key=lambda r: (r.log_p, -r.loop_orders, listed.get(r.dimension, 0), r.value))
    return rows[:10], greedy_where(sel, seg_all, alpha)


def segment_rows(
    sel: pl.DataFrame, seg_all: pl.DataFrame, total_loops: int, total_orders: int
) -> list[Segment]:
    """Every single-dimension and pair segment with its share of the loop's orders against
    its share of all orders, and the binomial upper-tail p of that share."""
    rows = []
    for dims in _segment_sets():
        lo = sel.group_by(list(dims), maintain_order=True).agg(pl.col("orders").sum().alias("x"))
        al = seg_all.group_by(list(dims), maintain_order=True).agg(pl.col("orders").sum().alias("n"))
        for rec in lo.join(al, on=list(dims), how="left").iter_rows(named=True):
            x, n = int(rec["x"]), int(rec["n"] or 0)
            share_orders = n / total_orders
            share_loops = x / total_loops
            rows.append(
                Segment(
                    dimension="+".join(dims),
                    value="+".join(str(rec[d]) for d in dims),
                    segment={d: rec[d] for d in dims},
                    loop_orders=x,
                    orders=n,
                    share_of_loops=share_loops,
                    share_of_orders=share_orders,
                    lift=share_loops / share_orders if share_orders else None,
                    p_value=float(stats.binom.sf(x - 1, total_loops, share_orders))
                    if share_orders > 0
                    else 0.0,
                    log_p=float(stats.binom.logsf(x - 1, total_loops, share_orders))
                    if share_orders > 0
                    else -math.inf,
                )
            )
    return rows


def _segment_sets() -> list[tuple[str, ...]]:
    """Every dimension alone, then every pair (but warehouse with region: a warehouse lies in
    one region, the pair says nothing new)."""
    sets = [(d,) for d in DIMENSIONS] + list(combinations(DIMENSIONS, 2))
    return [dims for dims in sets if set(dims) != {"warehouse_id", "region"}]


def greedy_where(sel: pl.DataFrame, seg_all: pl.DataFrame, alpha: float) -> dict[str, str]:
    """Take the most surprising single-dimension segment of the loop's orders, then look for
    the next one *within* it (so a dimension merely correlated with the first is not named),
    until no segment is surprising at `alpha`."""
    where: dict[str, str] = {}
    ctx_loops, ctx_all = sel, seg_all
    while True:
        n_loops = int(ctx_loops["orders"].sum() or 0)
        n_all = int(ctx_all["orders"].sum() or 0)
        best = None
        for d in DIMENSIONS:
            if d in where or n_loops == 0 or n_all == 0:
                continue
            lo = ctx_loops.group_by(d, maintain_order=True).agg(pl.col("orders").sum().alias("x"))
            al = ctx_all.group_by(d, maintain_order=True).agg(pl.col("orders").sum().alias("n"))
            joined = lo.join(al, on=d, how="left").select(d, "x", "n").sort(d, nulls_last=True)
            for value, x, n in joined.iter_rows():  # by value: a tie goes to the first
                share = (n or 0) / n_all
                if share <= 0 or share >= 1 or x / n_loops <= share:
                    continue
                logp = float(stats.binom.logsf(x - 1, n_loops, share))
                if logp < math.log(alpha) and (best is None or logp < best[0]):
                    best = (logp, d, value)
        if best is None:
            return where
        _, d, value = best
        where[d] = str(value)
        ctx_loops = ctx_loops.filter(pl.col(d) == value)
        ctx_all = ctx_all.filter(pl.col(d) == value)


__all__ = [
    "ALPHA",
    "DIMENSIONS",
    "MIN_COUNT",
    "FlowLoop",
    "FlowReport",
    "FlowVariant",
    "Segment",
    "concentration",
    "flow_anomalies",
    "log_ratio_z",
    "loop_counts",
    "loop_cycles",
    "loop_rows",
    "two_sided_p",
    "upper_p",
    "variant_rows",
]
