"""Robust dwell baselines: median and MAD of closed dwell by node x warehouse x hour-of-week.

A baseline is learned from history: the closed visits (left_at set) that left a node inside a
window [start, end). Three levels are computed in one statement pushed down into the series store:

  node×warehouse×hour-of-week   -- the cell; hour-of-week of entered_at in UTC, Monday 00h = 0
  node×warehouse                -- fallback when the cell holds fewer than `min_samples` visits
  node                          -- fallback when node×warehouse is sparse too

and the catalog SLA is the last resort ("catalog SLA") when a node has no sparse-proof baseline.
Each level's MAD is the median of |dwell - level median| over the same visits.

Threshold of a visit = max(catalog SLA, median + K * 1.4826 * MAD) of the finest level with at
least `min_samples` samples. 1.4826 * MAD estimates a standard deviation robustly; K = 3 is the
conventional robust z-score cut (a normal tail of 0.13 %; dwell is right-skewed, so the SLA floor
keeps fast nodes from flagging ordinary variation). The baseline only ever *raises* the threshold
above the SLA: it stops a node x warehouse x hour whose normal dwell is long (a weekend backlog)
from being listed as stalled every week.

Resting nodes (DELIVERED, CANCELLED, REFUNDED) have no dwell to judge and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores

K = 3.0
MAD_SCALE = 1.4826
MIN_SAMPLES = 20

LEVEL_CELL = "node×warehouse×hour-of-week"
LEVEL_NODE_WH = "node×warehouse"
LEVEL_NODE = "node"
LEVEL_SLA = "catalog SLA"
LEVELS = (LEVEL_CELL, LEVEL_NODE_WH, LEVEL_NODE, LEVEL_SLA)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)

# Hour of week (Monday 00:00 UTC = 0) computed from the epoch, so it does not depend on the
# session time zone of either engine (1970-01-01 was a Thursday: 72 h into its week).
HOW_SQL = "(CAST(FLOOR(EXTRACT(EPOCH FROM {col}) / 3600) AS BIGINT) + 72) % 168"

# $1 history start, $2 history end (left_at in [$1, $2)), $3 resting nodes (excluded),
# $4 min samples (cells below it get no MAD: they are never used); optional filters on nodes
# and warehouses follow as $5, $6.
_BASELINE_SQL = f"""
WITH v AS (
    SELECT d."node" AS node, o."warehouse_id" AS wh,
           {HOW_SQL.format(col='d."entered_at"')} AS how,
           d."dwell_ms" AS x
    FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
    WHERE d."left_at" IS NOT NULL AND d."dwell_ms" IS NOT NULL
      AND d."left_at" >= $1 AND d."left_at" < $2
      AND NOT (d."node" = ANY($3))
      {{node_filter}}
), m3 AS (
    SELECT node, wh, how, count(*) AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS med
    FROM v GROUP BY node, wh, how
), m2 AS (
    SELECT node, wh, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS med
    FROM v GROUP BY node, wh
), m1 AS (
    SELECT node, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY x) AS med
    FROM v GROUP BY node
)
SELECT 3 AS lvl, m3.node, m3.wh, m3.how, m3.n, m3.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v.x - m3.med)) AS mad
FROM v JOIN m3 ON v.node = m3.node AND v.wh = m3.wh AND v.how = m3.how
WHERE m3.n >= $4
GROUP BY m3.node, m3.wh, m3.how, m3.n, m3.med
UNION ALL
SELECT 2 AS lvl, m2.node, m2.wh, -1 AS how, m2.n, m2.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v.x - m2.med)) AS mad
FROM v JOIN m2 ON v.node = m2.node AND v.wh = m2.wh
WHERE m2.n >= $4
GROUP BY m2.node, m2.wh, m2.n, m2.med
UNION ALL
SELECT 1 AS lvl, m1.node, '' AS wh, -1 AS how, m1.n, m1.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v.x - m1.med)) AS mad
FROM v JOIN m1 ON v.node = m1.node
GROUP BY m1.node, m1.n, m1.med
"""

_LEVEL_NAME = {3: LEVEL_CELL, 2: LEVEL_NODE_WH, 1: LEVEL_NODE}

GRID_SCHEMA = {
    "node": pl.String,
    "warehouse_id": pl.String,
    "how": pl.Int64,
    "threshold_ms": pl.Int64,
    "sla_ms": pl.Int64,
    "baseline_median_ms": pl.Float64,
    "baseline_mad_ms": pl.Float64,
    "baseline_n": pl.Int64,
    "baseline_level": pl.String,
}


@dataclass
class Baselines:
    """The learned baseline table and the rule that turns it into thresholds.

    table: level ("node×warehouse×hour-of-week" | "node×warehouse" | "node"), node,
    warehouse_id (null at node level), how (null above the cell level), n, median_ms, mad_ms.
    Cells and node×warehouse rows with fewer than min_samples visits are not in the table.
    """

    table: pl.DataFrame
    start: datetime
    end: datetime
    k: float = K
    min_samples: int = MIN_SAMPLES

    def grid(self, catalog: Catalog, warehouses: list[str], nodes: list[str] | None = None) -> pl.DataFrame:
        """One row per (node, warehouse, hour-of-week) with the level used and its threshold:
        the complete lookup a visit is judged against (columns GRID_SCHEMA). Nodes without an
        SLA and without any baseline are left out (nothing to judge them by)."""
        nodes = [n for n in (nodes or catalog.nodes) if n not in catalog.resting]
        if not nodes or not warehouses:
            return pl.DataFrame(schema=GRID_SCHEMA)
        base = (
            pl.DataFrame({"node": nodes}, schema={"node": pl.String})
            .join(pl.DataFrame({"warehouse_id": warehouses}, schema={"warehouse_id": pl.String}), how="cross")
            .join(pl.DataFrame({"how": list(range(168))}, schema={"how": pl.Int64}), how="cross")
        )
        t = self.table
        stats = ["n", "median_ms", "mad_ms"]

        def level(name: str, keys: list[str], suffix: str) -> pl.DataFrame:
            return t.filter(pl.col("level") == name).select(
                *keys, *[pl.col(s).alias(f"{s}{suffix}") for s in stats]
            )

        g = (
            base.join(
                level(LEVEL_CELL, ["node", "warehouse_id", "how"], "_3"),
                on=["node", "warehouse_id", "how"],
                how="left",
            )
            .join(
                level(LEVEL_NODE_WH, ["node", "warehouse_id"], "_2"), on=["node", "warehouse_id"], how="left"
            )
            .join(level(LEVEL_NODE, ["node"], "_1"), on="node", how="left")
            .join(catalog.sla_frame(), on="node", how="left")
        )
        ok3 = pl.col("n_3") >= self.min_samples
        ok2 = pl.col("n_2") >= self.min_samples
        ok1 = pl.col("n_1") >= self.min_samples

        def pick(s: str) -> pl.Expr:
            return (
                pl.when(ok3)
                .then(pl.col(f"{s}_3"))
                .when(ok2)
                .then(pl.col(f"{s}_2"))
                .when(ok1)
                .then(pl.col(f"{s}_1"))
                .otherwise(None)
            )

        g = g.with_columns(
            pick("median_ms").cast(pl.Float64).alias("baseline_median_ms"),
            pick("mad_ms").cast(pl.Float64).alias("baseline_mad_ms"),
            pick("n").cast(pl.Int64).alias("baseline_n"),
            pl.when(ok3)
            .then(pl.lit(LEVEL_CELL))
            .when(ok2)
            .then(pl.lit(LEVEL_NODE_WH))
            .when(ok1)
            .then(pl.lit(LEVEL_NODE))
            .otherwise(pl.lit(LEVEL_SLA))
            .alias("baseline_level"),
        )
        robust = (pl.col("baseline_median_ms") + self.k * MAD_SCALE * pl.col("baseline_mad_ms")).ceil()
        g = g.with_columns(
            pl.max_horizontal(pl.col("sla_ms").cast(pl.Float64), robust).cast(pl.Int64).alias("threshold_ms")
        ).filter(pl.col("threshold_ms").is_not_null())
        return g.select(list(GRID_SCHEMA)).cast(GRID_SCHEMA)  # type: ignore[arg-type]


def learn_baselines(
    stores: Stores,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    catalog: Catalog | None = None,
    nodes: list[str] | None = None,
    warehouses: list[str] | None = None,
    k: float = K,
    min_samples: int = MIN_SAMPLES,
) -> Baselines:
    """Median / MAD of closed dwell (left_at in [start, end); None: unbounded) at the three
    levels, in one aggregate query; optionally only for some nodes / warehouses (a single
    order's lookup does not need the whole table)."""
    catalog = catalog or stores.catalog
    start = start or EPOCH
    end = end or FAR_FUTURE
    params: list = [start, end, sorted(catalog.resting) or [""], int(min_samples)]
    filters = []
    if nodes is not None:
        params.append(list(nodes) or [""])
        filters.append(f'AND d."node" = ANY(${len(params)})')
    if warehouses is not None:
        params.append(list(warehouses) or [""])
        filters.append(f'AND o."warehouse_id" = ANY(${len(params)})')
    sql = _BASELINE_SQL.format(node_filter="\n      ".join(filters))
    raw = stores.series.query(sql, params)
    table = _shape(raw)
    return Baselines(table=table, start=start, end=end, k=k, min_samples=min_samples)


def _shape(raw: pl.DataFrame) -> pl.DataFrame:
    schema = {
        "level": pl.String,
        "node": pl.String,
        "warehouse_id": pl.String,
        "how": pl.Int64,
        "n": pl.Int64,
        "median_ms": pl.Float64,
        "mad_ms": pl.Float64,
    }
    if raw.height == 0:
        return pl.DataFrame(schema=schema)
    lvl = pl.col("lvl").cast(pl.Int64)
    return raw.select(
        lvl.replace_strict(_LEVEL_NAME, return_dtype=pl.String).alias("level"),
        pl.col("node").cast(pl.String),
        pl.when(lvl >= 2).then(pl.col("wh").cast(pl.String)).alias("warehouse_id"),
        pl.when(lvl == 3).then(pl.col("how").cast(pl.Int64)).alias("how"),
        pl.col("n").cast(pl.Int64),
        pl.col("med").cast(pl.Float64).alias("median_ms"),
        pl.col("mad").cast(pl.Float64).alias("mad_ms"),
    ).sort("level", "node", "warehouse_id", "how", nulls_last=True)
