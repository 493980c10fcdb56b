"""The series store's schema on PostgreSQL + TimescaleDB: tables, hypertables, their indexes and
optional compression, from the layout of orderscope.series.tables.

  * hypertables: the five series-kind tables and stage_dwell, partitioned on their time column.
    A hypertable's unique index must hold its time column, so the identity is declared as
    UNIQUE (identity + time column) and serves the anti-join of `insert_new_sql` by its leading
    columns; the insert itself still matches on the identity alone (plus ON CONFLICT DO NOTHING
    for a concurrent writer). orders and ingest_ledger carry a primary key, quarantine none;
  * indexes: `indexes` and `server_indexes` of the layout, skipping one that is a leading prefix
    of another index of the same table (the composite serves the point read too);
  * compression (licence 'timescale' only): configured when asked for and offered.
"""

from __future__ import annotations

import psycopg

from orderscope.series.port import ident
from orderscope.series.postgres import TYPES, qualified
from orderscope.series.tables import (
    ADDED_COLUMNS,
    SERIES_KINDS,
    STAGE_DWELL,
    TABLES,
    TABLES_BY_NAME,
    Table,
    add_column_sql,
    create_index_sql,
    create_table_sql,
    idents,
    index_name,
)

KEYED_TABLES: frozenset[str] = frozenset({"orders", "ingest_ledger"})
HYPERTABLES: frozenset[str] = frozenset({*(k.name for k in SERIES_KINDS), STAGE_DWELL.name})
TIME_INDEXED: frozenset[str] = frozenset({"order_events"})

_ADVISORY_SCHEMA_LOCK = 0x6F7264  # any constant: serialises concurrent ensure_schema calls


def create_schema(conn: psycopg.Connection, schema: str, compress_after: str | None) -> None:
    """Every table of the store in `schema` (idempotent), inside the caller's transaction;
    `compress_after` (an interval) enables compression of older chunks of the hypertables."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_SCHEMA_LOCK])
    conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {ident(schema)}")
    for table in TABLES:
        _create(conn, schema, table, compress_after)
    for name, column in ADDED_COLUMNS:  # a store made by an older release
        conn.execute(add_column_sql(TABLES_BY_NAME[name], column, TYPES))


def _create(conn: psycopg.Connection, schema: str, table: Table, compress_after: str | None) -> None:
    key = (table.identity or None) if table.name in KEYED_TABLES else None
    conn.execute(create_table_sql(table, TYPES, key))
    indexes: list[tuple[str, ...]] = []
    if table.name in HYPERTABLES and table.time_column:
        # TimescaleDB's own time index only where a bare time range or max(time) is read
        # (data_clock); elsewhere the composite indexes lead and chunk exclusion prunes.
        conn.execute(
            "SELECT create_hypertable(%s::regclass, by_range(%s), if_not_exists => TRUE, "
            "create_default_indexes => %s)",
            [qualified(schema, table.name), table.time_column, table.name in TIME_INDEXED],
        )
        if table.identity and table.name != STAGE_DWELL.name:
            unique = tuple(dict.fromkeys((*table.identity, table.time_column)))
            conn.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS "
                f"{ident('ux_' + index_name(table.name, unique)[3:])} "
                f"ON {ident(table.name)} ({idents(unique)})"
            )
            indexes.append(unique)
        if compress_after:
            _enable_compression(conn, schema, table, compress_after)
    if key:
        indexes.append(tuple(key))
    wanted = [*table.server_indexes, *table.indexes]
    for cols in wanted:
        covered = any(cols == other[: len(cols)] and cols != other for other in (*indexes, *wanted))
        if covered or cols in indexes:
            continue
        conn.execute(create_index_sql(table.name, cols))
        indexes.append(cols)


def _enable_compression(conn: psycopg.Connection, schema: str, table: Table, compress_after: str) -> None:
    """Native compression of chunks older than compress_after: segmented by the table's first
    point-lookup column, ordered by time."""
    segment = next(iter(table.server_indexes or table.indexes), ())[:1]
    opts = [f"timescaledb.compress_orderby = '{table.time_column} DESC'"]
    if segment:
        opts.append(f"timescaledb.compress_segmentby = '{segment[0]}'")
    conn.execute(f"ALTER TABLE {ident(table.name)} SET (timescaledb.compress, {', '.join(opts)})")
    conn.execute(
        "SELECT add_compression_policy(%s::regclass, %s::interval, if_not_exists => TRUE)",
        [qualified(schema, table.name), compress_after],
    )
