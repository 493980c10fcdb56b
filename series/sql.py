"""SQL shared by the series adapters (DuckDB embedded, PostgreSQL + TimescaleDB server).

One text per statement where the dialects agree. What differs stays in the adapter:
  * column types: each adapter passes its own map of logical type -> SQL type to the DDL builders
    (logical types are those of orderscope.domain.sources plus "int32" for small counters);
  * uniqueness: the adapter decides which identity becomes a PRIMARY KEY / UNIQUE constraint
    (TimescaleDB requires the partitioning time column in every unique index of a hypertable);
  * how an incoming frame is made visible to SQL: DuckDB registers the Arrow table as a view,
    PostgreSQL COPYs it into a temporary table. Either way the statements below read it from a
    relation whose (quoted) name is formatted in as {src};
  * placeholders: texts here use $1, $2, ... (DuckDB's native style); a psycopg adapter rewrites
    them with `to_pyformat`.

Only identifiers that come from orderscope.domain.sources or this module are ever formatted into a
statement, and every one of them passes through `ident` (which quotes it and refuses anything
that is not a plain name). Values always travel as parameters.

Quoting is not optional: since DuckDB 2.0 `at` is a reserved word (`AT TIME ZONE`), so the
`"at"` column of order_events / readings must be written quoted in every hand-written query too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from orderscope.domain.sources import SOURCE_KINDS, SourceKind
from orderscope.domain.sources import kind as source_kind
from orderscope.series.port import ident

# --- identifiers and table layout -------------------------------------------------------------


def idents(names: Iterable[str], prefix: str = "") -> str:
    return ", ".join(prefix + ident(n) for n in names)


@dataclass(frozen=True)
class Col:
    name: str
    type: str  # logical type: str | int | int32 | float | bool | ts | json | text
    required: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Col, ...]
    identity: tuple[str, ...] = ()  # the natural key (unique)
    time_column: str | None = None  # hypertable partitioning column on TimescaleDB
    indexes: tuple[tuple[str, ...], ...] = ()  # point-lookup indexes, every adapter
    server_indexes: tuple[tuple[str, ...], ...] = ()  # for B-tree planners (PostgreSQL) only

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def col(self, name: str) -> Col:
        return next(c for c in self.columns if c.name == name)


SERIES_KINDS: tuple[SourceKind, ...] = tuple(k for k in SOURCE_KINDS if k.store == "series")
ORDERS_KIND: SourceKind = source_kind("orders")
EVENT_TABLE = "order_events"  # the append-only log stage_dwell is derived from
# Kinds that have a table in the series store: the series kinds plus the orders dimension.
STORED_KINDS: dict[str, SourceKind] = {k.name: k for k in (ORDERS_KIND, *SERIES_KINDS)}

# Point-lookup indexes per kind table (the snapshot's reads by order, waybill, actor). Time
# ranges are left to the engine: DuckDB prunes row groups by min/max (zonemaps) and an ART index
# there only slows appends; a TimescaleDB hypertable indexes its time column itself, and the
# composite server_indexes serve the window reads of its B-tree planner.
_KIND_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "order_events": (("order_id",),),
    "logistics_tracks": (("waybill",),),
    "operator_sessions": (("actor_id",),),
}
_KIND_SERVER_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "orders": (("created_at",),),
    "order_events": (("order_id", "at"),),
    "climate_readings": (("zone_id", "at"),),
    "logistics_tracks": (("waybill", "at"),),
    "operator_sessions": (("actor_id", "login_at"),),
}


def _kind_col(c: Any) -> Col:
    # Defensive: core.sources._cols keeps the '?' of an untyped optional spec ("from_state?")
    # in the name and marks it required; the column is meant to be optional `from_state`.
    if c.name.endswith("?"):
        return Col(c.name.rstrip("?"), c.type, False)
    return Col(c.name, c.type, c.required)


def kind_table(kind: SourceKind) -> Table:
    return Table(
        name=kind.name,
        columns=tuple(_kind_col(c) for c in kind.columns),
        identity=kind.identity,
        time_column=kind.time_column,
        indexes=_KIND_INDEXES.get(kind.name, ()),
        server_indexes=_KIND_SERVER_INDEXES.get(kind.name, ()),
    )


STAGE_DWELL = Table(
    name="stage_dwell",
    columns=(
        Col("order_id", "str"),
        Col("node", "str"),
        Col("visit", "int32"),
        Col("entered_at", "ts"),
        Col("left_at", "ts", required=False),
        Col("dwell_ms", "int", required=False),
        Col("entered_by_event", "str"),
        Col("left_by_event", "str", required=False),
    ),
    identity=("order_id", "node", "visit"),  # unique by construction; DuckDB skips the key
    time_column="entered_at",
    indexes=(("order_id",),),
    server_indexes=(("node", "entered_at"),),
)

INGEST_LEDGER = Table(
    name="ingest_ledger",
    columns=(
        Col("batch_id", "str"),
        Col("kind", "str"),
        Col("source_file", "str"),
        Col("content_hash", "str"),
        Col("status", "str"),  # 'started' | 'done' | 'failed'
        Col("rows_read", "int", required=False),
        Col("accepted", "int", required=False),
        Col("rejected", "int", required=False),
        Col("duplicate", "int", required=False),
        Col("started_at", "ts"),
        Col("finished_at", "ts", required=False),
        Col("conflict", "int", required=False),
        Col("error", "text", required=False),  # why a 'failed' file could not be read
    ),
    identity=("batch_id",),
    indexes=(("kind", "content_hash"),),
)

QUARANTINE = Table(
    name="quarantine",
    columns=(
        Col("batch_id", "str"),
        Col("kind", "str"),
        Col("source_file", "str"),
        Col("content_hash", "str", required=False),
        Col("row_number", "int"),
        Col("reason", "str"),
        Col("raw", "text"),  # JSON text of the rejected row; kept as text: it may be malformed
        Col("quarantined_at", "ts"),
        Col("outcome", "str", required=False),  # 'rejected' | 'conflict'
    ),
    indexes=(("kind", "row_number"),),
)

# The stall-pattern library (orderscope.analytics.patterns): named, versioned condition sets,
# kept in the store so it works in server mode too, and the stalled visits each one matched.
PATTERN_LIBRARY = Table(
    name="pattern_library",
    columns=(
        Col("name", "str"),
        Col("version", "int32"),
        Col("pattern_id", "str"),  # derived from the items: the same items, the same id
        Col("items", "text"),  # JSON list of "attribute=value", sorted
        Col("created_at", "ts"),
        Col("support", "float", required=False),  # scores when kept
        Col("risk_ratio", "float", required=False),
        Col("p_adjusted", "float", required=False),
        Col("stalls", "int", required=False),
        Col("note", "text", required=False),
    ),
    identity=("name", "version"),
)

PATTERN_HITS = Table(
    name="pattern_hits",
    columns=(
        Col("pattern_id", "str"),
        Col("order_id", "str"),
        Col("node", "str"),
        Col("visit", "int32"),
        Col("entered_at", "ts"),
        Col("dwell_ms", "int", required=False),
        Col("run_id", "str"),
        Col("recorded_at", "ts"),
    ),
    identity=("pattern_id", "order_id", "node", "visit"),  # a stalled visit counts once
    indexes=(("pattern_id",),),
)

# Orders whose events were appended since stage_dwell was last derived for them: marked in the
# transaction that appends the events, cleared in the transaction that rebuilds their dwell, so
# no crash between the two can leave dwell stale (see rebuild_pending_dwell).
DERIVE_PENDING = Table(name="derive_pending", columns=(Col("order_id", "str"),))

# Columns added after a table was first released: ensure_schema adds them to an older store.
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("ingest_ledger", "conflict"),
    ("ingest_ledger", "error"),
    ("quarantine", "outcome"),
)

TABLES: tuple[Table, ...] = (
    *(kind_table(k) for k in STORED_KINDS.values()),
    STAGE_DWELL,
    DERIVE_PENDING,
    INGEST_LEDGER,
    QUARANTINE,
    PATTERN_LIBRARY,
    PATTERN_HITS,
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}
# What counts() reports: the series-kind tables, the orders dimension, dwell and quarantine.
COUNTED_TABLES: tuple[str, ...] = (*STORED_KINDS, STAGE_DWELL.name, QUARANTINE.name)


# --- DDL ------------------------------------------------------------------------------------


def create_table_sql(table: Table, types: Mapping[str, str], unique: Sequence[str] | None) -> str:
    """CREATE TABLE IF NOT EXISTS with the adapter's type map and (optionally) a primary key."""
    cols = [f"{ident(c.name)} {types[c.type]}{' NOT NULL' if c.required else ''}" for c in table.columns]
    if unique:
        cols.append(f"PRIMARY KEY ({idents(unique)})")
    return f"CREATE TABLE IF NOT EXISTS {ident(table.name)} (\n    " + ",\n    ".join(cols) + "\n)"


def index_name(table: str, columns: Sequence[str]) -> str:
    return f"ix_{table}__{'_'.join(columns)}"


def create_index_sql(table: str, columns: Sequence[str]) -> str:
    return (
        f"CREATE INDEX IF NOT EXISTS {ident(index_name(table, columns))} "
        f"ON {ident(table)} ({idents(columns)})"
    )


def drop_table_sql(table: str) -> str:
    return f"DROP TABLE IF EXISTS {ident(table)}"


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


def known_keys_sql(table: Table, src: str, key_columns: Sequence[str]) -> str:
    """Distinct rows of {src} (the key frame) whose identity is stored in the table.
    Timestamps are stored at millisecond precision, so a key timestamp is compared truncated
    (and returned as given)."""
    conds = []
    for c in key_columns:
        k = f"k.{ident(c)}"
        if table.col(c).type == "ts":
            k = f"date_trunc('milliseconds', {k})"
        conds.append(f"t.{ident(c)} = {k}")
    return (
        f"SELECT DISTINCT {idents(key_columns, 'k.')} FROM {ident(src)} k "
        f"WHERE EXISTS (SELECT 1 FROM {ident(table.name)} t WHERE {' AND '.join(conds)})"
    )


def stored_rows_sql(table: Table, src: str, key_columns: Sequence[str]) -> str:
    """The stored rows (every column) whose identity is among the rows of {src} (distinct keys),
    for telling a duplicate from a conflict. Key timestamps compare truncated, as above."""
    conds = []
    for c in key_columns:
        k = f"k.{ident(c)}"
        if table.col(c).type == "ts":
            k = f"date_trunc('milliseconds', {k})"
        conds.append(f"t.{ident(c)} = {k}")
    return (
        f"SELECT {idents(table.column_names, 't.')} FROM {ident(table.name)} t "
        f"WHERE EXISTS (SELECT 1 FROM {ident(src)} k WHERE {' AND '.join(conds)})"
    )


def add_column_sql(table: Table, column: str, types: Mapping[str, str]) -> str:
    col = table.col(column)
    return f"ALTER TABLE {ident(table.name)} ADD COLUMN IF NOT EXISTS {ident(col.name)} {types[col.type]}"


def known_order_ids_sql(src: str) -> str:
    return (
        f'SELECT DISTINCT k."order_id" FROM {ident(src)} k '
        'WHERE EXISTS (SELECT 1 FROM "orders" o WHERE o."order_id" = k."order_id") '
        'ORDER BY k."order_id"'
    )


# stage_dwell from order_events, by event time (ties by event_id), never by arrival order.
# A visit opens at an order's first event and at every event whose to_state differs from the
# to_state of the event before it; amendments (from_state = to_state) repeat the current state
# and so do not split a visit. A visit closes when the next one opens; the last visit of an order
# (still open, or a resting node) has left_at / left_by_event / dwell_ms NULL.
# {scope} is empty (all orders) or DWELL_SCOPE formatted with the relation of order ids.
_DWELL_COLUMNS = idents(STAGE_DWELL.column_names)
DWELL_SCOPE = 'WHERE e."order_id" IN (SELECT s."order_id" FROM {src} s)'
DWELL_INSERT = f"""
INSERT INTO "stage_dwell" ({_DWELL_COLUMNS})
WITH ev AS (
    SELECT e."order_id", e."event_id", e."at", e."to_state",
           LAG(e."to_state") OVER (PARTITION BY e."order_id" ORDER BY e."at", e."event_id")
               AS prev_state
    FROM "order_events" e
    {{scope}}
), entries AS (
    SELECT "order_id", "event_id", "at", "to_state" AS node
    FROM ev
    WHERE prev_state IS NULL OR prev_state <> "to_state"
), visits AS (
    SELECT "order_id", node,
           ROW_NUMBER() OVER (PARTITION BY "order_id", node ORDER BY "at", "event_id") AS visit,
           "at" AS entered_at,
           LEAD("at") OVER w AS left_at,
           "event_id" AS entered_by_event,
           LEAD("event_id") OVER w AS left_by_event
    FROM entries
    WINDOW w AS (PARTITION BY "order_id" ORDER BY "at", "event_id")
)
SELECT "order_id", node, CAST(visit AS INTEGER), entered_at, left_at,
       CAST(ROUND(EXTRACT(EPOCH FROM (left_at - entered_at)) * 1000) AS BIGINT),
       entered_by_event, left_by_event
FROM visits
"""
DWELL_DELETE_SCOPE = 'DELETE FROM "stage_dwell" WHERE "order_id" IN (SELECT s."order_id" FROM {src} s)'
DWELL_DELETE_ALL = 'DELETE FROM "stage_dwell"'  # PostgreSQL: TRUNCATE is the faster twin
PENDING_MARK = 'INSERT INTO "derive_pending" ("order_id") SELECT DISTINCT s."order_id" FROM {src} s'
PENDING_COUNT = 'SELECT count(DISTINCT "order_id") AS n FROM "derive_pending"'
PENDING_CLEAR = 'DELETE FROM "derive_pending"'
ORDERS_COUNT = 'SELECT count(*) AS n FROM "orders"'
# A pending scope at least this share of all orders is rebuilt whole (a fresh table is faster).
FULL_REBUILD_SHARE = 0.5

_LEDGER_COLUMNS = idents(INGEST_LEDGER.column_names)
LEDGER_START = f"""
INSERT INTO "ingest_ledger" ({_LEDGER_COLUMNS})
VALUES ($1, $2, $3, $4, 'started', NULL, NULL, NULL, NULL, $5, NULL, NULL, NULL)
ON CONFLICT ("batch_id") DO UPDATE SET
    "kind" = excluded."kind", "source_file" = excluded."source_file",
    "content_hash" = excluded."content_hash", "status" = 'started',
    "started_at" = excluded."started_at", "finished_at" = NULL, "error" = NULL
"""
LEDGER_FINISH = """
UPDATE "ingest_ledger" SET "status" = 'done', "rows_read" = $2, "accepted" = $3,
    "rejected" = $4, "duplicate" = $5, "conflict" = $6, "finished_at" = $7
WHERE "batch_id" = $1
"""
LEDGER_FAIL = """
UPDATE "ingest_ledger" SET "status" = 'failed', "error" = $2, "finished_at" = $3
WHERE "batch_id" = $1
"""
LEDGER_COUNTS = ("rows_read", "accepted", "rejected", "duplicate", "conflict")
LEDGER_FIND = f"""
SELECT {_LEDGER_COLUMNS} FROM "ingest_ledger"
WHERE "kind" = $1 AND "content_hash" = $2 AND "status" = 'done'
ORDER BY "finished_at" DESC, "batch_id" LIMIT 1
"""
LEDGER_HASH = 'SELECT "content_hash" FROM "ingest_ledger" WHERE "batch_id" = $1'
LEDGER_ALL = f'SELECT {_LEDGER_COLUMNS} FROM "ingest_ledger" ORDER BY "started_at", "batch_id"'

# $1 batch_id, $2 kind, $3 source_file, $4 content_hash (may be NULL), $5 quarantined_at.
# A row is the same row when it comes from the same content (or, without a hash, the same file)
# at the same row number: a resumed batch that re-rejects it adds nothing.
_QUARANTINE_COLUMNS = idents(QUARANTINE.column_names)
QUARANTINE_INSERT = f"""
INSERT INTO "quarantine" ({_QUARANTINE_COLUMNS})
SELECT $1, $2, $3, $4, s."row_number", s."reason", s."raw", $5, s."outcome"
FROM {{src}} s
WHERE NOT EXISTS (
    SELECT 1 FROM "quarantine" q
    WHERE q."kind" = $2 AND q."row_number" = s."row_number"
      AND COALESCE(q."content_hash", q."source_file") = COALESCE($4, $3)
)
"""
QUARANTINE_SUMMARY = """
SELECT "kind", COALESCE("outcome", 'rejected') AS "outcome", count(*) AS "rows"
FROM "quarantine" GROUP BY 1, 2 ORDER BY 1, 2
"""
QUARANTINE_ROWS = f"""
SELECT {_QUARANTINE_COLUMNS} FROM "quarantine"
ORDER BY "quarantined_at" DESC, "batch_id", "row_number" LIMIT $1
"""

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

# --- reads ----------------------------------------------------------------------------------

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


# --- placeholders ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\$(\d+)|%")


def to_pyformat(sql: str, params: Sequence[Any] | None) -> tuple[str, dict[str, Any]]:
    """$n placeholders -> psycopg's %(pn)s (a $n may repeat); every % is doubled (psycopg
    parses the whole text, literals included); a $n inside a string literal, a quoted
    identifier or a comment is not a placeholder."""
    params = list(params or [])

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if m.group(1) is not None:
            i = int(m.group(1))
            if not 1 <= i <= len(params):
                raise ValueError(f"placeholder ${i} has no parameter ({len(params)} given)")
            return f"%(p{i})s"
        return tok.replace("%", "%%")

    return _PLACEHOLDER.sub(sub, sql), {f"p{i + 1}": v for i, v in enumerate(params)}


# --- frames in ------------------------------------------------------------------------------

_POLARS_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "text": pl.String(),
    "json": pl.String(),
    "int": pl.Int64(),
    "int32": pl.Int32(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "ts": pl.Datetime("us", "UTC"),
}


def prepare_frame(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame laid out exactly as the table: columns in table order with the port's types,
    missing optional columns as nulls, timestamps truncated to milliseconds (the stored
    precision of every timestamp)."""
    missing = [c.name for c in table.columns if c.name not in frame.columns and c.required]
    if missing:
        raise ValueError(f"{table.name}: frame lacks required columns {missing}")
    exprs = []
    for c in table.columns:
        dtype = _POLARS_TYPES[c.type]
        e = pl.col(c.name) if c.name in frame.columns else pl.lit(None)
        if c.type == "ts" and c.name in frame.columns:
            src = frame.schema[c.name]
            if isinstance(src, pl.Datetime) and src.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
            e = e.cast(dtype).dt.truncate("1ms")
        else:
            e = e.cast(dtype)
        exprs.append(e.alias(c.name))
    return frame.select(exprs)


def dedupe_frame(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """One row per identity, the first one of the batch."""
    if not table.identity or frame.select(table.identity).is_unique().all():
        return frame
    return frame.unique(subset=list(table.identity), keep="first", maintain_order=True)


def key_frame(table: Table, keys: pl.DataFrame, key_columns: Sequence[str]) -> pl.DataFrame:
    """The key columns with the port's types (timestamps untouched: compared truncated)."""
    out = []
    for c in key_columns:
        dtype = _POLARS_TYPES[table.col(c).type]
        e = pl.col(c)
        if table.col(c).type == "ts":
            src = keys.schema[c]
            if isinstance(src, pl.Datetime) and src.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
        out.append(e.cast(dtype).alias(c))
    return keys.select(out)


def quarantine_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows as the quarantine insert reads them: row_number, reason, raw, outcome
    ('rejected' unless the frame says 'conflict'), one row per row number."""
    outcome = pl.col("outcome") if "outcome" in rows.columns else pl.lit("rejected")
    return rows.select(
        pl.col("row_number").cast(pl.Int64),
        pl.col("reason").cast(pl.String),
        pl.col("raw").cast(pl.String),
        outcome.cast(pl.String).fill_null("rejected").alias("outcome"),
    ).unique("row_number", keep="first", maintain_order=True)


def empty_frame(table: Table, columns: Sequence[str] | None = None) -> pl.DataFrame:
    names = columns or table.column_names
    return pl.DataFrame(schema={n: _POLARS_TYPES[table.col(n).type] for n in names})


def table_of(kind: SourceKind) -> Table:
    """The series table holding a source kind (the orders kind: the orders dimension)."""
    if kind.name not in STORED_KINDS:
        raise ValueError(f"{kind.name} is not stored in the series store")
    return kind_table(STORED_KINDS[kind.name])
