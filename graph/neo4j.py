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

The Neo4j-only query texts (these writes, the key look-up, counts, constraints, reset) live in
orderscope.graph.neo4j_cypher: labels, relationship types and property names are formatted into
query text only from the schema contract, after checking them against the layout; every value is
a `$parameter`.
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
from orderscope.graph.neo4j_cypher import (
    CONSTRAINTS,
    COUNTS,
    ORDER_RECORDS,
    RECORD_WRITES,
    RESET_NODES,
    RESET_RELS,
    graph_kind,
    keys_present,
    merge_entities,
    merge_relation,
)

UTC = dt.UTC


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
        missing = [ddl for name, ddl in CONSTRAINTS if name not in existing]
        for ddl in missing:
            self._auto(ddl)
        if missing:
            self._auto("CALL db.awaitIndexes(300)")
        self._schema_ready = True

    def _schema(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    # --- writes ----------------------------------------------------------------------------

    def _plan(self, kind: SourceKind, frame: pl.DataFrame) -> Iterator[Work]:
        """The statements of one add_records call, in units of at most ~batch_size rows."""
        size = self.batch_size
        for label, columns in cy.entity_columns(kind).items():
            ids = (
                pl.concat([frame.get_column(c).alias("id") for c in columns])
                .drop_nulls()
                .unique(maintain_order=True)
                .to_list()
            )
            for chunk in _chunks(ids, size):
                yield [(merge_entities(label), {"ids": list(chunk)}, None)]
        # Entity relations before the records: a record found stored after a crash between
        # two units has its relations committed already, so skipping it loses nothing.
        for er in kind.entity_relations:
            pairs = (
                frame.select(pl.col(er.from_column).alias("s"), pl.col(er.to_column).alias("d"))
                .drop_nulls()
                .unique(maintain_order=True)
                .rows()
            )
            text = merge_relation(er.rel, er.from_label, er.to_label)
            for chunk in _chunks(pairs, size):
                yield [(text, {"pairs": list(chunk)}, None)]
        write = RECORD_WRITES[kind.name]
        for offset in range(0, frame.height, size):
            yield [
                (text, {"rows": list(chunk)}, len(chunk))
                for text, rows in write.batches(frame.slice(offset, size))
                for chunk in _chunks(rows, self.statement_rows)
            ]

    def add_records(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        kind = graph_kind(kind)
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
        kind = graph_kind(kind)
        keys = keys.cast(pl.String)
        wanted = keys.drop_nulls().unique().to_list()
        if not wanted:
            return keys.clear()
        text = keys_present(kind)
        found: list[str] = []
        for chunk in _chunks(wanted, 50_000):
            found += [row[0] for row in self._read(text, {"keys": list(chunk)})]
        return keys.filter(keys.is_in(pl.Series(found, dtype=pl.String).implode()))

    def records(self, kind: SourceKind, keys: pl.Series) -> pl.DataFrame:
        kind = graph_kind(kind)
        text = cy.records_by_key(kind)
        wanted = keys.cast(pl.String).drop_nulls().unique().to_list()
        rows: list[list[Any]] = []
        for chunk in _chunks(wanted, 50_000):
            rows += self._read(text, {"keys": list(chunk)})
        return cy.records_frame(kind, rows, _py)

    def order(self, order_id: str) -> dict[str, Any] | None:
        rows = self._read(cy.ORDER, {"order_id": order_id})
        return cy.record(ORDERS, rows[0], _py) if rows else None

    def order_records(self, order_id: str) -> dict[str, list[dict[str, Any]]]:
        return cy.records_by_kind(self._read(ORDER_RECORDS, {"order_id": order_id}), _py)

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
        return {k: int(n) for k, n in self._read(COUNTS)}

    def reset(self) -> None:
        """Delete every relationship, then every node, in batches; constraints stay."""
        self._auto(RESET_RELS, {"n": 50_000})
        self._auto(RESET_NODES, {"n": 50_000})
        self._schema()
