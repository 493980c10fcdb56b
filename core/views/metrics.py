"""Metric definitions shared by every surface (analytics, dashboard, reports), defined once.

A metric here is what a number means: which orders or visits it counts, which node starts and
ends it (from the catalog's roles), which order attributes it may be sliced by. The SQL that
computes each is built here too, accepted as written by both series dialects; values always
travel as parameters (`Params`), node names included, and only schema identifiers are
formatted in.

  cycle time   hours from an order's first `roles.start` to its first `roles.handover`; the
               order belongs to the period in which it was handed over (so the last days of a
               period are not biased towards fast orders, and carrier / customs legs after the
               handover do not blur warehouse causes).
  node dwell   hours of one visit to a node (stage_dwell). A closed visit belongs to the period
               in which it left the node, an open one to the period in which it entered (its
               dwell runs to the data clock).
  stall rate   share of units that stalled: visits of one node whose dwell passed the node's
               catalog SLA; or orders created in the period that, as of the period's end, had a
               visit dwelling past its node's SLA or were reinstated after `roles.cancelled`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from orderscope.domain.lifecycle import Catalog, Roles
from orderscope.domain.periods import Period
from orderscope.series.port import ident

__all__ = [
    "ORDER_DIMENSIONS",
    "ORDER_SLICE_COLUMNS",
    "SLICE_DIMENSIONS",
    "Params",
    "Window",
    "cycle_time_between",
    "cycle_time_orders",
    "cycle_time_trend",
    "cycle_time_units",
    "node_dwell_visits",
    "order_dimension_columns",
    "order_stall_units",
    "slice_filter",
    "visit_stall_units",
]

# The filters every surface offers (dashboard controls, flow segments, report breakdowns).
SLICE_DIMENSIONS: tuple[str, ...] = ("region", "warehouse_id", "channel", "sku_category")

# Order attributes root cause decomposes a change over.
ORDER_DIMENSIONS: tuple[str, ...] = (
    *SLICE_DIMENSIONS,
    "cross_border",
    "destination_country",
)

# Order-master columns a slice (a filter on the population) may name.
ORDER_SLICE_COLUMNS: tuple[str, ...] = (*ORDER_DIMENSIONS, "customer_id", "sku", "currency")


@dataclass
class Params:
    """Collects positional parameters and hands out their `$n` placeholders."""

    values: list[Any] = field(default_factory=list)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


@dataclass(frozen=True)
class Window:
    """Two periods a metric is compared between, and the data clock (the newest event time),
    up to which open dwells run."""

    period: Period
    baseline: Period
    clock: datetime

    @property
    def period_as_of(self) -> datetime:
        """The moment the period's stalls are judged at: its end, or the clock when earlier."""
        return min(self.period.end, self.clock)

    @property
    def baseline_as_of(self) -> datetime:
        return min(self.baseline.end, self.clock)

    def span(self, lookback: timedelta = timedelta(0)) -> tuple[datetime, datetime]:
        """From `lookback` before the earlier period's start to the later period's end."""
        return (
            min(self.baseline.start, self.period.start) - lookback,
            max(self.baseline.end, self.period.end),
        )


# --- building blocks ----------------------------------------------------------------------------


def slice_filter(slice_: Mapping[str, Any], p: Params, alias: str = "o") -> str:
    """` AND alias."key" = $n` for every key of an order slice (empty for no slice)."""
    return "".join(f" AND {alias}.{ident(k)} = {p(v)}" for k, v in slice_.items())


def order_dimension_columns(alias: str = "o") -> str:
    """The ORDER_DIMENSIONS as select columns (cross_border as text, like every other value)."""
    return ", ".join(
        f"CAST({alias}.{ident(c)} AS VARCHAR) AS {ident(c)}"
        if c == "cross_border"
        else f"{alias}.{ident(c)} AS {ident(c)}"
        for c in ORDER_DIMENSIONS
    )


def _in_window(col: str, p: Params, window: Window) -> str:
    b, q = window.baseline, window.period
    return (
        f"(({col} >= {p(b.start)} AND {col} < {p(b.end)}) OR ({col} >= {p(q.start)} AND {col} < {p(q.end)}))"
    )


def _in_period(col: str, p: Params, period: Period) -> str:
    """`CASE ... THEN 1 ELSE 0 END`: 1 for a unit of `period` (the other one is the baseline)."""
    return f"CASE WHEN {col} >= {p(period.start)} AND {col} < {p(period.end)} THEN 1 ELSE 0 END"


# --- cycle time ---------------------------------------------------------------------------------


def cycle_time_orders(p: Params, roles: Roles) -> str:
    """A SELECT of one row per order: order_id, t_start (its first entry into roles.start) and
    t_end (its first entry into roles.handover; NULL while not handed over)."""
    start, end = p(roles.start), p(roles.handover)
    return f"""
        SELECT d."order_id" AS order_id,
               min(CASE WHEN d."node" = {start} THEN d."entered_at" END) AS t_start,
               min(CASE WHEN d."node" = {end} THEN d."entered_at" END) AS t_end
        FROM "stage_dwell" d
        WHERE d."node" IN ({start}, {end})
        GROUP BY d."order_id"
    """


def cycle_time_between(p: Params, roles: Roles, start: datetime, end: datetime) -> str:
    """orders, hours: the count and mean cycle time of the orders handed over in [start, end)."""
    return f"""
    WITH c AS ({cycle_time_orders(p, roles)})
    SELECT count(*) AS orders,
           avg(EXTRACT(EPOCH FROM (c.t_end - c.t_start)) / 3600.0) AS hours
    FROM c WHERE c.t_end >= {p(start)} AND c.t_end < {p(end)} AND c.t_start IS NOT NULL
    """


def cycle_time_trend(p: Params, roles: Roles) -> str:
    """week, region, orders, hours: the mean cycle time per week of handover and region."""
    return f"""
    WITH c AS ({cycle_time_orders(p, roles)})
    SELECT date_trunc('week', c.t_end) AS week, o."region" AS region, count(*) AS orders,
           avg(EXTRACT(EPOCH FROM (c.t_end - c.t_start)) / 3600.0) AS hours
    FROM c JOIN "orders" o ON o."order_id" = c.order_id
    WHERE c.t_end IS NOT NULL AND c.t_start IS NOT NULL
    GROUP BY date_trunc('week', c.t_end), o."region"
    ORDER BY 1, 2
    """


def cycle_time_units(p: Params, catalog: Catalog, window: Window, slice_: Mapping[str, Any]) -> str:
    """CTEs `cyc, rw, u`; `u` holds one row per order of the slice handed over in either period:
    order_id, t_start, t_end, per (1 = period), y (cycle hours), reentered (1 when a node before
    the handover was visited twice: rework and cancel loops) and the order dimensions."""
    return f"""
    cyc AS ({cycle_time_orders(p, catalog.roles)}), rw AS (
        SELECT DISTINCT d."order_id" FROM "stage_dwell" d
        WHERE d."visit" >= 2 AND d."node" = ANY({p(list(catalog.before(catalog.roles.handover)))})
    ), u AS (
        SELECT c."order_id", c.t_start, c.t_end,
               {_in_period("c.t_end", p, window.period)} AS per,
               EXTRACT(EPOCH FROM (c.t_end - c.t_start)) / 3600.0 AS y,
               CASE WHEN rw."order_id" IS NULL THEN 0 ELSE 1 END AS reentered,
               {order_dimension_columns()}
        FROM cyc c JOIN "orders" o ON o."order_id" = c."order_id"
        LEFT JOIN rw ON rw."order_id" = c."order_id"
        WHERE c.t_start IS NOT NULL AND {_in_window("c.t_end", p, window)}{slice_filter(slice_, p)}
    )"""


# --- node dwell ---------------------------------------------------------------------------------


def node_dwell_visits(p: Params, window: Window, nodes: Sequence[str], slice_: Mapping[str, Any]) -> str:
    """CTE `u`: one row per visit to one of `nodes` assigned to either period (closed visits by
    left_at, open ones by entered_at): order_id, node, visit, entered_at, left_at, per, y (dwell
    hours; an open visit's up to the data clock) and the order dimensions."""
    assigned = 'COALESCE(d."left_at", d."entered_at")'
    return f"""
    u AS (
        SELECT d."order_id", d."node" AS node, d."visit" AS visit, d."entered_at", d."left_at",
               {_in_period(assigned, p, window.period)} AS per,
               COALESCE(d."dwell_ms", EXTRACT(EPOCH FROM ({p(window.clock)} - d."entered_at")) * 1000.0)
                   / 3600000.0 AS y,
               {order_dimension_columns()}
        FROM "stage_dwell" d JOIN "orders" o ON o."order_id" = d."order_id"
        WHERE d."node" = ANY({p(list(nodes))}) AND {_in_window(assigned, p, window)}{slice_filter(slice_, p)}
    )"""


# --- stall rate ---------------------------------------------------------------------------------


def visit_stall_units(p: Params, window: Window, node: str, sla_ms: int, slice_: Mapping[str, Any]) -> str:
    """Visits of one node (assigned as for node dwell); y = 1 when the dwell (open: up to the
    data clock) passed the node's SLA, dwell_h the dwell itself."""
    return f"""
    WITH {node_dwell_visits(p, window, [node], slice_)}
    SELECT u."order_id", u.node, u.visit, u."entered_at", u."left_at", u.per, u.y AS dwell_h,
           CASE WHEN u.y * 3600000.0 > {p(sla_ms)} THEN 1.0 ELSE 0.0 END AS y,
           {", ".join("u." + ident(c) for c in ORDER_DIMENSIONS)}
    FROM u
    """


def order_stall_units(p: Params, catalog: Catalog, window: Window, slice_: Mapping[str, Any]) -> str:
    """One row per order of the slice created in either period: per, y (1 when any visit
    entered before the period's end had, as of that end, dwelt past its node's SLA, or when the
    order was reinstated after roles.cancelled: a flow loop), stalled_nodes (a comma list),
    looped, the order dimensions."""
    sla = {n: ms for n in catalog.nodes if (ms := catalog.sla_ms(n)) is not None}
    case = " ".join(f"WHEN {p(n)} THEN {p(int(ms))}" for n, ms in sla.items())
    sla_expr = f'(CASE d."node" {case} ELSE NULL END)'
    pe, be = p(window.period_as_of), p(window.baseline_as_of)
    return f"""
    WITH u AS (
        SELECT o."order_id",
               {_in_period('o."created_at"', p, window.period)} AS per,
               {order_dimension_columns()}
        FROM "orders" o
        WHERE {_in_window('o."created_at"', p, window)}{slice_filter(slice_, p)}
    ), v AS (
        SELECT u."order_id", d."node" AS node,
               CASE WHEN u.per = 1 THEN {pe} ELSE {be} END AS e,
               d."entered_at", d."left_at", {sla_expr} AS sla
        FROM "stage_dwell" d JOIN u ON u."order_id" = d."order_id"
    ), f AS (
        SELECT v."order_id", v.node,
               CASE WHEN v.sla IS NOT NULL AND v."entered_at" < v.e
                         AND EXTRACT(EPOCH FROM (LEAST(COALESCE(v."left_at", v.e), v.e) - v."entered_at")) * 1000.0 > v.sla
                    THEN 1 ELSE 0 END AS stalled,
               CASE WHEN v.node = {p(catalog.roles.cancelled)} AND v."left_at" IS NOT NULL AND v."left_at" < v.e
                    THEN 1 ELSE 0 END AS looped
        FROM v
    ), g AS (
        SELECT f."order_id", max(f.stalled) AS stalled, max(f.looped) AS looped,
               string_agg(CASE WHEN f.stalled = 1 THEN f.node END, ',') AS stalled_nodes
        FROM f GROUP BY f."order_id"
    )
    SELECT u.*, CAST(GREATEST(COALESCE(g.stalled, 0), COALESCE(g.looped, 0)) AS DOUBLE PRECISION) AS y,
           COALESCE(g.looped, 0) AS looped, g.stalled_nodes
    FROM u LEFT JOIN g ON g."order_id" = u."order_id"
    """


def parse_slice_text(text: str) -> dict[str, str]:
    """KEY=VALUE[,KEY=VALUE...] as a dict (the `--slice` of the CLI, `slice=` of the API);
    ValueError saying how to write it."""
    found: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise ValueError(f"cannot read slice {part!r}: use KEY=VALUE[,KEY=VALUE...]")
        found[k.strip()] = v.strip()
    return found
