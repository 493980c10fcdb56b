"""What a source kind is: its columns and their types, its file format and store, its identity and
how its records link to an order and to the service graph's entities; `conform` puts a frame into
the form the ports exchange (FRAME_TYPES). The 17 kinds themselves are declared in `sources`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import polars as pl

ColumnType = Literal["str", "int", "float", "bool", "ts", "json"]
FileFormat = Literal["csv", "jsonl", "parquet"]
Store = Literal["graph", "series"]

# How each column type travels between ingest, the ports and analytics: one frame type each.
FRAME_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "ts": pl.Datetime("us", "UTC"),
    "json": pl.String(),
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType = "str"
    required: bool = True


@dataclass(frozen=True)
class EntityLink:
    """A record (or entity) points at an entity through one of its columns."""

    column: str  # column holding the entity id
    label: str  # entity label, e.g. "Zone"
    rel: str  # relationship type, record -> entity


@dataclass(frozen=True)
class EntityRelation:
    """Two entities that a record names together are related, e.g. zone IN_WAREHOUSE warehouse."""

    from_column: str
    from_label: str
    rel: str
    to_column: str
    to_label: str


@dataclass(frozen=True)
class SourceKind:
    name: str
    format: FileFormat
    store: Store
    key: str  # identity column; a readings kind without one gets a composite key
    columns: tuple[Column, ...]
    time_column: str
    label: str | None = None  # graph node label (graph kinds)
    order_rel: str | None = None  # Order -> record relationship type (direct kinds)
    links_via: str = "order_id"  # how the record reaches its order (DESIGN.md table)
    entity_links: tuple[EntityLink, ...] = ()
    entity_relations: tuple[EntityRelation, ...] = ()
    key_columns: tuple[str, ...] = field(default=())  # composite identity for readings

    @property
    def file_name(self) -> str:
        return f"{self.name}.{self.format}"

    @property
    def direct(self) -> bool:
        """Keyed by order_id itself (as opposed to linked through entities or a waybill)."""
        return any(c.name == "order_id" for c in self.columns)

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def identity(self) -> tuple[str, ...]:
        return self.key_columns or (self.key,)


def conform(kind: SourceKind, frame: pl.DataFrame) -> pl.DataFrame:
    """Exactly kind.columns, in order, with the frame types of the port contract (timestamps in
    UTC; a naive one is taken to be UTC). Adapters call it on every frame they are handed."""
    missing = [c.name for c in kind.columns if c.name not in frame.columns]
    if missing:
        raise ValueError(f"{kind.name}: frame lacks columns {missing}")
    exprs = []
    for c in kind.columns:
        e = pl.col(c.name)
        dtype = frame.schema[c.name]
        if c.type == "ts" and isinstance(dtype, pl.Datetime):
            e = e.dt.replace_time_zone("UTC") if dtype.time_zone is None else e
            e = e.dt.convert_time_zone("UTC")
        exprs.append(e.cast(FRAME_TYPES[c.type]))
    return frame.select(exprs)
