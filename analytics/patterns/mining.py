"""Contrast mining of condition sets that co-occur with stalls, over a transactions frame
(orderscope.analytics.patterns.items). Pure: frames in, patterns out, no store.

  1. identical item rows are collapsed into one weighted row (visits n, stalls a);
  2. level-wise (Apriori) enumeration of itemsets of up to MAX_LEN items, with anti-monotone
     support pruning: an item or itemset is kept when it covers at least `min_support` of the
     window's stalls (and at least `min_stalls` of them);
  3. the node is the stratum. Stall rates differ by node by design (thresholds, SLA floors),
     so every contrast is made within nodes: for an itemset with a node item, against the other
     visits of that node (Fisher's exact test, one-sided); for one without, across nodes
     (Mantel-Haenszel risk ratio, one-sided Cochran-Mantel-Haenszel test). A bare `node=X`
     is never a pattern (that is what `orderscope stalls` lists);
  4. Holm's step-down correction over every itemset tested; significant = p_adjusted < alpha
     with a risk ratio above 1;
  5. non-redundant: a superset is dropped when it adds less than 10 % lift over a subset, and a
     subset is dropped when a superset covers exactly its stalls with more lift (closed-pattern
     preference).
Patterns are ranked significant first, then by p-value, then by risk ratio.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.patterns.itemsets import (
    ATTRIBUTES,
    BAND_1_2,
    BAND_GT2,
    as_dict,
    canonical,
    display_name,
    pattern_id,
)
from orderscope.analytics.patterns.results import Pattern

MAX_LEN = 3
MIN_SUPPORT = 0.01
MIN_STALLS = 3
ALPHA = 0.05
LARGE_RISK_RATIO = 2.0
NO_LIFT = 1.10  # a superset must raise the risk ratio by more than this factor
RR_CAP = 999.0

_STATS = ("n", "a", "a_gt2")  # visits, stalls, stalls past twice the threshold


def mine_frame(
    tx: pl.DataFrame,
    min_support: float = MIN_SUPPORT,
    *,
    min_stalls: int = MIN_STALLS,
    max_len: int = MAX_LEN,
    alpha: float = ALPHA,
) -> tuple[list[Pattern], int]:
    """Mine a transactions frame; returns (patterns, itemsets tested)."""
    total_stalls = int(tx["stalled"].sum()) if tx.height else 0
    if total_stalls == 0:
        return [], 0
    min_count = max(min_stalls, math.ceil(min_support * total_stalls))
    attrs = [a for a in ATTRIBUTES if tx[a].null_count() < tx.height]
    compact = _compact(tx, attrs)
    cand = _candidates(compact, attrs, min_count, max_len)
    if cand is None:
        return [], 0
    cand = score(cand, total_stalls, alpha)
    pats = [_pattern(r) for r in cand.filter(pl.col("rr") > 1.0).iter_rows(named=True)]
    return _merge_equivalent(rank(non_redundant(pats))), cand.height


def _compact(tx: pl.DataFrame, attrs: list[str]) -> pl.DataFrame:
    """Identical item rows as one row: visits n, stalls a, stalls past twice the threshold."""
    return tx.group_by(["node", *attrs], maintain_order=True).agg(
        pl.len().alias("n"),
        pl.col("stalled").sum().cast(pl.Int64).alias("a"),
        (pl.col("stalled") & (pl.col("dwell_band") == BAND_GT2)).sum().cast(pl.Int64).alias("a_gt2"),
    )


def _frequent_items(compact: pl.DataFrame, attrs: list[str], min_count: int) -> dict[str, list[str]]:
    """attribute -> its values that cover at least min_count stalls."""
    frequent: dict[str, list[str]] = {}
    for a in attrs:
        s = compact.filter(pl.col(a).is_not_null()).group_by(a, maintain_order=True).agg(pl.col("a").sum())
        vals = s.filter(pl.col("a") >= min_count)[a].to_list()
        if vals:
            frequent[a] = vals
    return frequent


def _candidates(compact: pl.DataFrame, attrs: list[str], min_count: int, max_len: int) -> pl.DataFrame | None:
    """Every itemset tested (items, a, n, a_gt2, expected, top_node, rr, p), level-wise: a
    combination of attributes is tried only when all its sub-combinations were frequent."""
    from scipy.stats import hypergeom, norm

    strata = compact.group_by("node", maintain_order=True).agg(
        pl.col("n").sum().alias("N"), pl.col("a").sum().alias("A")
    )
    frequent = _frequent_items(compact, attrs, min_count)
    frequent_combos: set[tuple[str, ...]] = {(a,) for a in frequent}
    rows: list[pl.DataFrame] = []
    for size in range(1, max_len + 1):
        next_frequent: set[tuple[str, ...]] = set()
        for combo in itertools.combinations(sorted(frequent, key=attrs.index), size):
            if size > 1 and any(
                sub not in frequent_combos for sub in itertools.combinations(combo, size - 1)
            ):
                continue
            f = compact.filter(pl.all_horizontal(pl.col(c).is_in(frequent[c]) for c in combo))
            if f.height == 0:
                continue
            g = f.group_by(["node", *combo], maintain_order=True).agg(pl.col(c).sum() for c in _STATS)
            g = g.join(strata, on="node")
            found = False
            if size <= max_len - 1:  # with the node item: one stratum
                w = g.filter(pl.col("a") >= min_count)
                if w.height:
                    found = True
                    rows.append(within_node(w, combo, hypergeom))
            agg = across_nodes(g, combo, norm).filter(pl.col("a") >= min_count)
            if agg.height:
                found = True
                rows.append(agg)
            if found:
                next_frequent.add(combo)
        frequent_combos |= next_frequent
        if not next_frequent:
            break
    return pl.concat(rows, how="vertical_relaxed") if rows else None


def score(cand: pl.DataFrame, total_stalls: int, alpha: float) -> pl.DataFrame:
    """Holm-adjusted p (p_adj), significant, support and confidence of each candidate."""
    cand = cand.with_columns(pl.Series("p_adj", holm(cand["p"].to_numpy())))
    return cand.with_columns(
        ((pl.col("p_adj") < alpha) & (pl.col("rr") > 1.0)).alias("significant"),
        (pl.col("a") / total_stalls).alias("support"),
        (pl.col("a") / pl.col("n")).alias("confidence"),
    )


def _items_expr(combo: tuple[str, ...], with_node: bool) -> pl.Expr:
    parts = [pl.lit(f"{c}=") + pl.col(c) for c in (("node",) if with_node else ()) + combo]
    return pl.concat_list(parts).alias("items")


def within_node(g: pl.DataFrame, combo: tuple[str, ...], hypergeom: Any) -> pl.DataFrame:
    """Itemsets {node=X} + combo: contrast against the other visits of node X (stratum totals
    N visits, A stalls), risk ratio with 0.5 added to each cell, Fisher's one-sided p."""
    a, n1 = g["a"].to_numpy(), g["n"].to_numpy()
    A, N = g["A"].to_numpy(), g["N"].to_numpy()
    c, n0 = A - a, N - n1
    rr = ((a + 0.5) / (n1 + 0.5)) / ((c + 0.5) / (n0 + 0.5))
    p = hypergeom.sf(a - 1, N, A, n1)
    return g.select(
        _items_expr(combo, True),
        pl.col("a").cast(pl.Int64),
        pl.col("n").cast(pl.Int64),
        pl.col("a_gt2").cast(pl.Int64),
        (pl.col("n") * pl.col("A") / pl.col("N")).cast(pl.Float64).alias("expected"),
        pl.col("node").alias("top_node"),
    ).with_columns(pl.Series("rr", np.minimum(rr, RR_CAP)), pl.Series("p", np.clip(p, 0.0, 1.0)))


def across_nodes(g: pl.DataFrame, combo: tuple[str, ...], norm: Any) -> pl.DataFrame:
    """Itemsets of the combo alone, stratified by node: Mantel-Haenszel risk ratio, one-sided
    CMH test with continuity correction (or the Poisson tail, whichever is larger)."""
    from scipy.stats import poisson

    n0 = pl.col("N") - pl.col("n")
    c = pl.col("A") - pl.col("a")
    k = g.with_columns(
        (pl.col("a") * n0 / pl.col("N")).alias("_num"),
        (c * pl.col("n") / pl.col("N")).alias("_den"),
        (pl.col("n") * pl.col("A") / pl.col("N")).alias("_e"),
        pl.when(pl.col("N") > 1)
        .then(
            pl.col("n")
            * n0
            * pl.col("A")
            * (pl.col("N") - pl.col("A"))
            / (pl.col("N") ** 2 * (pl.col("N") - 1))
        )
        .otherwise(0.0)
        .alias("_v"),
    )
    s = k.group_by(list(combo), maintain_order=True).agg(
        *(pl.col(col).sum() for col in ("a", "n", "a_gt2", "_num", "_den", "_e", "_v")),
        pl.col("node").sort_by("a").last().alias("top_node"),
    )
    a = s["a"].to_numpy().astype(float)
    num, den = s["_num"].to_numpy(), s["_den"].to_numpy()
    e, v = s["_e"].to_numpy(), s["_v"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        rr = np.where(den > 0, num / den, np.where(e > 0, a / np.maximum(e, 1e-12), 1.0))
        z = np.where(v > 0, (a - e - 0.5) / np.sqrt(v), -np.inf)
    # the CMH normal approximation is anti-conservative for a few expected stalls: take the
    # larger of it and the exact Poisson tail of the observed stalls given the node rates
    p = np.maximum(np.where(v > 0, norm.sf(z), 1.0), poisson.sf(a - 1, np.maximum(e, 1e-12)))
    return s.select(
        _items_expr(combo, False),
        pl.col("a").cast(pl.Int64),
        pl.col("n").cast(pl.Int64),
        pl.col("a_gt2").cast(pl.Int64),
        pl.col("_e").cast(pl.Float64).alias("expected"),
        "top_node",
    ).with_columns(pl.Series("rr", np.minimum(rr, RR_CAP)), pl.Series("p", np.clip(p, 0.0, 1.0)))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (in the order given)."""
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adj
    return out


def _pattern(r: dict[str, Any]) -> Pattern:
    items = canonical(as_dict(tuple(r["items"])))
    gt2 = int(r["a_gt2"])
    return Pattern(
        id=pattern_id(items),
        items=items,
        name=display_name(items),
        stalls=int(r["a"]),
        visits=int(r["n"]),
        support=float(r["support"]),
        confidence=float(r["confidence"]),
        risk_ratio=float(r["rr"]),
        expected=float(r["expected"]),
        p_value=float(r["p"]),
        p_adjusted=float(r["p_adj"]),
        significant=bool(r["significant"]),
        top_node=r["top_node"],
        dwell_band={BAND_1_2: int(r["a"]) - gt2, BAND_GT2: gt2},
    )


def non_redundant(pats: list[Pattern]) -> list[Pattern]:
    """The patterns without the redundant ones (module doc, step 5)."""
    by_items = {frozenset(p.items): p for p in pats}
    drop: set[frozenset[str]] = set()
    for key, p in by_items.items():
        for size in range(1, len(key)):
            for sub in itertools.combinations(sorted(key), size):
                q = by_items.get(frozenset(sub))
                if q is None:
                    continue
                if p.stalls == q.stalls and p.visits == q.visits:
                    drop.add(frozenset(sub))  # the same visits: keep the closed (longer) set
                elif p.risk_ratio <= NO_LIFT * q.risk_ratio:
                    drop.add(key)  # the superset adds no lift
                elif p.stalls == q.stalls:
                    drop.add(frozenset(sub))  # the superset covers the same stalls, more sharply
    return [p for k, p in by_items.items() if k not in drop]


_CONDITIONS = frozenset({"equipment_calibration", "zone_humidity", "broker_login_rate", "carrier_load"})
# finer entities first: equipment implies its zone, a zone its warehouse
_DEPTH = {"equipment": 3, "broker": 3, "carrier": 2, "zone": 2, "warehouse": 1}


def _conditions(items: tuple[str, ...]) -> int:
    return sum(it.partition("=")[0] in _CONDITIONS for it in items)


def _depth(items: tuple[str, ...]) -> int:
    return sum(_DEPTH.get(it.partition("=")[0], 0) for it in items)


def rank(pats: list[Pattern]) -> list[Pattern]:
    """Significant first, then by p-value, risk ratio, stalls, then the itemset saying more
    (more condition items, finer entities); the items break the last ties."""
    return sorted(
        pats,
        key=lambda x: (
            not x.significant,
            x.p_value,
            -x.risk_ratio,
            -x.stalls,
            -_conditions(x.items),
            -_depth(x.items),
            x.items,
        ),
    )


def _merge_equivalent(pats: list[Pattern]) -> list[Pattern]:
    """Itemsets that describe (nearly) the same visits -- the same stalls, visits within 20 %,
    the same node -- are one finding: the best ranked one (more condition items, finer
    entities) stays, the others' items are listed in its `related`."""
    kept: list[Pattern] = []
    for p in pats:
        twin = next(
            (
                k
                for k in kept
                if k.stalls == p.stalls
                and k.top_node == p.top_node
                and abs(k.visits - p.visits) <= 0.2 * max(k.visits, p.visits)
            ),
            None,
        )
        if twin is None:
            kept.append(p)
        else:
            twin.related = sorted(set(twin.related) | (set(p.items) - set(twin.items)))
    for k in kept:
        extra = tuple(it for it in k.related if it.partition("=")[0] in _CONDITIONS)
        if extra:
            k.name = f"{display_name(k.items)} (≈ {display_name(extra)})"
    return kept


__all__ = [
    "ALPHA",
    "LARGE_RISK_RATIO",
    "MAX_LEN",
    "MIN_STALLS",
    "MIN_SUPPORT",
    "across_nodes",
    "holm",
    "mine_frame",
    "non_redundant",
    "rank",
    "score",
    "within_node",
]
