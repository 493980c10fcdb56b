"""The server series adapter: PostgreSQL + TimescaleDB through psycopg 3 and a connection pool.

The SQL texts are shared with the DuckDB adapter (orderscope.series.sql, .dwell, .ledger; $n
placeholders go through `to_pyformat`); what is the server's own lives next to this module:
  * orderscope.series.hypertables: the schema (type map, hypertables partitioned on their time
    column, unique indexes holding it, the indexes kept, optional compression);
  * orderscope.series.postgres: frames in (COPY into a temporary table, or array parameters
    unnested in a CTE for a small key frame: no DDL per call) and out (rows built into polars
    with the layout's schema, or the result's type OIDs for `query()`), table locks and bulk
    index rebuilds.
Here: the pool and session (search_path = <schema>, public, since time_bucket lives with the
extension in public; TimeZone UTC; json loaded as text) and the port's methods. A large append
COPYs into a temporary table, then one INSERT ... SELECT ... WHERE NOT EXISTS moves the new rows
into the hypertable in the same transaction.
Continuous aggregates and compression are not in the Apache-2 edition: `features` tells what the
running server's licence offers; compression is configured only when it is offered and asked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import polars as pl
import psycopg
from psycopg import sql as pgsql
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

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
from orderscope.series.frames import dedupe_frame, empty_frame, prepare_frame, quarantine_frame, schema_of
from orderscope.series.hypertables import HYPERTABLES, KEYED_TABLES, create_schema
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
from orderscope.series.postgres import (
    copy_in,
    fetch,
    is_empty,
    lock_table,
    qualified,
    rebuilt_indexes,
    relation,
    run,
    to_pyformat,
    unique_name,
)
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
    EVENT_TABLE,
    INGEST_LEDGER,
    PATTERN_HITS,
    PATTERN_LIBRARY,
    QUARANTINE,
    STAGE_DWELL,
    STORED_KINDS,
    TABLES,
    Table,
    kind_table,
    table_of,
)

# A load of at least this many rows into an empty table rebuilds its indexes afterwards.
BULK_MIN_ROWS = 50_000


class TimescaleSeries:
    name = "timescale"

    def __init__(
        self,
        dsn: str,
        schema: str = "orderscope",
        *,
        min_size: int = 1,
        max_size: int = 4,
        compress_after: str | None = None,
        read_only: bool = False,
        timeout: float = 10.0,
    ) -> None:
        """`schema` holds every table of this store (reset() touches nothing else);
        `compress_after` (e.g. '30 days') enables native compression of older chunks, only
        when the server's licence offers it."""
        ident(schema)  # refuse anything but a plain name
        self.schema = schema
        self.read_only = read_only
        self.compress_after = compress_after
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._pool = ConnectionPool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            name=f"orderscope-series-{schema}",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except Exception as e:  # PoolTimeout: say where, not just "timeout"
            self._pool.close()
            raise ConnectionError(
                f"PostgreSQL+TimescaleDB not reachable ({_safe_dsn(dsn)}): {e}; "
                "start it with `python -m orderscope.services up`"
            ) from e
        self.licence = self._licence()

    # --- plumbing -------------------------------------------------------------------------
    def _configure(self, conn: psycopg.Connection) -> None:
        conn.adapters.register_loader("json", TextLoader)
        conn.adapters.register_loader("jsonb", TextLoader)
        conn.execute(
            pgsql.SQL(
                "SELECT set_config('search_path', {}, false), "
                "set_config('TimeZone', 'UTC', false), "
                # staged COPYs stay in memory (settable only before the first temp table)
                "set_config('temp_buffers', '64MB', false)"
            ).format(pgsql.Literal(f"{ident(self.schema)}, public"))
        )

    def _write_guard(self) -> None:
        if self.read_only:
            raise PermissionError(f"series store (schema {self.schema}) is open read-only")

    @contextmanager
    def _conn(self, write: bool = False) -> Iterator[psycopg.Connection]:
        if write:
            self._write_guard()
        if not self._schema_ready and not self.read_only:
            self.ensure_schema()
        with self._pool.connection() as conn:
            if write:
                with conn.transaction():
                    yield conn
            else:
                yield conn

    def _licence(self) -> str:
        with self._pool.connection() as conn:
            try:
                row = conn.execute("SHOW timescaledb.license").fetchone()
            except psycopg.Error:
                return "none"
        return str(row[0]) if row else "none"

    @property
    def features(self) -> dict[str, bool]:
        """What the server's TimescaleDB licence offers beyond hypertables and time_bucket."""
        community = self.licence == "timescale"
        return {"compression": community, "continuous_aggregates": community}

    def _read(self, text: str, params: list[Any] | None, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
        """A read with $n placeholders, its result in the given dtypes."""
        with self._conn() as conn:
            return fetch(conn, text, params, schema)

    def _select_over(
        self,
        frame: pl.DataFrame,
        table: Table,
        stem: str,
        text: Callable[[str], str],
        schema: Mapping[str, pl.DataType],
    ) -> pl.DataFrame:
        """SelectOver: the frame as a CTE or a COPYed temporary table (postgres.relation)."""
        with self._conn() as conn, relation(conn, frame, table, stem) as (src, prefix, params):
            body, _ = to_pyformat(text(src), [])
            return fetch(conn, prefix + body, params, dict(schema), pyformat=True)

    # --- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        if self.read_only:
            self._schema_ready = True
            return
        compress = self.compress_after if self.compress_after and self.features["compression"] else None
        with self._schema_lock, self._pool.connection() as conn, conn.transaction():
            create_schema(conn, self.schema, compress)
        self._schema_ready = True

    # --- writes ---------------------------------------------------------------------------
    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        return known_keys_over(self._select_over, kind, keys)

    def stored_rows(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        return stored_rows_over(self._select_over, kind, keys)

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        table = table_of(kind)
        if frame.is_empty():
            self._write_guard()
            return 0
        frame = dedupe_frame(table, prepare_frame(table, frame))
        if table.time_column and table.name in HYPERTABLES:
            frame = frame.sort(table.time_column)  # chunk by chunk, index entries in order
        with self._conn(write=True) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            # One writer per table at a time: the anti-join is then exact (a hypertable's
            # unique index holds the time column too, so it cannot guard the identity alone).
            lock_table(conn, qualified(self.schema, table.name))
            empty = is_empty(conn, table.name)
            src, prefix = copy_in(conn, frame, table, kind.name, analyze=not empty)
            with rebuilt_indexes(conn, self.schema, table.name, empty and frame.height >= BULK_MIN_ROWS):
                insert = insert_new_sql(table, src, on_conflict=table.name in KEYED_TABLES)
                added = run(conn, prefix + insert)
            if added and table.name == EVENT_TABLE:  # dwell is stale for these orders
                run(conn, prefix + PENDING_MARK.format(src=ident(src)))
            return added

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        with self._conn(write=True) as conn:
            lock_table(conn, qualified(self.schema, STAGE_DWELL.name))
            conn.execute("SET LOCAL work_mem = '256MB'")  # the window sorts stay in memory
            if order_ids is None:
                conn.execute(PENDING_CLEAR)  # first: a mark made after it stays
                return self._rebuild_all(conn)
            ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).unique().drop_nulls()
            if ids.is_empty():
                return 0
            with relation(conn, ids, STAGE_DWELL, "scope") as (src, prefix, params):
                ref = ident(src)
                delete, _ = to_pyformat(DWELL_DELETE_SCOPE.format(src=ref), [])
                conn.execute(prefix + delete, params)
                insert, _ = to_pyformat(DWELL_INSERT.format(scope=DWELL_SCOPE.format(src=ref)), [])
                return max(conn.execute(prefix + insert, params).rowcount, 0)

    def rebuild_pending_dwell(self) -> int:
        with self._conn(write=True) as conn:
            lock_table(conn, qualified(self.schema, STAGE_DWELL.name))
            conn.execute("SET LOCAL work_mem = '256MB'")
            # Take the marks out first and rebuild after: a concurrent append that commits in
            # between keeps its mark (or its events are already visible to the rebuild), and a
            # crash rolls the marks back with the rebuild.
            scope = unique_name("_pending")
            conn.execute(f"CREATE TEMPORARY TABLE {ident(scope)} (order_id text) ON COMMIT DROP")
            taken = conn.execute(
                f'WITH d AS ({PENDING_CLEAR} RETURNING "order_id") '
                f'INSERT INTO {ident(scope)} SELECT DISTINCT "order_id" FROM d'
            ).rowcount
            if taken <= 0:
                return 0
            orders = conn.execute(ORDERS_COUNT).fetchone()
            if taken >= FULL_REBUILD_SHARE * (orders[0] if orders else 0):
                return self._rebuild_all(conn)
            ref = ident(scope)
            conn.execute(DWELL_DELETE_SCOPE.format(src=ref))
            return run(conn, DWELL_INSERT.format(scope=DWELL_SCOPE.format(src=ref)))

    def _rebuild_all(self, conn: psycopg.Connection) -> int:
        conn.execute(f"TRUNCATE {ident(STAGE_DWELL.name)}")
        with rebuilt_indexes(conn, self.schema, STAGE_DWELL.name, rebuild=True):
            return run(conn, DWELL_INSERT.format(scope=""))

    def pending_dwell(self) -> int:
        with self._conn() as conn:
            row = conn.execute(PENDING_COUNT).fetchone()
        return int(row[0]) if row else 0

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        rows = self._read(LEDGER_FIND, [kind, content_hash], schema_of(INGEST_LEDGER)).to_dicts()
        return rows[0] if rows else None

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None:
        with self._conn(write=True) as conn:
            run(conn, LEDGER_START, [batch_id, kind, source_file, content_hash, _now()])

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        params = [batch_id] + [int(counts.get(k, 0)) for k in LEDGER_COUNTS]
        with self._conn(write=True) as conn:
            changed = run(conn, LEDGER_FINISH, [*params, _now()])
        if not changed:
            raise KeyError(f"no ledger entry for batch {batch_id!r} (ledger_start first)")

    def ledger_fail(self, batch_id: str, error: str) -> None:
        with self._conn(write=True) as conn:
            run(conn, LEDGER_FAIL, [batch_id, error, _now()])

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        if rows.is_empty():
            self._write_guard()
            return 0
        frame = quarantine_frame(rows)
        with self._conn(write=True) as conn:
            found = conn.execute(*to_pyformat(LEDGER_HASH, [batch_id])).fetchone()
            content_hash = found[0] if found else None
            src, _ = copy_in(conn, frame, QUARANTINE, "quarantine")
            return run(
                conn,
                QUARANTINE_INSERT.format(src=ident(src)),
                [batch_id, kind, source_file, content_hash, _now()],
            )

    # --- reads ----------------------------------------------------------------------------
    def known_order_ids(self, order_ids: pl.Series) -> pl.Series:
        return known_order_ids_over(self._select_over, order_ids)

    def events(self, order_id: str) -> pl.DataFrame:
        table = kind_table(STORED_KINDS["order_events"])
        return self._read(EVENTS_FOR_ORDER, [order_id], schema_of(table))

    def dwell(self, order_id: str) -> pl.DataFrame:
        return self._read(DWELL_FOR_ORDER, [order_id], schema_of(STAGE_DWELL))

    def readings(
        self,
        kind: SourceKind,
        where: dict[str, list[Any]],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        table = table_of(kind)
        query = readings_query(kind, where, start, end)
        if query is None:
            return empty_frame(table)
        return self._read(*query, schema_of(table))

    def sessions_overlapping(self, actor_ids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        table = kind_table(STORED_KINDS["operator_sessions"])
        if not actor_ids:
            return empty_frame(table)
        return self._read(SESSIONS_OVERLAPPING, [list(actor_ids), start, end], schema_of(table))

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        with self._conn() as conn:
            return fetch(conn, sql, params)

    def data_clock(self) -> datetime | None:
        with self._conn() as conn:
            row = conn.execute(DATA_CLOCK).fetchone()
        return row[0].astimezone(UTC) if row and row[0] is not None else None

    def counts(self) -> dict[str, int]:
        with self._conn() as conn:
            rows = conn.execute(counts_sql()).fetchall()
        return {t: int(n) for t, n in rows}

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame:
        return self._read(QUARANTINE_ROWS, [int(limit)], schema_of(QUARANTINE))

    def quarantine_summary(self) -> pl.DataFrame:
        schema = {"kind": pl.String(), "outcome": pl.String(), "rows": pl.Int64()}
        return self._read(QUARANTINE_SUMMARY, None, schema)

    def ledger(self) -> pl.DataFrame:
        return self._read(LEDGER_ALL, None, schema_of(INGEST_LEDGER))

    # --- stall-pattern library ------------------------------------------------------------
    def save_pattern(self, row: dict[str, Any]) -> bool:
        return self._append_table(PATTERN_LIBRARY, pl.DataFrame([row]), "pattern") > 0

    def patterns(self) -> pl.DataFrame:
        return self._read(PATTERNS_ALL, None, schema_of(PATTERN_LIBRARY))

    def record_pattern_hits(self, frame: pl.DataFrame) -> int:
        return self._append_table(PATTERN_HITS, frame, "hits")

    def pattern_hits(self, pattern_ids: list[str] | None = None) -> pl.DataFrame:
        schema = schema_of(PATTERN_HITS)
        if pattern_ids is None:
            return self._read(PATTERN_HITS_ALL, None, schema)
        return self._read(PATTERN_HITS_OF, [list(pattern_ids)], schema)

    def _append_table(self, table: Table, frame: pl.DataFrame, stem: str) -> int:
        if frame.is_empty():
            self._write_guard()
            return 0
        frame = dedupe_frame(table, prepare_frame(table, frame))
        with self._conn(write=True) as conn:
            lock_table(conn, qualified(self.schema, table.name))  # the anti-join is exact with one writer
            src, prefix = copy_in(conn, frame, table, stem)
            return run(conn, prefix + insert_new_sql(table, src))

    def reset(self) -> None:
        """Empty every table of this store's schema (TRUNCATE drops the hypertables' chunks);
        the tables, hypertables and indexes stay."""
        with self._conn(write=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(ident(t.name) for t in TABLES)}")

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> TimescaleSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _safe_dsn(dsn: str) -> str:
    """The connection string without its password (quoted values with spaces included)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:
        return "connection string not shown"
    return " ".join(f"{k}={v}" for k, v in parts.items() if k != "password")


def _now() -> datetime:
    return datetime.now(UTC)
