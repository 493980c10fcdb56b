"""The Cypher only the Neo4j adapter speaks, derived from the layout of orderscope.graph.cypher and
checked against it: the bulk writes of add_records, the key look-up, counts, constraints, reset.

Every label, relationship type and property formatted into a text passes one of the `checked_*`
guards (it must be part of the graph schema); every value is a `$parameter`. Rows travel as lists
(not maps) and timestamps as (epoch seconds, nanoseconds) integer pairs that the server turns into
UTC `DATETIME`s with `datetime.fromepoch` (see RecordWrite).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from orderscope.domain.sources import ORDERS, SourceKind
from orderscope.graph import cypher as cy
from orderscope.graph.cypher import q

# The layout every label / type / property formatted into query text is checked against.
_NODE_LABELS: frozenset[str] = frozenset(cy.node_labels())
_REL_TYPES: frozenset[str] = frozenset(cy.rel_layout())
_KEY_OF: dict[str, str] = {label: cy.key_of(label) for label in cy.node_labels()}


def checked_label(name: str) -> str:
    """The quoted label, if it is one of the graph schema's."""
    if name not in _NODE_LABELS:
        raise ValueError(f"{name!r} is not a node label of the graph schema")
    return q(name)


def checked_rel(name: str) -> str:
    """The quoted relationship type, if it is one of the graph schema's."""
    if name not in _REL_TYPES:
        raise ValueError(f"{name!r} is not a relationship type of the graph schema")
    return q(name)


def checked_prop(kind: SourceKind | None, name: str) -> str:
    """The quoted property, if it is a column of the kind (None: the entity key)."""
    allowed = {c.name for c in kind.columns} if kind else {cy.ENTITY_KEY}
    if name not in allowed:
        raise ValueError(f"{name!r} is not a property of {kind.label if kind else 'an entity'}")
    return q(name)


def graph_kind(kind: SourceKind) -> SourceKind:
    """The kind itself, if it is stored in the graph."""
    if kind not in cy.GRAPH_KINDS:
        raise ValueError(f"{kind.name} is not a graph kind of the schema")
    return kind


# --- write query texts (derived from the layout, validated) ----------------------------------


class RecordWrite:
    """How one graph kind's rows travel (a list per record) and the queries that write them.

    One query per pattern of null link columns: every end a row names is matched on its indexed
    key, then the record and all its relationships are created in one CREATE (no subqueries,
    no Eager). Rows whose link columns are null go to a query without those links.
    """

    def __init__(self, kind: SourceKind) -> None:
        kind = graph_kind(kind)
        assert kind.label is not None
        self.kind = kind
        wire: list[pl.Expr] = []
        slot: dict[str, int] = {}  # column -> index of its (first) slot in a row
        props: list[str] = []
        for c in kind.columns:
            slot[c.name] = i = len(wire)
            if c.type == "ts":
                us = pl.col(c.name).dt.epoch("us")
                secs = us.floordiv(1_000_000)
                nanos = (us - secs * 1_000_000) * 1000
                wire += [secs.alias(f"{c.name}__s"), nanos.alias(f"{c.name}__ns")]
                value = f"CASE WHEN r[{i}] IS NULL THEN null ELSE datetime.fromepoch(r[{i}], r[{i + 1}]) END"
            else:
                wire.append(pl.col(c.name))
                value = f"r[{i}]"
            props.append(f"{checked_prop(kind, c.name)}: {value}")
        self.wire = wire
        self._create = f"CREATE (x:{checked_label(kind.label)} {{{', '.join(props)}}})"
        # (column, MATCH text, CREATE text) per relationship end of a record.
        self.ends: list[tuple[str, str, str]] = []
        if kind.order_rel:
            self.ends.append(
                (
                    "order_id",
                    f"MATCH (o:{checked_label(cy.ORDER_LABEL)} "
                    f"{{{checked_prop(ORDERS, ORDERS.key)}: r[{slot['order_id']}]}})",
                    f"(o)-[:{checked_rel(kind.order_rel)}]->(x)",
                )
            )
        for n, link in enumerate(kind.entity_links):
            self.ends.append(
                (
                    link.column,
                    f"MATCH (e{n}:{checked_label(link.label)} "
                    f"{{{checked_prop(None, cy.ENTITY_KEY)}: r[{slot[link.column]}]}})",
                    f"(x)-[:{checked_rel(link.rel)}]->(e{n})",
                )
            )
        self._queries: dict[tuple[bool, ...], str] = {}

    def query(self, mask: tuple[bool, ...]) -> str:
        """The write for rows whose ends are present where mask is True.

        It returns nothing (a RETURN after the CREATE would make the planner add an Eager):
        the summary's nodes_created tells how many rows found all their ends."""
        text = self._queries.get(mask)
        if text is None:
            ends = [end for end, present in zip(self.ends, mask, strict=True) if present]
            creates = ", ".join([self._create[len("CREATE ") :], *(c for _, _, c in ends)])
            text = " ".join(["UNWIND $rows AS r", *(m for _, m, _ in ends), f"CREATE {creates}"])
            self._queries[mask] = text
        return text

    def batches(self, frame: pl.DataFrame) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """(query, rows) per pattern of null ends in the frame."""
        if not self.ends:
            return [(self.query(()), frame.select(self.wire).rows())]
        flags = [pl.col(col).is_not_null().cast(pl.Int8).cast(pl.String) for col, _, _ in self.ends]
        parts = frame.with_columns(pl.concat_str(flags).alias("__mask")).partition_by(
            "__mask", as_dict=True, maintain_order=True
        )
        return [
            (self.query(tuple(ch == "1" for ch in str(key[0]))), part.select(self.wire).rows())
            for key, part in parts.items()
        ]


def merge_entities(label: str) -> str:
    """Entities of a label for each id in $ids, created when missing."""
    return f"UNWIND $ids AS id MERGE (:{checked_label(label)} {{{checked_prop(None, cy.ENTITY_KEY)}: id}})"


def merge_relation(rel: str, src: str, dst: str) -> str:
    """One relationship per (src id, dst id) pair in $pairs, never duplicated."""
    if (src, dst) not in cy.rel_layout().get(rel, ()):
        raise ValueError(f"{rel} does not join {src} to {dst} in the graph schema")
    key = checked_prop(None, cy.ENTITY_KEY)
    return (
        f"UNWIND $pairs AS p MATCH (a:{checked_label(src)} {{{key}: p[0]}}) "
        f"MATCH (b:{checked_label(dst)} {{{key}: p[1]}}) MERGE (a)-[:{checked_rel(rel)}]->(b)"
    )


def keys_present(kind: SourceKind) -> str:
    """cypher.keys_present, after checking its names against the layout."""
    kind = graph_kind(kind)
    checked_label(kind.label)  # type: ignore[arg-type]
    checked_prop(kind, kind.key)
    return cy.keys_present(kind)


def _counts_query() -> str:
    """One round trip for GraphStore.counts: a row per label and per relationship type."""
    parts = [
        f"MATCH (n:{checked_label(label)}) WITH count(n) AS n RETURN {'node:' + label!r} AS k, n"
        for label in cy.node_labels()
    ] + [
        f"MATCH ()-[r:{checked_rel(rel)}]->() WITH count(r) AS n RETURN {'rel:' + rel!r} AS k, n"
        for rel in cy.rel_layout()
    ]
    return " UNION ALL ".join(parts)


def _constraints() -> list[tuple[str, str]]:
    """(name, DDL) for a uniqueness constraint on every label's key."""
    out = []
    for label in cy.node_labels():
        key = _KEY_OF[label]
        name = f"orderscope_{label}_{key}_unique"
        out.append(
            (
                name,
                f"CREATE CONSTRAINT {q(name)} IF NOT EXISTS FOR (n:{checked_label(label)}) "
                f"REQUIRE n.{q(key)} IS UNIQUE",
            )
        )
    return out


RECORD_WRITES: dict[str, RecordWrite] = {k.name: RecordWrite(k) for k in cy.GRAPH_KINDS}
ORDER_RECORDS = cy.order_records_any("type")
COUNTS = _counts_query()
CONSTRAINTS = _constraints()
RESET_RELS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF $n ROWS"
RESET_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF $n ROWS"
