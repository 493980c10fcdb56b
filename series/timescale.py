"""The server series adapter: PostgreSQL + TimescaleDB through psycopg 3 and a connection pool.

The SQL texts are orderscope.series.sql's, shared with the DuckDB adapter ($n placeholders go
through `to_pyformat`); what is the server's own is here:
  * the type map: text columns are `text COLLATE "C"` (byte order, as DuckDB sorts), JSON stays
    `json` (the text as given comes back, as from DuckDB), timestamps are `timestamptz`;
  * hypertables: the five series-kind tables and stage_dwell, partitioned on their time column.
    A hypertable's unique index must hold its time column, so the identity is declared as
    UNIQUE (identity + time column) and serves the anti-join of `insert_new_sql` by its leading
    columns; the insert itself still matches on the identity alone (plus ON CONFLICT DO NOTHING
    for a concurrent writer). orders and ingest_ledger carry a primary key, quarantine none;
  * indexes: `indexes` and `server_indexes` of the layout, skipping one that is a leading prefix
    of another index of the same table (the composite serves the point read too);
  * frames in: a large frame is written by polars as CSV and COPYed into a temporary table
    (temporary tables are never WAL-logged), then one INSERT ... SELECT ... WHERE NOT EXISTS moves
    the new rows into the hypertable in the same transaction; a small key frame (known_keys,
    dwell scope) travels instead as array parameters unnested in a CTE: no DDL per call;
  * frames out: rows are fetched and built into polars with the layout's schema (so an empty
    result keeps its dtypes); for `query()` the schema comes from the result's type OIDs;
  * the session: search_path = <schema>, public (time_bucket lives with the extension in public),
    TimeZone UTC, json loaded as text.
Continuous aggregates and compression are not in the Apache-2 edition: `features` tells what the
running server's licence offers; compression is configured only when it is offered and asked for.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl
import psycopg
from psycopg import sql as pgsql
from psycopg.types.string import TextLoader
from psycopg_pool import ConnectionPool

from orderscope.domain.sources import SourceKind
from orderscope.series import sql as S

TYPES: dict[str, str] = {
    "str": 'text COLLATE "C"',
    "text": 'text COLLATE "C"',
    "int": "bigint",
    "int32": "integer",
    "float": "double precision",
    "bool": "boolean",
    "ts": "timestamptz",
    "json": "json",
}
# Array types for parameters unnested in a CTE (no collation clause in a cast).
_ARRAY_TYPES: dict[str, str] = {
    "str": "text[]",
    "text": "text[]",
    "int": "bigint[]",
    "int32": "integer[]",
    "float": "double precision[]",
    "bool": "boolean[]",
    "ts": "timestamptz[]",
    "json": "json[]",
}

KEYED_TABLES: frozenset[str] = frozenset({"orders", "ingest_ledger"})
HYPERTABLES: frozenset[str] = frozenset({*(k.name for k in S.SERIES_KINDS), S.STAGE_DWELL.name})
TIME_INDEXED: frozenset[str] = frozenset({"order_events"})

# Result type OIDs -> polars dtypes, for query() (anything else is inferred from the values).
_OID_TYPES: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    18: pl.String(),  # "char"
    19: pl.String(),  # name
    20: pl.Int64(),
    21: pl.Int16(),
    23: pl.Int32(),
    25: pl.String(),
    114: pl.String(),  # json, as text
    700: pl.Float32(),
    701: pl.Float64(),
    1042: pl.String(),
    1043: pl.String(),
    1082: pl.Date(),
    1083: pl.Time(),
    1114: pl.Datetime("us"),
    1184: pl.Datetime("us", "UTC"),
    1186: pl.Duration("us"),
    2950: pl.String(),  # uuid (as text)
    3802: pl.String(),  # jsonb, as text
}
_NUMERIC_OID = 1700
_JSON_OIDS = ("json", "jsonb")

# Frames up to this many rows travel as array parameters; larger ones are COPYed.
SMALL_FRAME_ROWS = 5_000
_COPY_CHUNK_ROWS = 200_000
# A load of at least this many rows into an empty table rebuilds its indexes afterwards.
BULK_MIN_ROWS = 50_000
_EPOCH = "timestamptz '1970-01-01 00:00:00+00'"

_names = itertools.count()
_ADVISORY_SCHEMA_LOCK = 0x6F7264  # any constant: serialises concurrent ensure_schema calls


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
        S.ident(schema)  # refuse anything but a plain name
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
            ).format(pgsql.Literal(f"{S.ident(self.schema)}, public"))
        )

    @contextmanager
    def _conn(self, write: bool = False) -> Iterator[psycopg.Connection]:
        if write and self.read_only:
            raise PermissionError(f"series store (schema {self.schema}) is open read-only")
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

    @staticmethod
    def _run(conn: psycopg.Connection, sql: str, params: Sequence[Any] | None = None) -> int:
        """A statement with $n placeholders; returns rows changed."""
        text, named = S.to_pyformat(sql, params)
        cur = conn.execute(text, named)  # type: ignore[arg-type]
        return max(cur.rowcount, 0)

    @staticmethod
    def _fetch(
        conn: psycopg.Connection,
        sql: str,
        params: Sequence[Any] | dict[str, Any] | None = None,
        schema: dict[str, pl.DataType] | None = None,
        pyformat: bool = False,
    ) -> pl.DataFrame:
        if pyformat:
            text, named = sql, params
        else:
            text, named = S.to_pyformat(sql, params)  # type: ignore[arg-type]
        with conn.cursor() as cur:
            cur.execute(text, named)  # type: ignore[arg-type]
            rows = cur.fetchall()
            desc = cur.description or []
        names = [d.name for d in desc]
        if schema is not None:
            return _frame(rows, [(n, schema[n]) for n in names])
        cols: list[tuple[str, pl.DataType | None]] = []
        for i, d in enumerate(desc):
            dtype = _OID_TYPES.get(d.type_code)
            if d.type_code == _NUMERIC_OID:
                dtype = _numeric_dtype([r[i] for r in rows])
                if dtype == pl.Float64:
                    rows = [(*r[:i], None if r[i] is None else float(r[i]), *r[i + 1 :]) for r in rows]
            cols.append((d.name, dtype))
        return _frame(rows, cols)

    # --- frames in ------------------------------------------------------------------------
    @staticmethod
    def _copy_in(
        conn: psycopg.Connection,
        frame: pl.DataFrame,
        table: S.Table,
        stem: str,
        analyze: bool = True,
    ) -> tuple[str, str]:
        """COPY the frame (columns of `table`) into a new temporary table; returns the relation
        to read it from and the prefix (a CTE, or "") that defines it for one statement.
        Temporary tables are not WAL-logged; this one is dropped at commit, so call inside a
        transaction. polars writes the CSV (null: empty; empty string: quoted); timestamps
        travel as epoch microseconds (integers parse much faster than timestamptz text) and
        the CTE turns them back, exactly."""
        raw = f"_in_{stem}_{next(_names)}"
        stamps = [c for c in frame.columns if table.col(c).type == "ts"]
        defs = ", ".join(
            f"{S.ident(c)} {'bigint' if c in stamps else TYPES[table.col(c).type]}" for c in frame.columns
        )
        conn.execute(f"CREATE TEMPORARY TABLE {S.ident(raw)} ({defs}) ON COMMIT DROP")
        if stamps:
            frame = frame.with_columns(pl.col(c).dt.epoch("us") for c in stamps)
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {S.ident(raw)} ({S.idents(frame.columns)}) FROM STDIN (FORMAT csv)") as cp,
        ):
            for off in range(0, frame.height, _COPY_CHUNK_ROWS):
                buf = io.BytesIO()
                frame.slice(off, _COPY_CHUNK_ROWS).write_csv(buf, include_header=False)
                cp.write(buf.getbuffer())
        if analyze and frame.height > 50_000:  # the planner's row estimate for the anti-join
            conn.execute(f"ANALYZE {S.ident(raw)}")
        if not stamps:
            return raw, ""
        name = f"{raw}_v"
        cols = ", ".join(
            f"{_EPOCH} + {S.ident(c)} * interval '1 microsecond' AS {S.ident(c)}"
            if c in stamps
            else S.ident(c)
            for c in frame.columns
        )
        return name, f"WITH {S.ident(name)} AS (SELECT {cols} FROM {S.ident(raw)}) "

    @staticmethod
    def _unnest_cte(frame: pl.DataFrame, types: dict[str, str], alias: str) -> tuple[str, dict[str, Any]]:
        """`WITH "alias" (cols) AS (SELECT * FROM unnest(arrays...))` and its parameters."""
        casts, params = [], {}
        for i, c in enumerate(frame.columns):
            params[f"_u{i}"] = frame[c].to_list()
            casts.append(f"%(_u{i})s::{_ARRAY_TYPES[types[c]]}")
        cte = (
            f"WITH {S.ident(alias)} ({S.idents(frame.columns)}) AS "
            f"(SELECT * FROM unnest({', '.join(casts)})) "
        )
        return cte, params

    @contextmanager
    def _relation(
        self, conn: psycopg.Connection, frame: pl.DataFrame, table: S.Table, stem: str
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The frame (columns of `table`) visible to one statement: (relation name, a prefix
        for the statement, its parameters). Small frames: a CTE over unnested arrays; large:
        a temporary table filled by COPY (inside a transaction)."""
        if frame.height <= SMALL_FRAME_ROWS:
            alias = f"_in_{stem}"
            cte, params = self._unnest_cte(frame, {c: table.col(c).type for c in frame.columns}, alias)
            yield alias, cte, params
            return
        with conn.transaction():
            src, prefix = self._copy_in(conn, frame, table, stem)
            yield src, prefix, {}

    # --- schema ---------------------------------------------------------------------------
    def ensure_schema(self) -> None:
        if self.read_only:
            self._schema_ready = True
            return
        with self._schema_lock, self._pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_SCHEMA_LOCK])
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {S.ident(self.schema)}")
            for table in S.TABLES:
                self._create(conn, table)
            for name, column in S.ADDED_COLUMNS:  # a store made by an older release
                conn.execute(S.add_column_sql(S.TABLES_BY_NAME[name], column, TYPES))
        self._schema_ready = True

    def _qualified(self, table: str) -> str:
        return f"{S.ident(self.schema)}.{S.ident(table)}"

    def _create(self, conn: psycopg.Connection, table: S.Table) -> None:
        key = (table.identity or None) if table.name in KEYED_TABLES else None
        conn.execute(S.create_table_sql(table, TYPES, key))
        indexes: list[tuple[str, ...]] = []
        if table.name in HYPERTABLES and table.time_column:
            # TimescaleDB's own time index only where a bare time range or max(time) is read
            # (data_clock); elsewhere the composite indexes lead and chunk exclusion prunes.
            conn.execute(
                "SELECT create_hypertable(%s::regclass, by_range(%s), if_not_exists => TRUE, "
                "create_default_indexes => %s)",
                [self._qualified(table.name), table.time_column, table.name in TIME_INDEXED],
            )
            if table.identity and table.name != S.STAGE_DWELL.name:
                unique = tuple(dict.fromkeys((*table.identity, table.time_column)))
                conn.execute(
                    f"CREATE UNIQUE INDEX IF NOT EXISTS "
                    f"{S.ident('ux_' + S.index_name(table.name, unique)[3:])} "
                    f"ON {S.ident(table.name)} ({S.idents(unique)})"
                )
                indexes.append(unique)
            if self.compress_after and self.features["compression"]:
                self._enable_compression(conn, table)
        if key:
            indexes.append(tuple(key))
        wanted = [*table.server_indexes, *table.indexes]
        for cols in wanted:
            covered = any(cols == other[: len(cols)] and cols != other for other in (*indexes, *wanted))
            if covered or cols in indexes:
                continue
            conn.execute(S.create_index_sql(table.name, cols))
            indexes.append(cols)

    def _enable_compression(self, conn: psycopg.Connection, table: S.Table) -> None:
        """Native compression of chunks older than compress_after (licence 'timescale' only):
        segmented by the table's first point-lookup column, ordered by time."""
        segment = next(iter(table.server_indexes or table.indexes), ())[:1]
        opts = [f"timescaledb.compress_orderby = '{table.time_column} DESC'"]
        if segment:
            opts.append(f"timescaledb.compress_segmentby = '{segment[0]}'")
        conn.execute(f"ALTER TABLE {S.ident(table.name)} SET (timescaledb.compress, {', '.join(opts)})")
        conn.execute(
            "SELECT add_compression_policy(%s::regclass, %s::interval, if_not_exists => TRUE)",
            [self._qualified(table.name), self.compress_after],
        )

    # --- writes ---------------------------------------------------------------------------
    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        table = S.table_of(kind)
        key_cols = list(kind.identity)
        schema = S.empty_frame(table, key_cols).schema
        if keys.is_empty():
            return S.empty_frame(table, key_cols)
        frame = S.key_frame(table, keys, key_cols)
        with self._conn() as conn, self._relation(conn, frame, table, "keys") as (src, pre, p):
            text, _ = S.to_pyformat(S.known_keys_sql(table, src, key_cols), [])
            return self._fetch(conn, pre + text, p, dict(schema), pyformat=True)

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        table = S.table_of(kind)
        if frame.is_empty():
            if self.read_only:
                raise PermissionError(f"series store (schema {self.schema}) is open read-only")
            return 0
        frame = S.dedupe_frame(table, S.prepare_frame(table, frame))
        if table.time_column and table.name in HYPERTABLES:
            frame = frame.sort(table.time_column)  # chunk by chunk, index entries in order
        with self._conn(write=True) as conn:
            conn.execute("SET LOCAL synchronous_commit = off")
            # One writer per table at a time: the anti-join is then exact (a hypertable's
            # unique index holds the time column too, so it cannot guard the identity alone).
            self._lock_table(conn, table.name)
            empty = self._is_empty(conn, table.name)
            src, prefix = self._copy_in(conn, frame, table, kind.name, analyze=not empty)
            with self._bulk(conn, table.name, empty and frame.height >= BULK_MIN_ROWS):
                insert = S.insert_new_sql(table, src, on_conflict=table.name in KEYED_TABLES)
                added = self._run(conn, prefix + insert)
            if added and table.name == S.EVENT_TABLE:  # dwell is stale for these orders
                self._run(conn, prefix + S.PENDING_MARK.format(src=S.ident(src)))
            return added

    def stored_rows(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        table = S.table_of(kind)
        key_cols = list(kind.identity)
        if keys.is_empty():
            return S.empty_frame(table)
        frame = S.key_frame(table, keys, key_cols).unique()
        with self._conn() as conn, self._relation(conn, frame, table, "stored") as (src, pre, p):
            text, _ = S.to_pyformat(S.stored_rows_sql(table, src, key_cols), [])
            return self._fetch(conn, pre + text, p, _schema(table), pyformat=True)

    def _lock_table(self, conn: psycopg.Connection, table: str) -> None:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self._qualified(table)])

    @staticmethod
    def _is_empty(conn: psycopg.Connection, table: str) -> bool:
        row = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {S.ident(table)})").fetchone()
        return bool(row and row[0])

    @contextmanager
    def _bulk(self, conn: psycopg.Connection, table: str, rebuild: bool) -> Iterator[None]:
        """With `rebuild` (a large load into an empty table), the table's indexes are dropped
        and built again afterwards: a sorted build is several times faster than row-by-row
        index maintenance. Readers of the table wait for the load's commit."""
        if not rebuild:
            yield
            return
        defs = conn.execute(
            """
            SELECT i.relname, pg_get_indexdef(x.indexrelid)
            FROM pg_index x
            JOIN pg_class i ON i.oid = x.indexrelid
            WHERE x.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
            ORDER BY i.relname
            """,
            [self._qualified(table)],
        ).fetchall()
        for name, _ in defs:
            conn.execute(f"DROP INDEX {S.ident(self.schema)}.{S.ident(name)}")
        yield
        conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _, ddl in defs:
            conn.execute(ddl)

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        with self._conn(write=True) as conn:
            self._lock_table(conn, S.STAGE_DWELL.name)
            conn.execute("SET LOCAL work_mem = '256MB'")  # the window sorts stay in memory
            if order_ids is None:
                conn.execute(S.PENDING_CLEAR)  # first: a mark made after it stays
                return self._rebuild_all(conn)
            ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).unique().drop_nulls()
            if ids.is_empty():
                return 0
            with self._relation(conn, ids, S.STAGE_DWELL, "scope") as (src, pre, params):
                ref = S.ident(src)
                delete, _ = S.to_pyformat(S.DWELL_DELETE_SCOPE.format(src=ref), [])
                conn.execute(pre + delete, params)
                insert, _ = S.to_pyformat(S.DWELL_INSERT.format(scope=S.DWELL_SCOPE.format(src=ref)), [])
                return max(conn.execute(pre + insert, params).rowcount, 0)

    def rebuild_pending_dwell(self) -> int:
        with self._conn(write=True) as conn:
            self._lock_table(conn, S.STAGE_DWELL.name)
            conn.execute("SET LOCAL work_mem = '256MB'")
            # Take the marks out first and rebuild after: a concurrent append that commits in
            # between keeps its mark (or its events are already visible to the rebuild), and a
            # crash rolls the marks back with the rebuild.
            scope = f"_pending_{next(_names)}"
            conn.execute(f"CREATE TEMPORARY TABLE {S.ident(scope)} (order_id text) ON COMMIT DROP")
            taken = conn.execute(
                f'WITH d AS ({S.PENDING_CLEAR} RETURNING "order_id") '
                f'INSERT INTO {S.ident(scope)} SELECT DISTINCT "order_id" FROM d'
            ).rowcount
            if taken <= 0:
                return 0
            orders = conn.execute(S.ORDERS_COUNT).fetchone()
            if taken >= S.FULL_REBUILD_SHARE * (orders[0] if orders else 0):
                return self._rebuild_all(conn)
            ref = S.ident(scope)
            conn.execute(S.DWELL_DELETE_SCOPE.format(src=ref))
            return self._run(conn, S.DWELL_INSERT.format(scope=S.DWELL_SCOPE.format(src=ref)))

    def _rebuild_all(self, conn: psycopg.Connection) -> int:
        conn.execute(f"TRUNCATE {S.ident(S.STAGE_DWELL.name)}")
        with self._bulk(conn, S.STAGE_DWELL.name, rebuild=True):
            return self._run(conn, S.DWELL_INSERT.format(scope=""))

    def pending_dwell(self) -> int:
        with self._conn() as conn:
            row = conn.execute(S.PENDING_COUNT).fetchone()
        return int(row[0]) if row else 0

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            rows = self._fetch(conn, S.LEDGER_FIND, [kind, content_hash], _schema(S.INGEST_LEDGER)).to_dicts()
        return rows[0] if rows else None

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None:
        with self._conn(write=True) as conn:
            self._run(conn, S.LEDGER_START, [batch_id, kind, source_file, content_hash, _now()])

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        params = [batch_id] + [int(counts.get(k, 0)) for k in S.LEDGER_COUNTS]
        with self._conn(write=True) as conn:
            changed = self._run(conn, S.LEDGER_FINISH, [*params, _now()])
        if not changed:
            raise KeyError(f"no ledger entry for batch {batch_id!r} (ledger_start first)")

    def ledger_fail(self, batch_id: str, error: str) -> None:
        with self._conn(write=True) as conn:
            self._run(conn, S.LEDGER_FAIL, [batch_id, error, _now()])

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        if rows.is_empty():
            if self.read_only:
                raise PermissionError(f"series store (schema {self.schema}) is open read-only")
            return 0
        frame = S.quarantine_frame(rows)
        with self._conn(write=True) as conn:
            found = conn.execute(*S.to_pyformat(S.LEDGER_HASH, [batch_id])).fetchone()
            content_hash = found[0] if found else None
            src, _ = self._copy_in(conn, frame, S.QUARANTINE, "quarantine")
            return self._run(
                conn,
                S.QUARANTINE_INSERT.format(src=S.ident(src)),
                [batch_id, kind, source_file, content_hash, _now()],
            )

    # --- reads ----------------------------------------------------------------------------
    def known_order_ids(self, order_ids: pl.Series) -> pl.Series:
        ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).drop_nulls()
        if ids.is_empty():
            return pl.Series("order_id", [], dtype=pl.String)
        orders = S.kind_table(S.ORDERS_KIND)
        with self._conn() as conn, self._relation(conn, ids, orders, "ids") as (src, pre, p):
            text, _ = S.to_pyformat(S.known_order_ids_sql(src), [])
            return self._fetch(conn, pre + text, p, {"order_id": pl.String()}, pyformat=True)["order_id"]

    def events(self, order_id: str) -> pl.DataFrame:
        table = S.kind_table(S.STORED_KINDS["order_events"])
        with self._conn() as conn:
            return self._fetch(conn, S.EVENTS_FOR_ORDER, [order_id], _schema(table))

    def dwell(self, order_id: str) -> pl.DataFrame:
        with self._conn() as conn:
            return self._fetch(conn, S.DWELL_FOR_ORDER, [order_id], _schema(S.STAGE_DWELL))

    def readings(
        self,
        kind: SourceKind,
        where: dict[str, list[Any]],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        table = S.table_of(kind)
        sql = S.readings_sql(kind, list(where), start is not None, end is not None)
        if any(len(v) == 0 for v in where.values()):
            return S.empty_frame(table)
        params: list[Any] = [list(v) for v in where.values()]
        params += [t for t in (start, end) if t is not None]
        with self._conn() as conn:
            return self._fetch(conn, sql, params, _schema(table))

    def sessions_overlapping(self, actor_ids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        table = S.kind_table(S.STORED_KINDS["operator_sessions"])
        if not actor_ids:
            return S.empty_frame(table)
        with self._conn() as conn:
            return self._fetch(conn, S.SESSIONS_OVERLAPPING, [list(actor_ids), start, end], _schema(table))

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        with self._conn() as conn:
            return self._fetch(conn, sql, params)

    def data_clock(self) -> datetime | None:
        with self._conn() as conn:
            row = conn.execute(S.DATA_CLOCK).fetchone()
        return row[0].astimezone(UTC) if row and row[0] is not None else None

    def counts(self) -> dict[str, int]:
        with self._conn() as conn:
            rows = conn.execute(S.counts_sql()).fetchall()
        return {t: int(n) for t, n in rows}

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame:
        with self._conn() as conn:
            return self._fetch(conn, S.QUARANTINE_ROWS, [int(limit)], _schema(S.QUARANTINE))

    def quarantine_summary(self) -> pl.DataFrame:
        schema = {"kind": pl.String(), "outcome": pl.String(), "rows": pl.Int64()}
        with self._conn() as conn:
            return self._fetch(conn, S.QUARANTINE_SUMMARY, None, schema)

    def ledger(self) -> pl.DataFrame:
        with self._conn() as conn:
            return self._fetch(conn, S.LEDGER_ALL, None, _schema(S.INGEST_LEDGER))

    # --- stall-pattern library ------------------------------------------------------------
    def save_pattern(self, row: dict[str, Any]) -> bool:
        return self._append_table(S.PATTERN_LIBRARY, pl.DataFrame([row]), "pattern") > 0

    def patterns(self) -> pl.DataFrame:
        with self._conn() as conn:
            return self._fetch(conn, S.PATTERNS_ALL, None, _schema(S.PATTERN_LIBRARY))

    def record_pattern_hits(self, frame: pl.DataFrame) -> int:
        return self._append_table(S.PATTERN_HITS, frame, "hits")

    def pattern_hits(self, pattern_ids: list[str] | None = None) -> pl.DataFrame:
        schema = _schema(S.PATTERN_HITS)
        with self._conn() as conn:
            if pattern_ids is None:
                return self._fetch(conn, S.PATTERN_HITS_ALL, None, schema)
            return self._fetch(conn, S.PATTERN_HITS_OF, [list(pattern_ids)], schema)

    def _append_table(self, table: S.Table, frame: pl.DataFrame, stem: str) -> int:
        if frame.is_empty():
            if self.read_only:
                raise PermissionError(f"series store (schema {self.schema}) is open read-only")
            return 0
        frame = S.dedupe_frame(table, S.prepare_frame(table, frame))
        with self._conn(write=True) as conn:
            self._lock_table(conn, table.name)  # the anti-join is exact with one writer
            src, prefix = self._copy_in(conn, frame, table, stem)
            return self._run(conn, prefix + S.insert_new_sql(table, src))

    def reset(self) -> None:
        """Empty every table of this store's schema (TRUNCATE drops the hypertables' chunks);
        the tables, hypertables and indexes stay."""
        with self._conn(write=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(S.ident(t.name) for t in S.TABLES)}")

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> TimescaleSeries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- helpers ----------------------------------------------------------------------------------


def _schema(table: S.Table) -> dict[str, pl.DataType]:
    return dict(S.empty_frame(table).schema)


def _frame(rows: list[tuple[Any, ...]], cols: Sequence[tuple[str, pl.DataType | None]]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema={n: (d if d is not None else pl.Null()) for n, d in cols})
    data = {n: list(v) for (n, _), v in zip(cols, zip(*rows, strict=True), strict=True)}
    return pl.DataFrame([pl.Series(n, data[n], dtype=d, strict=False) for n, d in cols])


def _numeric_dtype(values: list[Any]) -> pl.DataType:
    """numeric results: whole numbers (sum of integers: DuckDB's HUGEINT) as Decimal(38, 0),
    anything else (avg of integers, EXTRACT: DuckDB's DOUBLE) as Float64."""
    present = [v for v in values if v is not None]
    if present and all(
        isinstance(v, Decimal) and v.is_finite() and v == v.to_integral_value() and abs(v) < 10**38
        for v in present
    ):
        return pl.Decimal(38, 0)
    return pl.Float64()


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
