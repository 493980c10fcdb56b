"""Order health score: bounds, a hand-checked order, slices."""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl
import pytest

from orderscope.analytics.health import SLICE_COLUMNS, order_health, slice_health
from orderscope.analytics.stalls import find_stalls
from orderscope.stores import open_stores
from orderscope.views.snapshot import UnknownOrder


def _ts(col: str) -> pl.Expr:
    return pl.col(col).str.to_datetime(time_zone="UTC")


@pytest.fixture(scope="module")
def store(ingested):
    return ingested(3000, 5, "default")


def _late_order_with_ticket(folder):
    """From the source files: a delivered-late order with a resolved ticket."""
    orders = pl.read_csv(folder / "orders.csv").select("order_id", _ts("promised_at"))
    ev = pl.read_ndjson(folder / "order_events.jsonl", infer_schema_length=None)
    ev = ev.filter(pl.col("to_state") == "DELIVERED")
    delivered = ev.group_by("order_id").agg(_ts("at").min().alias("delivered_at"))
    tickets = pl.read_ndjson(folder / "service_tickets.jsonl", infer_schema_length=None).filter(
        pl.col("resolved_at").is_not_null()
    )
    late = (
        orders.join(delivered, on="order_id")
        .filter(pl.col("delivered_at") > pl.col("promised_at"))
        .join(tickets.select("order_id").unique(), on="order_id")
        .sort("order_id")
    )
    return late.row(0, named=True), tickets


def test_hand_checked_order(store):
    settings, folder = store
    row, tickets = _late_order_with_ticket(folder)
    oid, promised = row["order_id"], row["promised_at"]
    notes = (
        pl.read_ndjson(folder / "notifications.jsonl", infer_schema_length=None)
        .filter((pl.col("order_id") == oid) & pl.col("proactive"))
        .with_columns(_ts("sent_at"))
    )
    with open_stores(settings, read_only=True) as stores:
        h = order_health(stores, oid).to_dict()
        stalls = find_stalls(stores, None, order_ids=[oid])
    # on time: delivered after the promise
    assert h["delivery"]["status"] == "late" and h["components"]["on_time"] == 0.0
    # proactive: lateness covered by a notice in the 24 h before the promise; stalls by one
    # sent while the visit lasted
    sent = notes["sent_at"].to_list()
    covered = [any(promised - timedelta(hours=24) <= s <= promised for s in sent)]
    for s in stalls.iter_rows(named=True):
        end = s["left_at"] or h["as_of"]
        covered.append(any(s["entered_at"] <= t <= end for t in sent))
    assert len(h["delays"]) == len(covered)
    proactive = sum(covered) / len(covered)
    assert h["components"]["proactive"] == pytest.approx(proactive)
    # tickets: 1 within 1 h (response) / 24 h (resolution), 0 from 24 h / 168 h, linear between
    mine = tickets.filter(pl.col("order_id") == oid).with_columns(
        _ts("opened_at"), _ts("first_response_at"), _ts("resolved_at")
    )
    resp, res = [], []
    for t in mine.iter_rows(named=True):
        rh = (t["first_response_at"] - t["opened_at"]).total_seconds() / 3600
        sh = (t["resolved_at"] - t["opened_at"]).total_seconds() / 3600
        resp.append(1.0 if rh <= 1 else max(0.0, (24 - rh) / 23))
        res.append(1.0 if sh <= 24 else max(0.0, (168 - sh) / 144))
    response, resolution = sum(resp) / len(resp), sum(res) / len(res)
    assert h["components"]["response"] == pytest.approx(response)
    assert h["components"]["resolution"] == pytest.approx(resolution)
    expect = 100 * (0.4 * 0 + 0.2 * proactive + 0.2 * response + 0.2 * resolution)
    assert h["score"] == pytest.approx(round(expect, 1))


def test_scores_bounded_and_unknown_order(store):
    settings, folder = store
    ids = pl.read_csv(folder / "orders.csv")["order_id"].sort().gather_every(300).to_list()
    with open_stores(settings, read_only=True) as stores:
        for oid in ids:
            h = order_health(stores, oid).to_dict()
            assert 0.0 <= h["score"] <= 100.0
            for v in h["components"].values():
                assert v is None or 0.0 <= v <= 1.0
            if all(v is None for v in h["components"].values()):
                assert h["score"] == 100.0
        with pytest.raises(UnknownOrder):
            order_health(stores, "NO-SUCH-ORDER")


def test_slice_health(store):
    settings, _ = store
    with open_stores(settings, read_only=True) as stores:
        total = slice_health(stores, [], "2026-W46")
        by = slice_health(stores, ["region", "channel"], "2026-W46")
        with pytest.raises(ValueError):
            slice_health(stores, ["order_id; DROP"], "2026-W46")
        n_orders = stores.series.query(
            "SELECT count(*) AS n FROM orders WHERE created_at >= $1 AND created_at < $2",
            [
                datetime.fromisoformat("2026-11-09T00:00:00+00:00"),
                datetime.fromisoformat("2026-11-16T00:00:00+00:00"),
            ],
        )["n"][0]
    assert total.height == 1 and list(total.columns) == list(SLICE_COLUMNS)
    t = total.row(0, named=True)
    assert t["orders"] == n_orders
    assert 0 < t["on_time"] <= t["due"] <= t["orders"]
    assert t["delays_notified"] <= t["delays"] and t["delays"] > 0
    assert 0 <= t["health_score"] <= 100
    assert by.columns[:2] == ["region", "channel"]
    # the slices partition the period's orders and its delays / tickets
    for c in ("orders", "due", "on_time", "delays", "delays_notified", "tickets"):
        assert by[c].sum() == t[c]
    assert by["health_score"].is_between(0, 100).all()
    assert by["health_score"].is_sorted(nulls_last=True)
