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

Resting nodes (the catalog's `resting`: an order may stay there) have no dwell to judge and are
left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores
from orderscope.views.visits import dwell_baselines

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
        cells = (
            pl.DataFrame({"node": nodes}, schema={"node": pl.String})
            .join(pl.DataFrame({"warehouse_id": warehouses}, schema={"warehouse_id": pl.String}), how="cross")
            .join(pl.DataFrame({"how": list(range(168))}, schema={"how": pl.Int64}), how="cross")
        )
        g = _finest_level(
            _with_levels(cells, self.table).join(catalog.sla_frame(), on="node", how="left"), self.min_samples
        )
        robust = (pl.col("baseline_median_ms") + self.k * MAD_SCALE * pl.col("baseline_mad_ms")).ceil()
        g = g.with_columns(
            pl.max_horizontal(pl.col("sla_ms").cast(pl.Float64), robust).cast(pl.Int64).alias("threshold_ms")
        ).filter(pl.col("threshold_ms").is_not_null())
        return g.select(list(GRID_SCHEMA)).cast(GRID_SCHEMA)  # type: ignore[arg-type]


_STATS = ("n", "median_ms", "mad_ms")
_KEYS = {3: ["node", "warehouse_id", "how"], 2: ["node", "warehouse_id"], 1: ["node"]}


def _with_levels(cells: pl.DataFrame, table: pl.DataFrame) -> pl.DataFrame:
    """The cells with the statistics of each level beside them (n_3, median_ms_3, ..., n_1)."""
    for lvl, keys in _KEYS.items():
        level = table.filter(pl.col("level") == _LEVEL_NAME[lvl]).select(
            *keys, *[pl.col(s).alias(f"{s}_{lvl}") for s in _STATS]
        )
        cells = cells.join(level, on=keys, how="left")
    return cells


def _finest_level(g: pl.DataFrame, min_samples: int) -> pl.DataFrame:
    """baseline_median_ms, baseline_mad_ms, baseline_n and baseline_level of the finest level
    with at least `min_samples` visits (the catalog SLA alone when none has)."""
    ok = {lvl: pl.col(f"n_{lvl}") >= min_samples for lvl in _KEYS}

    def pick(s: str) -> pl.Expr:
        return (
            pl.when(ok[3])
            .then(pl.col(f"{s}_3"))
            .when(ok[2])
            .then(pl.col(f"{s}_2"))
            .when(ok[1])
            .then(pl.col(f"{s}_1"))
            .otherwise(None)
        )

    return g.with_columns(
        pick("median_ms").cast(pl.Float64).alias("baseline_median_ms"),
        pick("mad_ms").cast(pl.Float64).alias("baseline_mad_ms"),
        pick("n").cast(pl.Int64).alias("baseline_n"),
        pl.when(ok[3])
        .then(pl.lit(LEVEL_CELL))
        .when(ok[2])
        .then(pl.lit(LEVEL_NODE_WH))
        .when(ok[1])
        .then(pl.lit(LEVEL_NODE))
        .otherwise(pl.lit(LEVEL_SLA))
        .alias("baseline_level"),
    )


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
    raw = dwell_baselines(stores, start, end, catalog.resting, min_samples, nodes, warehouses)
    return Baselines(table=_shape(raw), start=start, end=end, k=k, min_samples=min_samples)


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


__all__ = [
    "GRID_SCHEMA",
    "K",
    "LEVELS",
    "LEVEL_CELL",
    "LEVEL_NODE",
    "LEVEL_NODE_WH",
    "LEVEL_SLA",
    "MAD_SCALE",
    "MIN_SAMPLES",
    "Baselines",
    "learn_baselines",
]
