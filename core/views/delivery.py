"""Delivery metrics, defined once: what delivered, on time, due, late and cancelled mean for an
order as of a moment, and the reads of what the customer heard (proactive notifications) and
asked (service tickets). The order health score and the reports use these definitions.

As of a moment `as_of`, for an order with promised_at:

  delivered_at  its first entry into `roles.delivered` by as_of (None: not delivered yet);
  cancelled     it sits in `roles.cancelled` at as_of (entered by then, not left by then);
  on time       delivered, by promised_at;
  due           delivered, or not cancelled and promised_at has passed;
  late          delivered after promised_at, or undelivered, not cancelled and past promised_at.

The SQL builds these per order in the store (node names travel as parameters, bound from the
catalog's roles); `order_delivery` and `delivery_status` state the same for one order's visits.
Every SQL text is accepted by DuckDB and PostgreSQL+TimescaleDB, every Cypher text by LadybugDB
and Neo4j 5.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from orderscope.domain.lifecycle import Roles
from orderscope.graph.port import q
from orderscope.ports import Stores
from orderscope.series.port import ident
from orderscope.views.metrics import Params

__all__ = [
    "delivery_by_slice",
    "delivery_status",
    "late_orders",
    "order_delivery",
    "period_tickets",
    "proactive_notifications",
]

UTC_US = pl.Datetime("us", "UTC")


# --- per order, in the store --------------------------------------------------------------------


def _order_state(
    p: Params, roles: Roles, start: datetime, end: datetime, at: str, dims: Sequence[str]
) -> str:
    """One row per order created in [start, end): order_id, promised_at, the `dims`,
    delivered_at and cancelled as of the moment bound to placeholder `at`."""
    cols = "".join(f", o.{ident(d)} AS {ident(d)}" for d in dims)
    return f"""
    SELECT o."order_id" AS order_id, o."promised_at" AS promised_at{cols},
           (SELECT min(d."entered_at") FROM "stage_dwell" d
             WHERE d."order_id" = o."order_id" AND d."node" = {p(roles.delivered)}
               AND d."entered_at" <= {at}) AS delivered_at,
           EXISTS (SELECT 1 FROM "stage_dwell" c
                    WHERE c."order_id" = o."order_id" AND c."node" = {p(roles.cancelled)}
                      AND c."entered_at" <= {at} AND (c."left_at" IS NULL OR c."left_at" > {at}))
               AS cancelled
    FROM "orders" o
    WHERE o."created_at" >= {p(start)} AND o."created_at" < {p(end)}
    """


def _due(at: str) -> str:
    return f"delivered_at IS NOT NULL OR (NOT cancelled AND promised_at <= {at})"


_ON_TIME = "delivered_at IS NOT NULL AND delivered_at <= promised_at"


def _late(at: str) -> str:
    return (
        "(delivered_at IS NOT NULL AND delivered_at > promised_at)"
        f" OR (delivered_at IS NULL AND NOT cancelled AND promised_at <= {at})"
    )


def delivery_by_slice(
    stores: Stores, roles: Roles, start: datetime, end: datetime, as_of: datetime, by: Sequence[str]
) -> pl.DataFrame:
    """Per slice (the `by` order columns; one row without them) of the orders created in
    [start, end): orders, due and on_time as of as_of (Int64 counts)."""
    p = Params()
    at = p(as_of)
    state = _order_state(p, roles, start, end, at, by)
    keys = "".join(f"{ident(d)}, " for d in by)
    group = f"GROUP BY {', '.join(ident(d) for d in by)}" if by else ""
    sql = f"""
    WITH s AS ({state})
    SELECT {keys}count(*) AS orders,
           count(*) FILTER (WHERE {_due(at)}) AS due,
           count(*) FILTER (WHERE {_ON_TIME}) AS on_time
    FROM s {group}
    """
    f = stores.series.query(sql, p.values)
    return f.with_columns(pl.col(c).cast(pl.Int64) for c in ("orders", "due", "on_time"))


def late_orders(
    stores: Stores, roles: Roles, start: datetime, end: datetime, as_of: datetime
) -> pl.DataFrame:
    """The orders created in [start, end) that were late as of as_of: order_id, promised_at,
    delivered_at (null while undelivered)."""
    p = Params()
    at = p(as_of)
    sql = f"""
    WITH s AS ({_order_state(p, roles, start, end, at, ())})
    SELECT order_id, promised_at, delivered_at FROM s WHERE {_late(at)}
    """
    return stores.series.query(sql, p.values)


# --- one order, from its visits -----------------------------------------------------------------


def order_delivery(visits: pl.DataFrame, roles: Roles) -> tuple[Any, bool]:
    """(delivered_at, cancelled) of one order from its visits entered by the moment asked
    (columns node, entered_at): its first entry into roles.delivered, and whether its last
    visit is roles.cancelled without a delivery."""
    delivered = visits.filter(pl.col("node") == roles.delivered)["entered_at"].min()
    last = visits.sort("entered_at").tail(1)
    cancelled = bool(last.height and last["node"][0] == roles.cancelled and delivered is None)
    return delivered, cancelled


def delivery_status(
    promised: datetime | None, delivered: datetime | None, cancelled: bool, as_of: datetime
) -> str:
    """on_time | late (delivered, by / after the promise; no promise counts as on time),
    cancelled, overdue (undelivered past the promise) or not_due."""
    if delivered is not None:
        return "on_time" if promised is None or delivered <= promised else "late"
    if cancelled:
        return "cancelled"
    if promised is not None and promised <= as_of:
        return "overdue"
    return "not_due"


# --- what the customer heard and asked (graph) --------------------------------------------------

# UNWIND + a key match uses the primary-key index in both engines.
_PROACTIVE = (
    f"UNWIND $ids AS id MATCH (o:{q('Order')} {{{q('order_id')}: id}})-[:{q('NOTIFIED_BY')}]->"
    f"(n:{q('Notification')}) "
    f"WHERE n.{q('proactive')} = true AND n.{q('sent_at')} <= $as_of "
    f"RETURN id AS order_id, n.{q('sent_at')} AS sent_at"
)
_TICKETS = (
    f"MATCH (o:{q('Order')})-[:{q('HAS_TICKET')}]->(t:{q('ServiceTicket')}) "
    f"WHERE o.{q('created_at')} >= $since AND o.{q('created_at')} < $until AND t.{q('opened_at')} <= $as_of "
    f"RETURN o.{q('order_id')} AS order_id, t.{q('ticket_id')} AS ticket_id, t.{q('opened_at')} AS opened_at, "
    f"t.{q('first_response_at')} AS first_response_at, t.{q('resolved_at')} AS resolved_at"
)


def proactive_notifications(stores: Stores, order_ids: Sequence[str], as_of: datetime) -> pl.DataFrame:
    """The proactive notifications sent to these orders' customers by as_of: order_id,
    sent_at."""
    f = stores.graph.query(_PROACTIVE, {"ids": list(order_ids), "as_of": as_of})
    if f.height == 0:
        return pl.DataFrame(schema={"order_id": pl.String(), "sent_at": UTC_US})
    return f.with_columns(pl.col("sent_at").cast(UTC_US))


def period_tickets(stores: Stores, start: datetime, end: datetime, as_of: datetime) -> pl.DataFrame:
    """The service tickets opened by as_of of the orders created in [start, end): order_id,
    ticket_id, opened_at, first_response_at, resolved_at (as recorded; a later answer is the
    caller's to ignore)."""
    schema = pl.Schema(
        {
            "order_id": pl.String(),
            "ticket_id": pl.String(),
            "opened_at": UTC_US,
            "first_response_at": UTC_US,
            "resolved_at": UTC_US,
        }
    )
    f = stores.graph.query(_TICKETS, {"since": start, "until": end, "as_of": as_of})
    if f.height == 0:
        return pl.DataFrame(schema=schema)
    return f.select(pl.col(c).cast(t) for c, t in schema.items())
