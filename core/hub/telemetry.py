"""Prometheus metrics of one hub: requests, latencies, ingest and quarantine counts, data clock.

Request counters are labelled by the route template (`/api/v1/orders/{order_id}`), never by
the raw path, so an order ID cannot blow up the series count. Quarantine counts and the data
clock lag are read from the stores when scraped.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from orderscope.ingest.pipeline import IngestReport
from orderscope.ports import Stores

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StoreCollector(Collector):
    def __init__(self, stores: Callable[[], Stores]) -> None:
        self.stores = stores

    def collect(self) -> Any:
        stores = self.stores()
        quarantine = GaugeMetricFamily(
            "orderscope_quarantine_rows", "Quarantined rows by kind and outcome", labels=["kind", "outcome"]
        )
        for row in stores.series.quarantine_summary().iter_rows(named=True):
            quarantine.add_metric([str(row["kind"]), str(row["outcome"])], float(row["rows"]))
        yield quarantine
        lag = GaugeMetricFamily(
            "orderscope_data_clock_lag_seconds", "Wall clock minus the newest event time in the stores"
        )
        clock = stores.series.data_clock()
        if clock is not None:
            clock = clock if clock.tzinfo else clock.replace(tzinfo=UTC)
            lag.add_metric([], (datetime.now(UTC) - clock).total_seconds())
        yield lag


class Telemetry:
    def __init__(self, stores: Callable[[], Stores]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "orderscope_http_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "orderscope_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.ingested = Counter(
            "orderscope_ingest_rows",
            "Rows ingested by the hub (push, inbox, CLI through the hub) by kind and outcome",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.registry.register(_StoreCollector(stores))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def count(self, kinds: dict[str, dict[str, int]]) -> None:
        """Add per-kind counts (accepted / rejected / duplicate / conflict)."""
        for kind, counts in kinds.items():
            for outcome in ("accepted", "rejected", "duplicate", "conflict"):
                if counts.get(outcome):
                    self.ingested.labels(kind, outcome).inc(counts[outcome])

    def count_report(self, report: IngestReport) -> None:
        self.count(report.to_dict()["kinds"])

    def text(self) -> bytes:
        return generate_latest(self.registry)
