"""The embedded series adapter: DuckDB (one file, zero set-up).

Frames travel as Arrow both ways: an incoming polars frame is registered as a view and copied in
with one INSERT ... SELECT; reads come back with `.pl()`. The table layout, the SQL texts and the
key look-ups are shared with the TimescaleDB adapter (orderscope.series.tables, .sql, .dwell,
.ledger, .frames); what is DuckDB's own is here:
the type map, which tables carry a primary key (KEYED_TABLES), ART indexes for the point reads,
frame registration, the full dwell rebuild as a fresh table, and the session time zone (UTC, so
TIMESTAMPTZ comes back as Datetime("us", "UTC")).

One connection per store for writes, guarded by a lock: DuckDB connections are not safe to share
between threads, and a file opened read-write admits no second process anyway. Reads run on a
cursor of the calling thread (a connection of its own to the same database, which sees what is
committed: DuckDB's MVCC), so lookups of several threads run side by side (`concurrent_reads`).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from orderscope.domain.sources import SourceKind
from orderscope.series.dwell import (
    DWELL_DELETE_SCOPE,
    DWELL_INSERT,
    DWELL_SCOPE,
    FULL_REBUILD_SHARE,
    ORDERS_COUNT,
    PENDING_CLEAR,
    PENDING_COUNT,
    PENDING_MARK,
)
from orderscope.series.frames import dedupe_frame, empty_frame, prepare_frame, quarantine_frame
from orderscope.series.ledger import (
    LEDGER_ALL,
    LEDGER_COUNTS,
    LEDGER_FAIL,
    LEDGER_FIND,
    LEDGER_FINISH,
    LEDGER_HASH,
    LEDGER_START,
    QUARANTINE_INSERT,
    QUARANTINE_ROWS,
    QUARANTINE_SUMMARY,
)
from orderscope.series.port import ident
from orderscope.series.sql import (
    DATA_CLOCK,
    DWELL_FOR_ORDER,
    EVENTS_FOR_ORDER,
    PATTERN_HITS_ALL,
    PATTERN_HITS_OF,
    PATTERNS_ALL,
    SESSIONS_OVERLAPPING,
    counts_sql,
    insert_new_sql,
    known_keys_over,
    known_order_ids_over,
    readings_query,
    stored_rows_over,
)
from orderscope.series.tables import (
    ADDED_COLUMNS,
    DERIVE_PENDING,
    EVENT_TABLE,
    PATTERN_HITS,
    PATTERN_LIBRARY,
    STAGE_DWELL,
    STORED_KINDS,
    TABLES,
    TABLES_BY_NAME,
    Table,
    add_column_sql,
    create_index_sql,
    create_table_sql,
    drop_table_sql,
    kind_table,
    table_of,
)

TYPES: dict[str, str] = {
    "str": "VARCHAR",
    "text": "VARCHAR",
    "int": "BIGINT",
    "int32": "INTEGER",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "ts": "TIMESTAMPTZ",
    "json": "JSON",
}

# Tables that get a PRIMARY KEY. The append-only kind tables do not: their identity is enforced
# by append's anti-join under the store's lock (DuckDB has a single writer), and an ART key on
# 1.3M event ids halves append speed (135k vs 296k rows/s). stage_dwell is unique by construction.
KEYED_TABLES: frozenset[str] = frozenset({"orders", "ingest_ledger"})

_names = itertools.count()


class DuckDBSeries:
    name = "duckdb"
    # Methods that read on the calling thread's own cursor: safe to call from several threads
    # at once (orderscope.hub.locking lets them share the store's lock).
    concurrent_reads: frozenset[str] = frozenset(
        {
            "events",
            "dwell",
            "readings",
            "sessions_overlapping",
            "query",
            "data_clock",
            "counts",
            "quarantine_rows",
            "quarantine_summary",
            "ledger",
            "ledger_find",
            "pending_dwell",
            "patterns",
            "pattern_hits",
        }
    )

    def __init__(self, path: Path | str, read_only: bool = False, memory_limit_mb: int | None = None) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self.read_only = read_only
        if self.path is not None and not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._local = threading.local()  # .con: this thread's read cursor
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._schemas: dict[str, pl.Schema] = {}  # a lookup's text -> its frame's dtypes
        # The data clock, kept between writes: this connection is the store's only writer
        # (DuckDB's file lock), and max(at) is a scan of every event (~10 ms at 100k orders).
        self._writes = 0  # bumped by every statement that may write
        self._clock: tuple[int, datetime | None] | None = None  # (writes when read, clock)
        self._con = duckdb.connect(
            str(self.path) if self.path is not None else ":memory:",
            read_only=read_only,
        )
        # TIMESTAMPTZ comes back (to Arrow and Python) in the session time zone: make it UTC.
        # Set after connecting: the ICU extension cannot be autoloaded from connect's config.
        self._exec("SET TimeZone = 'UTC'")
        # No terminal progress bars from inside a library; a bounded share of memory, so the
        # graph engine next to it has room too (DuckDB's default is 80 % of the machine).
        self._exec("SET enable_progress_bar = false")
        if memory_limit_mb:
            self._exec(f"SET memory_limit = '{int(memory_limit_mb)}MB'")
        self._schema_ready = False

    # --- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _registered(self, frame: pl.DataFrame, stem: str) -> Iterator[str]:
        """The frame visible to SQL as a view named by the returned (unquoted) name."""
        name = f"_in_{stem}_{next(_names)}"
        self._con.register(name, frame.to_arrow())
        try:
            yield name
        finally:
            self._con.unregister(name)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._exec("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._exec("ROLLBACK")
            raise
        self._exec("COMMIT")

    def _exec(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a statement to completion (DuckDB 2.0 refuses other work on a connection with an
        unfinished result) and give its rows; a write gives [(rows changed,)]."""
        self._writes += 1
        return self._con.execute(sql, list(params) if params else None).fetchall()

    def _changed(self, sql: str, params: Sequence[Any] | None = None) -> int:
        rows = self._exec(sql, params)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def _frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        """A read, on this thread's cursor (no read runs inside a write's transaction)."""
        return self._reader().sql(sql, params=list(params) if params else None).pl()

    def _lookup(self, sql: str, params: Sequence[Any]) -> pl.DataFrame:
        """A read of a few rows (the snapshot's point lookups), the same frame as `_frame`:
        its rows fetched as tuples into the dtypes the first `_frame` of this text gave. A
        relation's `.pl()` binds the statement apart from running it, which costs more than
        building a frame of a few rows."""
        schema = self._schemas.get(sql)
        if schema is None:
            frame = self._frame(sql, params)
            self._schemas[sql] = frame.schema
            return frame
        rows = self._reader().execute(sql, list(params)).fetchall()
        return pl.DataFrame(rows, schema=schema, orient="row")

    def _reader(self) -> duckdb.DuckDBPyConnection:
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "con", None)
        if cursor is None:
            with self._lock:
                cursor = self._con.cursor()
                cursor.execute("SET TimeZone = 'UTC'")  # as the main connection's session
                self._cursors.append(cursor)
            self._local.con = cursor
        return cursor

    def _select_over(
        self,
        frame: pl.DataFrame,
        table: Table,
        stem: str,
        text: Callable[[str], str],
        schema: Mapping[str, pl.DataType],
    ) -> pl.DataFrame:
        """A SelectOver (orderscope.series.sql): the frame registered as a view; the result
        keeps DuckDB's own types (`schema` is for adapters that build frames from rows)."""
        with self._lock:
            self._ensure()
            with self._registered(frame, stem) as src:
                return self._con.sql(text(src)).pl()

    def _write_guard(self) -> None:
        if self.read_only:
            raise PermissionError(f"series store {self.path} is open read-only")

    def _ensure(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    # --- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        with self._lock:
            if self.read_only:
                self._schema_ready = True
                return
            with self._transaction():
                for table in TABLES:
                    self._create(table)
                for name, column in ADDED_COLUMNS:  # a store made by an older release
                    self._exec(add_column_sql(TABLES_BY_NAME[name], column, TYPES))
            self._schema_ready = True

    def _create(self, table: Table, indexes: bool = True) -> None:
        key = (table.identity or None) if table.name in KEYED_TABLES else None
        self._exec(create_table_sql(table, TYPES, key))
        if indexes:
            self._create_indexes(table)

    def _create_indexes(self, table: Table) -> None:
        for cols in table.indexes:
            self._exec(create_index_sql(table.name, cols))

    # --- writes ---------------------------------------------------------------------------
    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        return known_keys_over(self._select_over, kind, keys)

    def stored_rows(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        return stored_rows_over(self._select_over, kind, keys)

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        self._write_guard()
        return self._insert_new(table_of(kind), frame, kind.name)

    def _insert_new(self, table: Table, frame: pl.DataFrame, stem: str) -> int:
        """Append the frame's new rows to the table in one transaction; appended events mark
        their orders for a dwell rebuild in the same one."""
        self._write_guard()
        if frame.is_empty():
            return 0
        frame = dedupe_frame(table, prepare_frame(table, frame))
        with self._lock:
            self._ensure()
            with self._registered(frame, stem) as src, self._transaction():
                added = self._changed(insert_new_sql(table, src))
                if added and table.name == EVENT_TABLE:  # dwell is stale for these orders
                    self._exec(PENDING_MARK.format(src=ident(src)))
                return added

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        self._write_guard()
        with self._lock:
            self._ensure()
            if order_ids is None:
                with self._transaction():
                    n = self._rebuild_all()
                    self._exec(PENDING_CLEAR)
                return n
            ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).unique().drop_nulls()
            if ids.is_empty():
                return 0
            with self._registered(ids, "scope") as src, self._transaction():
                return self._rebuild_scope(ident(src))

    def rebuild_pending_dwell(self) -> int:
        self._write_guard()
        with self._lock:
            self._ensure()
            with self._transaction():  # marks and dwell change together, or not at all
                pending = self._exec(PENDING_COUNT)[0][0]
                if not pending:
                    return 0
                orders = self._exec(ORDERS_COUNT)[0][0]
                if pending >= FULL_REBUILD_SHARE * orders:
                    n = self._rebuild_all()
                else:
                    n = self._rebuild_scope(ident(DERIVE_PENDING.name))
                self._exec(PENDING_CLEAR)
                return n

    def pending_dwell(self) -> int:
        self._ensure()
        return int(self._frame(PENDING_COUNT)["n"][0])

    def _rebuild_all(self) -> int:
        """Every order's dwell, inside the caller's transaction: a fresh table is much faster
        than a DELETE through the ART index (about 9 s for 1.3M visits); the index is then
        built in bulk."""
        self._exec(drop_table_sql(STAGE_DWELL.name))
        self._create(STAGE_DWELL, indexes=False)
        n = self._changed(DWELL_INSERT.format(scope=""))
        self._create_indexes(STAGE_DWELL)
        return n

    def _rebuild_scope(self, ref: str) -> int:
        """Dwell of the orders listed in relation `ref`, inside the caller's transaction."""
        self._exec(DWELL_DELETE_SCOPE.format(src=ref))
        return self._changed(DWELL_INSERT.format(scope=DWELL_SCOPE.format(src=ref)))

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        self._ensure()
        rows = self._frame(LEDGER_FIND, [kind, content_hash]).to_dicts()
        return rows[0] if rows else None

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None:
        self._write_guard()
        with self._lock:
            self._ensure()
            self._exec(LEDGER_START, [batch_id, kind, source_file, content_hash, _now()])

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        self._write_guard()
        params = [batch_id] + [int(counts.get(k, 0)) for k in LEDGER_COUNTS]
        with self._lock:
            self._ensure()
            changed = self._changed(LEDGER_FINISH, [*params, _now()])
        if not changed:
            raise KeyError(f"no ledger entry for batch {batch_id!r} (ledger_start first)")

    def ledger_fail(self, batch_id: str, error: str) -> None:
        self._write_guard()
        with self._lock:
            self._ensure()
            self._exec(LEDGER_FAIL, [batch_id, error, _now()])

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        self._write_guard()
        if rows.is_empty():
            return 0
        frame = quarantine_frame(rows)
        with self._lock:
            self._ensure()
            found = self._exec(LEDGER_HASH, [batch_id])
            content_hash = found[0][0] if found else None
            with self._registered(frame, "quarantine") as src, self._transaction():
                return self._changed(
                    QUARANTINE_INSERT.format(src=ident(src)),
                    [batch_id, kind, source_file, content_hash, _now()],
                )

    # --- reads ----------------------------------------------------------------------------
    def known_order_ids(self, order_ids: pl.Series) -> pl.Series:
        return known_order_ids_over(self._select_over, order_ids)

    def events(self, order_id: str) -> pl.DataFrame:
        self._ensure()
        return self._lookup(EVENTS_FOR_ORDER, [order_id])

    def dwell(self, order_id: str) -> pl.DataFrame:
        self._ensure()
        return self._lookup(DWELL_FOR_ORDER, [order_id])

    def readings(
        self,
        kind: SourceKind,
        where: dict[str, list[Any]],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        table = table_of(kind)
        self._ensure()
        query = readings_query(kind, where, start, end)
        return empty_frame(table) if query is None else self._lookup(*query)

    def sessions_overlapping(self, actor_ids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        self._ensure()
        if not actor_ids:
            return empty_frame(kind_table(STORED_KINDS["operator_sessions"]))
        return self._lookup(SESSIONS_OVERLAPPING, [list(actor_ids), start, end])

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        self._ensure()
        return self._frame(sql, params)

    def data_clock(self) -> datetime | None:
        self._ensure()
        cached = self._clock
        if cached is not None and cached[0] == self._writes:
            return cached[1]
        writes = self._writes
        clock: datetime | None = self._frame(DATA_CLOCK)["clock"][0]
        if writes == self._writes:  # no write began meanwhile: the value is current
            self._clock = (writes, clock)
        return clock

    def counts(self) -> dict[str, int]:
        self._ensure()
        rows = self._frame(counts_sql()).rows()
        return {t: int(n) for t, n in rows}

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame:
        self._ensure()
        return self._frame(QUARANTINE_ROWS, [int(limit)])

    def quarantine_summary(self) -> pl.DataFrame:
        self._ensure()
        return self._frame(QUARANTINE_SUMMARY)

    def ledger(self) -> pl.DataFrame:
        self._ensure()
        return self._frame(LEDGER_ALL)

    # --- stall-pattern library ------------------------------------------------------------
    def save_pattern(self, row: dict[str, Any]) -> bool:
        return self._insert_new(PATTERN_LIBRARY, pl.DataFrame([row]), "pattern") > 0

    def patterns(self) -> pl.DataFrame:
        return self._read_table(PATTERN_LIBRARY, PATTERNS_ALL)

    def record_pattern_hits(self, frame: pl.DataFrame) -> int:
        return self._insert_new(PATTERN_HITS, frame, "hits")

    def pattern_hits(self, pattern_ids: list[str] | None = None) -> pl.DataFrame:
        if pattern_ids is None:
            return self._read_table(PATTERN_HITS, PATTERN_HITS_ALL)
        return self._read_table(PATTERN_HITS, PATTERN_HITS_OF, [list(pattern_ids)])

    def _read_table(self, table: Table, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        self._ensure()
        try:
            return self._frame(sql, params)
        except duckdb.CatalogException:  # a store made before the table existed, opened read-only
            return empty_frame(table)

    def reset(self) -> None:
        self._write_guard()
        with self._lock, self._transaction():
            for table in reversed(TABLES):
                self._exec(drop_table_sql(table.name))
        self._schema_ready = False
        self.ensure_schema()

    def close(self) -> None:
        with self._lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
            self._con.close()

    def __enter__(self) -> DuckDBSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> datetime:
    return datetime.now(UTC)
