"""Port-level integration tests of the series store, run against every adapter.

Frames are built by hand, typed as orderscope.graph.port describes (ts -> Datetime("us", "UTC"),
json -> JSON text), so what is checked here is the port's contract, not an ingester's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from orderscope.domain.sources import kind
from orderscope.series import tables
from orderscope.series.port import SeriesStore
from orderscope.series.postgres import to_pyformat

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")

EVENTS = kind("order_events")
CLIMATE = kind("climate_readings")
TRACKS = kind("logistics_tracks")
CAPACITY = kind("carrier_capacity")
SESSIONS = kind("operator_sessions")
ORDERS = kind("orders")
TEST_PG_SCHEMA = "orderscope_port_test"


def make_store(adapter: str, tmp_path: Path) -> SeriesStore:
    if adapter == "duckdb":
        from orderscope.series.duckdb import DuckDBSeries

        return DuckDBSeries(tmp_path / "series.duckdb")
    if adapter == "timescale":
        from orderscope.config import load_settings
        from orderscope.series.timescale import TimescaleSeries

        # A schema of its own, so the reset before each test touches nothing else.
        return TimescaleSeries(load_settings().pg_dsn, schema=TEST_PG_SCHEMA)
    raise ValueError(adapter)


@pytest.fixture(
    params=[
        "duckdb",
        # The server adapter, built from load_settings().pg_dsn against the local
        # PostgreSQL+TimescaleDB (project services script, or a testcontainers fixture when a
        # Docker engine answers), in its own schema so reset() cannot touch anything else.
        pytest.param("timescale", marks=pytest.mark.server),
    ]
)
def series_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SeriesStore]:
    store = make_store(request.param, tmp_path)
    store.ensure_schema()
    store.reset()
    try:
        yield store
    finally:
        store.close()


# --- frame builders -------------------------------------------------------------------------


def t(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def events_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (event_id, order_id, minutes, from_state, to_state[, reason_code])."""
    full = [(*r, None)[:6] for r in rows]
    return pl.DataFrame(
        {
            "event_id": [r[0] for r in full],
            "order_id": [r[1] for r in full],
            "at": [t(r[2]) for r in full],
            "actor_id": ["op-1"] * len(full),
            "actor_role": ["system"] * len(full),
            "from_state": [r[3] for r in full],
            "to_state": [r[4] for r in full],
            "reason_code": [r[5] for r in full],
            "evidence": [None] * len(full),
            "diff": ['{"field": "x"}' if r[3] == r[4] else None for r in full],
            "impact": [None] * len(full),
        },
        schema={
            "event_id": pl.String,
            "order_id": pl.String,
            "at": TS,
            "actor_id": pl.String,
            "actor_role": pl.String,
            "from_state": pl.String,
            "to_state": pl.String,
            "reason_code": pl.String,
            "evidence": pl.String,
            "diff": pl.String,
            "impact": pl.String,
        },
    )


def lifecycle(order_id: str, states: list[str], step: float = 10.0, start: float = 0.0) -> list:
    rows, prev = [], None
    for i, s in enumerate(states):
        rows.append((f"{order_id}-e{i:02d}", order_id, start + i * step, prev, s))
        prev = s
    return rows


def climate_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (sensor_id, zone_id, minutes, temperature)."""
    return pl.DataFrame(
        {
            "sensor_id": [r[0] for r in rows],
            "warehouse_id": ["WH1"] * len(rows),
            "zone_id": [r[1] for r in rows],
            "at": [t(r[2]) for r in rows],
            "temperature_c": [float(r[3]) for r in rows],
            "humidity_pct": [40.0] * len(rows),
        },
        schema={
            "sensor_id": pl.String,
            "warehouse_id": pl.String,
            "zone_id": pl.String,
            "at": TS,
            "temperature_c": pl.Float64,
            "humidity_pct": pl.Float64,
        },
    )


def sessions_frame(rows: list[tuple]) -> pl.DataFrame:
    """rows: (session_id, actor_id, login minutes, logout minutes or None)."""
    return pl.DataFrame(
        {
            "session_id": [r[0] for r in rows],
            "actor_id": [r[1] for r in rows],
            "role": ["broker"] * len(rows),
            "site": ["HUB1"] * len(rows),
            "login_at": [t(r[2]) for r in rows],
            "logout_at": [None if r[3] is None else t(r[3]) for r in rows],
        },
        schema={
            "session_id": pl.String,
            "actor_id": pl.String,
            "role": pl.String,
            "site": pl.String,
            "login_at": TS,
            "logout_at": TS,
        },
    )


def orders_frame(ids: list[str]) -> pl.DataFrame:
    n = len(ids)
    return pl.DataFrame(
        {
            "order_id": ids,
            "customer_id": ["C1"] * n,
            "channel": ["web"] * n,
            "region": ["EU"] * n,
            "warehouse_id": ["WH1"] * n,
            "sku": ["SKU1"] * n,
            "sku_category": ["toys"] * n,
            "quantity": [1] * n,
            "amount": [9.5] * n,
            "currency": ["EUR"] * n,
            "destination_country": ["DE"] * n,
            "cross_border": [False] * n,
            "created_at": [T0] * n,
            "promised_at": [T0 + timedelta(days=2)] * n,
        },
        schema={
            "order_id": pl.String,
            "customer_id": pl.String,
            "channel": pl.String,
            "region": pl.String,
            "warehouse_id": pl.String,
            "sku": pl.String,
            "sku_category": pl.String,
            "quantity": pl.Int64,
            "amount": pl.Float64,
            "currency": pl.String,
            "destination_country": pl.String,
            "cross_border": pl.Boolean,
            "created_at": TS,
            "promised_at": TS,
        },
    )


def visits(store: SeriesStore, order_id: str) -> list[tuple]:
    d = store.dwell(order_id)
    return list(zip(d["node"], d["visit"], d["entered_at"], d["left_at"], d["dwell_ms"], strict=True))


HAPPY = ["CREATED", "PAID", "RISK_CHECKED", "ALLOCATED", "WAVE_RELEASED", "PICKING", "PICKED"]


# --- schema ---------------------------------------------------------------------------------


def test_schema_idempotent(series_store: SeriesStore) -> None:
    series_store.append(EVENTS, events_frame(lifecycle("O1", ["CREATED"])))
    series_store.ensure_schema()
    series_store.ensure_schema()
    counts = series_store.counts()
    assert counts["order_events"] == 1
    assert set(counts) == {
        "orders",
        "order_events",
        "climate_readings",
        "logistics_tracks",
        "carrier_capacity",
        "operator_sessions",
        "stage_dwell",
        "quarantine",
    }


def test_tables_have_exactly_the_kind_columns(series_store: SeriesStore) -> None:
    for k in (*tables.SERIES_KINDS, ORDERS):
        got = series_store.query(f'SELECT * FROM "{k.name}" LIMIT 0').columns
        assert got == list(tables.kind_table(k).column_names), k.name
        assert got == [c.name.rstrip("?") for c in k.columns], k.name
    got = series_store.query('SELECT * FROM "stage_dwell" LIMIT 0').columns
    assert got == list(tables.STAGE_DWELL.column_names)


# --- append and known keys ------------------------------------------------------------------


def test_append_and_known_keys(series_store: SeriesStore) -> None:
    f = events_frame(lifecycle("O1", HAPPY[:3]))
    assert series_store.append(EVENTS, f) == 3
    keys = pl.DataFrame({"event_id": ["O1-e00", "O1-e02", "nope", "O1-e00"]})
    known = series_store.known_keys(EVENTS, keys)
    assert sorted(known["event_id"]) == ["O1-e00", "O1-e02"]
    # appending the same rows again adds nothing (identity is unique)
    assert series_store.append(EVENTS, f) == 0
    assert series_store.counts()["order_events"] == 3
    # a batch repeating an identity adds it once (the first row wins)
    dup = events_frame([("O3-e1", "O3", 0, None, "CREATED"), ("O3-e1", "O3", 9, None, "PAID")])
    assert series_store.append(EVENTS, dup) == 1
    assert series_store.events("O3")["to_state"].to_list() == ["CREATED"]
    # empty inputs
    assert series_store.append(EVENTS, f.clear()) == 0
    assert series_store.known_keys(EVENTS, keys.clear()).is_empty()


def test_known_keys_composite_identity(series_store: SeriesStore) -> None:
    series_store.append(CLIMATE, climate_frame([("S1", "Z1", 0, 20), ("S1", "Z1", 5, 21)]))
    keys = pl.DataFrame(
        {"sensor_id": ["S1", "S1", "S2", "S1"], "at": [t(0), t(1), t(0), t(5)]},
        schema={"sensor_id": pl.String, "at": TS},
    )
    known = series_store.known_keys(CLIMATE, keys).sort("at")
    assert known.columns == ["sensor_id", "at"]
    assert known.rows() == [("S1", t(0)), ("S1", t(5))]
    # the same sensor at a new instant, and another sensor at a stored instant, are new
    n = series_store.append(CLIMATE, climate_frame([("S1", "Z1", 1, 22), ("S2", "Z1", 0, 19)]))
    assert n == 2
    assert series_store.counts()["climate_readings"] == 4


def test_orders_dimension(series_store: SeriesStore) -> None:
    assert series_store.append(ORDERS, orders_frame(["O1", "O2"])) == 2
    known = series_store.known_keys(ORDERS, pl.DataFrame({"order_id": ["O2", "O3"]}))
    assert known["order_id"].to_list() == ["O2"]
    ids = series_store.known_order_ids(pl.Series(["O3", "O1", "O2", "O1"]))
    assert sorted(ids.to_list()) == ["O1", "O2"]
    assert series_store.counts()["orders"] == 2


# --- dwell ----------------------------------------------------------------------------------


def test_dwell_in_order_equals_shuffled(series_store: SeriesStore, tmp_path: Path) -> None:
    rows = lifecycle("O1", HAPPY) + lifecycle("O2", HAPPY[:4], step=7)
    series_store.append(EVENTS, events_frame(rows))
    series_store.rebuild_dwell()
    in_order = {o: series_store.dwell(o) for o in ("O1", "O2")}

    series_store.reset()
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    for chunk in (shuffled[:5], shuffled[5:9], shuffled[9:]):  # arrives out of order, in batches
        series_store.append(EVENTS, events_frame(chunk))
        series_store.rebuild_dwell(pl.Series(sorted({r[1] for r in chunk})))
    for o, expected in in_order.items():
        assert series_store.dwell(o).equals(expected)
    assert in_order["O1"]["node"].to_list() == HAPPY
    assert in_order["O1"]["dwell_ms"].to_list()[:-1] == [600_000] * (len(HAPPY) - 1)


def test_dwell_amendment_does_not_split_and_last_visit_is_open(series_store: SeriesStore) -> None:
    rows = [
        ("e1", "O1", 0, None, "CREATED"),
        ("e2", "O1", 10, "CREATED", "PAID"),
        ("e3", "O1", 15, "PAID", "PAID", "ADDRESS_CHANGED"),  # amendment
        ("e4", "O1", 30, "PAID", "RISK_CHECKED"),
    ]
    series_store.append(EVENTS, events_frame(rows))
    assert series_store.rebuild_dwell() == 3
    assert visits(series_store, "O1") == [
        ("CREATED", 1, t(0), t(10), 600_000),
        ("PAID", 1, t(10), t(30), 1_200_000),
        ("RISK_CHECKED", 1, t(30), None, None),
    ]
    d = series_store.dwell("O1")
    assert d["entered_by_event"].to_list() == ["e1", "e2", "e4"]
    assert d["left_by_event"].to_list() == ["e2", "e4", None]


def test_dwell_resting_node_has_no_left(series_store: SeriesStore) -> None:
    rows = lifecycle("O1", ["CREATED", "PAID"]) + [
        ("O1-x", "O1", 25, "PAID", "CANCELLED", "CUSTOMER_CANCELLED")
    ]
    series_store.append(EVENTS, events_frame(rows))
    series_store.rebuild_dwell()
    assert visits(series_store, "O1")[-1] == ("CANCELLED", 1, t(25), None, None)


def test_dwell_rework_loop_numbers_visits(series_store: SeriesStore) -> None:
    states = HAPPY + ["QC_INSPECTING", "PICKING", "PICKED", "QC_INSPECTING", "QC_PASSED"]
    series_store.append(EVENTS, events_frame(lifecycle("O1", states)))
    series_store.rebuild_dwell(pl.Series(["O1"]))
    got = [(n, v) for n, v, *_ in visits(series_store, "O1")]
    assert got[5:] == [
        ("PICKING", 1),
        ("PICKED", 1),
        ("QC_INSPECTING", 1),
        ("PICKING", 2),
        ("PICKED", 2),
        ("QC_INSPECTING", 2),
        ("QC_PASSED", 1),
    ]


def test_dwell_same_instant_ties_by_event_id(series_store: SeriesStore) -> None:
    rows = [
        ("a1", "O1", 0, None, "CREATED"),
        ("a3", "O1", 5, "PAID", "RISK_CHECKED"),
        ("a2", "O1", 5, "CREATED", "PAID"),
    ]
    series_store.append(EVENTS, events_frame(rows))
    series_store.rebuild_dwell()
    assert visits(series_store, "O1") == [
        ("CREATED", 1, t(0), t(5), 300_000),
        ("PAID", 1, t(5), t(5), 0),
        ("RISK_CHECKED", 1, t(5), None, None),
    ]


def test_rebuild_subset_leaves_others_intact(series_store: SeriesStore) -> None:
    both = lifecycle("O1", HAPPY[:3]) + lifecycle("O2", HAPPY[:3])
    series_store.append(EVENTS, events_frame(both))
    assert series_store.rebuild_dwell() == 6
    o2 = series_store.dwell("O2")
    series_store.append(EVENTS, events_frame([("O1-late", "O1", 100, "RISK_CHECKED", "ALLOCATED")]))
    series_store.append(EVENTS, events_frame([("O2-late", "O2", 100, "RISK_CHECKED", "ALLOCATED")]))
    assert series_store.rebuild_dwell(pl.Series(["O1"])) == 4
    assert len(series_store.dwell("O1")) == 4
    assert series_store.dwell("O2").equals(o2)  # O2 not rebuilt: still its old 3 visits
    assert series_store.counts()["stage_dwell"] == 7
    assert series_store.rebuild_dwell(pl.Series([], dtype=pl.String)) == 0
    assert series_store.rebuild_dwell(pl.Series(["unknown"])) == 0


# --- reads ----------------------------------------------------------------------------------


def test_events_ordered_and_timestamps_roundtrip(series_store: SeriesStore) -> None:
    at = datetime(2024, 3, 1, 8, 0, 0, 123_456, tzinfo=UTC)
    f = events_frame([("b", "O1", 1, None, "PAID"), ("a", "O1", 0, None, "CREATED")])
    f = f.with_columns(pl.Series("at", [at, at], dtype=TS))
    series_store.append(EVENTS, f)
    ev = series_store.events("O1")
    assert ev.columns == list(tables.kind_table(EVENTS).column_names)
    assert ev["event_id"].to_list() == ["a", "b"]  # same instant: by event_id
    assert ev.schema["at"] == TS
    got = ev["at"][0]
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert got == datetime(2024, 3, 1, 8, 0, 0, 123_000, tzinfo=UTC)  # millisecond precision
    assert series_store.data_clock() == got
    assert ev["diff"].to_list() == [None, None]
    # a key given with microseconds is still recognised as stored
    assert len(series_store.known_keys(EVENTS, pl.DataFrame({"event_id": ["a"]}))) == 1


def test_json_text_roundtrip(series_store: SeriesStore) -> None:
    f = events_frame([("a", "O1", 0, "PAID", "PAID", "ADDRESS_CHANGED")])
    f = f.with_columns(pl.lit('{"city": ["Köln", "Bonn"], "n": 1}').alias("impact"))
    series_store.append(EVENTS, f)
    ev = series_store.events("O1")
    assert ev.schema["impact"] == pl.String
    import json

    assert json.loads(ev["impact"][0]) == {"city": ["Köln", "Bonn"], "n": 1}


def test_data_clock_empty(series_store: SeriesStore) -> None:
    assert series_store.data_clock() is None
    assert series_store.events("O1").is_empty()
    assert series_store.dwell("O1").is_empty()


def test_readings_window(series_store: SeriesStore) -> None:
    series_store.append(
        CLIMATE,
        climate_frame(
            [
                ("S1", "Z1", 0, 20),
                ("S1", "Z1", 10, 21),
                ("S2", "Z2", 10, 30),
                ("S1", "Z1", 20, 22),
                ("S3", "Z3", 15, 40),
            ]
        ),
    )
    r = series_store.readings(CLIMATE, {"zone_id": ["Z1", "Z2"]}, t(5), t(20))
    assert r.columns == list(tables.kind_table(CLIMATE).column_names)
    assert list(zip(r["sensor_id"], r["at"], strict=True)) == [
        ("S1", t(10)),
        ("S2", t(10)),
        ("S1", t(20)),
    ]  # inclusive window, ordered by time then identity
    assert len(series_store.readings(CLIMATE, {"zone_id": ["Z1"]})) == 3
    assert len(series_store.readings(CLIMATE, {"zone_id": ["Z1"]}, start=t(15))) == 1
    assert len(series_store.readings(CLIMATE, {"zone_id": ["Z1"], "sensor_id": ["S2"]})) == 0
    assert series_store.readings(CLIMATE, {"zone_id": []}).is_empty()
    with pytest.raises(ValueError):
        series_store.readings(CLIMATE, {"zone_id; DROP TABLE x": ["Z1"]})


def test_readings_tracks_and_capacity(series_store: SeriesStore) -> None:
    tracks = pl.DataFrame(
        {
            "scan_id": ["s1", "s2", "s3"],
            "waybill": ["W1", "W2", "W1"],
            "at": [t(0), t(1), t(2)],
            "hub_id": ["H1", None, "H2"],
            "location": ["a", "b", "c"],
            "scan_type": ["pickup", "pickup", "arrival"],
        },
        schema={
            "scan_id": pl.String,
            "waybill": pl.String,
            "at": TS,
            "hub_id": pl.String,
            "location": pl.String,
            "scan_type": pl.String,
        },
    )
    assert series_store.append(TRACKS, tracks) == 3
    assert series_store.readings(TRACKS, {"waybill": ["W1"]})["scan_id"].to_list() == ["s1", "s3"]
    cap = pl.DataFrame(
        {
            "carrier_id": ["C1", "C1"],
            "hub_id": ["H1", "H1"],
            "at": [t(0), t(60)],
            "load_pct": [50.0, 95.0],
            "capacity_parcels": [100, 100],
        },
        schema={
            "carrier_id": pl.String,
            "hub_id": pl.String,
            "at": TS,
            "load_pct": pl.Float64,
            "capacity_parcels": pl.Int64,
        },
    )
    assert series_store.append(CAPACITY, cap) == 2
    assert series_store.append(CAPACITY, cap) == 0
    r = series_store.readings(CAPACITY, {"carrier_id": ["C1"], "hub_id": ["H1"]}, t(30), t(90))
    assert r["load_pct"].to_list() == [95.0]


def test_sessions_overlapping(series_store: SeriesStore) -> None:
    series_store.append(
        SESSIONS,
        sessions_frame(
            [
                ("s1", "A", 0, 30),
                ("s2", "A", 40, 50),
                ("s3", "A", 100, None),
                ("s4", "B", 0, 200),
                ("s5", "C", 0, 200),
            ]
        ),
    )
    got = series_store.sessions_overlapping(["A", "B"], t(25), t(45))
    assert got["session_id"].to_list() == ["s1", "s4", "s2"]
    got = series_store.sessions_overlapping(["A"], t(150), t(160))  # open session overlaps
    assert got["session_id"].to_list() == ["s3"]
    assert series_store.sessions_overlapping(["A"], t(31), t(39)).is_empty()
    assert series_store.sessions_overlapping([], t(0), t(1)).is_empty()


def test_query_parameterized(series_store: SeriesStore) -> None:
    series_store.append(EVENTS, events_frame(lifecycle("O1", HAPPY) + lifecycle("O2", HAPPY[:2])))
    series_store.rebuild_dwell()
    got = series_store.query(
        "SELECT node, count(*) AS n FROM stage_dwell WHERE node = ANY($1) AND entered_at >= $2 "
        "GROUP BY node ORDER BY node",
        [["PAID", "PICKED"], t(0)],
    )
    assert got.rows() == [("PAID", 2), ("PICKED", 1)]
    bucket = series_store.query(
        "SELECT time_bucket(INTERVAL '1 hour', \"at\") AS b, count(*) AS n FROM order_events "
        "GROUP BY b ORDER BY b"
    )
    assert bucket["n"].sum() == len(HAPPY) + 2


# --- ledger and quarantine --------------------------------------------------------------------


def test_ledger_start_finish_find(series_store: SeriesStore) -> None:
    assert series_store.ledger_find("order_events", "h1") is None
    series_store.ledger_start("b1", "order_events", "order_events.jsonl", "h1")
    assert series_store.ledger_find("order_events", "h1") is None  # started is not done
    counts = {"rows_read": 10, "accepted": 7, "rejected": 2, "duplicate": 1}
    series_store.ledger_finish("b1", counts)
    entry = series_store.ledger_find("order_events", "h1")
    assert entry is not None
    assert (entry["batch_id"], entry["status"], entry["rows_read"], entry["accepted"]) == (
        "b1",
        "done",
        10,
        7,
    )
    assert (entry["rejected"], entry["duplicate"]) == (2, 1)
    assert entry["finished_at"].tzinfo is not None and entry["finished_at"] >= entry["started_at"]
    assert series_store.ledger_find("climate_readings", "h1") is None
    series_store.ledger_start("b2", "order_events", "order_events.jsonl", "h2")
    led = series_store.ledger()
    assert led["batch_id"].to_list() == ["b1", "b2"]
    assert led["status"].to_list() == ["done", "started"]
    # a batch started again (resumed) is one entry
    series_store.ledger_start("b2", "order_events", "order_events.jsonl", "h2")
    assert len(series_store.ledger()) == 2
    with pytest.raises(KeyError):
        series_store.ledger_finish("nope", {})


def quarantine_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        {"row_number": [r[0] for r in rows], "reason": [r[1] for r in rows], "raw": [r[2] for r in rows]},
        schema={"row_number": pl.Int64, "reason": pl.String, "raw": pl.String},
    )


def test_quarantine_dedupe(series_store: SeriesStore) -> None:
    series_store.ledger_start("b1", "order_events", "events.jsonl", "h1")
    rows = quarantine_frame([(3, "bad ts", '{"at": "x"}'), (9, "unknown state", "{not json")])
    assert series_store.quarantine("b1", "order_events", "events.jsonl", rows) == 2
    # the same content resumed under a new batch id re-rejects the same rows: nothing added
    series_store.ledger_start("b2", "order_events", "events.jsonl", "h1")
    more = quarantine_frame([(3, "bad ts", '{"at": "x"}'), (11, "dup", "{}"), (11, "dup", "{}")])
    assert series_store.quarantine("b2", "order_events", "events.jsonl", more) == 1
    # other content of the same file name is other rows
    series_store.ledger_start("b3", "order_events", "events.jsonl", "h2")
    assert series_store.quarantine("b3", "order_events", "events.jsonl", rows) == 2
    q = series_store.quarantine_rows()
    assert len(q) == 5 and series_store.counts()["quarantine"] == 5
    assert set(q.columns) >= {
        "batch_id",
        "kind",
        "source_file",
        "content_hash",
        "row_number",
        "reason",
        "raw",
        "quarantined_at",
    }
    assert sorted(q.filter(pl.col("content_hash") == "h1")["row_number"]) == [3, 9, 11]
    assert "{not json" in q["raw"].to_list()
    assert len(series_store.quarantine_rows(limit=2)) == 2
    # without a ledger entry the file name is the identity
    assert series_store.quarantine("bx", "orders", "orders.csv", rows) == 2
    assert series_store.quarantine("by", "orders", "orders.csv", rows) == 0


# --- counts, reset, safety --------------------------------------------------------------------


def test_counts_and_reset(series_store: SeriesStore) -> None:
    series_store.append(EVENTS, events_frame(lifecycle("O1", HAPPY[:3])))
    series_store.append(ORDERS, orders_frame(["O1"]))
    series_store.rebuild_dwell()
    series_store.ledger_start("b1", "orders", "orders.csv", "h")
    c = series_store.counts()
    assert (c["order_events"], c["orders"], c["stage_dwell"], c["quarantine"]) == (3, 1, 3, 0)
    series_store.reset()
    assert all(n == 0 for n in series_store.counts().values())
    assert series_store.ledger().is_empty()
    assert series_store.append(EVENTS, events_frame(lifecycle("O1", HAPPY[:1]))) == 1


def test_injection_looking_values_are_data(series_store: SeriesStore) -> None:
    evil = "O1'; DROP TABLE order_events; --"
    quote = 'x" OR "1"="1'
    series_store.append(
        EVENTS, events_frame([(evil, evil, 0, None, "CREATED"), (quote, evil, 1, "CREATED", "PAID")])
    )
    series_store.rebuild_dwell(pl.Series([evil]))
    assert series_store.events(evil)["event_id"].to_list() == [evil, quote]
    assert series_store.dwell(evil)["node"].to_list() == ["CREATED", "PAID"]
    assert series_store.events("O1").is_empty()
    assert len(series_store.known_keys(EVENTS, pl.DataFrame({"event_id": [quote]}))) == 1
    assert (
        series_store.query("SELECT count(*) AS n FROM order_events WHERE order_id = $1", [evil])["n"][0] == 2
    )
    series_store.ledger_start(evil, evil, evil, evil)
    series_store.ledger_finish(evil, {"rows_read": 1})
    assert series_store.ledger_find(evil, evil)["batch_id"] == evil
    assert series_store.counts()["order_events"] == 2


def test_reopen_read_only(tmp_path: Path) -> None:
    from orderscope.series.duckdb import DuckDBSeries

    path = tmp_path / "s.duckdb"
    with DuckDBSeries(path) as store:
        store.ensure_schema()
        store.append(EVENTS, events_frame(lifecycle("O1", HAPPY[:2])))
    with DuckDBSeries(path, read_only=True) as store:
        assert len(store.events("O1")) == 2
        with pytest.raises(PermissionError):
            store.append(EVENTS, events_frame(lifecycle("O2", HAPPY[:1])))


def test_to_pyformat() -> None:
    sql, params = to_pyformat(
        "SELECT '$1 %' AS lit, \"a$2\" FROM t WHERE a = $2 AND b LIKE 'x%' AND c = $1 -- $3\n"
        "AND d = $2 AND e % 2 = 0",
        ["one", "two"],
    )
    assert sql == (
        "SELECT '$1 %%' AS lit, \"a$2\" FROM t WHERE a = %(p2)s AND b LIKE 'x%%' AND c = %(p1)s"
        " -- $3\nAND d = %(p2)s AND e %% 2 = 0"
    )
    assert params == {"p1": "one", "p2": "two"}


# --- stall-pattern library ------------------------------------------------------------------


def _pattern_row(name: str, version: int, items: list[str], **extra) -> dict:
    import json

    return {
        "name": name,
        "version": version,
        "pattern_id": "P-" + "-".join(items),
        "items": json.dumps(items),
        "created_at": t(version),
        **extra,
    }


def test_pattern_library_roundtrip(series_store: SeriesStore) -> None:
    assert series_store.patterns().is_empty()
    assert series_store.save_pattern(_pattern_row("humid qc", 1, ["a=1", "b=2"], risk_ratio=4.5))
    assert series_store.save_pattern(_pattern_row("humid qc", 2, ["a=1"], note='it\'s "odd", ok'))
    assert series_store.save_pattern(_pattern_row("broker", 1, ["node=X"]))
    # the same (name, version) again is left as it is
    assert not series_store.save_pattern(_pattern_row("humid qc", 1, ["zzz=1"]))
    lib = series_store.patterns()
    assert lib.columns == list(tables.PATTERN_LIBRARY.column_names)
    assert lib.select("name", "version").rows() == [("broker", 1), ("humid qc", 1), ("humid qc", 2)]
    assert lib["items"][1] == '["a=1", "b=2"]'
    assert lib["risk_ratio"][1] == 4.5 and lib["risk_ratio"][2] is None
    assert lib["note"][2] == 'it\'s "odd", ok'
    assert lib["created_at"][2] == t(2)


def test_pattern_hits_new_only(series_store: SeriesStore) -> None:
    def hits(rows: list[tuple], run: str) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "pattern_id": [r[0] for r in rows],
                "order_id": [r[1] for r in rows],
                "node": ["PICKING"] * len(rows),
                "visit": [r[2] for r in rows],
                "entered_at": [t(r[3]) for r in rows],
                "dwell_ms": [1000] * len(rows),
                "run_id": [run] * len(rows),
                "recorded_at": [t(100)] * len(rows),
            }
        )

    assert series_store.record_pattern_hits(hits([("P1", "O1", 1, 0), ("P1", "O2", 1, 5)], "r1")) == 2
    # a later run: one visit already counted, one new visit, the same visit for another pattern
    later = hits([("P1", "O1", 1, 0), ("P1", "O1", 2, 9), ("P2", "O1", 1, 0)], "r2")
    assert series_store.record_pattern_hits(later) == 2
    assert series_store.record_pattern_hits(later.clear()) == 0
    got = series_store.pattern_hits(["P1"])
    assert got.columns == list(tables.PATTERN_HITS.column_names)
    assert got.select("order_id", "visit", "run_id").rows() == [
        ("O1", 1, "r1"),
        ("O2", 1, "r1"),
        ("O1", 2, "r2"),
    ]
    assert series_store.pattern_hits().height == 4
    assert series_store.pattern_hits([]).is_empty()
    series_store.reset()
    assert series_store.pattern_hits().is_empty() and series_store.patterns().is_empty()


def test_reads_of_other_threads_see_each_commit_and_repeat_exactly(series_store: SeriesStore) -> None:
    """Reads may run on a cursor of the calling thread (DuckDB) and a repeated lookup may take
    another way to its frame: one opened before a write sees it, every time the same frame."""
    import threading

    def read(order_id: str) -> pl.DataFrame:
        found: list[pl.DataFrame] = []
        thread = threading.Thread(target=lambda: found.append(series_store.events(order_id)))
        thread.start()
        thread.join(30)
        return found[0]

    series_store.append(EVENTS, events_frame(lifecycle("O1", ["CREATED", "PAID"])))
    first = series_store.events("O1")
    assert series_store.events("O2").is_empty()
    series_store.append(EVENTS, events_frame(lifecycle("O2", ["CREATED", "PAID", "PICKED"])))
    for again in (series_store.events("O1"), read("O1")):
        assert again.schema == first.schema and again.equals(first)
    assert series_store.events("O2")["to_state"].to_list() == ["CREATED", "PAID", "PICKED"]
    assert read("O2").equals(series_store.events("O2"))
    series_store.rebuild_pending_dwell()
    assert series_store.dwell("O2").equals(series_store.dwell("O2"))
    assert series_store.dwell("O2").height == 3
