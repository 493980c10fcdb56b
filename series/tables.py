"""The series store's tables: their layout (columns with logical types, identity, time column,
indexes) and the DDL built from it, shared by both series adapters.

The kind tables follow orderscope.domain.sources (one table per series kind, plus the orders
dimension); the store's own tables (stage_dwell, derive_pending, ingest_ledger, quarantine, the
pattern library) are declared here. Logical types are those of orderscope.domain.sources plus
"int32" for small counters; each adapter maps them to SQL types (its TYPES) and decides which
identity becomes a PRIMARY KEY or UNIQUE index. Every identifier passes through `ident`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orderscope.domain.sources import SOURCE_KINDS, SourceKind
from orderscope.domain.sources import kind as source_kind
from orderscope.series.port import ident

# --- identifiers and table layout -------------------------------------------------------------


def idents(names: Iterable[str], prefix: str = "") -> str:
    """A comma-separated list of quoted identifiers, each behind `prefix` (a table alias)."""
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
    """DROP TABLE IF EXISTS (DuckDB's reset and full dwell rebuild)."""
    return f"DROP TABLE IF EXISTS {ident(table)}"


def add_column_sql(table: Table, column: str, types: Mapping[str, str]) -> str:
    """ALTER TABLE ... ADD COLUMN IF NOT EXISTS: brings a store of an older release up to date."""
    col = table.col(column)
    return f"ALTER TABLE {ident(table.name)} ADD COLUMN IF NOT EXISTS {ident(col.name)} {types[col.type]}"


def table_of(kind: SourceKind) -> Table:
    """The series table holding a source kind (the orders kind: the orders dimension)."""
    if kind.name not in STORED_KINDS:
        raise ValueError(f"{kind.name} is not stored in the series store")
    return kind_table(STORED_KINDS[kind.name])
