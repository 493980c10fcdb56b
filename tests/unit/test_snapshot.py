"""The order snapshot (orderscope.views.snapshot) over in-memory fakes of both ports.

One order worked in two zones, inspected with calibrated equipment, shipped, touched by people
with sessions, and stalled in PICKING past its SLA; every indirect link is checked to take the
records of its entity and time window and nothing else.
"""

from __future__ import annotations

import json

import pytest

from orderscope.domain.sources import (
    CARRIER_CAPACITY,
    CLIMATE_READINGS,
    EQUIPMENT_CALIBRATIONS,
    LOGISTICS_TRACKS,
    OPERATOR_SESSIONS,
    PAYMENTS,
    QC_REPORTS,
    SHIPMENTS,
    SOURCE_KINDS,
    WAREHOUSE_TASKS,
)
from orderscope.ports import Stores
from orderscope.views.neighbourhood import order_graph
from orderscope.views.snapshot import UnknownOrder, build_snapshot, iso, jsonable
from tests.fakes import fake_stores
from tests.unit.builders import add_events, add_orders, at, event, frame, order

HOUR_MS = 3_600_000


@pytest.fixture(scope="module")
def stores() -> Stores:
    s = fake_stores()
    load_scenario(s)
    return s


def load_scenario(s: Stores) -> None:
    """The scenario, on any Stores pair (the fakes here; the same runs on real adapters)."""
    add_orders(s, order("O1"), order("O2", customer_id="C2"))
    add_events(
        s,
        event("e1", "O1", 0, None, "CREATED"),
        event("e2", "O1", 0.5, "CREATED", "PAID", actor_id="psp", actor_role="system"),
        event(
            "e3",
            "O1",
            0.75,
            "PAID",
            "PAID",
            reason_code="ADDRESS_CHANGED",
            actor_id="U1",
            actor_role="customer",
            diff={"address": ["Old St 1", "New St 2"]},
            impact=[{"kind": "notifications", "id": "N1"}],
        ),
        event("e4", "O1", 1, "PAID", "RISK_CHECKED"),
        event("e5", "O1", 2, "RISK_CHECKED", "ALLOCATED"),
        event("e6", "O1", 3, "ALLOCATED", "WAVE_RELEASED"),
        event("e7", "O1", 4, "WAVE_RELEASED", "PICKING", actor_id="OP1", actor_role="operator"),
        # another order's event moves the data clock to 14 h: O1 has been picking for 10 h
        event("f1", "O2", 14, None, "CREATED"),
    )
    s.graph.add_records(
        PAYMENTS,
        frame(
            PAYMENTS,
            [
                {
                    "payment_id": "P1",
                    "order_id": "O1",
                    "method": "card",
                    "amount": 9.5,
                    "currency": "EUR",
                    "status": "captured",
                    "authorized_at": at(0.5),
                }
            ],
        ),
    )
    task = {"order_id": "O1", "warehouse_id": "W1", "task_type": "pick"}
    s.graph.add_records(
        WAREHOUSE_TASKS,
        frame(
            WAREHOUSE_TASKS,
            [
                task
                | {
                    "task_id": "T1",
                    "zone_id": "Z1",
                    "operator_id": "OP1",
                    "started_at": at(4),
                    "ended_at": at(4.5),
                },
                task | {"task_id": "T2", "zone_id": "Z2", "operator_id": "OP2", "started_at": at(4.5)},
            ],
        ),
    )
    s.graph.add_records(
        QC_REPORTS,
        frame(
            QC_REPORTS,
            [
                {
                    "report_no": "QC1",
                    "order_id": "O1",
                    "warehouse_id": "W1",
                    "zone_id": "Z1",
                    "result": "fail",
                    "inspector_id": "INS1",
                    "equipment_id": "E1",
                    "inspected_at": at(4.2),
                }
            ],
        ),
    )
    cal = {"warehouse_id": "W1", "zone_id": "Z1", "result": "ok", "due_at": at(24 * 30)}
    s.graph.add_records(
        EQUIPMENT_CALIBRATIONS,
        frame(
            EQUIPMENT_CALIBRATIONS,
            [
                cal | {"calibration_id": "CAL1", "equipment_id": "E1", "calibrated_at": at(-24)},
                cal | {"calibration_id": "CAL9", "equipment_id": "E9", "calibrated_at": at(-24)},
            ],
        ),
    )
    s.graph.add_records(
        SHIPMENTS,
        frame(
            SHIPMENTS,
            [
                {
                    "waybill": "WB1",
                    "order_id": "O1",
                    "carrier_id": "CR1",
                    "origin_hub": "H1",
                    "dest_hub": "H2",
                    "service_level": "std",
                    "created_at": at(4.5),
                }
            ],
        ),
    )
    climate = {"warehouse_id": "W1", "humidity_pct": 40.0}
    s.series.append(
        CLIMATE_READINGS,
        frame(
            CLIMATE_READINGS,
            [
                climate | {"sensor_id": "S1", "zone_id": "Z1", "at": at(4.25), "temperature_c": 21.0},
                climate | {"sensor_id": "S1", "zone_id": "Z1", "at": at(3), "temperature_c": 20.0},
                climate | {"sensor_id": "S2", "zone_id": "Z2", "at": at(4.5), "temperature_c": 22.0},
                climate | {"sensor_id": "S3", "zone_id": "Z3", "at": at(4.25), "temperature_c": 30.0},
            ],
        ),
    )
    scan = {"location": "hub", "scan_type": "pickup", "hub_id": "H1"}
    s.series.append(
        LOGISTICS_TRACKS,
        frame(
            LOGISTICS_TRACKS,
            [
                scan | {"scan_id": "s1", "waybill": "WB1", "at": at(5)},
                scan | {"scan_id": "s2", "waybill": "WB2", "at": at(5)},
            ],
        ),
    )
    s.series.append(
        CARRIER_CAPACITY,
        frame(
            CARRIER_CAPACITY,
            [
                {"carrier_id": "CR1", "hub_id": "H1", "at": at(4), "load_pct": 80.0, "capacity_parcels": 100},
                {"carrier_id": "CR1", "hub_id": "H2", "at": at(9), "load_pct": 60.0, "capacity_parcels": 100},
                {"carrier_id": "CR1", "hub_id": "H1", "at": at(2), "load_pct": 10.0, "capacity_parcels": 100},
                {"carrier_id": "CR2", "hub_id": "H1", "at": at(4), "load_pct": 99.0, "capacity_parcels": 100},
            ],
        ),
    )
    session = {"role": "operator", "site": "W1"}
    s.series.append(
        OPERATOR_SESSIONS,
        frame(
            OPERATOR_SESSIONS,
            [
                session | {"session_id": "ss1", "actor_id": "OP1", "login_at": at(3), "logout_at": at(6)},
                session | {"session_id": "ss2", "actor_id": "OP1", "login_at": at(10), "logout_at": at(11)},
                session | {"session_id": "ss3", "actor_id": "INS1", "login_at": at(4)},
                session | {"session_id": "ss4", "actor_id": "NOBODY", "login_at": at(4)},
                session | {"session_id": "ss5", "actor_id": "U1", "login_at": at(0.5)},
            ],
        ),
    )


def test_the_order_its_events_and_the_data_clock(stores: Stores) -> None:
    snap = build_snapshot(stores, "O1")
    assert snap["order_id"] == "O1" and snap["order"]["customer_id"] == "C1"
    assert snap["as_of"] == at(14)
    assert [e["event_id"] for e in snap["events"]] == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    amend = snap["events"][2]
    assert amend["actor"] == {"id": "U1", "role": "customer"}
    assert (amend["from_state"], amend["to_state"], amend["reason_code"]) == (
        "PAID",
        "PAID",
        "ADDRESS_CHANGED",
    )
    assert amend["diff"] == {"address": ["Old St 1", "New St 2"]}
    assert amend["impact"] == [{"kind": "notifications", "id": "N1"}]
    assert snap["events"][0]["diff"] == {} and snap["events"][0]["impact"] == []


def test_dwell_per_node_with_the_open_visit_growing_to_the_clock(stores: Stores) -> None:
    dwell = build_snapshot(stores, "O1")["dwell"]
    # the amendment does not split the PAID visit
    assert [(v["node"], v["visit"], v["dwell_ms"], v["open"]) for v in dwell] == [
        ("CREATED", 1, HOUR_MS // 2, False),
        ("PAID", 1, HOUR_MS // 2, False),
        ("RISK_CHECKED", 1, HOUR_MS, False),
        ("ALLOCATED", 1, HOUR_MS, False),
        ("WAVE_RELEASED", 1, HOUR_MS, False),
        ("PICKING", 1, 10 * HOUR_MS, True),
    ]
    assert dwell[-1]["left_at"] is None and dwell[-1]["sla_ms"] == 4 * HOUR_MS


def test_the_stall_past_its_sla(stores: Stores) -> None:
    assert build_snapshot(stores, "O1")["stall"] == {
        "node": "PICKING",
        "since": at(4),
        "dwell_ms": 10 * HOUR_MS,
        "threshold_ms": 4 * HOUR_MS,
        "excess_ms": 6 * HOUR_MS,
        "threshold_basis": "catalog SLA",
    }
    # O2 is in CREATED since the clock itself: open, not stalled
    o2 = build_snapshot(stores, "O2")
    assert [(v["node"], v["dwell_ms"], v["open"]) for v in o2["dwell"]] == [("CREATED", 0, True)]
    assert o2["stall"] is None


def test_direct_records(stores: Stores) -> None:
    linked = build_snapshot(stores, "O1")["linked"]
    assert set(linked) == {k.name for k in SOURCE_KINDS}
    assert [o["order_id"] for o in linked["orders"]] == ["O1"]
    assert [e["event_id"] for e in linked["order_events"]] == ["e1", "e2", "e3", "e4", "e5", "e6", "e7"]
    assert [p["payment_id"] for p in linked["payments"]] == ["P1"]
    assert [t["task_id"] for t in linked["warehouse_tasks"]] == ["T1", "T2"]
    assert [q["report_no"] for q in linked["qc_reports"]] == ["QC1"]
    assert [s["waybill"] for s in linked["shipments"]] == ["WB1"]
    assert linked["approvals"] == [] and linked["returns"] == [] and linked["service_tickets"] == []


def test_records_linked_through_entities_and_time(stores: Stores) -> None:
    linked = build_snapshot(stores, "O1")["linked"]
    # the calibration of the QC equipment, not another machine's
    assert [c["calibration_id"] for c in linked["equipment_calibrations"]] == ["CAL1"]
    # the zones the order was worked in, while it was there (Z1 4.0-4.5 h, Z2 at 4.5 h)
    assert [(r["sensor_id"], r["at"]) for r in linked["climate_readings"]] == [
        ("S1", at(4.25)),
        ("S2", at(4.5)),
    ]
    # its waybill's scans; its carrier at its hubs from an hour before the shipment to the clock
    assert [r["scan_id"] for r in linked["logistics_tracks"]] == ["s1"]
    assert [(r["hub_id"], r["at"]) for r in linked["carrier_capacity"]] == [("H1", at(4)), ("H2", at(9))]
    # sessions of the people who touched it (operator, inspector; not the system or the
    # customer) around the time they did
    assert sorted(r["session_id"] for r in linked["operator_sessions"]) == ["ss1", "ss3"]


def test_an_order_with_no_records(stores: Stores) -> None:
    linked = build_snapshot(stores, "O2")["linked"]
    assert [o["order_id"] for o in linked["orders"]] == ["O2"]
    assert [e["event_id"] for e in linked["order_events"]] == ["f1"]
    assert all(rows == [] for name, rows in linked.items() if name not in ("orders", "order_events"))


def test_an_unknown_order_says_what_to_check(stores: Stores) -> None:
    with pytest.raises(UnknownOrder, match="IDs are case-sensitive") as raised:
        build_snapshot(stores, "o1")
    assert raised.value.order_id == "o1"


def test_one_json_form_with_times_in_utc_milliseconds(stores: Stores) -> None:
    snap = jsonable(build_snapshot(stores, "O1"))
    assert json.loads(json.dumps(snap)) == snap
    assert snap["as_of"] == "2024-03-01T22:00:00.000Z" == iso(at(14))
    assert snap["stall"]["since"] == "2024-03-01T12:00:00.000Z"


def test_the_neighbourhood_is_drawn_from_the_snapshot(stores: Stores) -> None:
    g = order_graph(stores, "O1")
    ids = {n["id"] for n in g["nodes"]}
    assert {"Order:O1", "Payment:P1", "QCReport:QC1", "Zone:Z1", "Equipment:E1", "Calibration:CAL1"} <= ids
    assert {"source": "Order:O1", "target": "Payment:P1", "type": "HAS_PAYMENT"} in g["edges"]
    assert {"source": "QCReport:QC1", "target": "Equipment:E1", "type": "USED_EQUIPMENT"} in g["edges"]
