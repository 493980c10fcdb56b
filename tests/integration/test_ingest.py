"""Generate → ingest → snapshot on the embedded stores, including damaged and repeated input."""

from __future__ import annotations

import json
import random
from pathlib import Path

import polars as pl
import pytest

from orderscope.domain.sources import SOURCE_KINDS
from orderscope.ingest.pipeline import IngestError, ingest_folder
from orderscope.stores import open_stores
from orderscope.views.snapshot import UnknownOrder, build_snapshot
from orderscope.views.stats import collect_stats


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.strip()]


def _source_rows(folder: Path) -> dict[str, int]:
    counts = {}
    for k in SOURCE_KINDS:
        path = folder / k.file_name
        if k.format == "parquet":
            counts[k.name] = pl.read_parquet(path).height
        elif k.format == "csv":
            counts[k.name] = len(_lines(path)) - 1
        else:
            counts[k.name] = len(_lines(path))
    return counts


def test_clean_generated_data_goes_in_whole(generated, embedded):
    folder = generated()
    expected = _source_rows(folder)
    report = ingest_folder(folder, embedded).to_dict()
    for name, rows in expected.items():
        c = report["kinds"][name]
        assert (c["rows_read"], c["accepted"], c["rejected"], c["duplicate"]) == (rows, rows, 0, 0), name
    stats = collect_stats(embedded)
    assert {k: v["count"] for k, v in stats["kinds"].items()} == expected
    assert stats["quarantine"] == 0
    assert stats["stage_dwell"] > 0


def test_same_files_twice_add_nothing(generated, embedded):
    folder = generated()
    ingest_folder(folder, embedded)
    before = collect_stats(embedded)
    again = ingest_folder(folder, embedded).to_dict()
    assert again["totals"]["accepted"] == 0
    assert again["totals"]["duplicate"] == again["totals"]["rows_read"] > 0
    assert collect_stats(embedded) == before
    # The same rows in a renamed file are caught row by row.
    again = ingest_folder(folder, embedded, reprocess=True).to_dict()
    assert again["totals"]["accepted"] == 0 and again["totals"]["rejected"] == 0
    assert collect_stats(embedded) == before


def _damage(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Append bad rows to a copy; returns the expected (accepted, rejected, duplicate) deltas."""
    orders = folder / "orders.csv"
    lines = _lines(orders)
    header = lines[0].split(",")
    good_order = dict(zip(header, next(__import__("csv").reader([lines[1]])), strict=False))
    naive = dict(good_order, order_id="O-NAIVE", created_at="2026-11-02T10:00:00")
    with orders.open("a") as f:
        f.write(lines[1] + "\n")  # duplicate of the first order
        f.write('O-BROKEN,"unterminated\n')  # malformed
        f.write(",".join(naive[h] for h in header) + "\n")  # naive timestamp
    events = folder / "order_events.jsonl"
    ev_lines = _lines(events)
    first = json.loads(ev_lines[0])
    oid = first["order_id"]
    bad_events = [
        ev_lines[1],  # exact duplicate
        "{this is not json",
        json.dumps(dict(first, event_id="EV-UNKNOWN", order_id="O-DOES-NOT-EXIST")),
        json.dumps(dict(first, event_id="EV-ILLEGAL", from_state="CREATED", to_state="DELIVERED")),
        json.dumps(
            dict(
                first,
                event_id="EV-NOREASON",
                from_state="QC_INSPECTING",
                to_state="PICKING",
                reason_code=None,
                evidence="QC-X",
            )
        ),
        json.dumps(dict(first, event_id="EV-NAIVE", at="2026-11-02T10:00:00")),
    ]
    with events.open("a") as f:
        f.write("\n".join(bad_events) + "\n")
    payments = folder / "payments.csv"
    p_lines = _lines(payments)
    p_header = p_lines[0].split(",")
    row = dict(zip(p_header, next(__import__("csv").reader([p_lines[1]])), strict=False))
    with payments.open("a") as f:
        f.write(",".join(dict(row, payment_id="PAY-ABC", amount="abc")[h] for h in p_header) + "\n")
        f.write(",".join(dict(row, payment_id="PAY-NOORDER", order_id="O-NOPE")[h] for h in p_header) + "\n")
    assert oid
    return {"orders": (0, 2, 1), "order_events": (0, 5, 1), "payments": (0, 2, 0)}


def _ingest_damaged(folder: Path, stores) -> dict[str, int]:
    """Damage the folder, ingest it, check the exact counts per kind; the clean row counts."""
    clean = _source_rows(folder)
    expected = _damage(folder)
    report = ingest_folder(folder, stores).to_dict()
    for name, rows in clean.items():
        acc, rej, dup = expected.get(name, (0, 0, 0))
        c = report["kinds"][name]
        assert c["accepted"] == rows + acc, name
        assert c["rejected"] == rej, name
        assert c["duplicate"] == dup, name
        assert c["rows_read"] == rows + acc + rej + dup, name
    return clean


def test_damaged_copy_exact_counts_and_every_good_row_arrives(generated, copy_of, embedded):
    clean = _ingest_damaged(copy_of(generated()), embedded)
    stats = collect_stats(embedded)
    assert {k: v["count"] for k, v in stats["kinds"].items()} == clean
    assert stats["quarantine"] == 9
    reasons = embedded.series.quarantine_rows(100)["reason"].to_list()
    text = "\n".join(reasons)
    for expected_reason in [
        "malformed row",
        "naive timestamp",
        "unknown order 'O-DOES-NOT-EXIST'",
        "illegal transition CREATED → DELIVERED",
        "missing reason code for QC_INSPECTING → PICKING",
        "not a number: 'abc'",
        "unknown order 'O-NOPE'",
    ]:
        assert expected_reason in text


def test_small_batches_give_the_same_counts(generated, copy_of, embedded, monkeypatch):
    """Big files stream in batches; a duplicate in a later batch is still a duplicate."""
    import orderscope.ingest.readers as readers

    monkeypatch.setattr(readers, "CHUNK_ROWS", 2500)  # the events span several batches
    _ingest_damaged(copy_of(generated()), embedded)
    assert collect_stats(embedded)["quarantine"] == 9


def test_out_of_order_arrival_gives_the_same_dwell(generated, copy_of, tmp_path):
    from orderscope.config import load_settings

    folder = generated()
    shuffled = copy_of(folder, "shuffled")
    lines = _lines(shuffled / "order_events.jsonl")
    random.Random(1).shuffle(lines)
    half = len(lines) // 2  # the later half arrives in a second file, in a second run
    (shuffled / "order_events.jsonl").write_text("\n".join(lines[:half]) + "\n")
    late = tmp_path / "late"
    late.mkdir()
    (late / "order_events-late.jsonl").write_text("\n".join(lines[half:]) + "\n")

    def dwell_of(*folders: Path, name: str) -> pl.DataFrame:
        settings = load_settings(backend="embedded", data_dir=tmp_path / name)
        with open_stores(settings) as stores:
            for f in folders:
                ingest_folder(f, stores)
            return stores.series.query(
                "SELECT order_id, node, visit, entered_at, left_at, dwell_ms FROM stage_dwell "
                "ORDER BY order_id, entered_at, node"
            )

    assert dwell_of(folder, name="ordered").equals(dwell_of(shuffled, late, name="shuffled"))


def test_crash_mid_ingest_resumes_without_loss_or_duplicates(generated, embedded, monkeypatch):
    folder = generated()
    expected = _source_rows(folder)
    real = embedded.graph.add_records
    calls = {"n": 0}

    def crashing(kind, frame):
        calls["n"] += 1
        if kind.name == "qc_reports":
            raise RuntimeError("power cut")
        return real(kind, frame)

    monkeypatch.setattr(embedded.graph, "add_records", crashing)
    with pytest.raises(RuntimeError, match="power cut"):
        ingest_folder(folder, embedded)
    monkeypatch.setattr(embedded.graph, "add_records", real)
    ingest_folder(folder, embedded)
    stats = collect_stats(embedded)
    assert {k: v["count"] for k, v in stats["kinds"].items()} == expected
    assert stats["quarantine"] == 0


def test_snapshot_has_five_elements_dwell_and_all_17_kinds(generated, embedded):
    folder = generated()
    ingest_folder(folder, embedded)
    order_id = embedded.series.query(
        "SELECT order_id FROM order_events WHERE from_state = $1 AND to_state = $2 ORDER BY order_id LIMIT 1",
        ["QC_INSPECTING", "PICKING"],
    ).item(0, 0)
    snap = build_snapshot(embedded, order_id)
    assert snap["order_id"] == order_id and snap["order"]["order_id"] == order_id
    assert set(snap["linked"]) == {k.name for k in SOURCE_KINDS}
    for e in snap["events"]:
        assert {"at", "actor", "from_state", "to_state", "reason_code", "evidence", "diff", "impact"} <= set(
            e
        )
    rework = [e for e in snap["events"] if (e["from_state"], e["to_state"]) == ("QC_INSPECTING", "PICKING")]
    assert rework and rework[0]["reason_code"] == "QC_FAILED" and rework[0]["evidence"]
    nodes = [v["node"] for v in snap["dwell"]]
    assert nodes[0] == "CREATED" and nodes.count("PICKING") >= 2
    assert snap["linked"]["qc_reports"] and snap["linked"]["equipment_calibrations"]
    assert snap["linked"]["warehouse_tasks"] and snap["linked"]["climate_readings"]
    assert snap["linked"]["operator_sessions"]
    equipment = {q["equipment_id"] for q in snap["linked"]["qc_reports"]}
    assert {c["equipment_id"] for c in snap["linked"]["equipment_calibrations"]} <= equipment
    zones = {t["zone_id"] for t in snap["linked"]["warehouse_tasks"]}
    assert {r["zone_id"] for r in snap["linked"]["climate_readings"]} <= zones


def test_customs_snapshot_links_broker_sessions(generated, embedded):
    folder = generated()
    ingest_folder(folder, embedded)
    order_id = embedded.series.query(
        "SELECT order_id FROM order_events WHERE to_state = $1 ORDER BY order_id LIMIT 1",
        ["CUSTOMS_CLEARED"],
    ).item(0, 0)
    snap = build_snapshot(embedded, order_id)
    (declaration,) = snap["linked"]["customs_declarations"]
    broker = declaration["broker_id"]
    assert any(s["actor_id"] == broker for s in snap["linked"]["operator_sessions"])
    assert snap["linked"]["shipments"] and snap["linked"]["logistics_tracks"]
    assert snap["linked"]["carrier_capacity"]


def test_unknown_order_is_a_clear_error(generated, embedded):
    ingest_folder(generated(), embedded)
    with pytest.raises(UnknownOrder, match="not in the store"):
        build_snapshot(embedded, "O-NOPE")


def test_empty_or_missing_folder_says_what_to_do(tmp_path, embedded):
    with pytest.raises(IngestError, match="not a folder"):
        ingest_folder(tmp_path / "nope", embedded)
    with pytest.raises(IngestError, match="no source files"):
        ingest_folder(tmp_path, embedded)
