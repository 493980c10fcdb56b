"""The embedded series adapter: DuckDB (one file, zero set-up).

Frames travel as Arrow both ways: an incoming polars frame is registered as a view and copied in
with one INSERT ... SELECT; reads come back with `.pl()`. The SQL texts live in
orderscope.series.sql and are shared with the TimescaleDB adapter; what is DuckDB's own is here:
the type map, which tables carry a primary key (KEYED_TABLES), ART indexes for the point reads,
frame registration, the full dwell rebuild as a fresh table, and the session time zone (UTC, so
TIMESTAMPTZ comes back as Datetime("us", "UTC")).

One connection per store, guarded by a lock: DuckDB connections are not safe to share between
threads, and a file opened read-write admits no second process anyway.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from orderscope.domain.sources import SourceKind
from orderscope.series import sql as S

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

    def __init__(self, path: Path | str, read_only: bool = False, memory_limit_mb: int | None = None) -> None:
        self.path = Path(path) if str(path) != ":memory:" else None
        self.read_only = read_only
        if self.path is not None and not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
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
        return self._con.execute(sql, list(params) if params else None).fetchall()

    def _changed(self, sql: str, params: Sequence[Any] | None = None) -> int:
        rows = self._exec(sql, params)
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def _frame(self, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        with self._lock:
            return self._con.sql(sql, params=list(params) if params else None).pl()

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
                for table in S.TABLES:
                    self._create(table)
                for name, column in S.ADDED_COLUMNS:  # a store made by an older release
                    self._exec(S.add_column_sql(S.TABLES_BY_NAME[name], column, TYPES))
            self._schema_ready = True

    def _create(self, table: S.Table, indexes: bool = True) -> None:
        key = (table.identity or None) if table.name in KEYED_TABLES else None
        self._exec(S.create_table_sql(table, TYPES, key))
        if indexes:
            self._create_indexes(table)

    def _create_indexes(self, table: S.Table) -> None:
        for cols in table.indexes:
            self._exec(S.create_index_sql(table.name, cols))

    # --- writes ---------------------------------------------------------------------------
    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        table = S.table_of(kind)
        key_cols = list(kind.identity)
        if keys.is_empty():
            return S.empty_frame(table, key_cols)
        frame = S.key_frame(table, keys, key_cols)
        with self._lock:
            self._ensure()
            with self._registered(frame, "keys") as src:
                return self._con.sql(S.known_keys_sql(table, src, key_cols)).pl()

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        self._write_guard()
        table = S.table_of(kind)
        if frame.is_empty():
            return 0
        frame = S.dedupe_frame(table, S.prepare_frame(table, frame))
        with self._lock:
            self._ensure()
            with self._registered(frame, kind.name) as src, self._transaction():
                added = self._changed(S.insert_new_sql(table, src))
                if added and table.name == S.EVENT_TABLE:  # dwell is stale for these orders
                    self._exec(S.PENDING_MARK.format(src=S.ident(src)))
                return added

    def stored_rows(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        table = S.table_of(kind)
        key_cols = list(kind.identity)
        if keys.is_empty():
            return S.empty_frame(table)
        frame = S.key_frame(table, keys, key_cols).unique()
        with self._lock:
            self._ensure()
            with self._registered(frame, "stored") as src:
                return self._con.sql(S.stored_rows_sql(table, src, key_cols)).pl()

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        self._write_guard()
        with self._lock:
            self._ensure()
            if order_ids is None:
                with self._transaction():
                    n = self._rebuild_all()
                    self._exec(S.PENDING_CLEAR)
                return n
            ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).unique().drop_nulls()
            if ids.is_empty():
                return 0
            with self._registered(ids, "scope") as src, self._transaction():
                return self._rebuild_scope(S.ident(src))

    def rebuild_pending_dwell(self) -> int:
        self._write_guard()
        with self._lock:
            self._ensure()
            with self._transaction():  # marks and dwell change together, or not at all
                pending = self._exec(S.PENDING_COUNT)[0][0]
                if not pending:
                    return 0
                orders = self._exec(S.ORDERS_COUNT)[0][0]
                if pending >= S.FULL_REBUILD_SHARE * orders:
                    n = self._rebuild_all()
                else:
                    n = self._rebuild_scope(S.ident(S.DERIVE_PENDING.name))
                self._exec(S.PENDING_CLEAR)
                return n

    def pending_dwell(self) -> int:
        self._ensure()
        return int(self._frame(S.PENDING_COUNT)["n"][0])

    def _rebuild_all(self) -> int:
        """Every order's dwell, inside the caller's transaction: a fresh table is much faster
        than a DELETE through the ART index (about 9 s for 1.3M visits); the index is then
        built in bulk."""
        self._exec(S.drop_table_sql(S.STAGE_DWELL.name))
        self._create(S.STAGE_DWELL, indexes=False)
        n = self._changed(S.DWELL_INSERT.format(scope=""))
        self._create_indexes(S.STAGE_DWELL)
        return n

    def _rebuild_scope(self, ref: str) -> int:
        """Dwell of the orders listed in relation `ref`, inside the caller's transaction."""
        self._exec(S.DWELL_DELETE_SCOPE.format(src=ref))
        return self._changed(S.DWELL_INSERT.format(scope=S.DWELL_SCOPE.format(src=ref)))

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        self._ensure()
        rows = self._frame(S.LEDGER_FIND, [kind, content_hash]).to_dicts()
        return rows[0] if rows else None

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None:
        self._write_guard()
        with self._lock:
            self._ensure()
            self._exec(S.LEDGER_START, [batch_id, kind, source_file, content_hash, _now()])

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        self._write_guard()
        params = [batch_id] + [int(counts.get(k, 0)) for k in S.LEDGER_COUNTS]
        with self._lock:
            self._ensure()
            changed = self._changed(S.LEDGER_FINISH, [*params, _now()])
        if not changed:
            raise KeyError(f"no ledger entry for batch {batch_id!r} (ledger_start first)")

    def ledger_fail(self, batch_id: str, error: str) -> None:
        self._write_guard()
        with self._lock:
            self._ensure()
            self._exec(S.LEDGER_FAIL, [batch_id, error, _now()])

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        self._write_guard()
        if rows.is_empty():
            return 0
        frame = S.quarantine_frame(rows)
        with self._lock:
            self._ensure()
            found = self._exec(S.LEDGER_HASH, [batch_id])
            content_hash = found[0][0] if found else None
            with self._registered(frame, "quarantine") as src, self._transaction():
                return self._changed(
                    S.QUARANTINE_INSERT.format(src=S.ident(src)),
                    [batch_id, kind, source_file, content_hash, _now()],
                )

    # --- reads ----------------------------------------------------------------------------
    def known_order_ids(self, order_ids: pl.Series) -> pl.Series:
        ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).drop_nulls()
        if ids.is_empty():
            return pl.Series("order_id", [], dtype=pl.String)
        with self._lock:
            self._ensure()
            with self._registered(ids, "ids") as src:
                return self._con.sql(S.known_order_ids_sql(src)).pl()["order_id"]

    def events(self, order_id: str) -> pl.DataFrame:
        self._ensure()
        return self._frame(S.EVENTS_FOR_ORDER, [order_id])

    def dwell(self, order_id: str) -> pl.DataFrame:
        self._ensure()
        return self._frame(S.DWELL_FOR_ORDER, [order_id])

    def readings(
        self,
        kind: SourceKind,
        where: dict[str, list[Any]],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        table = S.table_of(kind)
        self._ensure()
        if any(len(v) == 0 for v in where.values()):
            return S.empty_frame(table)
        sql = S.readings_sql(kind, list(where), start is not None, end is not None)
        params: list[Any] = [list(v) for v in where.values()]
        params += [t for t in (start, end) if t is not None]
        return self._frame(sql, params)

    def sessions_overlapping(self, actor_ids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        self._ensure()
        if not actor_ids:
            return S.empty_frame(S.kind_table(S.STORED_KINDS["operator_sessions"]))
        return self._frame(S.SESSIONS_OVERLAPPING, [list(actor_ids), start, end])

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        self._ensure()
        return self._frame(sql, params)

    def data_clock(self) -> datetime | None:
        self._ensure()
        return self._frame(S.DATA_CLOCK)["clock"][0]

    def counts(self) -> dict[str, int]:
        self._ensure()
        rows = self._frame(S.counts_sql()).rows()
        return {t: int(n) for t, n in rows}

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame:
        self._ensure()
        return self._frame(S.QUARANTINE_ROWS, [int(limit)])

    def quarantine_summary(self) -> pl.DataFrame:
        self._ensure()
        return self._frame(S.QUARANTINE_SUMMARY)

    def ledger(self) -> pl.DataFrame:
        self._ensure()
        return self._frame(S.LEDGER_ALL)

    # --- stall-pattern library ------------------------------------------------------------
    def save_pattern(self, row: dict[str, Any]) -> bool:
        return self._append_table(S.PATTERN_LIBRARY, pl.DataFrame([row]), "pattern") > 0

    def patterns(self) -> pl.DataFrame:
        return self._read_table(S.PATTERN_LIBRARY, S.PATTERNS_ALL)

    def record_pattern_hits(self, frame: pl.DataFrame) -> int:
        return self._append_table(S.PATTERN_HITS, frame, "hits")

    def pattern_hits(self, pattern_ids: list[str] | None = None) -> pl.DataFrame:
        if pattern_ids is None:
            return self._read_table(S.PATTERN_HITS, S.PATTERN_HITS_ALL)
        return self._read_table(S.PATTERN_HITS, S.PATTERN_HITS_OF, [list(pattern_ids)])

    def _append_table(self, table: S.Table, frame: pl.DataFrame, stem: str) -> int:
        self._write_guard()
        if frame.is_empty():
            return 0
        frame = S.dedupe_frame(table, S.prepare_frame(table, frame))
        with self._lock:
            self._ensure()
            with self._registered(frame, stem) as src, self._transaction():
                return self._changed(S.insert_new_sql(table, src))

    def _read_table(self, table: S.Table, sql: str, params: Sequence[Any] | None = None) -> pl.DataFrame:
        self._ensure()
        try:
            return self._frame(sql, params)
        except duckdb.CatalogException:  # a store made before the table existed, opened read-only
            return S.empty_frame(table)

    def reset(self) -> None:
        self._write_guard()
        with self._lock, self._transaction():
            for table in reversed(S.TABLES):
                self._exec(S.drop_table_sql(table.name))
        self._schema_ready = False
        self.ensure_schema()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> DuckDBSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _now() -> datetime:
    return datetime.now(UTC)
