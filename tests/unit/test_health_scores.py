"""The order health score's pure parts on hand-made values: the linear decay of a ticket's
response and resolution, the weighted combination, the ticket scores as of a moment, and the
delivery definitions (status, first delivery, cancelled) of one order. No store: every figure is
worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from orderscope.analytics.health import combine, decay, ticket_scores
from orderscope.domain.lifecycle import load_catalog
from orderscope.views.delivery import delivery_status, order_delivery

T0 = datetime(2026, 1, 5, tzinfo=UTC)
TS = pl.Datetime("us", "UTC")
ROLES = load_catalog().roles


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def test_decay_is_one_then_linear_then_zero():
    # target 1 h, limit 24 h: 12.5 h -> (24 - 12.5) / 23 = 0.5
    got = decay(np.array([0.5, 1.0, 12.5, 24.0, 30.0, np.nan]), 1.0, 24.0)
    assert got[:5].tolist() == [1.0, 1.0, 0.5, 0.0, 0.0] and np.isnan(got[5])


def test_combine_weights_the_applicable_components():
    # 100 x (0.4 x 0 + 0.2 x 0.5) / (0.4 + 0.2) = 16.666... -> 16.7
    assert combine({"on_time": 0.0, "proactive": 0.5, "response": None, "resolution": None}) == 16.7
    assert combine({"on_time": None, "proactive": None, "response": None, "resolution": None}) == 100.0
    assert combine({"on_time": 1.0, "proactive": 1.0, "response": 1.0, "resolution": 1.0}) == 100.0


def test_ticket_scores_as_of_a_moment():
    as_of = h(48)
    tickets = pl.DataFrame(
        {
            "ticket_id": ["answered", "late answer", "open", "young"],
            # answered after 12.5 h, resolved after 96 h (unknown at 48 h: scored by its age)
            "opened_at": [h(0), h(0), h(0), h(47.5)],
            "first_response_at": [h(12.5), h(50), None, None],
            "resolved_at": [h(96), None, None, None],
        },
        schema={"ticket_id": pl.String, "opened_at": TS, "first_response_at": TS, "resolved_at": TS},
    )
    rows = {r["ticket_id"]: r for r in ticket_scores(tickets, as_of).iter_rows(named=True)}
    a = rows["answered"]
    assert a["response_h"] == 12.5 and a["response_score"] == pytest.approx(0.5)
    # resolution not known by 48 h: no hours; its age 48 h is past the 24 h target:
    # (168 - 48) / 144 = 0.8333
    assert a["resolution_h"] is None and a["resolution_score"] == pytest.approx(120 / 144)
    # an answer after as_of is not known: the 48 h age is past the 24 h limit -> 0
    assert rows["late answer"]["response_h"] is None and rows["late answer"]["response_score"] == 0.0
    assert rows["open"]["response_score"] == 0.0
    # half an hour old: within both targets, nothing to score yet
    y = rows["young"]
    assert y["response_score"] is None and y["resolution_score"] is None


def test_delivery_status():
    promised = h(24)
    assert delivery_status(promised, h(20), False, h(48)) == "on_time"
    assert delivery_status(promised, h(30), False, h(48)) == "late"
    assert delivery_status(None, h(30), False, h(48)) == "on_time"
    assert delivery_status(promised, None, True, h(48)) == "cancelled"
    assert delivery_status(promised, None, False, h(48)) == "overdue"
    assert delivery_status(promised, None, False, h(10)) == "not_due"


def test_first_delivery_and_cancellation_of_one_order():
    nodes = [ROLES.start, ROLES.delivered, ROLES.delivered]
    visits = pl.DataFrame(
        {"node": nodes, "entered_at": [h(0), h(5), h(9)]}, schema_overrides={"entered_at": TS}
    )
    assert order_delivery(visits, ROLES) == (h(5), False)
    cancelled = pl.DataFrame(
        {"node": [ROLES.start, ROLES.cancelled], "entered_at": [h(0), h(1)]},
        schema_overrides={"entered_at": TS},
    )
    assert order_delivery(cancelled, ROLES) == (None, True)
    # reinstated: the last visit is no longer the cancelled node
    reinstated = pl.concat(
        [
            cancelled,
            pl.DataFrame({"node": [ROLES.start], "entered_at": [h(2)]}, schema_overrides={"entered_at": TS}),
        ]
    )
    assert order_delivery(reinstated, ROLES) == (None, False)
