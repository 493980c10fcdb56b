"""The order snapshot: one order's whole digital archive, assembled from both stores.

Direct records come from the graph (Order -> record), indirect ones by following entities:
the calibrations of its QC equipment (graph), and from the series store the climate of the zones
it was worked in while it was there, its shipment's scans and carrier/hub load, and the sessions
of everyone who touched it around the time they did.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, overload

import polars as pl

from orderscope.domain.lifecycle import Catalog
from orderscope.domain.sources import BY_NAME, SOURCE_KINDS
from orderscope.ports import Stores

SESSION_MARGIN = timedelta(hours=2)  # "around" an actor's touch of the order


class UnknownOrder(LookupError):
    def __init__(self, order_id: str) -> None:
        super().__init__(
            f"order {order_id!r} is not in the store; check the ID (IDs are case-sensitive) "
            "or ingest the data that holds it"
        )
        self.order_id = order_id


@overload
def iso(value: datetime) -> str: ...
@overload
def iso(value: datetime | None) -> str | None: ...
def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds, the one time format of every output.
    A naive datetime is taken to be UTC already (that is how the stores keep time)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def jsonable(value: Any) -> Any:
    """Plain JSON values: datetimes as ISO strings, nested structures walked."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return frame.to_dicts()


def _parse_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def build_snapshot(stores: Stores, order_id: str, catalog: Catalog | None = None) -> dict[str, Any]:
    catalog = catalog or stores.catalog
    order = stores.graph.order(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    clock = stores.series.data_clock()
    records = stores.graph.order_records(order_id)
    events = _events(stores.series.events(order_id))
    dwell = _dwell(stores.series.dwell(order_id), catalog, clock)

    linked: dict[str, list[dict[str, Any]]] = {k.name: [] for k in SOURCE_KINDS}
    linked["orders"] = [order]
    linked["order_events"] = events
    for name, rows in records.items():
        linked[name] = rows
    linked["equipment_calibrations"] = stores.graph.calibrations_for_order(order_id)
    linked["climate_readings"] = _climate(stores, linked["warehouse_tasks"])
    linked["logistics_tracks"], linked["carrier_capacity"] = _transport(
        stores, linked["shipments"], events, clock
    )
    linked["operator_sessions"] = _sessions(stores, linked, events)
    return {
        "order_id": order_id,
        "order": order,
        "as_of": clock,
        "events": events,
        "dwell": dwell,
        "linked": linked,
        "stall": _stall(dwell, catalog),
    }


def _events(frame: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for row in _rows(frame):
        out.append(
            {
                "event_id": row["event_id"],
                "at": row["at"],
                "actor": {"id": row["actor_id"], "role": row["actor_role"]},
                "from_state": row["from_state"],
                "to_state": row["to_state"],
                "reason_code": row["reason_code"],
                "evidence": row["evidence"],
                "diff": _parse_json(row["diff"]) or {},
                "impact": _parse_json(row["impact"]) or [],
            }
        )
    return out


def _dwell(frame: pl.DataFrame, catalog: Catalog, clock: datetime | None) -> list[dict[str, Any]]:
    visits = []
    for row in _rows(frame):
        is_open = row["left_at"] is None and row["node"] not in catalog.resting
        dwell_ms = row["dwell_ms"]
        if is_open and clock is not None:
            dwell_ms = int((clock - row["entered_at"]).total_seconds() * 1000)
        visits.append(
            {
                "node": row["node"],
                "visit": row["visit"],
                "entered_at": row["entered_at"],
                "left_at": row["left_at"],
                "dwell_ms": dwell_ms,
                "open": is_open,
                "sla_ms": catalog.sla_ms(row["node"]),
            }
        )
    return visits


def _stall(dwell: list[dict[str, Any]], catalog: Catalog) -> dict[str, Any] | None:
    """The current stall: the open visit whose dwell is past its node's threshold."""
    current = next((v for v in reversed(dwell) if v["open"]), None)
    if current is None or current["sla_ms"] is None or current["dwell_ms"] is None:
        return None
    if current["dwell_ms"] <= current["sla_ms"]:
        return None
    return {
        "node": current["node"],
        "since": current["entered_at"],
        "dwell_ms": current["dwell_ms"],
        "threshold_ms": current["sla_ms"],
        "excess_ms": current["dwell_ms"] - current["sla_ms"],
        "threshold_basis": "catalog SLA",
    }


def _climate(stores: Stores, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Readings of each zone the order was worked in, during its time there."""
    windows: dict[str, tuple[datetime, datetime]] = {}
    for t in tasks:
        start, end = t["started_at"], t["ended_at"] or t["started_at"]
        lo, hi = windows.get(t["zone_id"], (start, end))
        windows[t["zone_id"]] = (min(lo, start), max(hi, end))
    if not windows:
        return []
    start = min(w[0] for w in windows.values())
    end = max(w[1] for w in windows.values())
    frame = stores.series.readings(BY_NAME["climate_readings"], {"zone_id": list(windows)}, start, end)
    return [r for r in _rows(frame) if windows[r["zone_id"]][0] <= r["at"] <= windows[r["zone_id"]][1]]


def _transport(
    stores: Stores,
    shipments: list[dict[str, Any]],
    events: list[dict[str, Any]],
    clock: datetime | None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if not shipments:
        return [], []
    waybills = [s["waybill"] for s in shipments]
    tracks = _rows(stores.series.readings(BY_NAME["logistics_tracks"], {"waybill": waybills}))
    start = min(s["created_at"] for s in shipments)
    delivered = [e["at"] for e in events if e["to_state"] == stores.catalog.roles.delivered]
    end = max(delivered) if delivered else (clock or start)
    capacity: list[dict[str, Any]] = []
    for s in shipments:
        hubs = [s["origin_hub"], s["dest_hub"]]
        frame = stores.series.readings(
            BY_NAME["carrier_capacity"],
            {"carrier_id": [s["carrier_id"]], "hub_id": hubs},
            start - timedelta(hours=1),
            end,
        )
        capacity.extend(_rows(frame))
    return tracks, capacity


def _sessions(
    stores: Stores, linked: dict[str, list[dict[str, Any]]], events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Sessions of the people who touched the order (event actors, task operators, QC
    inspectors, customs brokers, ticket agents, approvers) around the time they did."""
    touches: dict[str, list[datetime]] = {}

    def touch(actor: str | None, *times: datetime | None) -> None:
        if actor:
            touches.setdefault(actor, []).extend(t for t in times if t is not None)

    for e in events:
        if e["actor"]["role"] not in ("system", "user", "customer"):
            touch(e["actor"]["id"], e["at"])
    for t in linked["warehouse_tasks"]:
        touch(t["operator_id"], t["started_at"], t["ended_at"])
    for q in linked["qc_reports"]:
        touch(q["inspector_id"], q["inspected_at"])
    for d in linked["customs_declarations"]:
        touch(d["broker_id"], d["declared_at"], d["cleared_at"])
    for t in linked["service_tickets"]:
        touch(t["agent_id"], t["opened_at"], t["resolved_at"])
    for a in linked["approvals"]:
        touch(a["approver_id"], a["requested_at"], a["decided_at"])
    touches = {a: ts for a, ts in touches.items() if ts}
    if not touches:
        return []
    start = min(min(ts) for ts in touches.values()) - SESSION_MARGIN
    end = max(max(ts) for ts in touches.values()) + SESSION_MARGIN
    frame = stores.series.sessions_overlapping(sorted(touches), start, end)
    out = []
    for r in _rows(frame):
        lo = min(touches[r["actor_id"]]) - SESSION_MARGIN
        hi = max(touches[r["actor_id"]]) + SESSION_MARGIN
        if r["login_at"] <= hi and (r["logout_at"] or r["login_at"]) >= lo:
            out.append(r)
    return out
