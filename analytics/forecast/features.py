"""The examples the forecast learns from and the rows it predicts: features and labels.

Training examples replay history on a regular time grid: at every grid instant t (a multiple of
`step` since the epoch) each order that was open at t gives one example, with the features known
at t and the labels of what happened next (remaining time to its first delivery, and whether that
was after promised_at). Sampling on a time grid reproduces the situation a forecast is made in
(open orders caught mid-dwell, long dwells seen more often). The visits are read with one query
pushed down to the series store (every k-th order by creation time when the history is large,
so the frame stays bounded); the grid expansion and features run in polars.

The store reads are orderscope.views.history; `examples` and `open_rows` are pure functions of
the frames those reads return, so they can be checked on hand-made frames.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import numpy as np
import polars as pl

from orderscope.ports import Stores
from orderscope.views import history

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

CATEGORICAL = ("node", "region", "warehouse_id", "channel", "sku_category", "carrier_id", "service_level")
NUMERIC = (
    "visit",
    "step_no",
    "in_node_h",
    "elapsed_h",
    "to_promise_h",
    "promise_h",
    "hour_of_week",
    "cross_border",
    "load",
)
FEATURES = CATEGORICAL + NUMERIC
LABELS = ("promised_at", "delivered_at", "remaining_h", "breach")


@dataclass(frozen=True)
class FrameInfo:
    """How a training frame was made: its end moment, grid step, order sampling, the horizon H
    (99th percentile of creation-to-delivery time) and the first visit's entry (epoch ms)."""

    end: datetime
    step_ms: int
    every: int
    horizon_ms: int
    first_ms: int

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)


def ms(col: str) -> pl.Expr:
    """A datetime column as epoch milliseconds."""
    return pl.col(col).dt.epoch("ms")


def clock(stores: Stores, as_of: datetime | None) -> datetime:
    """The moment to train or forecast at: as_of (naive = UTC), or the store's data clock."""
    as_of = as_of or stores.series.data_clock()
    if as_of is None:
        raise ValueError("the series store holds no events: nothing to train on or forecast")
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return as_of.astimezone(UTC)


def shipments(stores: Stores) -> pl.DataFrame:
    """The orders' first shipments; none when the graph cannot say (the carrier is a
    nice-to-have feature: the forecast never fails for it)."""
    try:
        return history.first_shipments(stores)
    except Exception:
        return pl.DataFrame(schema=history.SHIPMENT_SCHEMA)


def training_frame(
    stores: Stores, as_of: datetime | None = None, max_rows: int = 120_000, max_orders: int = 60_000
) -> tuple[pl.DataFrame, FrameInfo]:
    """Examples (one per open order per grid instant up to as_of) with features and labels.

    Columns: order_id, t_ms, features (FEATURES), promised_at, delivered_at (null: not delivered
    by as_of), remaining_h, breach (null when not delivered by as_of). Sorted by t_ms, order_id.
    Deterministic for a given store content and as_of."""
    end = clock(stores, as_of)
    every = max(1, math.ceil(history.order_count(stores, end) / max_orders))
    visits = history.visits(stores, end, every, stores.catalog.roles.delivered)
    return examples(visits, shipments(stores), end, every, stores.catalog.resting, max_rows)


def examples(
    visits: pl.DataFrame,
    ships: pl.DataFrame,
    end: datetime,
    every: int,
    resting: Iterable[str],
    max_rows: int = 120_000,
) -> tuple[pl.DataFrame, FrameInfo]:
    """The training frame of `visits` (history.visits' columns) and `ships`
    (history.SHIPMENT_SCHEMA) up to `end`; `every`: the order sampling the visits were read
    with (the load feature is scaled by it); `resting`: the nodes where an order is not open.
    The grid step is chosen so the frame has about `max_rows` rows (at least 15 minutes)."""
    end_ms = int(end.timestamp() * 1000)
    # step number of each visit within its order (1 = the first visit)
    visits = visits.with_columns(
        step_no=pl.int_range(1, pl.len() + 1).over("order_id", order_by=["entered_at", "node", "visit"])
    )
    first_ms = int(cast(datetime, visits["entered_at"].min()).timestamp() * 1000) if visits.height else end_ms
    spans = open_spans(visits, end_ms, resting)
    open_ms = int((spans["stop_ms"] - spans["in_ms"]).sum() or 0)
    step_ms = max(15 * 60_000, math.ceil(open_ms / max(max_rows, 1) / 60_000) * 60_000)
    info = FrameInfo(end, step_ms, every, _horizon(visits), first_ms)

    grid = on_grid(spans, step_ms)
    # node x warehouse load at t: open visits of the sampled orders, scaled to all orders
    occupancy = visits.select("node", "warehouse_id", in_ms=ms("entered_at"), out_ms=ms("left_at"))
    load = load_counts(occupancy, grid.select("node", "warehouse_id", "t_ms"), end_ms) * every
    grid = grid.with_columns(load=pl.Series(load, dtype=pl.Float64))
    grid = attach_shipments(grid, ships, "t_ms")
    grid = derive(grid).with_columns(
        remaining_h=(ms("delivered_at") - pl.col("t_ms")) / HOUR_MS,
        breach=(pl.col("delivered_at") > pl.col("promised_at")).cast(pl.Int8),
    )
    cols = ["order_id", "t_ms", *FEATURES, *LABELS]
    return grid.select(cols).sort("t_ms", "order_id"), info


def _horizon(visits: pl.DataFrame) -> int:
    """H: the 99th percentile of creation-to-delivery time (5 days with fewer than 20 orders
    delivered)."""
    delivered = visits.filter(pl.col("delivered_at").is_not_null()).unique("order_id", maintain_order=True)
    lead = (delivered["delivered_at"] - delivered["created_at"]).dt.total_milliseconds()
    return int(lead.quantile(0.99) or 5 * DAY_MS) if lead.len() >= 20 else 5 * DAY_MS


def open_spans(visits: pl.DataFrame, end_ms: int, resting: Iterable[str]) -> pl.DataFrame:
    """The visits in non-resting nodes with the time the order spent open in them: in_ms to
    stop_ms, the first of leaving, delivery and the end (empty spans dropped)."""
    return (
        visits.filter(~pl.col("node").is_in(list(resting)))
        .with_columns(
            in_ms=ms("entered_at"),
            stop_ms=pl.min_horizontal(
                pl.col("left_at").dt.epoch("ms").fill_null(end_ms),
                pl.col("delivered_at").dt.epoch("ms").fill_null(end_ms),
                pl.lit(end_ms),
            ),
        )
        .filter(pl.col("stop_ms") > pl.col("in_ms"))
    )


def on_grid(spans: pl.DataFrame, step_ms: int) -> pl.DataFrame:
    """One row per span and grid instant t_ms (a multiple of step_ms) in [in_ms, stop_ms)."""
    first = (pl.col("in_ms") + step_ms - 1) // step_ms
    stop = (pl.col("stop_ms") + step_ms - 1) // step_ms
    return (
        spans.with_columns(k=pl.int_ranges(first, stop))
        .explode("k")
        .drop_nulls("k")
        .with_columns(t_ms=pl.col("k") * step_ms)
        .drop("k", "in_ms", "stop_ms")
    )


def open_orders(stores: Stores, as_of: datetime | None = None) -> pl.DataFrame:
    """Every open order at as_of with its features (order_id, entered_at, promised_at, t_ms,
    FEATURES).

    Open order (as of a moment T): its visit that covers T is in a non-resting node and it has
    not been delivered by T (an order in the return flow after delivery is not projected)."""
    end = clock(stores, as_of)
    frame = history.open_visits(stores, end, stores.catalog.roles.delivered)
    return open_rows(frame, shipments(stores), end, stores.catalog.resting)


def open_rows(
    frame: pl.DataFrame, ships: pl.DataFrame, end: datetime, resting: Iterable[str]
) -> pl.DataFrame:
    """The prediction rows of `frame` (history.open_visits' columns) at `end`; the load of a
    node x warehouse is the number of open orders there."""
    frame = frame.filter(~pl.col("node").is_in(list(resting)))
    frame = frame.with_columns(t_ms=pl.lit(int(end.timestamp() * 1000), dtype=pl.Int64))
    frame = frame.with_columns(load=pl.len().over("node", "warehouse_id").cast(pl.Float64))
    frame = derive(attach_shipments(frame, ships, "t_ms"))
    return frame.select("order_id", "entered_at", "promised_at", "t_ms", *FEATURES)


def attach_shipments(frame: pl.DataFrame, ships: pl.DataFrame, t: str) -> pl.DataFrame:
    """carrier_id / service_level of the order's shipment, when it existed at time `t`."""
    frame = frame.join(ships, on="order_id", how="left")
    known = pl.col("shipped_at").is_not_null() & (ms("shipped_at") <= pl.col(t))
    return frame.with_columns(
        pl.when(known).then(pl.col("carrier_id")).alias("carrier_id"),
        pl.when(known).then(pl.col("service_level")).alias("service_level"),
    ).drop("shipped_at")


def load_counts(visits: pl.DataFrame, queries: pl.DataFrame, end_ms: int) -> np.ndarray:
    """For each query row (node, warehouse_id, t_ms): how many visits of `visits` (node,
    warehouse_id, in_ms, out_ms with null = still open) are open at t_ms (entered at or
    before t_ms, not yet left): two sorted searches per group, no per-row Python."""
    if queries.height == 0:
        return np.zeros(0, dtype=np.int64)
    keys = (
        pl.concat([visits.select("node", "warehouse_id"), queries.select("node", "warehouse_id")])
        .unique()
        .sort("node", "warehouse_id")
        .with_row_index("g")
    )
    v = visits.join(keys, on=["node", "warehouse_id"], how="left")
    q = queries.join(keys, on=["node", "warehouse_id"], how="left", maintain_order="left")
    base = int(min(cast("int | None", v["in_ms"].min()) or end_ms, cast(int, q["t_ms"].min())))
    span = end_ms - base + 2
    g_v = v["g"].to_numpy().astype(np.int64) * span
    ins = np.sort(g_v + (v["in_ms"].to_numpy() - base))
    outs = np.sort(g_v + (v["out_ms"].fill_null(end_ms + 1).to_numpy() - base))
    g_q = q["g"].to_numpy().astype(np.int64) * span
    key = g_q + (q["t_ms"].to_numpy() - base)
    entered = np.searchsorted(ins, key, "right") - np.searchsorted(ins, g_q, "left")
    left = np.searchsorted(outs, key, "right") - np.searchsorted(outs, g_q, "left")
    counts: np.ndarray = (entered - left).astype(np.int64)
    return counts


def derive(frame: pl.DataFrame) -> pl.DataFrame:
    """Derived numeric features from t_ms, entered_at, created_at, promised_at: hours in the
    node, since creation, to and of the promise, the hour of the week at t (Monday 00 = 0)."""
    t = pl.from_epoch(pl.col("t_ms"), "ms").dt.replace_time_zone("UTC")
    return frame.with_columns(
        in_node_h=(pl.col("t_ms") - ms("entered_at")) / HOUR_MS,
        elapsed_h=(pl.col("t_ms") - ms("created_at")) / HOUR_MS,
        to_promise_h=(ms("promised_at") - pl.col("t_ms")) / HOUR_MS,
        promise_h=(ms("promised_at") - ms("created_at")) / HOUR_MS,
        hour_of_week=((t.dt.weekday().cast(pl.Int32) - 1) * 24 + t.dt.hour().cast(pl.Int32)).cast(
            pl.Float64
        ),  # Int8 parts would overflow
        cross_border=pl.col("cross_border").cast(pl.Float64),
        visit=pl.col("visit").cast(pl.Float64),
        step_no=pl.col("step_no").cast(pl.Float64),
    )


def labelled(
    frame: pl.DataFrame, t_max_ms: int, known_by: datetime, t_min_ms: int | None = None
) -> pl.DataFrame:
    """The examples with t in [t_min_ms, t_max_ms) whose delivery is known by `known_by`.

    Censoring: an order not delivered by a cut-off has an unknown outcome, and the examples just
    before a cut-off only see the orders delivered quickly; so an example is used against
    cut-off C only when t < C - H (nearly every such outcome is known at C), and only with its
    outcome known by C. Orders never delivered (cancelled) give no label."""
    cond = (
        (pl.col("t_ms") < t_max_ms)
        & pl.col("delivered_at").is_not_null()
        & (pl.col("delivered_at") <= known_by)
    )
    if t_min_ms is not None:
        cond = cond & (pl.col("t_ms") >= t_min_ms)
    return frame.filter(cond)
