"""SQL shared by the series adapters (DuckDB embedded, PostgreSQL + TimescaleDB server): the
writes of kind rows, the reads of the port, and the key look-ups ingest asks of both adapters.

The table layout and its DDL are in orderscope.series.tables, dwell derivation in
orderscope.series.dwell, the ingest ledger and quarantine in orderscope.series.ledger. One text
per statement where the dialects agree. What differs stays in the adapter:
  * column types: each adapter passes its own map of logical type -> SQL type to the DDL builders;
  * uniqueness: the adapter decides which identity becomes a PRIMARY KEY / UNIQUE constraint
    (TimescaleDB requires the partitioning time column in every unique index of a hypertable);
  * how an incoming frame is made visible to SQL: DuckDB registers the Arrow table as a view,
    PostgreSQL COPYs it into a temporary table (or unnests arrays for a small one). Either way
    the statements below read it from a relation whose (quoted) name is formatted in as {src};
    the key look-ups (`known_keys_over`, `stored_rows_over`, `known_order_ids_over`) take the adapter's way of
    doing so as a `SelectOver` function;
  * placeholders: texts here use $1, $2, ... (DuckDB's native style); the psycopg adapter
    rewrites them with orderscope.series.postgres.to_pyformat.

Only identifiers that come from orderscope.domain.sources or the table layout are ever formatted
into a statement, and every one of them passes through `ident` (which quotes it and refuses
anything that is not a plain name). Values always travel as parameters.

Quoting is not optional: since DuckDB 2.0 `at` is a reserved word (`AT TIME ZONE`), so the
`"at"` column of order_events / readings must be written quoted in every hand-written query too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import polars as pl

from orderscope.domain.sources import SourceKind
from orderscope.series.frames import empty_frame, key_frame, schema_of
from orderscope.series.port import ident
from orderscope.series.tables import (
    COUNTED_TABLES,
    ORDERS_KIND,
    PATTERN_HITS,
    PATTERN_LIBRARY,
    STAGE_DWELL,
    STORED_KINDS,
    Table,
    idents,
    kind_table,
    table_of,
)

# --- writes ---------------------------------------------------------------------------------


def insert_new_sql(table: Table, src: str, on_conflict: bool = False) -> str:
    """Append the rows of {src} whose identity is not stored yet. The anti-join is exact on the
    identity whatever constraint the adapter declares (a hypertable's unique index must also
    hold its time column); `on_conflict` adds ON CONFLICT DO NOTHING for an adapter whose
    unique index could still be hit by a concurrent writer. Duplicates inside the batch are
    dropped before (`dedupe_frame`)."""
    cols = idents(table.column_names)
    match = " AND ".join(f"t.{ident(c)} = s.{ident(c)}" for c in table.identity)
    return (
        f"INSERT INTO {ident(table.name)} ({cols}) SELECT {idents(table.column_names, 's.')} "
        f"FROM {ident(src)} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ident(table.name)} t WHERE {match})"
        + (" ON CONFLICT DO NOTHING" if on_conflict else "")
    )


def _key_match(table: Table, key_columns: Sequence[str]) -> str:
    """`t.k = k.k AND ...` between the stored table (t) and a key frame (k). Timestamps are
    stored at millisecond precision, so a key timestamp is compared truncated."""
    conds = []
    for c in key_columns:
        k = f"k.{ident(c)}"
        if table.col(c).type == "ts":
            k = f"date_trunc('milliseconds', {k})"
        conds.append(f"t.{ident(c)} = {k}")
    return " AND ".join(conds)


def known_keys_sql(table: Table, src: str, key_columns: Sequence[str]) -> str:
    """Distinct rows of {src} (the key frame) whose identity is stored in the table (key
    timestamps compared truncated, returned as given)."""
    return (
        f"SELECT DISTINCT {idents(key_columns, 'k.')} FROM {ident(src)} k "
        f"WHERE EXISTS (SELECT 1 FROM {ident(table.name)} t WHERE {_key_match(table, key_columns)})"
    )


def stored_rows_sql(table: Table, src: str, key_columns: Sequence[str]) -> str:
    """The stored rows (every column) whose identity is among the rows of {src} (distinct keys),
    for telling a duplicate from a conflict."""
    return (
        f"SELECT {idents(table.column_names, 't.')} FROM {ident(table.name)} t "
        f"WHERE EXISTS (SELECT 1 FROM {ident(src)} k WHERE {_key_match(table, key_columns)})"
    )


def known_order_ids_sql(src: str) -> str:
    return (
        f'SELECT DISTINCT k."order_id" FROM {ident(src)} k '
        'WHERE EXISTS (SELECT 1 FROM "orders" o WHERE o."order_id" = k."order_id") '
        'ORDER BY k."order_id"'
    )


# --- the stall-pattern library --------------------------------------------------------------

_PATTERN_COLUMNS = idents(PATTERN_LIBRARY.column_names)
PATTERNS_ALL = f'SELECT {_PATTERN_COLUMNS} FROM "pattern_library" ORDER BY "name", "version"'
_HIT_COLUMNS = idents(PATTERN_HITS.column_names)
PATTERN_HITS_ALL = (
    f'SELECT {_HIT_COLUMNS} FROM "pattern_hits" '
    'ORDER BY "pattern_id", "entered_at", "order_id", "node", "visit"'
)
# $1 pattern ids
PATTERN_HITS_OF = (
    f'SELECT {_HIT_COLUMNS} FROM "pattern_hits" WHERE "pattern_id" = ANY($1) '
    'ORDER BY "pattern_id", "entered_at", "order_id", "node", "visit"'
)

# --- reads ---------------------------------------------------------------------------------

_DWELL_COLUMNS = idents(STAGE_DWELL.column_names)
_EVENT_COLUMNS = idents(kind_table(STORED_KINDS["order_events"]).column_names)
EVENTS_FOR_ORDER = (
    f'SELECT {_EVENT_COLUMNS} FROM "order_events" WHERE "order_id" = $1 ORDER BY "at", "event_id"'
)
DWELL_FOR_ORDER = (
    f'SELECT {_DWELL_COLUMNS} FROM "stage_dwell" WHERE "order_id" = $1 '
    'ORDER BY "entered_at", "entered_by_event"'
)
DATA_CLOCK = 'SELECT max("at") AS clock FROM "order_events"'

_SESSION_COLUMNS = idents(kind_table(STORED_KINDS["operator_sessions"]).column_names)
# $1 actor ids (list / array), $2 start, $3 end; an open session (no logout) still overlaps.
SESSIONS_OVERLAPPING = f"""
SELECT {_SESSION_COLUMNS} FROM "operator_sessions"
WHERE "actor_id" = ANY($1) AND "login_at" <= $3 AND ("logout_at" IS NULL OR "logout_at" >= $2)
ORDER BY "login_at", "session_id"
"""


def readings_sql(kind: SourceKind, where_columns: Sequence[str], with_start: bool, with_end: bool) -> str:
    """Rows of a kind table: each column in where_columns = ANY(its list parameter), in order
    $1..$n, then the time window start ($n+1) and end ($n+2) when given."""
    table = kind_table(kind)
    conds, n = [], 0
    for c in where_columns:
        if c not in table.column_names:
            raise ValueError(f"{kind.name} has no column {c!r}")
        n += 1
        conds.append(f"{ident(c)} = ANY(${n})")
    t = ident(kind.time_column)
    if with_start:
        n += 1
        conds.append(f"{t} >= ${n}")
    if with_end:
        n += 1
        conds.append(f"{t} <= ${n}")
    order = idents(dict.fromkeys((kind.time_column, *kind.identity)))
    where = f" WHERE {' AND '.join(conds)}" if conds else ""
    return f"SELECT {idents(table.column_names)} FROM {ident(kind.name)}{where} ORDER BY {order}"


def counts_sql(tables: Sequence[str] = COUNTED_TABLES) -> str:
    return " UNION ALL ".join(f"SELECT '{t}' AS tbl, count(*) AS n FROM {ident(t)}" for t in tables)


# --- key look-ups over a frame: one implementation for both adapters -------------------------


class SelectOver(Protocol):
    """An adapter's way of running one SELECT over an incoming frame: it makes `frame` (columns
    of `table`) visible as a relation named after `stem`, runs `text(<relation name>)` and
    returns the rows; `schema` gives the result's dtypes to an adapter that builds frames from
    rows (DuckDB returns its own Arrow types)."""

    def __call__(
        self,
        frame: pl.DataFrame,
        table: Table,
        stem: str,
        text: Callable[[str], str],
        schema: Mapping[str, pl.DataType],
    ) -> pl.DataFrame: ...


def known_keys_over(select: SelectOver, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
    """SeriesStore.known_keys over the adapter's `select`."""
    table = table_of(kind)
    key_cols = list(kind.identity)
    if keys.is_empty():
        return empty_frame(table, key_cols)
    frame = key_frame(table, keys, key_cols)
    return select(
        frame, table, "keys", lambda src: known_keys_sql(table, src, key_cols), schema_of(table, key_cols)
    )


def stored_rows_over(select: SelectOver, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
    """SeriesStore.stored_rows over the adapter's `select`."""
    table = table_of(kind)
    key_cols = list(kind.identity)
    if keys.is_empty():
        return empty_frame(table)
    frame = key_frame(table, keys, key_cols).unique()
    return select(frame, table, "stored", lambda src: stored_rows_sql(table, src, key_cols), schema_of(table))


def known_order_ids_over(select: SelectOver, order_ids: pl.Series) -> pl.Series:
    """SeriesStore.known_order_ids over the adapter's `select`."""
    ids = pl.DataFrame({"order_id": order_ids.cast(pl.String)}).drop_nulls()
    if ids.is_empty():
        return pl.Series("order_id", [], dtype=pl.String)
    orders = kind_table(ORDERS_KIND)
    return select(ids, orders, "ids", known_order_ids_sql, {"order_id": pl.String()})["order_id"]


def readings_query(
    kind: SourceKind, where: Mapping[str, Sequence[Any]], start: datetime | None, end: datetime | None
) -> tuple[str, list[Any]] | None:
    """The statement and parameters of SeriesStore.readings; None when a listed column has no
    values (no row can match). A column the kind lacks raises ValueError either way."""
    sql = readings_sql(kind, list(where), start is not None, end is not None)
    if any(len(v) == 0 for v in where.values()):
        return None
    params: list[Any] = [list(v) for v in where.values()]
    params += [t for t in (start, end) if t is not None]
    return sql, params
