"""Same identity + same content = duplicate; same identity + other content = conflict,
quarantined with the fields that differ — within a file, across batches and against the store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl

from orderscope.ingest.pipeline import ingest_folder
from orderscope.views.stats import collect_stats


def _only(folder: Path, keep: set[str]) -> None:
    for path in folder.iterdir():
        if path.name.split(".")[0] not in keep:
            path.unlink()


def _conflicts(stores) -> pl.DataFrame:
    q = stores.series.quarantine_rows(1000)
    return q.filter(pl.col("outcome") == "conflict").sort("kind", "row_number")


def test_changed_event_in_a_later_file_is_a_conflict_with_its_diff(generated, copy_of, embedded):
    folder = copy_of(generated())
    ingest_folder(folder, embedded)
    before = collect_stats(embedded)
    events = [json.loads(line) for line in (folder / "order_events.jsonl").read_text().splitlines()]
    first, second = events[0], events[1]
    later = copy_of(generated(), "later")
    _only(later, {"order_events"})
    rows = [
        dict(first, to_state="TELEPORTED"),  # conflict: to_state
        dict(second, order_id=events[-1]["order_id"], actor_id="someone-else"),  # conflict: 2 fields
        first,  # duplicate: same content
        second,  # duplicate
    ]
    (later / "order_events.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = ingest_folder(later, embedded).to_dict()
    c = report["kinds"]["order_events"]
    assert (c["rows_read"], c["accepted"], c["rejected"], c["duplicate"], c["conflict"]) == (4, 0, 0, 2, 2)
    assert report["totals"]["conflict"] == 2
    found = _conflicts(embedded)
    assert found["row_number"].to_list() == [1, 2]
    one, two = found["reason"].to_list()
    assert f"'{first['event_id']}'" in one
    assert f"to_state: {first['to_state']} → TELEPORTED" in one
    assert f"order_id: {second['order_id']} → {events[-1]['order_id']}" in two
    assert f"actor_id: {second['actor_id']} → someone-else" in two
    assert "TELEPORTED" in found["raw"][0]  # the new content is kept whole, nothing vanishes
    after = collect_stats(embedded)
    assert after["kinds"] == before["kinds"]  # the stored first version stays as it is
    assert after["quarantine"] == before["quarantine"] + 2


def test_repeat_within_one_file_conflict_or_duplicate(generated, copy_of, embedded):
    folder = copy_of(generated())
    path = folder / "payments.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, next(csv.reader([lines[1]])), strict=False))
    changed = dict(row, amount=str(float(row["amount"]) + 1))
    with path.open("a") as f:
        f.write(lines[1] + "\n")  # duplicate
        f.write(",".join(changed[h] for h in header) + "\n")  # conflict
    report = ingest_folder(folder, embedded).to_dict()
    c = report["kinds"]["payments"]
    n = len(lines) - 1
    assert (c["rows_read"], c["accepted"], c["duplicate"], c["conflict"], c["rejected"]) == (
        n + 2,
        n,
        1,
        1,
        0,
    )
    (reason,) = _conflicts(embedded)["reason"].to_list()
    assert "row 1 of this file" in reason
    assert f"amount: {float(row['amount'])} → {float(row['amount']) + 1}" in reason


def test_conflicts_across_batches_and_readings(generated, copy_of, embedded, monkeypatch):
    """A reading (identity: sensor + time) repeated with another value in a later batch of the
    same file is a conflict against the batch already stored."""
    import orderscope.ingest.readers as readers

    folder = copy_of(generated())
    climate = pl.read_parquet(folder / "climate_readings.parquet")
    changed = climate.head(1).with_columns(pl.col("humidity_pct") + 10)
    pl.concat([climate, climate.head(1), changed]).write_parquet(folder / "climate_readings.parquet")
    monkeypatch.setattr(readers, "CHUNK_ROWS", 1000)
    report = ingest_folder(folder, embedded).to_dict()
    c = report["kinds"]["climate_readings"]
    assert (c["accepted"], c["duplicate"], c["conflict"]) == (climate.height, 1, 1)
    (reason,) = _conflicts(embedded)["reason"].to_list()
    assert "the stored record" in reason and "humidity_pct:" in reason


def test_json_fields_compare_by_value_not_text(generated, copy_of, embedded):
    folder = copy_of(generated())
    ingest_folder(folder, embedded)
    events = [json.loads(line) for line in (folder / "order_events.jsonl").read_text().splitlines()]
    with_diff = next(e for e in events if e.get("diff"))
    respaced = dict(
        with_diff,
        diff=json.dumps(json.loads(with_diff["diff"]), indent=2)
        if isinstance(with_diff["diff"], str)
        else with_diff["diff"],
    )
    later = copy_of(generated(), "later")
    _only(later, {"order_events"})
    (later / "order_events.jsonl").write_text(json.dumps(respaced) + "\n")
    c = ingest_folder(later, embedded).to_dict()["kinds"]["order_events"]
    assert (c["duplicate"], c["conflict"]) == (1, 0)


def test_a_crash_after_the_events_file_never_loses_dwell(generated, copy_of, embedded_settings):
    """The first symptom of the issue, in process: the events are stored and their file is
    done in the ledger, but the run dies before dwell is derived; the next run (every file
    skipped by the ledger) still derives it."""
    from orderscope.stores import open_stores

    folder = generated()
    with open_stores(embedded_settings) as stores:
        ingest_folder(folder, stores)
        want = collect_stats(stores)["stage_dwell"]
        stores.series.reset()
        stores.graph.reset()

    class Died(Exception):
        pass

    with open_stores(embedded_settings) as stores:
        real = stores.series.rebuild_pending_dwell

        def die() -> int:
            raise Died

        stores.series.rebuild_pending_dwell = die  # type: ignore[method-assign]
        try:
            ingest_folder(folder, stores)
        except Died:
            pass
        stores.series.rebuild_pending_dwell = real  # type: ignore[method-assign]
        assert collect_stats(stores)["stage_dwell"] == 0
        assert stores.series.pending_dwell() > 0
    with open_stores(embedded_settings) as stores:
        again = ingest_folder(folder, stores).to_dict()
        assert again["totals"]["skipped_files"] == 17
        assert collect_stats(stores)["stage_dwell"] == want > 0
        assert stores.series.pending_dwell() == 0
