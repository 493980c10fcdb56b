"""The ingest use case (orderscope.ingest.pipeline.ingest_folder) on a tiny hand-written folder,
over in-memory fakes of both ports: every row read ends accepted, rejected, duplicate or
conflict, and the same folder again changes nothing."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from orderscope.ingest.pipeline import IngestError, IngestReport, ingest_folder
from orderscope.views.stats import collect_stats
from tests.fakes import fake_stores

ORDERS_CSV = """\
order_id,customer_id,channel,region,warehouse_id,sku,sku_category,quantity,amount,currency,destination_country,cross_border,created_at,promised_at
O1,C1,web,EU,W1,SKU1,toys,1,9.5,EUR,DE,false,2024-03-01T08:00:00Z,2024-03-03T08:00:00Z
O2,C2,app,EU,W1,SKU2,books,2,20.0,EUR,FR,true,2024-03-01T08:10:00Z,2024-03-04T08:00:00Z
O1,C1,web,EU,W1,SKU1,toys,1,9.5,EUR,DE,false,2024-03-01T08:00:00Z,2024-03-03T08:00:00Z
O3,C3,web,EU,W1,SKU1,toys,two,9.5,EUR,DE,false,2024-03-01T08:20:00Z,2024-03-03T08:00:00Z
O2,C2,app,EU,W1,SKU2,books,2,25.0,EUR,FR,true,2024-03-01T08:10:00Z,2024-03-04T08:00:00Z
"""

PAYMENTS_CSV = """\
payment_id,order_id,method,amount,currency,status,authorized_at,captured_at
P1,O1,card,9.5,EUR,captured,2024-03-01T08:30:00Z,2024-03-01T08:31:00Z
P2,O9,card,1.0,EUR,captured,2024-03-01T08:30:00Z,
"""


def _event(event_id: str, order_id: str, at: str, from_state: str | None, to_state: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "order_id": order_id,
        "at": f"2024-03-01T{at}:00Z",
        "actor_id": "oms",
        "actor_role": "system",
        "from_state": from_state,
        "to_state": to_state,
    }


EVENTS = [
    _event("e1", "O1", "08:00", None, "CREATED"),
    _event("e2", "O1", "08:30", "CREATED", "PAID"),
    _event("e3", "O1", "09:00", "PAID", "DELIVERED"),  # illegal transition
    _event("e4", "O9", "08:00", None, "CREATED"),  # unknown order
    _event("e1", "O1", "08:00", None, "CREATED"),  # the same event again
    _event("e2", "O1", "08:30", "CREATED", "RISK_CHECKED"),  # the same id, other content
    _event("e5", "O2", "08:10", None, "CREATED"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "orders.csv").write_text(ORDERS_CSV)
    (tmp_path / "payments.csv").write_text(PAYMENTS_CSV)
    (tmp_path / "order_events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    (tmp_path / "notes.txt").write_text("not a source file\n")
    return tmp_path


def counts(report: IngestReport, kind: str) -> dict[str, int]:
    return asdict(report.kinds[kind])


def test_every_row_is_accounted_for(folder: Path) -> None:
    stores = fake_stores()
    report = ingest_folder(folder, stores)
    assert counts(report, "orders") == {
        "files": 1,
        "rows_read": 5,
        "accepted": 2,
        "rejected": 1,
        "duplicate": 1,
        "conflict": 1,
        "skipped_files": 0,
        "failed_files": 0,
    }
    events = counts(report, "order_events")
    assert (events["rows_read"], events["accepted"], events["rejected"]) == (7, 3, 2)
    assert (events["duplicate"], events["conflict"]) == (1, 1)
    payments = counts(report, "payments")
    assert (payments["rows_read"], payments["accepted"], payments["rejected"]) == (2, 1, 1)
    totals = report.totals
    assert totals.rows_read == totals.accepted + totals.rejected + totals.duplicate + totals.conflict == 14
    assert report.unknown_files == ["notes.txt"] and report.failed_files == []


def test_what_the_stores_hold_afterwards(folder: Path) -> None:
    stores = fake_stores()
    ingest_folder(folder, stores)
    assert stores.graph.order("O1") is not None and stores.graph.order("O3") is None
    assert stores.graph.order("O2")["amount"] == 20.0  # type: ignore[index]  # the first wins
    assert stores.series.events("O1")["to_state"].to_list() == ["CREATED", "PAID"]
    # stage dwell derived from the accepted events
    assert stores.series.dwell("O1")["node"].to_list() == ["CREATED", "PAID"]
    assert stores.series.pending_dwell() == 0
    stats = collect_stats(stores)
    assert stats["quarantine_by_kind"] == {
        "order_events": {"rejected": 2, "conflict": 1},
        "orders": {"rejected": 1, "conflict": 1},
        "payments": {"rejected": 1, "conflict": 0},
    }
    assert stats["stage_dwell"] == 3


def test_rejections_say_why(folder: Path) -> None:
    report = ingest_folder(folder, fake_stores())
    reasons = {(r["kind"], r["row"]): (r["outcome"], r["reason"]) for r in report.rejections}
    unknown = "unknown order 'O9' (not in orders; ingest the order master first)"
    assert reasons == {
        ("orders", 4): ("rejected", "column quantity: not an integer: 'two'"),
        ("orders", 5): (
            "conflict",
            "conflict: orders order_id 'O2' differs from row 2 of this file (amount: 20.0 → 25.0)",
        ),
        ("order_events", 3): ("rejected", "illegal transition PAID → DELIVERED"),
        ("order_events", 4): ("rejected", unknown),
        ("order_events", 6): (
            "conflict",
            "conflict: order_events event_id 'e2' differs from row 2 of this file (to_state: PAID → RISK_CHECKED)",
        ),
        ("payments", 2): ("rejected", unknown),
    }


def test_the_same_folder_again_changes_nothing(folder: Path) -> None:
    stores = fake_stores()
    ingest_folder(folder, stores)
    before = collect_stats(stores)
    again = ingest_folder(folder, stores)
    assert again.totals.skipped_files == 3 and again.totals.accepted == 0
    assert again.totals.duplicate == again.totals.rows_read == 14
    assert collect_stats(stores) == before
    # read again row by row: nothing new either, and no row quarantined twice
    reprocessed = ingest_folder(folder, stores, reprocess=True)
    assert reprocessed.totals.accepted == 0 and reprocessed.totals.skipped_files == 0
    assert collect_stats(stores) == before
    assert len(stores.series.ledger()) == 6  # three files, read twice


def test_a_folder_without_source_files_says_what_it_expects(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match=r"no source files in .* \(expected names like orders\.csv"):
        ingest_folder(tmp_path, fake_stores())
    with pytest.raises(IngestError, match="not a folder"):
        ingest_folder(tmp_path / "missing", fake_stores())
