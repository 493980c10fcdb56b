"""Reads of node visits (stage_dwell) for the stall and flow analytics: the dwell baselines, the
stalled visits judged against a threshold grid, the visits in progress in a window, the orders'
process variants and where their loops fall, and the order attributes these are cut by.

Each read runs one query whose text DuckDB and PostgreSQL+TimescaleDB both accept and returns a
polars frame with its types settled, so both backends hand the analytics the same frame. Values
travel as `$n` parameters (node names included); only schema identifiers are formatted in,
quoted by `ident`. Aggregation is pushed down: only aggregates or the visits asked for leave
the store.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import polars as pl

from orderscope.ports import Stores
from orderscope.series.port import ident
from orderscope.views.metrics import Params

__all__ = [
    "VARIANT_SEPARATOR",
    "dwell_baselines",
    "hour_of_week",
    "loop_segments",
    "order_dimensions",
    "order_segments",
    "order_variants",
    "order_warehouses",
    "stalled_visits",
    "visits_in_progress",
]

# Between the nodes of a variant (the text `order_variants` aggregates, split by the caller).
VARIANT_SEPARATOR = ">"

UTC_US = pl.Datetime("us", "UTC")


def hour_of_week(column: str) -> str:
    """SQL of the hour of week (Monday 00:00 UTC = 0) of a timestamp column, computed from the
    epoch so it does not depend on either engine's session time zone (1970-01-01 was a
    Thursday: 72 h into its week)."""
    return f"(CAST(FLOOR(EXTRACT(EPOCH FROM {column}) / 3600) AS BIGINT) + 72) % 168"


# --- dwell baselines ----------------------------------------------------------------------------

# Median and MAD of closed dwell at three levels; cells below the least sample count get no MAD
# (they are never used). {lo} {hi}: left_at window, {resting}: nodes left out, {least}: samples.
_BASELINES = """
WITH v AS (
    SELECT d."node" AS node, o."warehouse_id" AS wh,
           {how} AS how,
           d."dwell_ms" AS x
    FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
    WHERE d."left_at" IS NOT NULL AND d."dwell_ms" IS NOT NULL
      AND d."left_at" >= {lo} AND d."left_at" < {hi}
      AND NOT (d."node" = ANY({resting}))
      {filters}
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
WHERE m3.n >= {least}
GROUP BY m3.node, m3.wh, m3.how, m3.n, m3.med
UNION ALL
SELECT 2 AS lvl, m2.node, m2.wh, -1 AS how, m2.n, m2.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v.x - m2.med)) AS mad
FROM v JOIN m2 ON v.node = m2.node AND v.wh = m2.wh
WHERE m2.n >= {least}
GROUP BY m2.node, m2.wh, m2.n, m2.med
UNION ALL
SELECT 1 AS lvl, m1.node, '' AS wh, -1 AS how, m1.n, m1.med,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(v.x - m1.med)) AS mad
FROM v JOIN m1 ON v.node = m1.node
GROUP BY m1.node, m1.n, m1.med
"""

BASELINE_SCHEMA = pl.Schema(
    {
        "lvl": pl.Int64(),
        "node": pl.String(),
        "wh": pl.String(),
        "how": pl.Int64(),
        "n": pl.Int64(),
        "med": pl.Float64(),
        "mad": pl.Float64(),
    }
)


def dwell_baselines(
    stores: Stores,
    start: datetime,
    end: datetime,
    resting: Collection[str],
    min_samples: int,
    nodes: Sequence[str] | None = None,
    warehouses: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Median (med) and MAD (mad) of the closed dwell (ms) of the visits that left a node in
    [start, end), per level `lvl`: 3 node x warehouse (wh) x hour of week (how) of entry, 2 node
    x warehouse (how -1), 1 node (wh '', how -1); n visits. Levels 3 and 2 only where n >=
    min_samples. Resting nodes are left out; `nodes` / `warehouses` restrict the visits."""
    p = Params()
    lo, hi, rest, least = p(start), p(end), p(sorted(resting) or [""]), p(int(min_samples))
    filters = []
    if nodes is not None:
        filters.append(f'AND d."node" = ANY({p(list(nodes) or [""])})')
    if warehouses is not None:
        filters.append(f'AND o."warehouse_id" = ANY({p(list(warehouses) or [""])})')
    sql = _BASELINES.format(
        how=hour_of_week('d."entered_at"'),
        lo=lo,
        hi=hi,
        resting=rest,
        least=least,
        filters="\n      ".join(filters),
    )
    raw = stores.series.query(sql, p.values)
    if raw.height == 0:
        return pl.DataFrame(schema=BASELINE_SCHEMA)
    return raw.select(pl.col(c).cast(t) for c, t in BASELINE_SCHEMA.items())


# --- stalled visits -----------------------------------------------------------------------------

# The threshold grid travels as four arrays, unnested into a table the visits join.
_STALLED = """
WITH th AS (
    SELECT unnest(CAST({node} AS TEXT[])) AS node, unnest(CAST({wh} AS TEXT[])) AS wh,
           unnest(CAST({how} AS BIGINT[])) AS how, unnest(CAST({threshold} AS BIGINT[])) AS threshold_ms
), v AS (
    SELECT d."order_id" AS order_id, d."node" AS node, d."visit" AS visit,
           o."warehouse_id" AS wh, d."entered_at" AS entered_at,
           CASE WHEN d."left_at" <= {as_of} THEN d."left_at" END AS left_at,
           CASE WHEN d."left_at" <= {as_of} THEN d."dwell_ms"
                ELSE CAST(ROUND(EXTRACT(EPOCH FROM (CAST({as_of} AS TIMESTAMP WITH TIME ZONE)
                                                   - d."entered_at")) * 1000) AS BIGINT)
           END AS dwell_ms,
           {hour} AS how
    FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
    WHERE d."entered_at" <= {as_of} AND (d."left_at" IS NULL OR d."left_at" >= {since})
      {filters}
)
SELECT v.order_id, v.node, v.visit, v.wh AS warehouse_id, v.entered_at, v.left_at, v.dwell_ms,
       v.how, th.threshold_ms
FROM v JOIN th ON th.node = v.node AND th.wh = v.wh AND th.how = v.how
WHERE v.dwell_ms > th.threshold_ms
"""

STALLED_SCHEMA = pl.Schema(
    {
        "order_id": pl.String(),
        "node": pl.String(),
        "visit": pl.Int64(),
        "warehouse_id": pl.String(),
        "entered_at": UTC_US,
        "left_at": UTC_US,
        "dwell_ms": pl.Int64(),
        "how": pl.Int64(),
        "threshold_ms": pl.Int64(),
    }
)


def stalled_visits(
    stores: Stores,
    grid: pl.DataFrame,
    as_of: datetime,
    since: datetime,
    *,
    open_only: bool = False,
    order_ids: Sequence[str] | None = None,
    nodes: Sequence[str] | None = None,
    created_between: tuple[datetime, datetime] | None = None,
) -> pl.DataFrame:
    """The visits in progress at some moment of [since, as_of] whose dwell (an open one's: up to
    as_of) exceeds the threshold of their (node, warehouse_id, hour of week) in `grid` (columns
    node, warehouse_id, how, threshold_ms). left_at is null for a visit open at as_of.
    open_only, order_ids, nodes and created_between [start, end) of the order restrict them."""
    p = Params()
    arrays = {
        "node": p(grid["node"].to_list()),
        "wh": p(grid["warehouse_id"].to_list()),
        "how": p(grid["how"].to_list()),
        "threshold": p(grid["threshold_ms"].to_list()),
    }
    at, lo = p(as_of), p(since)
    filters = []
    if open_only:
        filters.append(f'AND (d."left_at" IS NULL OR d."left_at" > {at})')
    if order_ids is not None:
        filters.append(f'AND d."order_id" = ANY({p(list(order_ids))})')
    if nodes is not None:
        filters.append(f'AND d."node" = ANY({p(list(nodes) or [""])})')
    if created_between is not None:
        first, last = created_between
        filters.append(f'AND o."created_at" >= {p(first)} AND o."created_at" < {p(last)}')
    sql = _STALLED.format(
        **arrays,
        as_of=at,
        since=lo,
        hour=hour_of_week('d."entered_at"'),
        filters="\n      ".join(filters),
    )
    raw = stores.series.query(sql, p.values)
    if raw.height == 0:
        return pl.DataFrame(schema=STALLED_SCHEMA)
    return raw.with_columns(pl.col(c).cast(t) for c, t in STALLED_SCHEMA.items())


def order_warehouses(stores: Stores, order_ids: Sequence[str] | None = None) -> list[str]:
    """The warehouses of these orders (None: of every order, sorted)."""
    if order_ids is None:
        f = stores.series.query('SELECT DISTINCT "warehouse_id" AS wh FROM "orders" ORDER BY 1')
    else:
        f = stores.series.query(
            'SELECT DISTINCT "warehouse_id" AS wh FROM "orders" WHERE "order_id" = ANY($1)',
            [list(order_ids)],
        )
    return list(f["wh"].to_list()) if f.height else []


# --- visits in progress -------------------------------------------------------------------------

_IN_PROGRESS = """
SELECT d."order_id" AS order_id, d."node" AS node, d."visit" AS visit,
       d."entered_at" AS entered_at,
       CASE WHEN d."left_at" <= $1 THEN d."left_at" END AS left_at,
       o."warehouse_id" AS warehouse, o."channel" AS channel, o."sku_category" AS sku_category
FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
WHERE d."entered_at" <= $1 AND (d."left_at" IS NULL OR d."left_at" >= $2)
  AND NOT (d."node" = ANY($3))
"""


def visits_in_progress(
    stores: Stores, since: datetime, as_of: datetime, resting: Collection[str]
) -> pl.DataFrame:
    """The visits to non-resting nodes in progress at some moment of [since, as_of]: order_id,
    node, visit, entered_at, left_at (null while open at as_of), and the order's warehouse,
    channel and sku_category. Empty (no columns) when there are none."""
    raw = stores.series.query(_IN_PROGRESS, [as_of, since, sorted(resting) or [""]])
    if raw.height == 0:
        return raw
    return raw.with_columns(
        pl.col("visit").cast(pl.Int64),
        pl.col("entered_at").cast(UTC_US),
        pl.col("left_at").cast(UTC_US),
    )


# --- variants and loops -------------------------------------------------------------------------

# Each order's sequence of node visits. $1 window start, $2 window end (orders.created_at),
# $3 cutoff (visits entered by then).
_SEQUENCES = """
    SELECT d."order_id" AS order_id,
           string_agg(d."node", '>' ORDER BY d."entered_at", d."entered_by_event") AS variant,
           count(*) AS visits, count(DISTINCT d."node") AS nodes
    FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
    WHERE o."created_at" >= $1 AND o."created_at" < $2 AND d."entered_at" <= $3
    GROUP BY d."order_id"
"""
_VARIANTS = f"""
WITH seq AS ({_SEQUENCES})
SELECT variant, count(*) AS orders, max(CASE WHEN visits > nodes THEN 1 ELSE 0 END) AS has_loop
FROM seq GROUP BY variant
"""


def order_variants(stores: Stores, start: datetime, end: datetime, cutoff: datetime) -> pl.DataFrame:
    """Process variants of the orders created in [start, end), their visits seen up to `cutoff`:
    variant (nodes joined by VARIANT_SEPARATOR, in order of entry), orders, has_loop (1 when a
    node is visited twice)."""
    return stores.series.query(_VARIANTS, [start, end, cutoff]).with_columns(
        pl.col("orders").cast(pl.Int64), pl.col("has_loop").cast(pl.Int64)
    )


def loop_segments(
    stores: Stores, start: datetime, end: datetime, cutoff: datetime, dimensions: Sequence[str]
) -> pl.DataFrame:
    """The looping orders of `order_variants` per variant and order segment: variant, the
    `dimensions`, orders."""
    cols = ", ".join(f"o.{ident(d)} AS {ident(d)}" for d in dimensions)
    group = ", ".join(f"o.{ident(d)}" for d in dimensions)
    sql = f"""
    WITH seq AS ({_SEQUENCES})
    SELECT s.variant, {cols}, count(*) AS orders
    FROM seq s JOIN "orders" o ON o."order_id" = s.order_id
    WHERE s.visits > s.nodes
    GROUP BY s.variant, {group}
    """
    return stores.series.query(sql, [start, end, cutoff])


def order_segments(stores: Stores, start: datetime, end: datetime, dimensions: Sequence[str]) -> pl.DataFrame:
    """The orders created in [start, end) per segment: the `dimensions`, orders."""
    cols = ", ".join(f"{ident(d)} AS {ident(d)}" for d in dimensions)
    group = ", ".join(ident(d) for d in dimensions)
    sql = f"""
    SELECT {cols}, count(*) AS orders
    FROM "orders" WHERE "created_at" >= $1 AND "created_at" < $2
    GROUP BY {group}
    """
    return stores.series.query(sql, [start, end])


def order_dimensions(stores: Stores, order_ids: Sequence[str], dimensions: Sequence[str]) -> pl.DataFrame:
    """order_id and the `dimensions` (order-master columns) of these orders."""
    cols = "".join(f", {ident(d)}" for d in dimensions)
    return stores.series.query(
        f'SELECT "order_id" AS order_id{cols} FROM "orders" WHERE "order_id" = ANY($1)', [list(order_ids)]
    )
