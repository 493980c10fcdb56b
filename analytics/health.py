"""Order health score: on-time delivery, proactive communication, ticket response and resolution.

Components, each in [0, 1], or not applicable (None) when there is nothing to judge yet:

  on_time     1 when delivered by the order's promised_at, 0 when delivered after it or still
              undelivered past it (as of the data clock); None while not due, and for orders
              that ended cancelled without delivery.
  proactive   share of the order's delays that the customer heard about first: a delay is
                - lateness: the order passed promised_at undelivered; covered by a proactive
                  notification sent in [promised_at - PROACTIVE_LEAD, promised_at];
                - a stall (orderscope.analytics.stalls): covered by a proactive notification
                  sent while the stalled visit lasted, [entered_at, left_at or as_of].
              None when the order had no delay.
  response    per ticket, first_response_at - opened_at scored 1 up to RESPONSE_TARGET, 0 from
              RESPONSE_LIMIT, linear between (a ticket still unanswered is scored by its age
              once that passes the target); mean over the order's tickets. None: no tickets.
  resolution  the same for resolved_at - opened_at with RESOLUTION_TARGET / RESOLUTION_LIMIT.

score = 100 * sum(w_i * c_i) / sum(w_i) over the applicable components, weights WEIGHTS
(on_time 0.4, proactive 0.2, response 0.2, resolution 0.2); an order with no applicable
component (nothing due, no delay, no ticket) scores 100. A slice's score applies the same
formula to its rates: on-time rate (on_time / due), proactive rate (covered delays / delays) and
the mean ticket response / resolution scores of the slice's orders.

A slice is the set of orders created in the period, grouped by order dimensions. What
delivered, due, on time, late and cancelled mean is orderscope.views.delivery's (the roles come
from the catalog); the reads are there and in orderscope.views.visits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.stalls import find_stalls
from orderscope.domain.periods import Period, parse_period
from orderscope.ports import Stores
from orderscope.views.delivery import (
    delivery_by_slice,
    delivery_status,
    late_orders,
    order_delivery,
    period_tickets,
    proactive_notifications,
)
from orderscope.views.metrics import ORDER_SLICE_COLUMNS
from orderscope.views.visits import order_dimensions

PROACTIVE_LEAD = timedelta(hours=24)
RESPONSE_TARGET_H, RESPONSE_LIMIT_H = 1.0, 24.0
RESOLUTION_TARGET_H, RESOLUTION_LIMIT_H = 24.0, 168.0
WEIGHTS = {"on_time": 0.4, "proactive": 0.2, "response": 0.2, "resolution": 0.2}
# The order columns a health slice may be cut by: every slice column but the keys of one
# customer or one SKU (a handful of orders each: no rate to speak of).
HEALTH_DIMENSIONS: tuple[str, ...] = tuple(c for c in ORDER_SLICE_COLUMNS if c not in ("customer_id", "sku"))
SLICE_COLUMNS = (
    "orders",
    "due",
    "on_time",
    "on_time_rate",
    "delays",
    "delays_notified",
    "proactive_rate",
    "tickets",
    "median_response_h",
    "response_score",
    "median_resolution_h",
    "resolution_score",
    "health_score",
)
_ON_TIME_SCORE = {"on_time": 1.0, "late": 0.0, "overdue": 0.0}
TS = pl.Datetime("us", "UTC")


# --- the scores -----------------------------------------------------------------------------


def decay(hours: np.ndarray, target: float, limit: float) -> np.ndarray:
    """1 up to target, 0 from limit, linear between (NaN stays NaN). numpy, not polars: polars
    divides a column by a constant through its reciprocal, which rounds differently."""
    return np.where(hours <= target, 1.0, np.where(hours >= limit, 0.0, (limit - hours) / (limit - target)))


def _hours(us: pl.Series) -> np.ndarray:
    """Microseconds as hours (NaN for null), rounded as timedelta.total_seconds() / 3600."""
    return us.cast(pl.Float64).to_numpy() / 1e6 / 3600


def combine(components: dict[str, float | None]) -> float:
    """100 x the weighted mean of the applicable components (100 when none applies)."""
    num = sum(WEIGHTS[k] * v for k, v in components.items() if v is not None)
    den = sum(WEIGHTS[k] for k, v in components.items() if v is not None)
    return round(100.0 * num / den, 1) if den else 100.0


def ticket_scores(tickets: pl.DataFrame, as_of: datetime) -> pl.DataFrame:
    """The tickets (opened_at, first_response_at, resolved_at) with response_h, response_score,
    resolution_h, resolution_score as of as_of: an answer after as_of is not known yet; a
    ticket still unanswered is scored by its age once that passes the target."""
    at = pl.lit(as_of).cast(TS)
    opened = pl.col("opened_at")
    age = _hours(tickets.select((at - opened).dt.total_microseconds())[:, 0])
    out = tickets
    for col, name, target, limit in (
        ("first_response_at", "response", RESPONSE_TARGET_H, RESPONSE_LIMIT_H),
        ("resolved_at", "resolution", RESOLUTION_TARGET_H, RESOLUTION_LIMIT_H),
    ):
        known = pl.when(pl.col(col) <= at).then(pl.col(col) - opened)
        span = _hours(tickets.select(known.dt.total_microseconds())[:, 0])
        score = np.where(
            ~np.isnan(span),
            decay(span, target, limit),
            np.where(age > target, decay(age, target, limit), np.nan),
        )
        out = out.with_columns(
            pl.Series(f"{name}_h", span, dtype=pl.Float64, nan_to_null=True),
            pl.Series(f"{name}_score", score, dtype=pl.Float64, nan_to_null=True),
        )
    return out


# --- one order ------------------------------------------------------------------------------


@dataclass
class Delay:
    """A delay of one order: lateness (past promised_at undelivered) or a stall, and the
    proactive notifications that covered it."""

    kind: str  # late | stall
    node: str | None
    start: datetime
    end: datetime
    notified: bool = False
    notifications: list[str] = field(default_factory=list)
    # a stall's visit
    dwell_ms: int | None = None
    threshold_ms: int | None = None
    baseline_level: str | None = None
    open: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "node": self.node, "start": self.start, "end": self.end}
        if self.kind == "stall":
            d |= {
                "dwell_ms": self.dwell_ms,
                "threshold_ms": self.threshold_ms,
                "baseline_level": self.baseline_level,
                "open": self.open,
            }
        return d | {"notified": self.notified, "notifications": list(self.notifications)}


@dataclass
class TicketScore:
    ticket_id: str
    topic: str | None
    opened_at: datetime
    response_h: float | None
    response_score: float | None
    resolution_h: float | None
    resolution_score: float | None


@dataclass
class OrderHealth:
    """One order's health score, its components and the evidence behind each."""

    order_id: str
    as_of: datetime
    score: float
    components: dict[str, float | None]
    status: str  # delivery status: on_time | late | cancelled | overdue | not_due
    promised_at: datetime | None
    delivered_at: datetime | None
    delays: list[Delay]
    tickets: list[TicketScore]

    def to_dict(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "as_of": self.as_of,
            "score": self.score,
            "components": dict(self.components),
            "weights": dict(WEIGHTS),
            "delivery": {
                "status": self.status,
                "promised_at": self.promised_at,
                "delivered_at": self.delivered_at,
            },
            "delays": [d.to_dict() for d in self.delays],
            "tickets": [asdict(t) for t in self.tickets],
        }


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)  # type: ignore[no-any-return]


def order_health(stores: Stores, order_id: str, as_of: datetime | None = None) -> OrderHealth:
    """The order's health score, its components and the evidence behind each."""
    from orderscope.views.snapshot import UnknownOrder

    order = stores.graph.order(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    as_of = _utc(as_of or stores.series.data_clock()) or datetime.now(UTC)
    promised = _utc(order.get("promised_at"))
    visits = stores.series.dwell(order_id).filter(pl.col("entered_at") <= as_of)
    delivered, cancelled = order_delivery(visits, stores.catalog.roles)
    delivered = _utc(delivered)
    status = delivery_status(promised, delivered, cancelled, as_of)
    records = stores.graph.order_records(order_id)
    delays = _order_delays(stores, order_id, status, promised, delivered, as_of)
    _cover(delays, records.get("notifications", []), as_of)
    tickets = _order_tickets(records.get("service_tickets", []), as_of)
    rs = [t.response_score for t in tickets if t.response_score is not None]
    ss = [t.resolution_score for t in tickets if t.resolution_score is not None]
    components = {
        "on_time": _ON_TIME_SCORE.get(status),
        "proactive": (sum(d.notified for d in delays) / len(delays)) if delays else None,
        "response": sum(rs) / len(rs) if rs else None,
        "resolution": sum(ss) / len(ss) if ss else None,
    }
    return OrderHealth(
        order_id=order_id,
        as_of=as_of,
        score=combine(components),
        components=components,
        status=status,
        promised_at=promised,
        delivered_at=delivered,
        delays=delays,
        tickets=tickets,
    )


def _order_delays(
    stores: Stores,
    order_id: str,
    status: str,
    promised: datetime | None,
    delivered: datetime | None,
    as_of: datetime,
) -> list[Delay]:
    """The order's lateness (when late or overdue) and its stalls, oldest stall first."""
    delays = []
    if status in ("late", "overdue") and promised is not None:
        delays.append(Delay("late", None, promised, delivered or as_of))
    stalls = find_stalls(stores, None, False, as_of, order_ids=[order_id])
    for s in stalls.sort("entered_at").iter_rows(named=True):  # one order's stalls: a few
        delays.append(
            Delay(
                "stall",
                s["node"],
                _utc(s["entered_at"]),  # type: ignore[arg-type]
                _utc(s["left_at"]) or as_of,
                dwell_ms=s["dwell_ms"],
                threshold_ms=s["threshold_ms"],
                baseline_level=s["baseline_level"],
                open=s["open"],
            )
        )
    return delays


def _cover(delays: list[Delay], notifications: list[dict[str, Any]], as_of: datetime) -> None:
    """Mark each delay notified by the proactive notifications sent by as_of in its window:
    for lateness the PROACTIVE_LEAD before the promise, for a stall while the visit lasted."""
    sent = [
        (n["notification_id"], _utc(n["sent_at"]))
        for n in notifications
        if n.get("proactive") and _utc(n["sent_at"]) <= as_of  # type: ignore[operator]
    ]
    for d in delays:
        lo, hi = (d.start - PROACTIVE_LEAD, d.start) if d.kind == "late" else (d.start, d.end)
        d.notifications = [nid for nid, at in sent if lo <= at <= hi]  # type: ignore[operator]
        d.notified = bool(d.notifications)


def _order_tickets(tickets: list[dict[str, Any]], as_of: datetime) -> list[TicketScore]:
    """The order's tickets opened by as_of with their response and resolution scores."""
    rows = [
        {
            "ticket_id": t["ticket_id"],
            "topic": t.get("topic"),
            "opened_at": _utc(t["opened_at"]),
            "first_response_at": _utc(t.get("first_response_at")),
            "resolved_at": _utc(t.get("resolved_at")),
        }
        for t in tickets
        if _utc(t["opened_at"]) is not None and _utc(t["opened_at"]) <= as_of  # type: ignore[operator]
    ]
    if not rows:
        return []
    frame = pl.DataFrame(
        rows,
        schema={
            "ticket_id": pl.String,
            "topic": pl.String,
            "opened_at": TS,
            "first_response_at": TS,
            "resolved_at": TS,
        },
        orient="row",
    )
    scored = ticket_scores(frame, as_of).drop("first_response_at", "resolved_at")
    return [TicketScore(**r) for r in scored.iter_rows(named=True)]


# --- slices ---------------------------------------------------------------------------------


def slice_health(
    stores: Stores, by: list[str], period: Period | str, as_of: datetime | None = None
) -> pl.DataFrame:
    """Health per slice of the orders created in the period (one row when `by` is empty),
    worst score first. Columns: the `by` dimensions, then SLICE_COLUMNS."""
    period = parse_period(period) if isinstance(period, str) else period
    by = list(dict.fromkeys(by))
    bad = [d for d in by if d not in HEALTH_DIMENSIONS]
    if bad:
        raise ValueError(f"cannot slice by {bad}; use {', '.join(HEALTH_DIMENSIONS)}")
    as_of = _utc(as_of or stores.series.data_clock()) or datetime.now(UTC)
    roles = stores.catalog.roles
    base = _cast_dims(delivery_by_slice(stores, roles, period.start, period.end, as_of, by), by)
    delays = _period_delays(stores, period, as_of)
    tickets = ticket_scores(period_tickets(stores, period.start, period.end, as_of), as_of)
    # slice dimensions of the orders with delays or tickets
    need = sorted(set(delays["order_id"].unique().to_list()) | set(tickets["order_id"].to_list()))
    if by and need:
        dims = _cast_dims(order_dimensions(stores, need, by), by)
    else:
        dims = pl.DataFrame({"order_id": need}, schema={"order_id": pl.String})
    keys = by or ["_all"]
    if not by:
        base = base.with_columns(pl.lit(1).alias("_all"))
        dims = dims.with_columns(pl.lit(1).alias("_all"))
    out = _slice_rates(base, _delay_counts(delays, dims, keys), _ticket_figures(tickets, dims, keys), keys)
    scores = [
        combine({"on_time": a, "proactive": b, "response": c, "resolution": d})
        for a, b, c, d in out.select(  # one row per slice: a handful
            "on_time_rate", "proactive_rate", "response_score", "resolution_score"
        ).iter_rows()
    ]
    out = out.with_columns(pl.Series("health_score", scores, dtype=pl.Float64))
    return out.select(*by, *SLICE_COLUMNS).sort(["health_score", *by], nulls_last=True)


def _period_delays(stores: Stores, period: Period, as_of: datetime) -> pl.DataFrame:
    """Every delay of the period's orders (lateness and stalls): delay (a row number),
    order_id, lo, hi (the window a proactive notification covers it in), notified."""
    late = late_orders(stores, stores.catalog.roles, period.start, period.end, as_of).select(
        "order_id",
        (pl.col("promised_at") - pl.duration(milliseconds=int(PROACTIVE_LEAD.total_seconds() * 1000))).alias(
            "lo"
        ),
        pl.col("promised_at").alias("hi"),
    )
    stalls = find_stalls(stores, period.start, False, as_of, created_between=(period.start, period.end))
    stall_d = stalls.select(
        "order_id",
        pl.col("entered_at").alias("lo"),
        pl.coalesce(pl.col("left_at"), pl.lit(as_of)).alias("hi"),
    )
    delays = pl.concat([late.cast(stall_d.schema), stall_d]).with_row_index("delay")
    ids = delays["order_id"].unique().to_list()
    covered = pl.DataFrame(schema={"delay": pl.UInt32})
    if ids:
        notes = proactive_notifications(stores, ids, as_of)
        if notes.height:
            covered = (
                delays.join(notes, on="order_id")
                .filter((pl.col("sent_at") >= pl.col("lo")) & (pl.col("sent_at") <= pl.col("hi")))
                .select("delay")
                .unique()
            )
    return delays.with_columns(pl.col("delay").is_in(covered["delay"].implode()).alias("notified"))


def _delay_counts(delays: pl.DataFrame, dims: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return (
        delays.join(dims, on="order_id", how="inner")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("delays"),
            pl.col("notified").sum().cast(pl.Int64).alias("delays_notified"),
        )
    )


def _ticket_figures(tickets: pl.DataFrame, dims: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return (
        tickets.select("order_id", "response_h", "response_score", "resolution_h", "resolution_score")
        .join(dims, on="order_id", how="inner")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("tickets"),
            pl.col("response_h").median().alias("median_response_h"),
            pl.col("response_score").mean().alias("response_score"),
            pl.col("resolution_h").median().alias("median_resolution_h"),
            pl.col("resolution_score").mean().alias("resolution_score"),
        )
    )


def _slice_rates(
    base: pl.DataFrame, delays: pl.DataFrame, tickets: pl.DataFrame, keys: list[str]
) -> pl.DataFrame:
    """The slices' counts side by side, with the on-time and proactive rates."""
    return (
        base.join(delays, on=keys, how="left", nulls_equal=True)
        .join(tickets, on=keys, how="left", nulls_equal=True)
        .with_columns(
            pl.col("delays").fill_null(0),
            pl.col("delays_notified").fill_null(0),
            pl.col("tickets").fill_null(0),
        )
        .with_columns(
            pl.when(pl.col("due") > 0).then(pl.col("on_time") / pl.col("due")).alias("on_time_rate"),
            pl.when(pl.col("delays") > 0)
            .then(pl.col("delays_notified") / pl.col("delays"))
            .alias("proactive_rate"),
        )
    )


def _cast_dims(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return frame.with_columns(pl.col(d).cast(pl.Boolean if d == "cross_border" else pl.String) for d in by)


__all__ = [
    "HEALTH_DIMENSIONS",
    "SLICE_COLUMNS",
    "WEIGHTS",
    "Delay",
    "OrderHealth",
    "TicketScore",
    "combine",
    "decay",
    "order_health",
    "slice_health",
    "ticket_scores",
]
