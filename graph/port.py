"""The service-graph port: entities, relationships, order anchors and record nodes.

Adapters (LadybugDB, Neo4j) lay out their schema from orderscope.domain.sources and speak Cypher.
Callers hand in polars frames already validated and typed by ingest:
  str -> pl.String, int -> pl.Int64, float -> pl.Float64, bool -> pl.Boolean,
  ts -> pl.Datetime("us", "UTC"), json -> pl.String (JSON text).
Reads return plain dicts whose timestamps are tz-aware UTC datetimes, so both adapters give
identical answers.
"""

from __future__ import annotations

from typing import Any, Protocol

import polars as pl

from orderscope.domain.sources import SourceKind


def q(name: str) -> str:
    """Backtick-quote an identifier (label, relationship type, property, alias): the one way
    query text names graph schema items, on both adapters (`Order` is reserved in Ladybug)."""
    return "`" + name.replace("`", "``") + "`"


class GraphStore(Protocol):
    name: str  # "ladybug" | "neo4j"

    def ensure_schema(self) -> None:
        """Create node/rel tables (Ladybug) or constraints and indexes (Neo4j); idempotent."""

    def known_keys(self, kind: SourceKind, keys: pl.Series) -> pl.Series:
        """The subset of `keys` (values of kind.key) already stored as nodes of kind.label:
        the input's values in input order (duplicates kept, nulls dropped)."""

    def add_records(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        """Bulk-insert new record nodes of a graph kind (columns exactly kind.columns), then
        their Order -> record relationship (kind.order_rel), the entity nodes they name
        (created when missing), record -> entity links (kind.entity_links) and entity ->
        entity relations (kind.entity_relations, merged: never duplicated). Returns nodes added.
        The caller guarantees the keys are new and the orders exist. Null entity ids create
        neither a node nor a link. Ladybug writes a batch atomically (all or nothing)."""

    def records(self, kind: SourceKind, keys: pl.Series) -> pl.DataFrame:
        """The stored record nodes of a graph kind whose key is among `keys`: exactly
        kind.columns with the port's frame types, one row per stored key (any order). Ingest
        compares them with incoming rows to tell a duplicate from a conflict."""

    def order(self, order_id: str) -> dict[str, Any] | None:
        """The Order node's properties, or None."""

    def order_records(self, order_id: str) -> dict[str, list[dict[str, Any]]]:
        """Records linked directly to the order, keyed by source-kind name, each list ordered
        by the kind's time column then key. Every kind with an order_rel has a key; its list is
        empty when the order has no such records or does not exist. Each record is a dict of
        exactly kind.columns."""

    def calibrations_for_order(self, order_id: str) -> list[dict[str, Any]]:
        """Calibrations of the equipment used in the order's QC reports (through the graph),
        ordered by calibrated_at then calibration_id; each calibration once, even when several
        reports used its equipment."""

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a parameterized read query whose text both dialects accept.

        Quote labels and types with backticks (`Order` is reserved in Ladybug); in ORDER BY,
        use aliases that differ from the match variables (Ladybug resolves a name to the
        variable first). Datetime parameters are instants: aware ones in any offset, naive
        ones taken as UTC."""

    def counts(self) -> dict[str, int]:
        """Node count per label and relationship count per type (keys 'node:Label', 'rel:TYPE'),
        for every label and type of the schema, zeros included."""

    def reset(self) -> None:
        """Delete everything this store holds; the store stays open and its schema in place."""

    def close(self) -> None: ...
