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
array parameters and unnested) to stage_dwell so only stalled visits leave the store (both
queries: orderscope.views.visits).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from orderscope.analytics.baselines import EPOCH, MIN_SAMPLES, Baselines, K, learn_baselines
from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores
from orderscope.views.visits import order_warehouses, stalled_visits

HISTORY = timedelta(days=28)

STALL_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "node": pl.String(),
    "visit": pl.Int64(),
    "warehouse_id": pl.String(),
    "entered_at": pl.Datetime("us", "UTC"),
    "left_at": pl.Datetime("us", "UTC"),
    "dwell_ms": pl.Int64(),
    "threshold_ms": pl.Int64(),
    "excess_ms": pl.Int64(),
    "sla_ms": pl.Int64(),
    "baseline_median_ms": pl.Float64(),
    "baseline_mad_ms": pl.Float64(),
    "baseline_n": pl.Int64(),
    "baseline_level": pl.String(),
    "open": pl.Boolean(),
}


def history_window(
    since: datetime | None, as_of: datetime, history: timedelta | None = HISTORY
) -> tuple[datetime | None, datetime]:
    """[start, end) of the closed visits the baselines learn from: the `history` before
    `since` (None: unbounded), or, without `since`, every visit closed by as_of (a visit that
    left exactly at as_of is history too: the window is half-open)."""
    if since is not None:
        return (since - history if history is not None else None), since
    return None, as_of + timedelta(microseconds=1)


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
    start, end = history_window(since, as_of, history)
    if warehouses is None:
        warehouses = order_warehouses(stores)
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
    if as_of is None or (order_ids is not None and not order_ids):  # an empty store or no order
        return pl.DataFrame(schema=STALL_SCHEMA)
    since = _utc(since)
    warehouses = None if order_ids is None else order_warehouses(stores, order_ids)
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
    created = None if created_between is None else (_as_utc(created_between[0]), _as_utc(created_between[1]))
    raw = stalled_visits(
        stores,
        grid,
        as_of,
        since or EPOCH,
        open_only=open_only,
        order_ids=order_ids,
        nodes=nodes,
        created_between=created,
    )
    if raw.height == 0:
        return pl.DataFrame(schema=STALL_SCHEMA)
    return judged(raw, grid, limit)


def judged(raw: pl.DataFrame, grid: pl.DataFrame, limit: int | None = None) -> pl.DataFrame:
    """Stalled visits (views.visits.stalled_visits) with their threshold's basis from the grid
    and their excess, largest excess first (columns STALL_SCHEMA)."""
    out = (
        raw.drop("threshold_ms")
        .join(grid, on=["node", "warehouse_id", "how"], how="left")
        .with_columns(
            (pl.col("dwell_ms") - pl.col("threshold_ms")).alias("excess_ms"),
            pl.col("left_at").is_null().alias("open"),
        )
        .sort(["excess_ms", "order_id", "node", "visit"], descending=[True, False, False, False])
    )
    if limit is not None:
        out = out.head(limit)
    return out.select(list(STALL_SCHEMA)).cast(STALL_SCHEMA)  # type: ignore[arg-type]


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else _as_utc(value)


__all__ = ["HISTORY", "STALL_SCHEMA", "find_stalls", "history_window", "judged", "threshold_grid"]
