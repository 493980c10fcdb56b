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

A slice is the set of orders created in the period, grouped by order dimensions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from orderscope.analytics.stalls import find_stalls
from orderscope.domain.periods import Period, parse_period
from orderscope.ports import Stores
from orderscope.series.port import ident

PROACTIVE_LEAD = timedelta(hours=24)
RESPONSE_TARGET_H, RESPONSE_LIMIT_H = 1.0, 24.0
RESOLUTION_TARGET_H, RESOLUTION_LIMIT_H = 24.0, 168.0
WEIGHTS = {"on_time": 0.4, "proactive": 0.2, "response": 0.2, "resolution": 0.2}
SLICE_DIMENSIONS = (
    "region",
    "channel",
    "warehouse_id",
    "sku_category",
    "destination_country",
    "cross_border",
    "currency",
)

H = 3_600_000.0  # ms per hour


def decay(hours: float | None, target: float, limit: float) -> float | None:
    """1 up to target, 0 from limit, linear between."""
    if hours is None:
        return None
    if hours <= target:
        return 1.0
    if hours >= limit:
        return 0.0
    return (limit - hours) / (limit - target)


def combine(components: dict[str, float | None]) -> float:
    num = sum(WEIGHTS[k] * v for k, v in components.items() if v is not None)
    den = sum(WEIGHTS[k] for k, v in components.items() if v is not None)
    return round(100.0 * num / den, 1) if den else 100.0


def _ticket_scores(
    opened: datetime, first: datetime | None, resolved: datetime | None, as_of: datetime
) -> tuple[float | None, float | None, float | None, float | None]:
    """(response_h, response score, resolution_h, resolution score) of one ticket."""

    def span(end: datetime | None, target: float, limit: float) -> tuple[float | None, float | None]:
        if end is not None:
            h = (end - opened).total_seconds() / 3600
            return h, decay(h, target, limit)
        age = (as_of - opened).total_seconds() / 3600
        return None, (decay(age, target, limit) if age > target else None)

    rh, rs = span(first, RESPONSE_TARGET_H, RESPONSE_LIMIT_H)
    sh, ss = span(resolved, RESOLUTION_TARGET_H, RESOLUTION_LIMIT_H)
    return rh, rs, sh, ss


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --- one order -----------------------------------------------------------------------------


def order_health(stores: Stores, order_id: str, as_of: datetime | None = None) -> dict[str, Any]:
    """The order's health score, its components and the evidence behind each."""
    from orderscope.views.snapshot import UnknownOrder

    order = stores.graph.order(order_id)
    if order is None:
        raise UnknownOrder(order_id)
    as_of = _utc(as_of or stores.series.data_clock()) or datetime.now(UTC)
    promised = _utc(order.get("promised_at"))
    dwell = stores.series.dwell(order_id).filter(pl.col("entered_at") <= as_of)
    roles = stores.catalog.roles
    delivered = dwell.filter(pl.col("node") == roles.delivered)["entered_at"].min()
    delivered = _utc(delivered) if delivered is not None else None
    last = dwell.sort("entered_at").tail(1)
    cancelled = bool(last.height and last["node"][0] == roles.cancelled and delivered is None)

    if delivered is not None:
        status = "on_time" if promised is None or delivered <= promised else "late"
    elif cancelled:
        status = "cancelled"
    elif promised is not None and promised <= as_of:
        status = "overdue"
    else:
        status = "not_due"
    on_time = {"on_time": 1.0, "late": 0.0, "overdue": 0.0}.get(status)

    records = stores.graph.order_records(order_id)
    proactive_notes = [
        n for n in records.get("notifications", []) if n.get("proactive") and _utc(n["sent_at"]) <= as_of
    ]
    delays: list[dict[str, Any]] = []
    if status in ("late", "overdue") and promised is not None:
        delays.append(
            {
                "kind": "late",
                "node": None,
                "start": promised,
                "end": delivered or as_of,
                "window": [promised - PROACTIVE_LEAD, promised],
            }
        )
    stalls = find_stalls(stores, None, False, as_of, order_ids=[order_id])
    for s in stalls.sort("entered_at").iter_rows(named=True):
        end = _utc(s["left_at"]) or as_of
        delays.append(
            {
                "kind": "stall",
                "node": s["node"],
                "start": _utc(s["entered_at"]),
                "end": end,
                "dwell_ms": s["dwell_ms"],
                "threshold_ms": s["threshold_ms"],
                "baseline_level": s["baseline_level"],
                "open": s["open"],
                "window": [_utc(s["entered_at"]), end],
            }
        )
    for d in delays:
        lo, hi = d.pop("window")
        hits = [n for n in proactive_notes if lo <= _utc(n["sent_at"]) <= hi]
        d["notified"] = bool(hits)
        d["notifications"] = [n["notification_id"] for n in hits]
    proactive = (sum(d["notified"] for d in delays) / len(delays)) if delays else None

    tickets = []
    for t in records.get("service_tickets", []):
        opened = _utc(t["opened_at"])
        if opened is None or opened > as_of:
            continue
        first = _utc(t.get("first_response_at"))
        resolved = _utc(t.get("resolved_at"))
        first = first if first is not None and first <= as_of else None
        resolved = resolved if resolved is not None and resolved <= as_of else None
        rh, rs, sh, ss = _ticket_scores(opened, first, resolved, as_of)
        tickets.append(
            {
                "ticket_id": t["ticket_id"],
                "topic": t.get("topic"),
                "opened_at": opened,
                "response_h": rh,
                "response_score": rs,
                "resolution_h": sh,
                "resolution_score": ss,
            }
        )
    rs = [t["response_score"] for t in tickets if t["response_score"] is not None]
    ss = [t["resolution_score"] for t in tickets if t["resolution_score"] is not None]
    components = {
        "on_time": on_time,
        "proactive": proactive,
        "response": sum(rs) / len(rs) if rs else None,
        "resolution": sum(ss) / len(ss) if ss else None,
    }
    return {
        "order_id": order_id,
        "as_of": as_of,
        "score": combine(components),
        "components": components,
        "weights": dict(WEIGHTS),
        "delivery": {"status": status, "promised_at": promised, "delivered_at": delivered},
        "delays": delays,
        "tickets": tickets,
    }


# --- slices --------------------------------------------------------------------------------

# $1 period start, $2 period end (orders.created_at), $3 as_of. {dims}: validated identifiers.
_ORDER_STATE = """
    SELECT o."order_id" AS order_id, o."promised_at" AS promised_at{dims_o},
           (SELECT min(d."entered_at") FROM "stage_dwell" d
             WHERE d."order_id" = o."order_id" AND d."node" = 'DELIVERED'
               AND d."entered_at" <= $3) AS delivered_at,
           EXISTS (SELECT 1 FROM "stage_dwell" c
                    WHERE c."order_id" = o."order_id" AND c."node" = 'CANCELLED'
                      AND c."entered_at" <= $3 AND (c."left_at" IS NULL OR c."left_at" > $3))
               AS cancelled
    FROM "orders" o
    WHERE o."created_at" >= $1 AND o."created_at" < $2
"""
_SLICE_SQL = """
WITH s AS ({state})
SELECT {dims_s}count(*) AS orders,
       count(*) FILTER (WHERE delivered_at IS NOT NULL
                           OR (NOT cancelled AND promised_at <= $3)) AS due,
       count(*) FILTER (WHERE delivered_at IS NOT NULL AND delivered_at <= promised_at) AS on_time
FROM s {group}
"""
_LATE_SQL = """
WITH s AS ({state})
SELECT order_id, promised_at, delivered_at FROM s
WHERE (delivered_at IS NOT NULL AND delivered_at > promised_at)
   OR (delivered_at IS NULL AND NOT cancelled AND promised_at <= $3)
"""
_DIMS_SQL = 'SELECT "order_id" AS order_id{dims} FROM "orders" WHERE "order_id" = ANY($1)'

_PROACTIVE_CYPHER = (
    "UNWIND $ids AS id MATCH (o:`Order` {`order_id`: id})-[:`NOTIFIED_BY`]->(n:`Notification`) "
    "WHERE n.`proactive` = true AND n.`sent_at` <= $as_of "
    "RETURN id AS order_id, n.`sent_at` AS sent_at"
)
_TICKETS_CYPHER = (
    "MATCH (o:`Order`)-[:`HAS_TICKET`]->(t:`ServiceTicket`) "
    "WHERE o.`created_at` >= $since AND o.`created_at` < $until AND t.`opened_at` <= $as_of "
    "RETURN o.`order_id` AS order_id, t.`ticket_id` AS ticket_id, t.`opened_at` AS opened_at, "
    "t.`first_response_at` AS first_response_at, t.`resolved_at` AS resolved_at"
)

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


def slice_health(
    stores: Stores, by: list[str], period: Period | str, as_of: datetime | None = None
) -> pl.DataFrame:
    """Health per slice of the orders created in the period (one row when `by` is empty),
    worst score first. Columns: the `by` dimensions, then SLICE_COLUMNS."""
    period = parse_period(period) if isinstance(period, str) else period
    by = list(dict.fromkeys(by))
    bad = [d for d in by if d not in SLICE_DIMENSIONS]
    if bad:
        raise ValueError(f"cannot slice by {bad}; use {', '.join(SLICE_DIMENSIONS)}")
    as_of = _utc(as_of or stores.series.data_clock()) or datetime.now(UTC)
    dims_o = "".join(f", o.{ident(d)} AS {ident(d)}" for d in by)
    state = _ORDER_STATE.format(dims_o=dims_o)
    dims_s = "".join(f"{ident(d)}, " for d in by)
    group = f"GROUP BY {', '.join(ident(d) for d in by)}" if by else ""
    params = [period.start, period.end, as_of]
    base = stores.series.query(_SLICE_SQL.format(state=state, dims_s=dims_s, group=group), params)
    base = base.with_columns(pl.col(c).cast(pl.Int64) for c in ("orders", "due", "on_time"))
    base = _cast_dims(base, by)

    # delays: lateness and stalls of the period's orders
    late = stores.series.query(_LATE_SQL.format(state=_ORDER_STATE.format(dims_o="")), params)
    late = late.select(
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
    delays = pl.concat([late.cast(stall_d.schema), stall_d]).with_row_index("delay")  # type: ignore[arg-type]
    ids = delays["order_id"].unique().to_list()
    covered = pl.DataFrame(schema={"delay": pl.UInt32})
    if ids:
        notes = stores.graph.query(_PROACTIVE_CYPHER, {"ids": ids, "as_of": as_of})
        if notes.height:
            notes = notes.with_columns(pl.col("sent_at").cast(pl.Datetime("us", "UTC")))
            covered = (
                delays.join(notes, on="order_id")
                .filter((pl.col("sent_at") >= pl.col("lo")) & (pl.col("sent_at") <= pl.col("hi")))
                .select("delay")
                .unique()
            )
    delays = delays.with_columns(pl.col("delay").is_in(covered["delay"].implode()).alias("notified"))

    # tickets of the period's orders
    tk = stores.graph.query(_TICKETS_CYPHER, {"since": period.start, "until": period.end, "as_of": as_of})
    tk_rows = []
    for r in tk.iter_rows(named=True):
        opened = _utc(r["opened_at"])
        first = _utc(r["first_response_at"])
        resolved = _utc(r["resolved_at"])
        first = first if first is not None and first <= as_of else None
        resolved = resolved if resolved is not None and resolved <= as_of else None
        rh, rs, sh, ss = _ticket_scores(opened, first, resolved, as_of)  # type: ignore[arg-type]
        tk_rows.append((r["order_id"], rh, rs, sh, ss))
    tickets = pl.DataFrame(
        tk_rows,
        schema={
            "order_id": pl.String,
            "response_h": pl.Float64,
            "response_score": pl.Float64,
            "resolution_h": pl.Float64,
            "resolution_score": pl.Float64,
        },
        orient="row",
    )

    # slice dimensions of the orders with delays or tickets
    need = sorted(set(ids) | set(tickets["order_id"].to_list()))
    if by and need:
        dims = stores.series.query(_DIMS_SQL.format(dims="".join(f", {ident(d)}" for d in by)), [need])
        dims = _cast_dims(dims, by)
    else:
        dims = pl.DataFrame({"order_id": need}, schema={"order_id": pl.String})
    keys = by or ["_all"]
    if not by:
        base = base.with_columns(pl.lit(1).alias("_all"))
        dims = dims.with_columns(pl.lit(1).alias("_all"))

    d_agg = (
        delays.join(dims, on="order_id", how="inner")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("delays"),
            pl.col("notified").sum().cast(pl.Int64).alias("delays_notified"),
        )
    )
    t_agg = (
        tickets.join(dims, on="order_id", how="inner")
        .group_by(keys, maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("tickets"),
            pl.col("response_h").median().alias("median_response_h"),
            pl.col("response_score").mean().alias("response_score"),
            pl.col("resolution_h").median().alias("median_resolution_h"),
            pl.col("resolution_score").mean().alias("resolution_score"),
        )
    )
    out = (
        base.join(d_agg, on=keys, how="left", nulls_equal=True)
        .join(t_agg, on=keys, how="left", nulls_equal=True)
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
    scores = [
        combine({"on_time": a, "proactive": b, "response": c, "resolution": d})
        for a, b, c, d in out.select(
            "on_time_rate", "proactive_rate", "response_score", "resolution_score"
        ).iter_rows()
    ]
    out = out.with_columns(pl.Series("health_score", scores, dtype=pl.Float64))
    return out.select(*by, *SLICE_COLUMNS).sort(["health_score", *by], nulls_last=True)


def _cast_dims(frame: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    return frame.with_columns(pl.col(d).cast(pl.Boolean if d == "cross_border" else pl.String) for d in by)
