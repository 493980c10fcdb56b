"""Reading and typing source files: every row is either typed or rejected with a reason."""

import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orderscope.domain.sources import kind
from orderscope.ingest.readers import ROW, discover, read
from orderscope.ingest.validate import validate

PAYMENT_HEADER = "payment_id,order_id,method,amount,currency,status,authorized_at,captured_at"


def _read_validate(path):
    (source,), _ = discover(path.parent)
    result = read(source)
    good, bad = validate(source.kind, result.rows)
    return result, good, pl.concat([result.rejects, result.raw(bad)]).sort(ROW)


def test_discover_orders_kinds_and_reports_unknown_files(tmp_path):
    for name in [
        "shipments.csv",
        "orders.csv",
        "order_events-2.jsonl",
        "order_events.jsonl",
        "logistics_tracks.jsonl",
        "ground_truth.json",
        "notes.txt",
    ]:
        (tmp_path / name).write_text("")
    files, unknown = discover(tmp_path)
    assert [f.path.name for f in files] == [
        "orders.csv",
        "order_events-2.jsonl",
        "order_events.jsonl",
        "shipments.csv",
        "logistics_tracks.jsonl",
    ]
    assert sorted(p.name for p in unknown) == ["ground_truth.json", "notes.txt"]


def test_csv_bad_rows_are_rejected_one_by_one(tmp_path):
    path = tmp_path / "payments.csv"
    path.write_text(
        PAYMENT_HEADER + "\n"
        "P1,O1,card,1.50,EUR,captured,2026-11-01T10:00:00.123Z,\n"
        "P2,O1,card,abc,EUR,captured,2026-11-01T10:00:00Z,\n"  # not a number
        'P3,"O1,card\n'  # broken quote must not swallow the next rows
        "P4,O1,card,2,EUR,captured,2026-11-01T10:00:00,\n"  # naive timestamp
        "P5,,card,2,EUR,captured,2026-11-01T11:00:00+01:00,\n"  # missing order_id
        "P6,O2,card,2,EUR,captured,2026-11-01T11:00:00+01:00,2026-11-01T11:05:00+01:00\n"
        "P7,O2,card,2,EUR,captured,2026-11-01 11:00:00.250+01:00,\n"  # RFC 3339 space form
    )
    result, good, bad = _read_validate(path)
    assert result.rows_read == 7
    assert good["payment_id"].to_list() == ["P1", "P6", "P7"]
    assert str(good["authorized_at"][2]) == "2026-11-01 10:00:00.250000+00:00"
    assert good["authorized_at"].dtype == pl.Datetime("us", "UTC")
    assert str(good["authorized_at"][1]) == "2026-11-01 10:00:00+00:00"
    assert good["authorized_at"][0].microsecond == 123000
    reasons = dict(zip(bad[ROW].to_list(), bad["reason"].to_list(), strict=False))
    assert set(reasons) == {2, 3, 4, 5}
    assert "not a number: 'abc'" in reasons[2]
    assert reasons[3].startswith("malformed row")
    assert "naive timestamp" in reasons[4]
    assert "missing required field order_id" in reasons[5]
    assert json.loads(bad.filter(pl.col(ROW) == 2)["raw"][0])["amount"] == "abc"


def test_jsonl_keeps_nested_json_as_text_and_rejects_broken_lines(tmp_path):
    path = tmp_path / "order_events.jsonl"
    good_line = {
        "event_id": "E1",
        "order_id": "O1",
        "at": "2026-11-01T10:00:00.5+08:00",
        "actor_id": "u1",
        "actor_role": "user",
        "from_state": None,
        "to_state": "CREATED",
        "diff": {"status": [None, "CREATED"]},
        "impact": [{"kind": "notifications", "id": "N1"}],
    }
    path.write_text(
        json.dumps(good_line)
        + "\n{not json\n\n[1, 2]\n"
        + json.dumps({**good_line, "event_id": "E2", "at": 1234})
        + "\n"
    )
    result, good, bad = _read_validate(path)
    assert result.rows_read == 4  # the blank line is not a row
    assert good["event_id"].to_list() == ["E1"]
    assert json.loads(good["diff"][0]) == {"status": [None, "CREATED"]}
    assert str(good["at"][0]) == "2026-11-01 02:00:00.500000+00:00"
    assert bad[ROW].to_list() == [2, 4, 5]  # line numbers; line 3 is blank
    assert "not a JSON object" in bad["reason"][0]
    assert "naive timestamp" in bad["reason"][2] or "not an ISO" in bad["reason"][2]


def test_parquet_naive_timestamps_are_rejected(tmp_path):
    table = pa.table(
        {
            "sensor_id": ["S1", "S2"],
            "warehouse_id": ["W", "W"],
            "zone_id": ["Z", "Z"],
            "at": pa.array([0, 600_000], type=pa.timestamp("ms")),
            "temperature_c": [20.0, 21.0],
            "humidity_pct": [45.0, None],
        }
    )
    pq.write_table(table, tmp_path / "climate_readings.parquet")
    result, good, bad = _read_validate(tmp_path / "climate_readings.parquet")
    assert good.height == 0 and bad.height == 2
    assert all("naive timestamp" in r for r in bad["reason"])


def test_parquet_aware_timestamps_are_typed(tmp_path):
    table = pa.table(
        {
            "carrier_id": ["C1"],
            "hub_id": ["H1"],
            "at": pa.array([1_700_000_000_000], type=pa.timestamp("ms", tz="Europe/Berlin")),
            "load_pct": [55.5],
            "capacity_parcels": [1000],
        }
    )
    pq.write_table(table, tmp_path / "carrier_capacity.parquet")
    _, good, bad = _read_validate(tmp_path / "carrier_capacity.parquet")
    assert bad.height == 0
    assert good.schema["at"] == pl.Datetime("us", "UTC")
    assert good["capacity_parcels"].dtype == pl.Int64


@pytest.mark.parametrize("value", ["true", "FALSE", "1", "no"])
def test_booleans_in_text(tmp_path, value):
    k = kind("orders")
    row = {c.name: "x" for c in k.columns}
    row.update(
        quantity="1",
        amount="2.5",
        cross_border=value,
        created_at="2026-11-01T00:00:00Z",
        promised_at="2026-11-03T00:00:00Z",
    )
    frame = pl.DataFrame([row]).with_columns(pl.lit(1, dtype=pl.Int64).alias(ROW), pl.lit("{}").alias("_raw"))
    good, bad = validate(k, frame)
    assert bad.height == 0 and good["cross_border"][0] == (value.lower() in ("true", "1"))
