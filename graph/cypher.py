"""The service-graph layout derived from orderscope.domain.sources and the Cypher both adapters share.

Everything here is dialect-neutral: LadybugDB and Neo4j 5 both accept these texts as written.
Labels, relationship types and property names come from the schema contract (never from input) and
are always backtick-quoted (`Order` is a reserved word in Ladybug); values are always `$parameters`.

What differs between the dialects stays in the adapters:
  - the type of a relationship / label of a node: Ladybug `label(r)` / `label(x)`, Neo4j
    `type(r)` / `labels(x)[0]` (see `order_records_any`, which takes the function name);
  - how a returned node becomes a dict (Ladybug: a dict with `_ID`/`_LABEL` and, for a node of a
    union of tables, every table's properties; Neo4j: a `Node` whose `dict(node)` holds only set
    properties) and how temporal values come back (Neo4j `neo4j.time.DateTime`);
  - bulk writes (Ladybug `COPY ... FROM $df`; Neo4j `UNWIND $rows ... MERGE/CREATE`) and schema DDL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, cast

import polars as pl

from orderscope.domain.sources import (
    ENTITY_LABELS,
    FRAME_TYPES,
    ORDERS,
    SOURCE_KINDS,
    Column,
    SourceKind,
)
from orderscope.graph.port import q

ENTITY_KEY = "id"  # property holding an entity node's id

GRAPH_KINDS: tuple[SourceKind, ...] = tuple(k for k in SOURCE_KINDS if k.store == "graph")
# Kinds with an Order -> record relationship: the keys of order_records().
DIRECT_KINDS: tuple[SourceKind, ...] = tuple(k for k in GRAPH_KINDS if k.order_rel)
BY_ORDER_REL: dict[str, SourceKind] = {k.order_rel: k for k in DIRECT_KINDS}  # type: ignore[misc]
ORDER_LABEL: str = ORDERS.label  # type: ignore[assignment]


def node_labels() -> tuple[str, ...]:
    """Every node label of the graph: one per graph kind, then the entity labels."""
    labels = [k.label for k in GRAPH_KINDS]
    assert all(labels), "every graph kind has a label"
    return (*cast(list[str], labels), *ENTITY_LABELS)


def rel_layout() -> dict[str, tuple[tuple[str, str], ...]]:
    """Relationship type -> its (from label, to label) pairs, in first-seen order.

    One type may join several label pairs: AT_WAREHOUSE starts at Allocation, WarehouseTask and
    QCReport; IN_ZONE joins records and Equipment to Zone; IN_REGION joins Order and Warehouse
    to Region.
    """
    pairs: dict[str, list[tuple[str, str]]] = {}

    def add(rel: str, src: str, dst: str) -> None:
        lst = pairs.setdefault(rel, [])
        if (src, dst) not in lst:
            lst.append((src, dst))

    for k in GRAPH_KINDS:
        assert k.label is not None
        if k.order_rel:
            add(k.order_rel, ORDER_LABEL, k.label)
        for link in k.entity_links:
            add(link.rel, k.label, link.label)
        for er in k.entity_relations:
            add(er.rel, er.from_label, er.to_label)
    return {rel: tuple(v) for rel, v in pairs.items()}


def projection(var: str, columns: Iterable[Column]) -> str:
    """`x.a AS a, x.b AS b, ...`: explicit columns so both dialects return the same shape."""
    return ", ".join(f"{var}.{q(c.name)} AS {q(c.name)}" for c in columns)


def _order_match(var: str = "o") -> str:
    return f"MATCH ({var}:{q(ORDER_LABEL)} {{{q(ORDERS.key)}: $order_id}})"


# --- snapshot reads --------------------------------------------------------------------------

ORDER = f"{_order_match()} RETURN {projection('o', ORDERS.columns)}"


def order_records_of(kind: SourceKind) -> str:
    """Records of one direct kind, ordered by its time column then key."""
    assert kind.order_rel and kind.label
    return (
        f"{_order_match()}-[:{q(kind.order_rel)}]->(x:{q(kind.label)}) "
        f"RETURN {projection('x', kind.columns)} "
        f"ORDER BY {q(kind.time_column)}, {q(kind.key)}"
    )


def _direct_properties() -> tuple[tuple[str, ...], bool]:
    names: dict[str, set[str]] = {}
    for k in DIRECT_KINDS:
        for c in k.columns:
            names.setdefault(c.name, set()).add(c.type)
    return tuple(names), all(len(t) == 1 for t in names.values())


# Every property of every direct kind, and whether each name has one type across kinds (a typed
# store such as Ladybug needs that to project them all from a node of several tables).
DIRECT_PROPERTIES, DIRECT_PROPERTIES_AGREE = _direct_properties()


def order_records_any(rel_type_fn: str) -> str:
    """Every record linked directly to the order in one round trip.

    Rows: `rel` (the relationship type, which names the kind: BY_ORDER_REL) then one column per
    name in DIRECT_PROPERTIES (null where the record's kind lacks it). rel_type_fn is the
    dialect's function giving a relationship's type: `label` (Ladybug) or `type` (Neo4j). The
    caller picks the kind's columns and sorts per kind (time column, then key). Explicit
    properties instead of `RETURN x` keep node-to-dict conversion out of it (and are ~4x faster
    on Ladybug).
    """
    types = "|".join(q(k.order_rel) for k in DIRECT_KINDS)  # type: ignore[arg-type]
    props = ", ".join(f"x.{q(p)} AS {q(p)}" for p in DIRECT_PROPERTIES)
    return f"{_order_match()}-[r:{types}]->(x) RETURN {rel_type_fn}(r) AS {q('rel')}, {props}"


_CAL = next(k for k in GRAPH_KINDS if k.label == "Calibration")
_QC = next(k for k in GRAPH_KINDS if k.label == "QCReport")
_QC_EQUIPMENT = next(link for link in _QC.entity_links if link.label == "Equipment")
_CAL_EQUIPMENT = next(link for link in _CAL.entity_links if link.label == "Equipment")

CALIBRATIONS_FOR_ORDER = (
    f"{_order_match()}-[:{q(_QC.order_rel)}]->(:{q(_QC.label)})"  # type: ignore[arg-type]
    f"-[:{q(_QC_EQUIPMENT.rel)}]->(:{q('Equipment')})"
    f"<-[:{q(_CAL_EQUIPMENT.rel)}]-(c:{q(_CAL.label)}) "  # type: ignore[arg-type]
    f"RETURN DISTINCT {projection('c', _CAL.columns)} "
    f"ORDER BY {q(_CAL.time_column)}, {q(_CAL.key)}"
)

# --- write-side helpers --------------------------------------------------------------------


def keys_present(kind: SourceKind) -> str:
    """Which of $keys exist as nodes of the kind (point lookups)."""
    label = q(kind.label)  # type: ignore[arg-type]
    return f"UNWIND $keys AS k MATCH (x:{label} {{{q(kind.key)}: k}}) RETURN x.{q(kind.key)} AS k"


def records_by_key(kind: SourceKind) -> str:
    """Every column of the kind's records whose key is in $keys (point lookups)."""
    label = q(kind.label)  # type: ignore[arg-type]
    return f"UNWIND $keys AS k MATCH (x:{label} {{{q(kind.key)}: k}}) RETURN {projection('x', kind.columns)}"


def entity_columns(kind: SourceKind) -> dict[str, list[str]]:
    """Entity label -> the frame columns of the kind naming such entities (links and
    relations), in first-seen order: what add_records creates entity nodes from."""
    cols: dict[str, list[str]] = {}
    pairs = [(link.label, link.column) for link in kind.entity_links]
    for er in kind.entity_relations:
        pairs += [(er.from_label, er.from_column), (er.to_label, er.to_column)]
    for label, column in pairs:
        lst = cols.setdefault(label, [])
        if column not in lst:
            lst.append(column)
    return cols


def all_keys(label: str, key: str) -> str:
    return f"MATCH (x:{q(label)}) RETURN x.{q(key)} AS k"


def rel_pairs(rel: str, src_label: str, src_key: str, dst_label: str, dst_key: str) -> str:
    """Existing (src, dst) key pairs of one relationship type between two labels."""
    return (
        f"MATCH (a:{q(src_label)})-[:{q(rel)}]->(b:{q(dst_label)}) "
        f"RETURN a.{q(src_key)} AS src, b.{q(dst_key)} AS dst"
    )


def count_nodes(label: str) -> str:
    return f"MATCH (n:{q(label)}) RETURN count(n) AS n"


def count_rels(rel: str) -> str:
    return f"MATCH ()-[r:{q(rel)}]->() RETURN count(r) AS n"


def key_of(label: str) -> str:
    """Primary-key property of a node label."""
    for k in GRAPH_KINDS:
        if k.label == label:
            return k.key
    if label in ENTITY_LABELS:
        return ENTITY_KEY
    raise KeyError(f"unknown node label {label!r}")


# --- shaping read results: the same for every adapter ---------------------------------------
_MIN_TIME = dt.datetime.min.replace(tzinfo=dt.UTC)
Convert = Callable[[Any], Any]  # an adapter's driver value -> plain Python value


def record(kind: SourceKind, values: Iterable[Any], convert: Convert) -> dict[str, Any]:
    """One record as a dict of exactly the kind's columns, values converted."""
    return {c.name: convert(v) for c, v in zip(kind.columns, values, strict=True)}


def records_by_kind(rows: Iterable[Sequence[Any]], convert: Convert) -> dict[str, list[dict[str, Any]]]:
    """Rows of `order_records_any` (rel type, then DIRECT_PROPERTIES) grouped per kind name, every
    direct kind present, each list in time-column then key order."""
    out: dict[str, list[dict[str, Any]]] = {k.name: [] for k in DIRECT_KINDS}
    for rel, *values in rows:
        kind = BY_ORDER_REL[rel]
        row = dict(zip(DIRECT_PROPERTIES, values, strict=True))
        out[kind.name].append({c.name: convert(row[c.name]) for c in kind.columns})
    return sort_by_kind(out)


def records_frame(kind: SourceKind, rows: Iterable[Sequence[Any]], convert: Convert) -> pl.DataFrame:
    """Rows of kind.columns (driver values) as a frame with the port's frame types."""
    data = [[convert(v) for v in row] for row in rows]
    return pl.DataFrame(
        {
            c.name: pl.Series(c.name, [r[i] for r in data], dtype=FRAME_TYPES[c.type], strict=False)
            for i, c in enumerate(kind.columns)
        }
    )


def sort_by_kind(out: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    for kind in DIRECT_KINDS:
        t, k = kind.time_column, kind.key
        out[kind.name].sort(key=lambda r: (r[t] is None, r[t] or _MIN_TIME, r[k]))
    return out
