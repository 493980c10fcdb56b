"""The series port: the append-only event log, stage dwell, readings, and the ingest bookkeeping.

Tables (one per series kind of orderscope.domain.sources, named after the kind, columns exactly the
kind's columns) plus:
  orders          -- the order master as a dimension table, so slices aggregate in the store;
  stage_dwell     -- order_id, node, visit, entered_at, left_at (null while open), dwell_ms,
                     derived from order_events by event time, never by arrival order;
  ingest_ledger   -- one row per ingested file batch;
  quarantine      -- rejected rows with their reason;
  pattern_library -- named, versioned stall patterns; pattern_hits -- the visits they matched.
Frames in and out use the types listed in orderscope.graph.port. Every query is parameterized.
Timestamps are stored at millisecond precision (truncated) and read back tz-aware UTC.
Shared SQL texts live in orderscope.series.sql; quote identifiers in hand-written SQL ("at" is a
reserved word in DuckDB 2.0).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Protocol

import polars as pl

from orderscope.domain.sources import SourceKind

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def ident(name: str) -> str:
    """A quoted SQL identifier, as query text over the series port names tables and columns
    (both dialects). Raises on anything that is not a plain name."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


class SeriesStore(Protocol):
    name: str  # "duckdb" | "timescale"

    def ensure_schema(self) -> None:
        """Create tables (hypertables on TimescaleDB) and indexes; idempotent."""

    # --- writes ---------------------------------------------------------------------------
    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        """Rows of `keys` (columns kind.identity) already stored for this kind (the orders kind
        is checked against the orders dimension). Distinct rows, as given (a timestamp key
        matches its millisecond-truncated stored value)."""

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        """Bulk-append new rows of a series kind, or of `orders` to the dimension table.
        Rows whose identity is already stored, or repeated in the batch, are skipped (the first
        wins); returns rows added."""

    def stored_rows(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        """The stored rows (every column of the kind's table) whose identity is among `keys`
        (columns kind.identity): what ingest compares a repeated identity with, to tell a
        duplicate (same content) from a conflict (other content)."""

    def rebuild_pending_dwell(self) -> int:
        """Recompute stage_dwell for every order whose events were appended since its dwell was
        last derived, and clear those marks, in one transaction. `append` of order_events marks
        the orders it added events to in its own transaction, so whatever crash comes between
        an append and this call, the next call still rebuilds them. A scope of at least
        FULL_REBUILD_SHARE of all orders is rebuilt whole. Returns visits written."""

    def pending_dwell(self) -> int:
        """How many orders await a dwell rebuild (0 once every append has been derived)."""

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        """Recompute stage_dwell for these orders (None: all) from order_events in SQL.
        A visit opens at an event whose to_state differs from the previous state and closes at
        the next such event; amendments (from_state = to_state) do not split a visit.
        Events are taken by (at, event_id), so arrival order never matters; an order's first
        event always opens a visit. `visit` numbers the visits of one node (1, 2, ... on a
        rework loop). The last visit has left_at, left_by_event and dwell_ms NULL (still open,
        or a resting node). A full rebuild (None) also clears every pending mark. Returns
        visits written."""

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        """The completed ('done') ledger entry for this file content, if any: a dict of the
        ingest_ledger columns (batch_id, kind, source_file, content_hash, status, rows_read,
        accepted, rejected, duplicate, started_at, finished_at)."""

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None:
        """Record the batch as 'started' (again, if the batch id is resumed)."""

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        """Mark the batch done with rows_read / accepted / rejected / duplicate / conflict
        (missing: 0). KeyError when the batch was never started."""

    def ledger_fail(self, batch_id: str, error: str) -> None:
        """Mark the batch 'failed' with the reason its file could not be read: a later run
        tries the file again (ledger_find finds only 'done' entries)."""

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        """Store rejected rows: columns row_number (int), reason (str), raw (JSON text) and
        optionally outcome ('rejected', the default, or 'conflict').
        Rows already quarantined from the same file content and row number are not added
        twice (a resumed batch re-rejects them). The content is the batch's ledger
        content_hash, or the source_file when the batch has no ledger entry. Returns rows
        added."""

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

    def sessions_overlapping(self, actor_ids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        """operator_sessions of these actors that overlap [start, end]."""

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a parameterized read query (placeholders: $1, $2, ...) whose text both dialects
        accept; the adapter translates placeholders when its driver needs it."""

    def data_clock(self) -> datetime | None:
        """The newest event time stored: 'now' for open dwell and stalls, so analytics are
        reproducible on historical data."""

    def counts(self) -> dict[str, int]:
        """Row count per table (the 17-kind series tables, orders, stage_dwell, quarantine)."""

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame:
        """The newest quarantined rows, all quarantine columns."""

    def quarantine_summary(self) -> pl.DataFrame:
        """Quarantined rows per kind and outcome ('rejected' | 'conflict'): kind, outcome,
        rows."""

    def ledger(self) -> pl.DataFrame:
        """Every ledger entry, ordered by started_at."""

    # --- stall-pattern library (orderscope.analytics.patterns) ---------------------------
    def save_pattern(self, row: dict[str, Any]) -> bool:
        """Add one library entry: a dict of the pattern_library columns (name, version,
        pattern_id, items as JSON text, created_at; support, risk_ratio, p_adjusted, stalls,
        note optional). An entry whose (name, version) is stored already is left as it is;
        returns whether it was added. Version numbering is the caller's."""

    def patterns(self) -> pl.DataFrame:
        """Every library entry (pattern_library columns), ordered by name then version."""

    def record_pattern_hits(self, frame: pl.DataFrame) -> int:
        """Append stalled visits matched by library patterns: columns pattern_id, order_id,
        node, visit, entered_at, dwell_ms (optional), run_id, recorded_at. A visit already
        recorded for the pattern is skipped (so a later run counts only new hits); returns
        rows added."""

    def pattern_hits(self, pattern_ids: list[str] | None = None) -> pl.DataFrame:
        """Recorded hits (pattern_hits columns) of these patterns (None: all), ordered by
        pattern_id, entered_at, order_id, node, visit."""

    def reset(self) -> None:
        """Delete everything this store holds (tables are recreated empty)."""

    def close(self) -> None: ...
