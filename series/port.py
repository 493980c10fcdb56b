"""The series port: the append-only event log, stage dwell, readings, and the ingest bookkeeping.

Tables (one per series kind of orderscope.sources, named after the kind, columns exactly the
kind's columns) plus:
  orders          -- the order master as a dimension table, so slices aggregate in the store;
  stage_dwell     -- order_id, node, visit, entered_at, left_at (null while open), dwell_ms,
                     derived from order_events by event time, never by arrival order;
  ingest_ledger   -- one row per ingested file batch;
  quarantine      -- rejected rows with their reason.
Frames in and out use the types listed in orderscope.graph.port. Every query is parameterized.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import polars as pl

from orderscope.sources import SourceKind


class SeriesStore(Protocol):
    name: str  # "duckdb" | "timescale"

    def ensure_schema(self) -> None:
        """Create tables (hypertables on TimescaleDB) and indexes; idempotent."""

    # --- writes ---------------------------------------------------------------------------
    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        """Rows of `keys` (columns kind.identity) already stored for this kind (the orders kind
        is checked against the orders dimension)."""

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        """Bulk-append new rows of a series kind, or of `orders` to the dimension table."""

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        """Recompute stage_dwell for these orders (None: all) from order_events in SQL.
        A visit opens at an event whose to_state differs from the previous state and closes at
        the next such event; amendments (from_state = to_state) do not split a visit."""

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        """The completed ledger entry for this file content, if any."""

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None: ...

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        """Mark the batch done with rows_read / accepted / rejected / duplicate."""

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        """Store rejected rows: columns row_number (int), reason (str), raw (JSON text).
        Rows already quarantined from the same file content and row number are not added
        twice (a resumed batch re-rejects them)."""

    # --- reads ----------------------------------------------------------------------------
    def known_order_ids(self, order_ids: pl.Series) -> pl.Series:
        """The subset of order_ids present in the orders dimension."""

    def events(self, order_id: str) -> pl.DataFrame:
        """The order's events ordered by at, event_id."""

    def dwell(self, order_id: str) -> pl.DataFrame:
        """The order's node visits ordered by entered_at."""

    def readings(
        self,
        kind: SourceKind,
        where: dict[str, list[Any]],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        """Rows of a series kind whose columns match any of the listed values and whose time
        column lies in [start, end]; ordered by the time column then identity."""

    def sessions_overlapping(
        self, actor_ids: list[str], start: datetime, end: datetime
    ) -> pl.DataFrame:
        """operator_sessions of these actors that overlap [start, end]."""

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a parameterized read query (placeholders: $1, $2, ...) whose text both dialects
        accept; the adapter translates placeholders when its driver needs it."""

    def data_clock(self) -> datetime | None:
        """The newest event time stored: 'now' for open dwell and stalls, so analytics are
        reproducible on historical data."""

    def counts(self) -> dict[str, int]:
        """Row count per table (the 17-kind series tables, orders, stage_dwell, quarantine)."""

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame: ...

    def ledger(self) -> pl.DataFrame: ...

    def reset(self) -> None: ...

    def close(self) -> None: ...
