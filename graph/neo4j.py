"""GraphStore on a Neo4j 5 server through the official `neo4j` driver (Bolt).

Layout (from orderscope.domain.sources, see orderscope.graph.cypher), the same as the Ladybug adapter's:
  - one label per graph kind (records of kind `orders` are `Order` nodes) with the kind's
    columns as properties, and one label per entity (`id` property);
  - one relationship type per contract type; a type may join several label pairs.
Schema: a uniqueness constraint on each label's key (its backing range index serves every
lookup by key), created on first use with `IF NOT EXISTS` (ensure_schema is idempotent).

Writes (add_records), in `UNWIND $rows` batches (`batch_size` rows, default 20,000), each batch
one managed transaction (`session.execute_write`, retried by the driver on transient errors):
  1. entities the batch names: `MERGE` on the entity key, distinct ids only;
  2. records: plain `CREATE` (the caller guarantees the keys are new), then in the same query the
     Order -> record relationship and the record -> entity links, matched on indexed keys;
  3. entity -> entity relations: distinct pairs, `MERGE` (never duplicated).
A call whose frame fits in one batch runs as a single transaction (all or nothing); a larger one
commits batch by batch (entities first, so a failure never leaves a link without its ends).

Rows travel as lists (not maps) and timestamps as (epoch seconds, nanoseconds) integer pairs that
the server turns into UTC `DATETIME`s with `datetime.fromepoch`: packing Python datetimes in the
driver costs ~40 µs each, which alone would cap throughput well below the target.

Reads: the shared query texts from orderscope.graph.cypher, with `type(r)` where Ladybug has
`label(r)`. Neo4j omits null properties; the explicit projections give None for them, so every
record dict holds exactly kind.columns. `neo4j.time.DateTime` values come back as tz-aware UTC
`datetime`s (microseconds), as the Ladybug adapter returns them.

Labels, relationship types and property names are formatted into query text only from the
schema contract, after checking them against the layout; every value is a `$parameter`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from typing import Any

import neo4j
import neo4j.exceptions
import neo4j.graph
import neo4j.time
import polars as pl

from orderscope.domain.sources import EQUIPMENT_CALIBRATIONS, ORDERS, SourceKind, conform
from orderscope.graph import cypher as cy
from orderscope.graph.cypher import q

UTC = dt.UTC


# The layout every label / type / property formatted into query text is checked against.
_NODE_LABELS: frozenset[str] = frozenset(cy.node_labels())
_REL_TYPES: frozenset[str] = frozenset(cy.rel_layout())
_KEY_OF: dict[str, str] = {label: cy.key_of(label) for label in cy.node_labels()}


def _label(name: str) -> str:
    if name not in _NODE_LABELS:
        raise ValueError(f"{name!r} is not a node label of the graph schema")
    return q(name)


def _rel(name: str) -> str:
    if name not in _REL_TYPES:
        raise ValueError(f"{name!r} is not a relationship type of the graph schema")
    return q(name)


def _prop(kind: SourceKind | None, name: str) -> str:
    allowed = {c.name for c in kind.columns} if kind else {cy.ENTITY_KEY}
    if name not in allowed:
        raise ValueError(f"{name!r} is not a property of {kind.label if kind else 'an entity'}")
    return q(name)


def _graph_kind(kind: SourceKind) -> SourceKind:
    if kind not in cy.GRAPH_KINDS:
        raise ValueError(f"{kind.name} is not a graph kind of the schema")
    return kind


# --- value conversion ------------------------------------------------------------------------


def _py(value: Any) -> Any:
    """A driver value as the port returns it (tz-aware UTC datetimes, plain containers)."""
    if isinstance(value, neo4j.time.DateTime):
        native = value.to_native()
        return native.replace(tzinfo=UTC) if native.tzinfo is None else native.astimezone(UTC)
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, neo4j.time.Date | neo4j.time.Time):
        return value.to_native()
    if isinstance(value, neo4j.time.Duration):
        return dt.timedelta(
            days=value.months * 30 + value.days,
            seconds=value.seconds,
            microseconds=value.nanoseconds // 1000,
        )
    if isinstance(value, neo4j.graph.Node | neo4j.graph.Relationship):
        return {k: _py(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_py(v) for v in value]
    if isinstance(value, dict):
        return {k: _py(v) for k, v in value.items()}
    return value


def _param(value: Any) -> Any:
    """Datetime parameters are instants: aware ones become UTC, naive ones are taken as UTC
    (the driver would otherwise send a naive datetime as a LocalDateTime, which never compares
    equal to or orders against a stored DATETIME)."""
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, list | tuple):
        return [_param(v) for v in value]
    if isinstance(value, dict):
        return {k: _param(v) for k, v in value.items()}
    return value


# --- write query texts (derived from the layout, validated) ----------------------------------


class _RecordWrite:
    """How one graph kind's rows travel (a list per record) and the queries that write them.

    One query per pattern of null link columns: every end a row names is matched on its indexed
    key, then the record and all its relationships are created in one CREATE (no subqueries,
    no Eager). Rows whose link columns are null go to a query without those links.
    """

    def __init__(self, kind: SourceKind) -> None:
        kind = _graph_kind(kind)
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
            props.append(f"{_prop(kind, c.name)}: {value}")
        self.wire = wire
        self._create = f"CREATE (x:{_label(kind.label)} {{{', '.join(props)}}})"
        # (column, MATCH text, CREATE text) per relationship end of a record.
        self.ends: list[tuple[str, str, str]] = []
        if kind.order_rel:
            self.ends.append(
                (
                    "order_id",
                    f"MATCH (o:{_label(cy.ORDER_LABEL)} "
                    f"{{{_prop(ORDERS, ORDERS.key)}: r[{slot['order_id']}]}})",
                    f"(o)-[:{_rel(kind.order_rel)}]->(x)",
                )
            )
        for n, link in enumerate(kind.entity_links):
            self.ends.append(
                (
                    link.column,
                    f"MATCH (e{n}:{_label(link.label)} "
                    f"{{{_prop(None, cy.ENTITY_KEY)}: r[{slot[link.column]}]}})",
                    f"(x)-[:{_rel(link.rel)}]->(e{n})",
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


def _merge_entities(label: str) -> str:
    return f"UNWIND $ids AS id MERGE (:{_label(label)} {{{_prop(None, cy.ENTITY_KEY)}: id}})"


def _merge_relation(rel: str, src: str, dst: str) -> str:
    if (src, dst) not in cy.rel_layout().get(rel, ()):
        raise ValueError(f"{rel} does not join {src} to {dst} in the graph schema")
    key = _prop(None, cy.ENTITY_KEY)
    return (
        f"UNWIND $pairs AS p MATCH (a:{_label(src)} {{{key}: p[0]}}) "
        f"MATCH (b:{_label(dst)} {{{key}: p[1]}}) MERGE (a)-[:{_rel(rel)}]->(b)"
    )


def _keys_present(kind: SourceKind) -> str:
    kind = _graph_kind(kind)
    _label(kind.label)  # type: ignore[arg-type]
    _prop(kind, kind.key)
    return cy.keys_present(kind)


def _counts_query() -> str:
    parts = [
        f"MATCH (n:{_label(label)}) WITH count(n) AS n RETURN {'node:' + label!r} AS k, n"
        for label in cy.node_labels()
    ] + [
        f"MATCH ()-[r:{_rel(rel)}]->() WITH count(r) AS n RETURN {'rel:' + rel!r} AS k, n"
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
                f"CREATE CONSTRAINT {q(name)} IF NOT EXISTS FOR (n:{_label(label)}) "
                f"REQUIRE n.{q(key)} IS UNIQUE",
            )
        )
    return out


_RECORD_WRITES: dict[str, _RecordWrite] = {k.name: _RecordWrite(k) for k in cy.GRAPH_KINDS}
_ORDER_RECORDS = cy.order_records_any("type")
_COUNTS = _counts_query()
_CONSTRAINTS = _constraints()
_RESET_RELS = "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF $n ROWS"
_RESET_NODES = "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF $n ROWS"

# Statements run in one transaction: (query, parameters, nodes it must create, or None).
Work = list[tuple[str, dict[str, Any], int | None]]


def _chunks(seq: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class Neo4jGraph:
    """The service graph in one database of a Neo4j 5 server."""

    name = "neo4j"

    def __init__(
        self,
        uri: str,
        user: str,
        password: str,
        database: str = "neo4j",
        *,
        batch_size: int = 20_000,
        statement_rows: int = 5_000,
        max_connection_pool_size: int = 8,
    ) -> None:
        self.uri = uri
        self.database = database
        self.batch_size = batch_size  # rows per transaction
        self.statement_rows = statement_rows  # rows per UNWIND statement within one
        self._schema_ready = False
        self._driver: neo4j.Driver | None = neo4j.GraphDatabase.driver(
            uri,
            auth=(user, password),
            max_connection_pool_size=max_connection_pool_size,
            # Warnings about labels/types not yet in a fresh graph would be logged per query.
            notifications_min_severity="OFF",
        )
        try:
            self._driver.verify_connectivity()
        except BaseException:
            self._driver.close()
            self._driver = None
            raise

    # --- lifecycle -------------------------------------------------------------------------

    @property
    def driver(self) -> neo4j.Driver:
        if self._driver is None:
            raise RuntimeError("graph store is closed")
        return self._driver

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None

    def __enter__(self) -> Neo4jGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _session(self) -> neo4j.Session:
        return self.driver.session(database=self.database, fetch_size=-1)

    def _read(self, cypher: str, params: dict[str, Any] | None = None) -> list[list[Any]]:
        def work(tx: neo4j.ManagedTransaction) -> list[list[Any]]:
            return tx.run(cypher, params or {}).values()

        with self._session() as s:
            return s.execute_read(work)

    def _write(self, work: Work) -> None:
        """Run statements in one managed write transaction (retried on transient errors)."""

        def run(tx: neo4j.ManagedTransaction) -> None:
            # Send every statement before reading any answer: the driver returns from run()
            # once the server has accepted the query, so packing statement k+1 (pure Python)
            # overlaps with the server executing statement k. The server runs them in order.
            results = [(tx.run(cypher, params), expected) for cypher, params, expected in work]
            for result, expected in results:
                made = result.consume().counters.nodes_created
                if expected is not None and made != expected:  # raising rolls the tx back
                    raise ValueError(
                        f"{expected - made} of {expected} records name an order or entity "
                        "that does not exist; nothing of this batch was written"
                    )

        if work:
            with self._session() as s:
                s.execute_write(run)

    def _auto(self, cypher: str, params: dict[str, Any] | None = None, tries: int = 5) -> None:
        """An auto-commit statement (DDL, CALL IN TRANSACTIONS), retried on transient errors."""
        for attempt in range(tries):
            try:
                with self._session() as s:
                    s.run(cypher, params or {}).consume()
                return
            except (
                neo4j.exceptions.TransientError,
                neo4j.exceptions.ServiceUnavailable,
                neo4j.exceptions.SessionExpired,
            ):
                if attempt == tries - 1:
                    raise
                time.sleep(0.2 * 2**attempt)

    # --- schema ----------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        existing = {row[0] for row in self._read("SHOW CONSTRAINTS YIELD name RETURN name")}
        missing = [ddl for name, ddl in _CONSTRAINTS if name not in existing]
        for ddl in missing:
            self._auto(ddl)
        if missing:
            self._auto("CALL db.awaitIndexes(300)")
        self._schema_ready = True

    def _schema(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    # --- writes ----------------------------------------------------------------------------

    @staticmethod
    def _entity_columns(kind: SourceKind) -> dict[str, list[str]]:
        """Entity label -> the frame columns naming such entities (links and relations)."""
        cols: dict[str, list[str]] = {}
        pairs = [(link.label, link.column) for link in kind.entity_links]
        for er in kind.entity_relations:
            pairs += [(er.from_label, er.from_column), (er.to_label, er.to_column)]
        for label, column in pairs:
            lst = cols.setdefault(label, [])
            if column not in lst:
                lst.append(column)
        return cols

    def _plan(self, kind: SourceKind, frame: pl.DataFrame) -> Iterator[Work]:
        """The statements of one add_records call, in units of at most ~batch_size rows."""
        size = self.batch_size
        for label, columns in self._entity_columns(kind).items():
            ids = (
                pl.concat([frame.get_column(c).alias("id") for c in columns])
                .drop_nulls()
                .unique(maintain_order=True)
                .to_list()
            )
            for chunk in _chunks(ids, size):
                yield [(_merge_entities(label), {"ids": list(chunk)}, None)]
        # Entity relations before the records: a record found stored after a crash between
        # two units has its relations committed already, so skipping it loses nothing.
        for er in kind.entity_relations:
            pairs = (
                frame.select(pl.col(er.from_column).alias("s"), pl.col(er.to_column).alias("d"))
                .drop_nulls()
                .unique(maintain_order=True)
                .rows()
            )
            text = _merge_relation(er.rel, er.from_label, er.to_label)
            for chunk in _chunks(pairs, size):
                yield [(text, {"pairs": list(chunk)}, None)]
        write = _RECORD_WRITES[kind.name]
        for offset in range(0, frame.height, size):
            yield [
                (text, {"rows": list(chunk)}, len(chunk))
                for text, rows in write.batches(frame.slice(offset, size))
                for chunk in _chunks(rows, self.statement_rows)
            ]

    def add_records(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        kind = _graph_kind(kind)
        frame = conform(kind, frame)
        if frame.height == 0:
            return 0
        self._schema()
        units = self._plan(kind, frame)
        if frame.height <= self.batch_size:  # small: one transaction, all or nothing
            self._write([stmt for unit in units for stmt in unit])
        else:
            for unit in units:
                self._write(unit)
        return frame.height

    # --- reads -----------------------------------------------------------------------------

    def known_keys(self, kind: SourceKind, keys: pl.Series) -> pl.Series:
        kind = _graph_kind(kind)
        keys = keys.cast(pl.String)
        wanted = keys.drop_nulls().unique().to_list()
        if not wanted:
            return keys.clear()
        text = _keys_present(kind)
        found: list[str] = []
        for chunk in _chunks(wanted, 50_000):
            found += [row[0] for row in self._read(text, {"keys": list(chunk)})]
        return keys.filter(keys.is_in(pl.Series(found, dtype=pl.String).implode()))

    def records(self, kind: SourceKind, keys: pl.Series) -> pl.DataFrame:
        kind = _graph_kind(kind)
        text = cy.records_by_key(kind)
        wanted = keys.cast(pl.String).drop_nulls().unique().to_list()
        rows: list[list[Any]] = []
        for chunk in _chunks(wanted, 50_000):
            rows += self._read(text, {"keys": list(chunk)})
        return cy.records_frame(kind, rows, _py)

    def order(self, order_id: str) -> dict[str, Any] | None:
        rows = self._read(cy.ORDER, {"order_id": order_id})
        if not rows:
            return None
        names = [c.name for c in ORDERS.columns]
        return {n: _py(v) for n, v in zip(names, rows[0], strict=True)}

    def order_records(self, order_id: str) -> dict[str, list[dict[str, Any]]]:
        return cy.records_by_kind(self._read(_ORDER_RECORDS, {"order_id": order_id}), _py)

    def calibrations_for_order(self, order_id: str) -> list[dict[str, Any]]:
        rows = self._read(cy.CALIBRATIONS_FOR_ORDER, {"order_id": order_id})
        return [cy.record(EQUIPMENT_CALIBRATIONS, row, _py) for row in rows]

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        bound = {k: _param(v) for k, v in (params or {}).items()}

        def work(tx: neo4j.ManagedTransaction) -> tuple[list[str], list[list[Any]]]:
            result = tx.run(cypher, bound)
            return list(result.keys()), result.values()

        with self._session() as s:
            keys, rows = s.execute_read(work)
        columns = {k: [_py(row[i]) for row in rows] for i, k in enumerate(keys)}
        return pl.DataFrame(columns, strict=False)

    def counts(self) -> dict[str, int]:
        return {k: int(n) for k, n in self._read(_COUNTS)}

    def reset(self) -> None:
        """Delete every relationship, then every node, in batches; constraints stay."""
        self._auto(_RESET_RELS, {"n": 50_000})
        self._auto(_RESET_NODES, {"n": 50_000})
        self._schema()
