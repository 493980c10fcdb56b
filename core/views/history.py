"""The order history the forecast learns from and projects: node visits with each order's first
delivery, the visits open at a moment, the order count, the orders' first shipments.

Each read returns a polars frame with the port's types settled (timestamps as UTC datetimes,
flags as booleans), so both backends give the forecast the same frame. Values travel as `$n`
parameters; the delivered node comes from the caller (the catalog's role), never from the text.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from orderscope.ports import Stores

UTC_US = pl.Datetime("us", "UTC")

# Visits of every `every`-th order by (created_at, order_id), created up to the end moment, with
# the order's dimensions and its first delivery (when it happened by the end).
# $1 end moment, $2 every, $3 delivered node.
_VISITS_SQL = """
WITH o AS (
    SELECT "order_id", "created_at", "promised_at", "region", "warehouse_id", "channel",
           "sku_category", "cross_border",
           ROW_NUMBER() OVER (ORDER BY "created_at", "order_id") AS rn
    FROM "orders"
    WHERE "created_at" <= $1
), s AS (
    SELECT * FROM o WHERE MOD(rn, $2) = 0
), dl AS (
    SELECT d."order_id", MIN(d."entered_at") AS delivered_at
    FROM "stage_dwell" d JOIN s ON s."order_id" = d."order_id"
    WHERE d."node" = $3 AND d."entered_at" <= $1
    GROUP BY d."order_id"
)
SELECT d."order_id", d."node", d."visit", d."entered_at",
       CASE WHEN d."left_at" <= $1 THEN d."left_at" END AS left_at,
       s."created_at", s."promised_at", s."region", s."warehouse_id", s."channel",
       s."sku_category", s."cross_border", dl.delivered_at
FROM "stage_dwell" d
JOIN s ON s."order_id" = d."order_id"
LEFT JOIN dl ON dl."order_id" = d."order_id"
WHERE d."entered_at" <= $1
ORDER BY d."order_id", d."entered_at", d."node", d."visit"
"""

_ORDER_COUNT_SQL = 'SELECT COUNT(*) AS n FROM "orders" WHERE "created_at" <= $1'

# Every order's visit that covers the moment, unless it was delivered by then; step_no is the
# visit's number within its order (1 = the first). $1 the moment, $2 delivered node.
_OPEN_SQL = """
SELECT d."order_id", d."node", d."visit", d."entered_at",
       o."created_at", o."promised_at", o."region", o."warehouse_id", o."channel",
       o."sku_category", o."cross_border",
       (SELECT COUNT(*) FROM "stage_dwell" p
        WHERE p."order_id" = d."order_id" AND p."entered_at" <= d."entered_at") AS step_no
FROM "stage_dwell" d
JOIN "orders" o ON o."order_id" = d."order_id"
WHERE d."entered_at" <= $1 AND (d."left_at" IS NULL OR d."left_at" > $1)
  AND NOT EXISTS (SELECT 1 FROM "stage_dwell" x
                  WHERE x."order_id" = d."order_id" AND x."node" = $2 AND x."entered_at" <= $1)
ORDER BY d."order_id"
"""

_SHIPMENTS_CYPHER = (
    "MATCH (s:`Shipment`) RETURN s.order_id AS order_id, s.carrier_id AS carrier_id, "
    "s.service_level AS service_level, s.created_at AS shipped_at"
)

SHIPMENT_SCHEMA: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "carrier_id": pl.String(),
    "service_level": pl.String(),
    "shipped_at": UTC_US,
}


def order_count(stores: Stores, end: datetime) -> int:
    """How many orders were created up to `end`."""
    return int(stores.series.query(_ORDER_COUNT_SQL, [end])["n"][0])


def visits(stores: Stores, end: datetime, every: int, delivered: str) -> pl.DataFrame:
    """Node visits up to `end` of every `every`-th order (by creation), each with its order's
    dimensions and first entry into `delivered` by `end` (null: not delivered by then).

    Columns: order_id, node, visit, entered_at, left_at (null: still open at `end`), created_at,
    promised_at, region, warehouse_id, channel, sku_category, cross_border, delivered_at;
    ordered by order_id, entered_at, node, visit."""
    frame = stores.series.query(_VISITS_SQL, [end, every, delivered])
    return frame.with_columns(
        pl.col("visit").cast(pl.Int64),
        pl.col("cross_border").cast(pl.Boolean),
        *(
            pl.col(c).cast(UTC_US)
            for c in ("entered_at", "left_at", "created_at", "promised_at", "delivered_at")
        ),
    )


def open_visits(stores: Stores, at: datetime, delivered: str) -> pl.DataFrame:
    """Every order's visit that covers the moment `at`, unless the order entered `delivered`
    by then; with the order's dimensions and the visit's step number within its order.

    Columns: order_id, node, visit, entered_at, created_at, promised_at, region, warehouse_id,
    channel, sku_category, cross_border, step_no; ordered by order_id."""
    frame = stores.series.query(_OPEN_SQL, [at, delivered])
    return frame.with_columns(
        pl.col("visit").cast(pl.Int64),
        pl.col("step_no").cast(pl.Int64),
        pl.col("cross_border").cast(pl.Boolean),
        *(pl.col(c).cast(UTC_US) for c in ("entered_at", "created_at", "promised_at")),
    )


def first_shipments(stores: Stores) -> pl.DataFrame:
    """Each order's first shipment (by creation time, then carrier) from the service graph:
    order_id, carrier_id, service_level, shipped_at (SHIPMENT_SCHEMA). Store errors propagate."""
    frame = stores.graph.query(_SHIPMENTS_CYPHER)
    if frame.height == 0:
        return pl.DataFrame(schema=SHIPMENT_SCHEMA)
    frame = frame.with_columns(
        pl.col("shipped_at").cast(UTC_US),
        pl.col("order_id").cast(pl.String),
        pl.col("carrier_id").cast(pl.String),
        pl.col("service_level").cast(pl.String),
    )
    return (
        frame.sort("shipped_at", "carrier_id")
        .unique("order_id", keep="first", maintain_order=True)
        .select(list(SHIPMENT_SCHEMA))
    )


__all__ = ["SHIPMENT_SCHEMA", "first_shipments", "open_visits", "order_count", "visits"]
