"""The dashboard's data access: one read-only pair of stores, one lock, answers cached per data clock.

Every page asks this object, never a store directly:

  * the stores are opened once, read-only (embedded) or as clients (server), and closed at exit;
  * every store call runs under one re-entrant lock. Dash serves callbacks from a threaded Flask
    server; DuckDB and LadybugDB connections must not be used from two threads at once, and the
    lock makes sure they never are (the work is database-bound anyway);
  * heavy answers (KPIs, aggregates, analytics) are cached keyed by the data clock (the newest
    event time): while nothing new is ingested a page is served from memory, and as soon as the
    clock moves every answer is recomputed. The clock itself is re-read at most every
    CLOCK_TTL seconds.

All aggregation is pushed down into the series store (parameterized SQL both adapters accept);
only aggregates, one order's records, or analytics results leave it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from orderscope.config import Settings
from orderscope.domain.lifecycle import Catalog
from orderscope.domain.sources import BY_NAME, SOURCE_KINDS
from orderscope.ports import Stores
from orderscope.views.metrics import SLICE_DIMENSIONS, Params, cycle_time_between, cycle_time_trend

if TYPE_CHECKING:
    from orderscope.analytics.flows import FlowReport
    from orderscope.analytics.health import OrderHealth
    from orderscope.analytics.rootcause import Explanation

log = logging.getLogger("orderscope.dashboard")

UTC = UTC
CLOCK_TTL = 5.0  # seconds between two reads of the data clock
CACHE_SIZE = 256
H = 3_600_000.0  # ms per hour

# An order is open when its latest visit has not been left and is not a resting node.
OPEN_BY_NODE_SQL = """
SELECT d."node" AS node, count(DISTINCT d."order_id") AS orders
FROM "stage_dwell" d
WHERE d."left_at" IS NULL AND NOT (d."node" = ANY($1))
GROUP BY d."node"
"""
DWELL_DIST_SQL = """
SELECT d."node" AS node, count(*) AS n, avg(d."dwell_ms") AS mean_ms,
       percentile_cont(0.05) WITHIN GROUP (ORDER BY d."dwell_ms") AS p05,
       percentile_cont(0.25) WITHIN GROUP (ORDER BY d."dwell_ms") AS q1,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY d."dwell_ms") AS med,
       percentile_cont(0.75) WITHIN GROUP (ORDER BY d."dwell_ms") AS q3,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY d."dwell_ms") AS p95
FROM "stage_dwell" d
WHERE d."left_at" IS NOT NULL AND d."dwell_ms" IS NOT NULL
  AND d."left_at" >= $1 AND d."left_at" < $2 AND NOT (d."node" = ANY($3))
GROUP BY d."node"
"""
SPAN_SQL = 'SELECT min("created_at") AS first, max("created_at") AS last FROM "orders"'
ORDER_EXISTS_SQL = 'SELECT "order_id" FROM "orders" WHERE "order_id" = $1'
EVENT_ORDER_SQL = 'SELECT "order_id" FROM "order_events" WHERE "event_id" = $1'
SHIPMENT_SCAN_SQL = 'SELECT "waybill" FROM "logistics_tracks" WHERE "scan_id" = $1'


def iso_week(moment: datetime) -> str:
    y, w, _ = moment.isocalendar()
    return f"{y}-W{w:02d}"


def week_start(label: str) -> datetime:
    y, w = label.split("-W")
    d = date.fromisocalendar(int(y), int(w), 1)
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


class DashboardData:
    """Read access for the dashboard (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog | None = None,
        stores: Stores | None = None,
        lock: threading.RLock | None = None,
    ) -> None:
        """Opens the stores read-only, or uses the hub's `stores` (and its `lock`) as given:
        then the hub owns them, and new data reaches the pages through `invalidate`."""
        from orderscope.stores import open_stores

        self.settings = settings
        self.lock = lock or threading.RLock()
        self._exit = ExitStack()
        self.stores = stores or self._exit.enter_context(open_stores(settings, read_only=True))
        self.catalog = catalog or self.stores.catalog
        self._cache: OrderedDict[tuple, Any] = OrderedDict()
        self._clock: datetime | None = None
        self._clock_read = 0.0

    def close(self) -> None:
        with self.lock:
            self._exit.close()

    # --- plumbing --------------------------------------------------------------------------

    def clock(self) -> datetime | None:
        """The data clock (newest event time), re-read at most every CLOCK_TTL seconds."""
        with self.lock:
            now = time.monotonic()
            if self._clock_read == 0.0 or now - self._clock_read > CLOCK_TTL:
                self._clock = self.stores.series.data_clock()
                self._clock_read = now
            return self._clock

    def invalidate(self) -> None:
        """New data arrived (the hub ingested something): forget every cached answer and
        re-read the data clock on the next request, even if the clock did not move."""
        with self.lock:
            self._cache.clear()
            self._clock_read = 0.0

    def cached(self, name: str, compute: Callable[[], Any], *key: Any) -> Any:
        """compute(), remembered under (name, data clock, key)."""
        with self.lock:
            k = (name, self.clock(), *key)
            if k in self._cache:
                self._cache.move_to_end(k)
                return self._cache[k]
            value = compute()
            self._cache[k] = value
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
            return value

    def sql(self, text: str, params: list[Any] | None = None) -> pl.DataFrame:
        with self.lock:
            return self.stores.series.query(text, params)

    # --- periods ---------------------------------------------------------------------------

    def weeks(self) -> list[str]:
        """ISO weeks the data covers, oldest first."""

        def compute() -> list[str]:
            span = self.sql(SPAN_SQL)
            clock = self.clock()
            if span.height == 0 or span["first"][0] is None or clock is None:
                return []
            first = span["first"][0]
            out, t = [], week_start(iso_week(first))
            while t <= clock:
                out.append(iso_week(t))
                t += timedelta(days=7)
            return out

        return self.cached("weeks", compute)

    def default_weeks(self) -> tuple[str | None, str | None]:
        """(period, baseline): the last full week and the one before it. A week counts as
        full once the data clock has reached its last day (data cut at Sunday night still
        makes its week complete); otherwise the week before the clock's is taken."""
        weeks = self.weeks()
        clock = self.clock()
        if not weeks or clock is None:
            return None, None
        full = [w for w in weeks if week_start(w) + timedelta(days=6) <= clock]
        if not full:
            return weeks[-1], None
        period = full[-1]
        i = weeks.index(period)
        return period, (weeks[i - 1] if i > 0 else None)

    # --- overview --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        from orderscope.views.stats import collect_stats

        return self.cached("stats", lambda: collect_stats(self.stores))

    def open_by_node(self) -> pl.DataFrame:
        def compute() -> pl.DataFrame:
            f = self.sql(OPEN_BY_NODE_SQL, [sorted(self.catalog.resting)])
            order = {n: i for i, n in enumerate(self.catalog.nodes)}
            return (
                f.with_columns(pl.col("orders").cast(pl.Int64))
                .with_columns(pl.col("node").replace_strict(order, default=99).alias("_i"))
                .sort("_i")
                .drop("_i")
            )

        return self.cached("open_by_node", compute)

    def open_stalls(self) -> pl.DataFrame:
        """Open visits already past their threshold (analytics.stalls.find_stalls open_only),
        joined with their order's slice dimensions."""

        def compute() -> pl.DataFrame:
            from orderscope.analytics.stalls import find_stalls

            with self.lock:
                f = find_stalls(self.stores, open_only=True, catalog=self.catalog)
            return self._with_dims(f)

        return self.cached("open_stalls", compute)

    def period_stalls(self, period: str) -> pl.DataFrame:
        """Visits stalled at some moment of the week (closed or open), as of its end."""

        def compute() -> pl.DataFrame:
            from orderscope.analytics.stalls import find_stalls
            from orderscope.domain.periods import parse_period

            p = parse_period(period)
            clock = self.clock()
            as_of = min(p.end, clock) if clock else p.end
            with self.lock:
                f = find_stalls(self.stores, since=p.start, as_of=as_of, catalog=self.catalog)
            return self._with_dims(f)

        return self.cached("period_stalls", compute, period)

    def _with_dims(self, stalls: pl.DataFrame) -> pl.DataFrame:
        if stalls.height == 0:
            return stalls.with_columns(
                pl.lit(None, pl.String).alias("region"),
                pl.lit(None, pl.String).alias("channel"),
                pl.lit(None, pl.String).alias("sku_category"),
            )
        from orderscope.views.visits import order_dimensions

        with self.lock:
            ids = stalls["order_id"].unique().to_list()
            dims = order_dimensions(self.stores, ids, ("region", "channel", "sku_category"))
        return stalls.join(dims, on="order_id", how="left")

    def cycle_between(self, start: datetime, end: datetime) -> dict[str, Any]:
        def compute() -> dict[str, Any]:
            p = Params()
            f = self.sql(cycle_time_between(p, self.catalog.roles, start, end), p.values)
            n = int(f["orders"][0] or 0) if f.height else 0
            hours = f["hours"][0] if n else None
            return {"orders": n, "hours": None if hours is None else float(hours)}

        return self.cached("cycle_between", compute, start, end)

    def cycle_trend(self) -> pl.DataFrame:
        def compute() -> pl.DataFrame:
            p = Params()
            f = self.sql(cycle_time_trend(p, self.catalog.roles), p.values)
            return f.with_columns(pl.col("orders").cast(pl.Int64), pl.col("hours").cast(pl.Float64))

        return self.cached("cycle_trend", compute)

    def dwell_distribution(self, start: datetime, end: datetime) -> pl.DataFrame:
        """Quantiles of closed dwell per node (visits that left in [start, end)), in hours."""

        def compute() -> pl.DataFrame:
            f = self.sql(DWELL_DIST_SQL, [start, end, sorted(self.catalog.resting)])
            order = {n: i for i, n in enumerate(self.catalog.nodes)}
            cols = ["mean_ms", "p05", "q1", "med", "q3", "p95"]
            return (
                f.with_columns(
                    pl.col("n").cast(pl.Int64),
                    *[(pl.col(c).cast(pl.Float64) / H).alias(c) for c in cols],
                    pl.col("node").replace_strict(order, default=99).alias("_i"),
                )
                .sort("_i")
                .drop("_i")
            )

        return self.cached("dwell_distribution", compute, start, end)

    def overview(self) -> dict[str, Any]:
        """The overview KPIs."""

        def compute() -> dict[str, Any]:
            stats = self.stats()
            period, baseline = self.default_weeks()
            cyc_p = cyc_b = None
            if period:
                p0 = week_start(period)
                cyc_p = self.cycle_between(p0, p0 + timedelta(days=7))
            if baseline:
                b0 = week_start(baseline)
                cyc_b = self.cycle_between(b0, b0 + timedelta(days=7))
            stalls = self.open_stalls()
            return {
                "orders": stats["kinds"]["orders"]["count"],
                "open": int(self.open_by_node()["orders"].sum() or 0),
                "stalled": stalls["order_id"].n_unique() if stalls.height else 0,
                "stalled_visits": stalls.height,
                "quarantine": stats["quarantine"],
                "period": period,
                "baseline": baseline,
                "cycle_period": cyc_p,
                "cycle_baseline": cyc_b,
                "clock": self.clock(),
            }

        return self.cached("overview", compute)

    # --- drill-down ------------------------------------------------------------------------

    def dimension_values(self) -> dict[str, list[str]]:
        def compute() -> dict[str, list[str]]:
            out = {}
            for dim in SLICE_DIMENSIONS:
                f = self.sql(f'SELECT DISTINCT "{dim}" AS v FROM "orders" ORDER BY 1')
                out[dim] = [str(v) for v in f["v"].to_list() if v is not None]
            return out

        return self.cached("dimension_values", compute)

    def explain(self, metric: str, slice_: dict[str, str], period: str, baseline: str) -> Explanation:
        """analytics.rootcause.explain; ImportError when that module is not available yet,
        its RootCauseError (a ValueError) when the question cannot be answered as asked."""

        def compute() -> Explanation:
            from orderscope.analytics.rootcause import explain
            from orderscope.domain.periods import parse_period

            with self.lock:
                return explain(
                    self.stores, metric, dict(slice_), parse_period(period), parse_period(baseline)
                )

        return self.cached("explain", compute, metric, tuple(sorted(slice_.items())), period, baseline)

    # --- stalls & flows --------------------------------------------------------------------

    def flows(self, period: str, baseline: str | None) -> FlowReport:
        def compute() -> FlowReport:
            from orderscope.analytics.flows import flow_anomalies

            with self.lock:
                return flow_anomalies(self.stores, period, baseline)

        return self.cached("flows", compute, period, baseline)

    # --- order lookup ----------------------------------------------------------------------

    def snapshot(self, order_id: str) -> dict[str, Any] | None:
        """The order snapshot, or None for an unknown order."""

        def compute() -> dict[str, Any] | None:
            from orderscope.views.snapshot import UnknownOrder, build_snapshot

            with self.lock:
                try:
                    return build_snapshot(self.stores, order_id, self.catalog)
                except UnknownOrder:
                    return None

        from orderscope.dashboard.viewer import viewer
        from orderscope.domain.access import mask

        return mask(self.cached("snapshot", compute, order_id), viewer())

    def order_health(self, order_id: str) -> OrderHealth | None:
        def compute() -> OrderHealth | None:
            try:
                from orderscope.analytics.health import order_health

                with self.lock:
                    return order_health(self.stores, order_id)
            except Exception:  # the score is a garnish: never fail the lookup for it
                log.exception("order health of %s", order_id)
                return None

        return self.cached("order_health", compute, order_id)

    def order_of_record(self, kind: str, record_id: str) -> str | None:
        """The order a record belongs to (kinds keyed by order or waybill), else None."""

        def compute() -> str | None:
            k = BY_NAME.get(kind)
            if k is None:
                return None
            if kind == "orders":
                f = self.sql(ORDER_EXISTS_SQL, [record_id])
                return f["order_id"][0] if f.height else None
            if kind == "order_events":
                f = self.sql(EVENT_ORDER_SQL, [record_id])
                return f["order_id"][0] if f.height else None
            if kind == "logistics_tracks":
                f = self.sql(SHIPMENT_SCAN_SQL, [record_id])
                if not f.height:
                    return None
                return self.order_of_record("shipments", f["waybill"][0])
            if k.store != "graph" or not k.order_rel or not k.label:
                return None
            cypher = (
                f"MATCH (o:`Order`)-[:`{k.order_rel}`]->(r:`{k.label}`) "
                f"WHERE r.`{k.key}` = $id RETURN o.`order_id` AS order_id LIMIT 1"
            )
            with self.lock:
                f = self.stores.graph.query(cypher, {"id": record_id})
            return f["order_id"][0] if f.height else None

        return self.cached("order_of_record", compute, kind, record_id)


# kinds whose records can be followed to one order (evidence links)
LINKABLE_KINDS = frozenset(
    ["orders", "order_events", "logistics_tracks"]
    + [k.name for k in SOURCE_KINDS if k.store == "graph" and k.order_rel]
)
