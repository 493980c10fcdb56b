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
from datetime import datetime
from itertools import combinations
from typing import Any

import polars as pl
from scipy import stats

from orderscope.domain.periods import Period, parse_period
from orderscope.ports import Stores

ALPHA = 0.01
MIN_COUNT = 5
DIMENSIONS = ("channel", "sku_category", "warehouse_id", "region")
SEP = ">"

# $1 window start, $2 window end (orders.created_at), $3 cutoff (visits entered by then).
_SEQ = """
    SELECT d."order_id" AS order_id,
           string_agg(d."node", '>' ORDER BY d."entered_at", d."entered_by_event") AS variant,
           count(*) AS visits, count(DISTINCT d."node") AS nodes
    FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
    WHERE o."created_at" >= $1 AND o."created_at" < $2 AND d."entered_at" <= $3
    GROUP BY d."order_id"
"""
VARIANTS_SQL = f"""
WITH seq AS ({_SEQ})
SELECT variant, count(*) AS orders, max(CASE WHEN visits > nodes THEN 1 ELSE 0 END) AS has_loop
FROM seq GROUP BY variant
"""
LOOP_SEGMENTS_SQL = f"""
WITH seq AS ({_SEQ})
SELECT s.variant, o."channel" AS channel, o."sku_category" AS sku_category,
       o."warehouse_id" AS warehouse_id, o."region" AS region, count(*) AS orders
FROM seq s JOIN "orders" o ON o."order_id" = s.order_id
WHERE s.visits > s.nodes
GROUP BY s.variant, o."channel", o."sku_category", o."warehouse_id", o."region"
"""
SEGMENTS_SQL = """
SELECT "channel" AS channel, "sku_category" AS sku_category, "warehouse_id" AS warehouse_id,
       "region" AS region, count(*) AS orders
FROM "orders" WHERE "created_at" >= $1 AND "created_at" < $2
GROUP BY "channel", "sku_category", "warehouse_id", "region"
"""


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


def _upper_p(x1: int, x0: int, n1: int, n0: int) -> float:
    """P(X >= x1), X ~ Binomial(x0 + x1, n1 / (n0 + n1))."""
    if x1 <= 0 or n1 <= 0:
        return 1.0
    if n0 <= 0:
        return 1.0
    return float(stats.binom.sf(x1 - 1, x0 + x1, n1 / (n0 + n1)))


def _two_sided_p(x1: int, x0: int, n1: int, n0: int) -> float:
    if n1 <= 0 or n0 <= 0 or x0 + x1 == 0:
        return 1.0
    p = n1 / (n0 + n1)
    lo = float(stats.binom.cdf(x1, x0 + x1, p))
    hi = float(stats.binom.sf(x1 - 1, x0 + x1, p))
    return min(1.0, 2 * min(lo, hi))


def _log_ratio_z(x1: int, x0: int, n1: int, n0: int) -> float:
    if n1 <= 0 or n0 <= 0:
        return 0.0
    a, b = x1 + 0.5, x0 + 0.5
    return math.log((a / n1) / (b / n0)) / math.sqrt(1 / a + 1 / b)


def _window_frames(stores: Stores, start: datetime, end: datetime, cutoff: datetime):
    variants = stores.series.query(VARIANTS_SQL, [start, end, cutoff]).with_columns(
        pl.col("orders").cast(pl.Int64), pl.col("has_loop").cast(pl.Int64)
    )
    return variants


def flow_anomalies(
    stores: Stores,
    period: Period | str,
    baseline: Period | str | None = None,
    *,
    as_of: datetime | None = None,
    top: int = 20,
    alpha: float = ALPHA,
) -> dict[str, Any]:
    """Variants and loops of the period against the baseline window; loops ranked by how
    surprising their rise is, each with where it concentrates. Returns a dict with `period`,
    `baseline`, `orders` (per window), `variants` and `loops` (lists of dicts, most
    significant first; at most `top` of each)."""
    period = parse_period(period) if isinstance(period, str) else period
    baseline = (parse_period(baseline) if isinstance(baseline, str) else baseline) or period.previous()
    clock = as_of or stores.series.data_clock() or period.end
    cut_p = clock
    cut_b = clock - (period.end - baseline.end)

    vp = _window_frames(stores, period.start, period.end, cut_p)
    vb = _window_frames(stores, baseline.start, baseline.end, cut_b)
    n1 = int(vp["orders"].sum() or 0)
    n0 = int(vb["orders"].sum() or 0)

    # --- loops -------------------------------------------------------------------------------
    def loop_counts(v: pl.DataFrame) -> dict[str, list[int]]:
        """cycle -> [orders with it, occurrences]."""
        out: dict[str, list[int]] = {}
        for variant, cnt in v.filter(pl.col("has_loop") == 1).select("variant", "orders").iter_rows():
            cyc = loop_cycles(variant)
            for c in set(cyc):
                e = out.setdefault(c, [0, 0])
                e[0] += cnt
                e[1] += cnt * cyc.count(c)
        return out

    lp, lb = loop_counts(vp), loop_counts(vb)
    cycles = sorted(set(lp) | set(lb))
    variant_keys = sorted(set(vp["variant"].to_list()) | set(vb["variant"].to_list()))
    tests = max(1, len(cycles) + len(variant_keys))

    loops = []
    for c in cycles:
        x1, occ1 = lp.get(c, [0, 0])
        x0, occ0 = lb.get(c, [0, 0])
        p = _upper_p(x1, x0, n1, n0)
        p_adj = min(1.0, p * tests)
        loops.append(
            {
                "loop": c.split(SEP),
                "cycle": c,
                "revisited": c.split(SEP)[0],
                "orders": x1,
                "occurrences": occ1,
                "rate": x1 / n1 if n1 else 0.0,
                "baseline_orders": x0,
                "baseline_occurrences": occ0,
                "baseline_rate": x0 / n0 if n0 else 0.0,
                "rate_ratio": ((x1 / n1) / (x0 / n0)) if n1 and n0 and x0 else None,
                "z": _log_ratio_z(x1, x0, n1, n0),
                "p_value": p,
                "p_adjusted": p_adj,
                "significant": bool(p_adj < alpha and x1 >= MIN_COUNT),
                "_logp": float(stats.binom.logsf(x1 - 1, x0 + x1, n1 / (n0 + n1)))
                if x1 > 0 and n0 > 0 and n1 > 0
                else 0.0,
            }
        )
    loops.sort(key=lambda r: (r["_logp"], -r["orders"], r["cycle"]))
    loops = loops[:top]

    # concentration of the loops worth explaining (significant, else the top few)
    explain = [r for r in loops if r["significant"]] or loops[:3]
    if explain:
        seg_loops = stores.series.query(LOOP_SEGMENTS_SQL, [period.start, period.end, cut_p])
        seg_all = stores.series.query(SEGMENTS_SQL, [period.start, period.end])
        for r in explain:
            r["concentration"], r["where"] = _concentration(r["cycle"], seg_loops, seg_all, alpha)
    for r in loops:
        r.pop("_logp")
        r.setdefault("concentration", [])
        r.setdefault("where", {})

    # --- variants ----------------------------------------------------------------------------
    cp = dict(zip(vp["variant"].to_list(), vp["orders"].to_list(), strict=False))
    cb = dict(zip(vb["variant"].to_list(), vb["orders"].to_list(), strict=False))
    variants = []
    for v in variant_keys:
        x1, x0 = int(cp.get(v, 0)), int(cb.get(v, 0))
        p = _two_sided_p(x1, x0, n1, n0)
        p_adj = min(1.0, p * tests)
        share1 = x1 / n1 if n1 else 0.0
        share0 = x0 / n0 if n0 else 0.0
        variants.append(
            {
                "variant": v.split(SEP),
                "orders": x1,
                "share": share1,
                "baseline_orders": x0,
                "baseline_share": share0,
                "share_ratio": (share1 / share0) if share0 else None,
                "direction": "up" if share1 > share0 else ("down" if share1 < share0 else "flat"),
                "has_loop": bool(loop_cycles(v)),
                "z": _log_ratio_z(x1, x0, n1, n0),
                "p_value": p,
                "p_adjusted": p_adj,
                "significant": bool(p_adj < alpha and max(x1, x0) >= MIN_COUNT),
            }
        )
    variants.sort(key=lambda r: (r["p_value"], -abs(r["orders"] - r["baseline_orders"])))
    return {
        "period": {"label": period.label, "start": period.start, "end": period.end},
        "baseline": {"label": baseline.label, "start": baseline.start, "end": baseline.end},
        "as_of": clock,
        "orders": {"period": n1, "baseline": n0},
        "variant_count": {"period": vp.height, "baseline": vb.height},
        "tests": tests,
        "alpha": alpha,
        "variants": variants[:top],
        "loops": loops,
    }


def _concentration(
    cycle: str, seg_loops: pl.DataFrame, seg_all: pl.DataFrame, alpha: float
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    if seg_loops.height == 0:
        return [], {}
    has = [cycle in loop_cycles(v) for v in seg_loops["variant"].to_list()]
    sel = seg_loops.filter(pl.Series(has, dtype=pl.Boolean))
    total_loops = int(sel["orders"].sum() or 0)
    total_orders = int(seg_all["orders"].sum() or 0)
    if total_loops == 0 or total_orders == 0:
        return [], {}
    sets = [(d,) for d in DIMENSIONS] + list(combinations(DIMENSIONS, 2))
    rows = []
    for dims in sets:
        if set(dims) == {"warehouse_id", "region"}:
            continue  # a warehouse lies in one region: the pair says nothing new
        lo = sel.group_by(list(dims), maintain_order=True).agg(pl.col("orders").sum().alias("x"))
        al = seg_all.group_by(list(dims), maintain_order=True).agg(pl.col("orders").sum().alias("n"))
        for rec in lo.join(al, on=list(dims), how="left").iter_rows(named=True):
            x, n = int(rec["x"]), int(rec["n"] or 0)
            share_orders = n / total_orders
            share_loops = x / total_loops
            p = float(stats.binom.sf(x - 1, total_loops, share_orders)) if share_orders > 0 else 0.0
            rows.append(
                {
                    "dimension": "+".join(dims),
                    "value": "+".join(str(rec[d]) for d in dims),
                    "segment": {d: rec[d] for d in dims},
                    "loop_orders": x,
                    "orders": n,
                    "share_of_loops": share_loops,
                    "share_of_orders": share_orders,
                    "lift": share_loops / share_orders if share_orders else None,
                    "p_value": p,
                    "_logp": float(stats.binom.logsf(x - 1, total_loops, share_orders))
                    if share_orders > 0
                    else -math.inf,
                }
            )
    rows.sort(key=lambda r: (r["_logp"], -r["loop_orders"]))
    # `where`: greedy descent. Take the most surprising single-dimension segment, then look for
    # the next one *within* it (so a dimension merely correlated with the first is not named).
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
            for value, x, n in lo.join(al, on=d, how="left").select(d, "x", "n").iter_rows():
                share = (n or 0) / n_all
                if share <= 0 or share >= 1 or x / n_loops <= share:
                    continue
                logp = float(stats.binom.logsf(x - 1, n_loops, share))
                if logp < math.log(alpha) and (best is None or logp < best[0]):
                    best = (logp, d, value)
        if best is None:
            break
        _, d, value = best
        where[d] = str(value)
        ctx_loops = ctx_loops.filter(pl.col(d) == value)
        ctx_all = ctx_all.filter(pl.col(d) == value)
    for r in rows:
        r.pop("_logp")
    return rows[:10], where
