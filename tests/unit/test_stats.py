"""Store-wide counts (orderscope.views.stats.collect_stats) over in-memory fakes of both ports."""

from __future__ import annotations

import polars as pl

from orderscope.domain.sources import CLIMATE_READINGS, PAYMENTS, SOURCE_KINDS
from orderscope.views.stats import collect_stats
from tests.fakes import fake_stores
from tests.unit.builders import add_events, add_orders, at, event, frame, order


def quarantined(*rows: tuple[int, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row_number": [r[0] for r in rows],
            "reason": ["bad"] * len(rows),
            "raw": ["{}"] * len(rows),
            "outcome": [r[1] for r in rows],
        }
    )


def test_counts_per_kind_per_store_and_quarantine() -> None:
    stores = fake_stores()
    add_orders(stores, order("O1"), order("O2"))
    add_events(stores, event("e1", "O1", 0, None, "CREATED"), event("e2", "O1", 1, "CREATED", "PAID"))
    payment = {"order_id": "O1", "method": "card", "amount": 1.0, "currency": "EUR", "status": "ok"}
    stores.graph.add_records(
        PAYMENTS,
        frame(PAYMENTS, [payment | {"payment_id": p, "authorized_at": at(1)} for p in ("P1", "P2", "P3")]),
    )
    stores.series.append(
        CLIMATE_READINGS,
        frame(
            CLIMATE_READINGS,
            [
                {"sensor_id": "S1", "warehouse_id": "W1", "zone_id": "Z1", "at": at(h), "temperature_c": 20.0}
                for h in range(4)
            ],
        ),
    )
    stores.series.ledger_start("b1", "payments", "payments.csv", "h1")
    stores.series.quarantine("b1", "payments", "payments.csv", quarantined((2, "rejected"), (5, "conflict")))
    stores.series.quarantine("b2", "orders", "orders.csv", quarantined((7, "rejected")))

    stats = collect_stats(stores)

    assert stats["backend"] == "fake"
    assert list(stats["kinds"]) == [k.name for k in SOURCE_KINDS]
    kinds = stats["kinds"]
    assert kinds["orders"] == {"store": "graph", "count": 2}  # graph nodes of the order master
    assert kinds["payments"] == {"store": "graph", "count": 3}
    assert kinds["order_events"] == {"store": "series", "count": 2}
    assert kinds["climate_readings"] == {"store": "series", "count": 4}
    assert kinds["returns"] == {"store": "graph", "count": 0}
    assert stats["graph"]["node:Customer"] == 1 and stats["graph"]["rel:HAS_PAYMENT"] == 3
    assert list(stats["graph"]) == sorted(stats["graph"])
    assert stats["series"]["orders"] == 2 and list(stats["series"]) == sorted(stats["series"])
    assert stats["stage_dwell"] == 2
    assert stats["quarantine"] == 3
    assert stats["quarantine_by_kind"] == {
        "orders": {"rejected": 1, "conflict": 0},
        "payments": {"rejected": 1, "conflict": 1},
    }


def test_an_empty_store_counts_zeros() -> None:
    stats = collect_stats(fake_stores())
    assert all(k["count"] == 0 for k in stats["kinds"].values())
    assert stats["quarantine"] == 0 and stats["quarantine_by_kind"] == {} and stats["stage_dwell"] == 0
