"""Stalls: node visits whose dwell is past their threshold (see orderscope.analytics.baselines).

A visit is judged at a moment `as_of` (default: the store's data clock, so results are
reproducible on historical data):
  * closed stall -- the visit left its node by as_of and its dwell exceeded the threshold;
  * open stall   -- the visit had not left by as_of and as_of - entered_at already exceeds it.

Listed visits are those in progress at some moment of [since, as_of] (left at or after `since`,
or still open); `since` None lists every visit up to as_of. Baselines are learned from history:
visits that closed in the `history` window before `since` (default 28 days), or, without
`since`, every visit closed by as_of.

Work split: one aggregate query for the baseline table (small: node x warehouse x hour-of-week),
thresholds resolved in polars into a lookup grid, and one query that joins the grid (passed as
array parameters and unnested) to stage_dwell so only stalled visits leave the store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from orderscope.analytics.baselines import (
    HOW_SQL,
    MIN_SAMPLES,
    Baselines,
    K,
    learn_baselines,
)
from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores

HISTORY = timedelta(days=28)

STALL_SCHEMA = {
    "order_id": pl.String,
    "node": pl.String,
    "visit": pl.Int64,
    "warehouse_id": pl.String,
    "entered_at": pl.Datetime("us", "UTC"),
    "left_at": pl.Datetime("us", "UTC"),
    "dwell_ms": pl.Int64,
    "threshold_ms": pl.Int64,
    "excess_ms": pl.Int64,
    "sla_ms": pl.Int64,
    "baseline_median_ms": pl.Float64,
    "baseline_mad_ms": pl.Float64,
    "baseline_n": pl.Int64,
    "baseline_level": pl.String,
    "open": pl.Boolean,
}

# $1..$4 the threshold grid (node, warehouse, hour-of-week, threshold_ms) as arrays,
# $5 as_of, $6 since (visits still in progress at or after it). Optional filters follow.
_STALLS_SQL = f"""
WITH th AS (
    SELECT unnest(CAST($1 AS TEXT[])) AS node, unnest(CAST($2 AS TEXT[])) AS wh,
           unnest(CAST($3 AS BIGINT[])) AS how, unnest(CAST($4 AS BIGINT[])) AS threshold_ms
), v AS (
    SELECT d."order_id" AS order_id, d."node" AS node, d."visit" AS visit,
           o."warehouse_id" AS wh, d."entered_at" AS entered_at,
           CASE WHEN d."left_at" <= $5 THEN d."left_at" END AS left_at,
           CASE WHEN d."left_at" <= $5 THEN d."dwell_ms"
                ELSE CAST(ROUND(EXTRACT(EPOCH FROM (CAST($5 AS TIMESTAMP WITH TIME ZONE)
                                                   - d."entered_at")) * 1000) AS BIGINT)
           END AS dwell_ms,
           {HOW_SQL.format(col='d."entered_at"')} AS how
    FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
    WHERE d."entered_at" <= $5 AND (d."left_at" IS NULL OR d."left_at" >= $6)
      {{filters}}
)
SELECT v.order_id, v.node, v.visit, v.wh AS warehouse_id, v.entered_at, v.left_at, v.dwell_ms,
       v.how, th.threshold_ms
FROM v JOIN th ON th.node = v.node AND th.wh = v.wh AND th.how = v.how
WHERE v.dwell_ms > th.threshold_ms
"""

_WAREHOUSES_SQL = 'SELECT DISTINCT "warehouse_id" AS wh FROM "orders" ORDER BY 1'


def threshold_grid(
    stores: Stores,
    since: datetime | None = None,
    as_of: datetime | None = None,
    *,
    catalog: Catalog | None = None,
    history: timedelta | None = HISTORY,
    k: float = K,
    min_samples: int = MIN_SAMPLES,
    nodes: list[str] | None = None,
    warehouses: list[str] | None = None,
) -> tuple[Baselines, pl.DataFrame]:
    """The baselines learned for a stall search and their (node, warehouse, hour-of-week)
    threshold grid."""
    catalog = catalog or stores.catalog
    as_of = as_of or stores.series.data_clock() or datetime.now(UTC)
    if since is not None:
        end = since
        start = since - history if history is not None else None
    else:
        end, start = as_of, None
    # a visit that left exactly at as_of is history too: the window is half-open
    end = end + timedelta(microseconds=1) if since is None else end
    if warehouses is None:
        warehouses = stores.series.query(_WAREHOUSES_SQL)["wh"].to_list()
    base = learn_baselines(
        stores,
        start,
        end,
        catalog=catalog,
        nodes=nodes,
        warehouses=warehouses,
        k=k,
        min_samples=min_samples,
    )
    return base, base.grid(catalog, warehouses, nodes)


def find_stalls(
    stores: Stores,
    since: datetime | None = None,
    open_only: bool = False,
    as_of: datetime | None = None,
    *,
    catalog: Catalog | None = None,
    history: timedelta | None = HISTORY,
    k: float = K,
    min_samples: int = MIN_SAMPLES,
    order_ids: list[str] | None = None,
    nodes: list[str] | None = None,
    created_between: tuple[datetime, datetime] | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Stalled visits, largest excess first (columns STALL_SCHEMA).

    open_only keeps the visits still open at as_of; order_ids / nodes restrict the search (the
    baselines are then learned for those nodes and the orders' warehouses only);
    created_between [start, end) keeps the orders created then."""
    catalog = catalog or stores.catalog
    as_of = _utc(as_of or stores.series.data_clock())
    if as_of is None:  # empty store
        return pl.DataFrame(schema=STALL_SCHEMA)
    since = _utc(since)
    warehouses = None
    if order_ids is not None:
        if not order_ids:
            return pl.DataFrame(schema=STALL_SCHEMA)
        warehouses = stores.series.query(
            'SELECT DISTINCT "warehouse_id" AS wh FROM "orders" WHERE "order_id" = ANY($1)',
            [list(order_ids)],
        )["wh"].to_list()
    _, grid = threshold_grid(
        stores,
        since,
        as_of,
        catalog=catalog,
        history=history,
        k=k,
        min_samples=min_samples,
        nodes=nodes,
        warehouses=warehouses,
    )
    if grid.height == 0:
        return pl.DataFrame(schema=STALL_SCHEMA)
    params: list = [
        grid["node"].to_list(),
        grid["warehouse_id"].to_list(),
        grid["how"].to_list(),
        grid["threshold_ms"].to_list(),
        as_of,
        since or datetime(1970, 1, 1, tzinfo=UTC),
    ]
    filters = []
    if open_only:
        filters.append('AND (d."left_at" IS NULL OR d."left_at" > $5)')
    if order_ids is not None:
        params.append(list(order_ids))
        filters.append(f'AND d."order_id" = ANY(${len(params)})')
    if nodes is not None:
        params.append(list(nodes) or [""])
        filters.append(f'AND d."node" = ANY(${len(params)})')
    if created_between is not None:
        params.extend(_utc(t) for t in created_between)
        filters.append(f'AND o."created_at" >= ${len(params) - 1} AND o."created_at" < ${len(params)}')
    raw = stores.series.query(_STALLS_SQL.format(filters="\n      ".join(filters)), params)
    if raw.height == 0:
        return pl.DataFrame(schema=STALL_SCHEMA)
    raw = raw.with_columns(
        pl.col("how").cast(pl.Int64),
        pl.col("warehouse_id").cast(pl.String),
        pl.col("visit").cast(pl.Int64),
        pl.col("dwell_ms").cast(pl.Int64),
    )
    out = (
        raw.drop("threshold_ms")
        .join(
            grid,
            left_on=["node", "warehouse_id", "how"],
            right_on=["node", "warehouse_id", "how"],
            how="left",
        )
        .with_columns(
            (pl.col("dwell_ms") - pl.col("threshold_ms")).alias("excess_ms"),
            pl.col("left_at").is_null().alias("open"),
        )
        .sort(["excess_ms", "order_id", "node", "visit"], descending=[True, False, False, False])
    )
    if limit is not None:
        out = out.head(limit)
    return out.select(list(STALL_SCHEMA)).cast(STALL_SCHEMA)  # type: ignore[arg-type]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
