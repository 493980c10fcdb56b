"""Port-level integration tests for GraphStore, run against every graph adapter.

Adding an adapter is one entry in FACTORIES (server adapters also go in SERVER_ADAPTERS so that
they carry the `server` mark and are deselected with `-m "not server"`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from orderscope.domain.sources import (
    APPROVALS,
    ENTITY_LABELS,
    EQUIPMENT_CALIBRATIONS,
    FRAME_TYPES,
    ORDERS,
    PAYMENTS,
    QC_REPORTS,
    SHIPMENTS,
    SOURCE_KINDS,
    WAREHOUSE_TASKS,
    SourceKind,
)
from orderscope.graph.port import GraphStore

UTC = dt.UTC


def _open_ladybug(tmp_path: Path) -> GraphStore:
    from orderscope.graph.ladybug import LadybugGraph

    return LadybugGraph(tmp_path / "graph.lbug")


def _open_neo4j(tmp_path: Path) -> GraphStore:
    from orderscope.config import load_settings
    from orderscope.graph.neo4j import Neo4jGraph

    s = load_settings(backend="server")
    return Neo4jGraph(s.neo4j_uri, s.neo4j_user, s.neo4j_password.get_secret_value(), s.neo4j_database)


FACTORIES: dict[str, Callable[[Path], GraphStore]] = {
    "ladybug": _open_ladybug,
    "neo4j": _open_neo4j,  # shared server: the fixture resets it before each test
}
SERVER_ADAPTERS = {"neo4j"}


@pytest.fixture(
    params=[
        pytest.param(name, marks=pytest.mark.server) if name in SERVER_ADAPTERS else name
        for name in FACTORIES
    ]
)
def graph_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    store = FACTORIES[request.param](tmp_path)
    try:
        store.ensure_schema()
        if any(store.counts().values()):
            store.reset()
        yield store
    finally:
        store.close()


# --- hand-built frames -------------------------------------------------------------------------

_DTYPES = FRAME_TYPES


def _base(name: str) -> str:
    return name.rstrip("?")


def frame(kind: SourceKind, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """A frame typed as ingest hands it over: exactly kind.columns; absent values are null.

    Rows are keyed by the plain column name (a trailing '?' in the contract is ignored here).
    """
    data = {c.name: [r.get(_base(c.name)) for r in rows] for c in kind.columns}
    schema = {c.name: _DTYPES[c.type] for c in kind.columns}
    return pl.DataFrame(data, schema=schema)


def named(kind: SourceKind, row: dict[str, Any]) -> dict[str, Any]:
    """A row as the store returns it: every column of the kind, by its contract name."""
    return {c.name: row.get(_base(c.name)) for c in kind.columns}


def col(kind: SourceKind, base: str) -> str:
    return next(c.name for c in kind.columns if _base(c.name) == base)


def ts(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(2024, 3, day, hour, minute, tzinfo=UTC)


def order_row(order_id: str, **over: Any) -> dict[str, Any]:
    row = {
        "order_id": order_id,
        "customer_id": "C1",
        "channel": "web",
        "region": "EU",
        "warehouse_id": "W1",
        "sku": "S1",
        "sku_category": "toys",
        "quantity": 2,
        "amount": 19.5,
        "currency": "EUR",
        "destination_country": "DE",
        "cross_border": False,
        "created_at": ts(1, 9),
        "promised_at": ts(4, 18),
    }
    row.update(over)
    return row


def qc_row(report_no: str, order_id: str, at: dt.datetime, equipment: str, **over: Any) -> dict:
    row = {
        "report_no": report_no,
        "order_id": order_id,
        "warehouse_id": "W1",
        "zone_id": "Z1",
        "result": "pass",
        "defect_code": None,
        "inspector_id": "OP1",
        "equipment_id": equipment,
        "inspected_at": at,
    }
    row.update(over)
    return row


def cal_row(cal_id: str, equipment: str, at: dt.datetime, **over: Any) -> dict:
    row = {
        "calibration_id": cal_id,
        "equipment_id": equipment,
        "warehouse_id": "W1",
        "zone_id": "Z1",
        "calibrated_at": at,
        "due_at": at + dt.timedelta(days=30),
        "result": "ok",
        "technician": "T-9",
    }
    row.update(over)
    return row


def load_basic(store: GraphStore) -> None:
    """Three orders (two customers), payments, QC reports, calibrations, tasks, a shipment."""
    store.add_records(
        ORDERS,
        frame(
            ORDERS,
            [
                order_row("O1"),
                order_row("O2", customer_id="C2", quantity=1, amount=5.0, cross_border=True),
                order_row("O3", warehouse_id="W2", region="US"),
            ],
        ),
    )
    store.add_records(
        PAYMENTS,
        frame(
            PAYMENTS,
            [
                {
                    "payment_id": "P2",
                    "order_id": "O1",
                    "method": "card",
                    "amount": 10.0,
                    "currency": "EUR",
                    "status": "captured",
                    "authorized_at": ts(1, 10),
                    "captured_at": ts(1, 11),
                },
                {
                    "payment_id": "P1",
                    "order_id": "O1",
                    "method": "card",
                    "amount": 9.5,
                    "currency": "EUR",
                    "status": "authorized",
                    "authorized_at": ts(1, 10),
                },
                {
                    "payment_id": "P0",
                    "order_id": "O1",
                    "method": "voucher",
                    "amount": 0.0,
                    "currency": "EUR",
                    "status": "captured",
                    "authorized_at": ts(1, 12),
                },
                {
                    "payment_id": "P9",
                    "order_id": "O2",
                    "method": "card",
                    "amount": 5.0,
                    "currency": "EUR",
                    "status": "captured",
                    "authorized_at": ts(1, 8),
                },
            ],
        ),
    )
    store.add_records(
        QC_REPORTS,
        frame(
            QC_REPORTS,
            [
                qc_row("QC2", "O1", ts(2, 9), "E1"),
                qc_row("QC1", "O1", ts(2, 9), "E1", result="fail", defect_code="D7"),
                qc_row("QC3", "O1", ts(2, 8), "E2", zone_id="Z2"),
                qc_row("QC4", "O2", ts(2, 9), "E3"),
            ],
        ),
    )
    store.add_records(
        EQUIPMENT_CALIBRATIONS,
        frame(
            EQUIPMENT_CALIBRATIONS,
            [
                cal_row("CAL-b", "E1", ts(1, 6)),
                cal_row("CAL-a", "E1", ts(1, 6)),
                cal_row("CAL-c", "E2", ts(1, 5), zone_id="Z2", technician=None),
                cal_row("CAL-d", "E3", ts(1, 4)),
                cal_row("CAL-e", "E9", ts(1, 4), zone_id="Z9", warehouse_id="W9"),
            ],
        ),
    )
    store.add_records(
        WAREHOUSE_TASKS,
        frame(
            WAREHOUSE_TASKS,
            [
                {
                    "task_id": "T1",
                    "order_id": "O1",
                    "task_type": "pick",
                    "wave_id": "WV1",
                    "warehouse_id": "W1",
                    "zone_id": "Z1",
                    "operator_id": "OP2",
                    "started_at": ts(1, 13),
                    "ended_at": ts(1, 14),
                },
                {
                    "task_id": "T2",
                    "order_id": "O1",
                    "task_type": "pack",
                    "warehouse_id": "W1",
                    "zone_id": "Z3",
                    "operator_id": "OP1",
                    "started_at": ts(1, 15),
                },
            ],
        ),
    )
    store.add_records(
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
                    "created_at": ts(3, 8),
                },
            ],
        ),
    )


def count(store: GraphStore, cypher: str, **params: Any) -> int:
    return int(store.query(cypher, params).item(0, 0))


# --- tests -------------------------------------------------------------------------------------


def test_schema_is_idempotent_and_counts_cover_the_schema(graph_store: GraphStore) -> None:
    graph_store.ensure_schema()
    graph_store.ensure_schema()
    counts = graph_store.counts()
    labels = {k.label for k in SOURCE_KINDS if k.store == "graph"} | set(ENTITY_LABELS)
    assert {f"node:{label}" for label in labels} <= counts.keys()
    assert {"rel:HAS_QC_REPORT", "rel:IN_ZONE", "rel:AT_WAREHOUSE"} <= counts.keys()
    assert {"rel:PLACED_BY", "rel:IN_WAREHOUSE", "rel:CALIBRATES"} <= counts.keys()
    assert set(counts.values()) == {0}


def test_add_records_and_known_keys(graph_store: GraphStore) -> None:
    added = graph_store.add_records(
        ORDERS, frame(ORDERS, [order_row("O1"), order_row("O2"), order_row("O3")])
    )
    assert added == 3
    probe = pl.Series("order_id", ["O3", "nope", "O1", None, "O1"])
    known = graph_store.known_keys(ORDERS, probe)
    assert known.to_list() == ["O3", "O1", "O1"]
    assert graph_store.known_keys(ORDERS, pl.Series("order_id", [], dtype=pl.String)).len() == 0
    assert graph_store.known_keys(PAYMENTS, pl.Series(["P1"])).to_list() == []
    assert graph_store.add_records(ORDERS, frame(ORDERS, [])) == 0
    assert graph_store.counts()["node:Order"] == 3


def test_known_keys_large_probe(graph_store: GraphStore) -> None:
    ids = [f"O{i:05d}" for i in range(2000)]
    graph_store.add_records(ORDERS, frame(ORDERS, [order_row(i) for i in ids]))
    assert graph_store.known_keys(ORDERS, pl.Series(["O00007", "X"])).to_list() == ["O00007"]
    probe = pl.Series([f"O{i:05d}" for i in range(1500, 2500)])
    assert graph_store.known_keys(ORDERS, probe).to_list() == ids[1500:]


def test_entities_created_once_across_batches(graph_store: GraphStore) -> None:
    graph_store.add_records(ORDERS, frame(ORDERS, [order_row("O1"), order_row("O2")]))
    graph_store.add_records(
        QC_REPORTS,
        frame(QC_REPORTS, [qc_row("QC1", "O1", ts(2), "E1"), qc_row("QC2", "O1", ts(2), "E1")]),
    )
    graph_store.add_records(
        QC_REPORTS,
        frame(
            QC_REPORTS,
            [qc_row("QC3", "O2", ts(3), "E1"), qc_row("QC4", "O2", ts(3), "E2", zone_id="Z2")],
        ),
    )
    c = graph_store.counts()
    assert c["node:Customer"] == 1 and c["node:Region"] == 1 and c["node:Sku"] == 1
    assert c["node:Warehouse"] == 1
    assert c["node:Zone"] == 2
    assert c["node:Equipment"] == 2
    assert c["node:Operator"] == 1
    assert c["node:QCReport"] == 4
    assert c["rel:HAS_QC_REPORT"] == 4
    assert c["rel:USED_EQUIPMENT"] == 4 and c["rel:INSPECTED_BY"] == 4
    assert c["rel:AT_WAREHOUSE"] == 4
    assert c["rel:PLACED_BY"] == 2 and c["rel:FULFILLED_FROM"] == 2
    # IN_REGION: Order -> Region twice, Warehouse -> Region once (merged across the batch).
    assert c["rel:IN_REGION"] == 3
    # IN_ZONE: 4 QC reports -> zone, plus the merged equipment -> zone pairs (E1-Z1, E2-Z2).
    assert c["rel:IN_ZONE"] == 6
    eq_zone = "MATCH (:`Equipment`)-[r:`IN_ZONE`]->(:`Zone`) RETURN count(r) AS n"
    assert count(graph_store, eq_zone) == 2
    assert (
        count(
            graph_store,
            "MATCH (z:`Zone`)<-[:`IN_ZONE`]-(q:`QCReport`) WHERE z.id = $z RETURN count(q) AS n",
            z="Z1",
        )
        == 3
    )


def test_null_entity_ids_create_no_node_or_link(graph_store: GraphStore) -> None:
    graph_store.add_records(ORDERS, frame(ORDERS, [order_row("O1")]))
    graph_store.add_records(
        QC_REPORTS, frame(QC_REPORTS, [qc_row("QC1", "O1", ts(2), None, inspector_id=None)])
    )
    c = graph_store.counts()
    assert c["node:QCReport"] == 1 and c["rel:HAS_QC_REPORT"] == 1
    assert c["node:Operator"] == 0 and c["rel:INSPECTED_BY"] == 0
    assert c["node:Equipment"] == 0 and c["rel:USED_EQUIPMENT"] == 0
    assert c["rel:IN_ZONE"] == 1  # the report's own zone link
    assert graph_store.order_records("O1")["qc_reports"][0]["equipment_id"] is None


def test_entity_relations_are_merged_not_duplicated(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    # E1-Z1 and E2-Z2 came from QC reports; calibrations name them again, plus E3-Z1, E9-Z9.
    pairs = graph_store.query(
        "MATCH (e:`Equipment`)-[:`IN_ZONE`]->(z:`Zone`) RETURN e.id AS eq, z.id AS zone ORDER BY eq, zone"
    )
    assert pairs.rows() == [("E1", "Z1"), ("E2", "Z2"), ("E3", "Z1"), ("E9", "Z9")]
    zw = graph_store.query(
        "MATCH (z:`Zone`)-[:`IN_WAREHOUSE`]->(w:`Warehouse`) RETURN z.id AS zone, w.id AS wh ORDER BY zone"
    )
    # Zone Z3 appears only in a task: tasks relate it to W1 too.
    assert zw.rows() == [("Z1", "W1"), ("Z2", "W1"), ("Z3", "W1"), ("Z9", "W9")]
    # The same calibrations again (new keys) add nodes but no relation.
    before = graph_store.counts()
    again = frame(
        EQUIPMENT_CALIBRATIONS,
        [cal_row("CAL-x", "E1", ts(5)), cal_row("CAL-y", "E9", ts(5), zone_id="Z9", warehouse_id="W9")],
    )
    assert graph_store.add_records(EQUIPMENT_CALIBRATIONS, again) == 2
    after = graph_store.counts()
    assert after["node:Calibration"] == before["node:Calibration"] + 2
    assert after["rel:CALIBRATES"] == before["rel:CALIBRATES"] + 2
    assert after["rel:IN_ZONE"] == before["rel:IN_ZONE"]
    assert after["rel:IN_WAREHOUSE"] == before["rel:IN_WAREHOUSE"]
    assert after["node:Equipment"] == before["node:Equipment"]


def test_order_properties(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    o = graph_store.order("O2")
    assert o == order_row("O2", customer_id="C2", quantity=1, amount=5.0, cross_border=True)
    assert o["created_at"].tzinfo is not None and o["created_at"].utcoffset() == dt.timedelta(0)
    assert isinstance(o["quantity"], int) and isinstance(o["cross_border"], bool)
    assert graph_store.order("nope") is None


def test_order_records_contents_and_order(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    recs = graph_store.order_records("O1")
    direct = {k.name for k in SOURCE_KINDS if k.order_rel}
    assert set(recs) == direct
    assert [p["payment_id"] for p in recs["payments"]] == ["P1", "P2", "P0"]
    p1 = recs["payments"][0]
    assert p1["captured_at"] is None and p1["amount"] == 9.5 and p1["order_id"] == "O1"
    assert recs["payments"][1]["captured_at"] == ts(1, 11)
    assert set(p1) == {c.name for c in PAYMENTS.columns}
    assert [r["report_no"] for r in recs["qc_reports"]] == ["QC3", "QC1", "QC2"]
    assert recs["qc_reports"][1][col(QC_REPORTS, "defect_code")] == "D7"
    assert recs["qc_reports"][2][col(QC_REPORTS, "defect_code")] is None
    assert [t["task_id"] for t in recs["warehouse_tasks"]] == ["T1", "T2"]
    assert recs["warehouse_tasks"][1]["ended_at"] is None
    assert [s["waybill"] for s in recs["shipments"]] == ["WB1"]
    assert recs["approvals"] == [] and recs["returns"] == []
    for lst in recs.values():
        for r in lst:
            for v in r.values():
                if isinstance(v, dt.datetime):
                    assert v.utcoffset() == dt.timedelta(0)

    o2 = graph_store.order_records("O2")
    assert [p["payment_id"] for p in o2["payments"]] == ["P9"]
    assert [r["report_no"] for r in o2["qc_reports"]] == ["QC4"]
    assert o2["warehouse_tasks"] == []

    none = graph_store.order_records("nope")
    assert set(none) == direct and all(v == [] for v in none.values())


def test_calibrations_for_order(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    cals = graph_store.calibrations_for_order("O1")
    # E1 (used twice: listed once each) and E2; not E3 (O2's) nor E9 (unused).
    assert [c["calibration_id"] for c in cals] == ["CAL-c", "CAL-a", "CAL-b"]
    assert cals[0][col(EQUIPMENT_CALIBRATIONS, "technician")] is None
    assert cals[1] == named(EQUIPMENT_CALIBRATIONS, cal_row("CAL-a", "E1", ts(1, 6)))
    assert cals[1]["due_at"] == ts(31, 6) and cals[1]["due_at"].tzinfo is not None
    assert [c["calibration_id"] for c in graph_store.calibrations_for_order("O2")] == ["CAL-d"]
    assert graph_store.calibrations_for_order("O3") == []
    assert graph_store.calibrations_for_order("nope") == []


def test_counts(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    c = graph_store.counts()
    expected = {
        "node:Order": 3,
        "node:Payment": 4,
        "node:QCReport": 4,
        "node:Calibration": 5,
        "node:WarehouseTask": 2,
        "node:Shipment": 1,
        "node:Approval": 0,
        "node:Customer": 2,
        "node:Region": 2,
        "node:Warehouse": 3,
        "node:Zone": 4,
        "node:Equipment": 4,
        "node:Operator": 2,
        "node:Carrier": 1,
        "node:Hub": 2,
        "node:Sku": 1,
        "rel:HAS_PAYMENT": 4,
        "rel:HAS_QC_REPORT": 4,
        "rel:HAS_TASK": 2,
        "rel:SHIPPED_AS": 1,
        "rel:CALIBRATES": 5,
        "rel:USED_EQUIPMENT": 4,
        "rel:PLACED_BY": 3,
        "rel:FROM_HUB": 1,
        "rel:TO_HUB": 1,
        "rel:CARRIED_BY": 1,
        "rel:DONE_BY": 2,
        "rel:HAS_APPROVAL": 0,
        # 3 orders + W1->EU, W2->US
        "rel:IN_REGION": 5,
        # 4 QC reports + 2 tasks + equipment pairs E1-Z1, E2-Z2, E3-Z1, E9-Z9
        "rel:IN_ZONE": 10,
        # 4 QC reports + 2 tasks
        "rel:AT_WAREHOUSE": 6,
        # Z1-W1, Z2-W1, Z3-W1, Z9-W9
        "rel:IN_WAREHOUSE": 4,
    }
    assert {k: c[k] for k in expected} == expected


def test_reset(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    assert graph_store.counts()["node:Order"] == 3
    graph_store.reset()
    assert set(graph_store.counts().values()) == {0}
    assert graph_store.order("O1") is None
    graph_store.ensure_schema()
    graph_store.add_records(ORDERS, frame(ORDERS, [order_row("O1")]))
    assert graph_store.order("O1")["order_id"] == "O1"  # type: ignore[index]
    assert graph_store.counts()["node:Customer"] == 1


NASTY = [
    "O'1",
    'O"2',
    "O`3`",
    "x'}) DETACH DELETE n //",
    '"); MATCH (n) DETACH DELETE n; //',
    "O\\4 $order_id {}",
]


def test_parameters_are_safe(graph_store: GraphStore) -> None:
    rows = [order_row(o, customer_id=o + "-c", warehouse_id="W'1") for o in NASTY]
    graph_store.add_records(ORDERS, frame(ORDERS, rows))
    graph_store.add_records(
        APPROVALS,
        frame(
            APPROVALS,
            [
                {
                    "approval_id": f"A-{i}",
                    "order_id": o,
                    "approval_type": "refund",
                    "approver_id": "OP'1",
                    "decision": "yes",
                    "requested_at": ts(2),
                    "comment": 'it\'s "fine" `ok` // MATCH (n) DETACH DELETE n',
                }
                for i, o in enumerate(NASTY)
            ],
        ),
    )
    for o in NASTY:
        assert graph_store.order(o)["customer_id"] == o + "-c"  # type: ignore[index]
        recs = graph_store.order_records(o)["approvals"]
        assert len(recs) == 1
        assert recs[0][col(APPROVALS, "comment")].startswith('it\'s "fine"')
    assert graph_store.known_keys(ORDERS, pl.Series(NASTY + ["' OR 1=1 //"])).to_list() == NASTY
    assert graph_store.order("' OR 1=1 //") is None
    assert graph_store.order_records("x' OR true //")["approvals"] == []
    assert graph_store.counts()["node:Order"] == len(NASTY)
    wh = "MATCH (w:`Warehouse`) WHERE w.id = $w RETURN count(w) AS n"
    assert count(graph_store, wh, w="W'1") == 1


def test_query_returns_polars_and_binds_instants(graph_store: GraphStore) -> None:
    load_basic(graph_store)
    df = graph_store.query(
        "MATCH (o:`Order`) WHERE o.created_at >= $since AND o.region = $region "
        "RETURN o.order_id AS order_id, o.amount AS amount ORDER BY order_id",
        {"since": ts(1, 9), "region": "EU"},
    )
    assert isinstance(df, pl.DataFrame)
    assert df.columns == ["order_id", "amount"]
    assert df.rows() == [("O1", 19.5), ("O2", 5.0)]
    # The same instant written with another offset selects the same rows.
    cest = dt.timezone(dt.timedelta(hours=2))
    later = graph_store.query(
        "MATCH (p:`Payment`) WHERE p.authorized_at > $t RETURN p.payment_id AS id ORDER BY id",
        {"t": dt.datetime(2024, 3, 1, 12, tzinfo=cest)},  # 10:00 UTC
    )
    assert later["id"].to_list() == ["P0"]
    empty = graph_store.query(
        "MATCH (o:`Order`) WHERE o.order_id = $id RETURN o.order_id AS order_id", {"id": "zz"}
    )
    assert empty.height == 0


# --- Ladybug-specific ----------------------------------------------------------------------------


def test_ladybug_read_only_reader(tmp_path: Path) -> None:
    from orderscope.graph.ladybug import LadybugGraph

    path = tmp_path / "g.lbug"
    with pytest.raises(FileNotFoundError):
        LadybugGraph(path, read_only=True)
    with LadybugGraph(path) as writer:
        writer.ensure_schema()
        load_basic(writer)
    with LadybugGraph(path, read_only=True) as reader:
        reader.ensure_schema()  # verifies only
        assert reader.order("O1")["region"] == "EU"  # type: ignore[index]
        assert [c["calibration_id"] for c in reader.calibrations_for_order("O2")] == ["CAL-d"]
        with pytest.raises(PermissionError):
            reader.add_records(ORDERS, frame(ORDERS, [order_row("O9")]))
        with pytest.raises(PermissionError):
            reader.reset()


def test_ladybug_add_records_is_atomic(tmp_path: Path) -> None:
    from orderscope.graph.ladybug import LadybugGraph

    with LadybugGraph(tmp_path / "g.lbug") as g:
        g.ensure_schema()
        g.add_records(ORDERS, frame(ORDERS, [order_row("O1")]))
        bad = frame(
            QC_REPORTS,
            [qc_row("QC1", "O1", ts(2), "E1"), qc_row("QC2", "missing", ts(2), "E2")],
        )
        with pytest.raises(RuntimeError):
            g.add_records(QC_REPORTS, bad)
        c = g.counts()
        assert c["node:QCReport"] == 0 and c["node:Equipment"] == 0 and c["rel:HAS_QC_REPORT"] == 0
        g.add_records(QC_REPORTS, bad.head(1))
        assert g.counts()["node:QCReport"] == 1


# --- Neo4j-specific ------------------------------------------------------------------------------


@pytest.fixture
def neo4j_store(tmp_path: Path) -> Iterator[Any]:
    store = _open_neo4j(tmp_path)
    try:
        store.ensure_schema()
        store.reset()
        yield store
    finally:
        store.close()


@pytest.mark.server
def test_neo4j_batched_writes_match_ladybug(tmp_path: Path, neo4j_store: Any) -> None:
    """Tiny transactions and statements (every batching path, nulls split by pattern) write
    exactly what the embedded adapter writes, and read back identically."""
    neo4j_store.batch_size, neo4j_store.statement_rows = 2, 1
    load_basic(neo4j_store)
    with _open_ladybug(tmp_path) as lb:  # type: ignore[attr-defined]
        lb.ensure_schema()
        load_basic(lb)
        assert neo4j_store.counts() == lb.counts()
        for o in ("O1", "O2", "O3", "nope"):
            assert neo4j_store.order(o) == lb.order(o)
            assert neo4j_store.order_records(o) == lb.order_records(o)
            assert neo4j_store.calibrations_for_order(o) == lb.calibrations_for_order(o)


@pytest.mark.server
def test_neo4j_small_add_is_atomic(neo4j_store: Any) -> None:
    neo4j_store.add_records(ORDERS, frame(ORDERS, [order_row("O1")]))
    bad = frame(QC_REPORTS, [qc_row("QC1", "O1", ts(2), "E1"), qc_row("QC2", "missing", ts(2), "E2")])
    with pytest.raises(ValueError, match="does not exist"):
        neo4j_store.add_records(QC_REPORTS, bad)
    c = neo4j_store.counts()
    assert c["node:QCReport"] == 0 and c["node:Equipment"] == 0 and c["rel:HAS_QC_REPORT"] == 0
    neo4j_store.add_records(QC_REPORTS, bad.head(1))
    assert neo4j_store.counts()["node:QCReport"] == 1


def test_neo4j_layout_guards_query_text() -> None:
    """Only schema labels, types and kinds reach query text (no server needed)."""
    from dataclasses import replace

    from orderscope.graph import neo4j_cypher as n4

    with pytest.raises(ValueError):
        n4.checked_label("Order`) DETACH DELETE (n")
    with pytest.raises(ValueError):
        n4.checked_rel("KNOWS")
    with pytest.raises(ValueError):
        n4.RecordWrite(replace(PAYMENTS, label="Payment` {x: 1})//"))
    with pytest.raises(ValueError):
        n4.merge_relation("IN_ZONE", "Zone", "Equipment")  # wrong direction


def test_reads_of_other_threads_see_each_commit(graph_store: GraphStore) -> None:
    """The snapshot reads may run on a connection of the calling thread (Ladybug): one opened
    before a write sees it, and so after a reset, from that thread and from new ones."""
    import threading

    def read(order_id: str) -> Any:
        found: list[Any] = []
        thread = threading.Thread(target=lambda: found.append(graph_store.order(order_id)))
        thread.start()
        thread.join(30)
        return found[0]

    graph_store.add_records(ORDERS, frame(ORDERS, [order_row("O1")]))
    assert graph_store.order("O1") is not None
    assert graph_store.order("O2") is None  # this thread's read connection exists now
    graph_store.add_records(ORDERS, frame(ORDERS, [order_row("O2")]))
    assert graph_store.order("O2") is not None
    assert read("O2") is not None
    graph_store.reset()
    assert graph_store.order("O1") is None
    assert read("O1") is None
    graph_store.add_records(ORDERS, frame(ORDERS, [order_row("O3")]))
    assert graph_store.order("O3") is not None
    assert read("O3") == graph_store.order("O3")
