"""Hand-made rows for the use-case tests: frames typed as the ports take them, times in hours."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from orderscope.domain.sources import FRAME_TYPES, ORDER_EVENTS, ORDERS, SourceKind
from orderscope.ports import Stores

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def frame(kind: SourceKind, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Exactly kind.columns with the port's frame types; a column a row leaves out is null."""
    return pl.DataFrame(
        {c.name: [r.get(c.name) for r in rows] for c in kind.columns},
        schema={c.name: FRAME_TYPES[c.type] for c in kind.columns},
    )


def order(order_id: str, **over: Any) -> dict[str, Any]:
    row = {
        "order_id": order_id,
        "customer_id": "C1",
        "channel": "web",
        "region": "EU",
        "warehouse_id": "W1",
        "sku": "SKU1",
        "sku_category": "toys",
        "quantity": 1,
        "amount": 9.5,
        "currency": "EUR",
        "destination_country": "DE",
        "cross_border": False,
        "created_at": T0,
        "promised_at": at(48),
    }
    return row | over


def event(
    event_id: str,
    order_id: str,
    hours: float,
    from_state: str | None,
    to_state: str,
    **over: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_id,
        "order_id": order_id,
        "at": at(hours),
        "actor_id": "oms",
        "actor_role": "system",
        "from_state": from_state,
        "to_state": to_state,
    }
    for name in ("diff", "impact"):
        if name in over and not isinstance(over[name], str):
            over[name] = json.dumps(over[name])
    return row | over


def add_orders(stores: Stores, *rows: dict[str, Any]) -> None:
    """The order master lives in both stores (graph node, series dimension)."""
    stores.graph.add_records(ORDERS, frame(ORDERS, list(rows)))
    stores.series.append(ORDERS, frame(ORDERS, list(rows)))


def add_events(stores: Stores, *rows: dict[str, Any]) -> None:
    stores.series.append(ORDER_EVENTS, frame(ORDER_EVENTS, list(rows)))
    stores.series.rebuild_pending_dwell()
