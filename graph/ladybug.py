"""GraphStore on LadybugDB (the maintained Kùzu fork): embedded, Cypher, bulk COPY from polars.

Layout (from orderscope.domain.sources, see orderscope.graph.cypher):
  - one node table per graph kind: label = kind.label, properties = kind.columns in order,
    PRIMARY KEY kind.key; records of kind `orders` are `Order` nodes;
  - one node table per entity label (`id STRING PRIMARY KEY`);
  - one rel table per relationship type, with every (FROM, TO) pair the contract names
    (e.g. AT_WAREHOUSE from Allocation, WarehouseTask and QCReport to Warehouse).
Types: str/json -> STRING, int -> INT64, float -> DOUBLE, bool -> BOOLEAN, ts -> TIMESTAMP_TZ
(stored as UTC instants; reads give tz-aware UTC datetimes and polars Datetime("us", "UTC")).

Writes go through `COPY <table> FROM $df` with polars frames, inside one transaction per
add_records call (a failure leaves nothing half-written).

Concurrency: a Ladybug database file has one read-write opener at a time (others get "Could not
set lock on file"). Readers in other processes open with `read_only=True`: they need an existing
database, cannot run DDL (ensure_schema then only verifies the tables exist) and every write
method raises PermissionError. A read-only opener sees the last committed/checkpointed state; open
it after the writer has closed for a consistent view.

Threads: writes and schema work run on the store's one connection; the snapshot reads
(`concurrent_reads`) run on a connection of the calling thread to the same database, so several
threads look orders up at once (a Ladybug database takes many connections; each sees what is
committed).

Note on parameters: the Python binding drops the offset of tz-aware datetime parameters (binds the
wall clock). query() therefore converts aware datetimes to UTC first; naive ones are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import ladybug
import polars as pl

from orderscope.domain.sources import ENTITY_LABELS, EQUIPMENT_CALIBRATIONS, ORDERS, SourceKind, conform
from orderscope.graph import cypher as cy
from orderscope.graph.cypher import q

UTC = dt.UTC

_DDL_TYPE = {
    "str": "STRING",
    "int": "INT64",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "ts": "TIMESTAMP_TZ",
    "json": "STRING",
}
# Files a Ladybug database consists of, besides the main file at `path`.
_SIDECARS = (".wal", ".shadow", ".tmp", ".lock")
# known_keys: point lookups cost ~30x a scanned row; scan the whole key column beyond that.
_LOOKUP_VS_SCAN = 30


def _py(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


def _param(value: Any) -> Any:
    """Make a parameter bind correctly: aware datetimes become UTC (naive ones are UTC)."""
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    if isinstance(value, list | tuple):
        return [_param(v) for v in value]
    if isinstance(value, dict):
        return {k: _param(v) for k, v in value.items()}
    return value


def _copy_opts(src: str, dst: str) -> str:
    # Labels come from the schema contract; they never contain quotes.
    return f"(from='{src}', to='{dst}')"


class LadybugGraph:
    """The service graph in an embedded LadybugDB database file at `path`."""

    name = "ladybug"
    # Methods that read on the calling thread's own connection: safe to call from several
    # threads at once (orderscope.hub.locking lets them share the store's lock).
    concurrent_reads: frozenset[str] = frozenset(
        {"order", "order_records", "calibrations_for_order", "query", "counts"}
    )

    def __init__(
        self,
        path: Path | str,
        *,
        read_only: bool = False,
        buffer_pool_size: int = 0,
        max_num_threads: int = 0,
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._db_options = {
            "buffer_pool_size": buffer_pool_size,
            "max_num_threads": max_num_threads,
        }
        self._db: ladybug.Database | None = None
        self._conn: ladybug.Connection | None = None
        self._local = threading.local()  # .conn: (database, this thread's read connection)
        self._readers: list[ladybug.Connection] = []
        self._readers_lock = threading.Lock()
        self._open()

    # --- lifecycle -------------------------------------------------------------------------

    def _open(self) -> None:
        if self.read_only:
            if not self.path.exists():
                raise FileNotFoundError(f"no Ladybug database at {self.path} (read-only open)")
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = ladybug.Database(
            str(self.path),
            read_only=self.read_only,
            buffer_pool_size=self._db_options["buffer_pool_size"],
            max_num_threads=self._db_options["max_num_threads"],
        )
        self._conn = ladybug.Connection(self._db)

    def close(self) -> None:
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> LadybugGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _writable(self) -> None:
        if self.read_only:
            raise PermissionError(f"graph store at {self.path} was opened read-only")

    @property
    def conn(self) -> ladybug.Connection:
        if self._conn is None:
            raise RuntimeError("graph store is closed")
        return self._conn

    @property
    def reader(self) -> ladybug.Connection:
        """This thread's read connection (a new one after a reset reopened the database)."""
        db = self._db
        if db is None:
            raise RuntimeError("graph store is closed")
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] is db:
            return cast(ladybug.Connection, held[1])
        conn = ladybug.Connection(db)
        with self._readers_lock:
            self._readers.append(conn)
        self._local.conn = (db, conn)
        return conn

    @contextmanager
    def _result(
        self, cypher: str, params: dict[str, Any] | None = None, conn: ladybug.Connection | None = None
    ) -> Iterator[ladybug.QueryResult]:
        """The result of one statement, closed after use (the binding gives a list only for a
        text of several statements, which no query here is)."""
        result = (conn or self.conn).execute(cypher, params)
        assert not isinstance(result, list), "one statement, one result"
        try:
            yield result
        finally:
            result.close()

    def _rows(
        self, cypher: str, params: dict[str, Any] | None = None, conn: ladybug.Connection | None = None
    ) -> list[list[Any]]:
        with self._result(cypher, params or {}, conn) as result:
            return cast(list[list[Any]], result.get_all())  # rows as lists: the binding's default

    def _run(self, cypher: str, params: dict[str, Any] | None = None) -> None:
        result = self.conn.execute(cypher, params or {})
        for r in result if isinstance(result, list) else [result]:
            r.close()

    # --- schema ----------------------------------------------------------------------------

    def _tables(self) -> set[str]:
        return {row[0] for row in self._rows("CALL show_tables() RETURN name")}

    def _ddl(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        for kind in cy.GRAPH_KINDS:
            cols = ", ".join(f"{q(c.name)} {_DDL_TYPE[c.type]}" for c in kind.columns)
            out.append(
                (
                    kind.label,  # type: ignore[arg-type]
                    f"CREATE NODE TABLE IF NOT EXISTS {q(kind.label)}"  # type: ignore[arg-type]
                    f"({cols}, PRIMARY KEY ({q(kind.key)}))",
                )
            )
        for label in ENTITY_LABELS:
            out.append(
                (
                    label,
                    f"CREATE NODE TABLE IF NOT EXISTS {q(label)}"
                    f"({q(cy.ENTITY_KEY)} STRING, PRIMARY KEY ({q(cy.ENTITY_KEY)}))",
                )
            )
        for rel, pairs in cy.rel_layout().items():
            ends = ", ".join(f"FROM {q(a)} TO {q(b)}" for a, b in pairs)
            out.append((rel, f"CREATE REL TABLE IF NOT EXISTS {q(rel)}({ends}, MANY_MANY)"))
        return out

    def ensure_schema(self) -> None:
        ddl = self._ddl()
        existing = self._tables()
        missing = [(name, stmt) for name, stmt in ddl if name not in existing]
        if self.read_only:
            if missing:
                names = ", ".join(name for name, _ in missing)
                raise PermissionError(f"read-only graph store lacks tables: {names}")
            return
        for _, stmt in missing:
            self._run(stmt)

    # --- writes ----------------------------------------------------------------------------

    def _copy(self, table: str, df: pl.DataFrame, opts: str = "") -> None:
        if df.height:
            self._run(f"COPY {q(table)} FROM $df {opts}".rstrip(), {"df": df})

    def _ids(self, label: str, key: str) -> pl.Series:
        with self._result(cy.all_keys(label, key)) as result:
            return result.get_as_pl()["k"].cast(pl.String)

    def add_records(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        self._writable()
        if kind.store != "graph" or not kind.label:
            raise ValueError(f"{kind.name} is not a graph kind")
        frame = conform(kind, frame)
        if frame.height == 0:
            return 0
        key = kind.key
        self._run("BEGIN TRANSACTION")
        try:
            self._copy(kind.label, frame)
            # Entities named by the batch that are not stored yet.
            for label, columns in cy.entity_columns(kind).items():
                ids = pl.concat([frame.get_column(c).alias("id") for c in columns]).drop_nulls().unique()
                if ids.len():
                    new = ids.filter(~ids.is_in(self._ids(label, cy.ENTITY_KEY).implode()))
                    self._copy(label, new.to_frame("id"))
            if kind.order_rel:
                self._copy(
                    kind.order_rel,
                    frame.select("order_id", key).drop_nulls(),
                    _copy_opts(cy.ORDER_LABEL, kind.label),
                )
            for link in kind.entity_links:
                self._copy(
                    link.rel,
                    frame.select(key, link.column).drop_nulls(),
                    _copy_opts(kind.label, link.label),
                )
            for er in kind.entity_relations:
                pairs = (
                    frame.select(pl.col(er.from_column).alias("src"), pl.col(er.to_column).alias("dst"))
                    .drop_nulls()
                    .unique()
                )
                if pairs.height:
                    have = self._pairs(er.rel, er.from_label, er.to_label)
                    missing = pairs.join(have, on=["src", "dst"], how="anti")
                    self._copy(er.rel, missing, _copy_opts(er.from_label, er.to_label))
            self._run("COMMIT")
        except BaseException:
            try:
                self._run("ROLLBACK")
            except RuntimeError:
                pass  # Ladybug already rolled back the failed transaction
            raise
        return frame.height

    def _pairs(self, rel: str, src: str, dst: str) -> pl.DataFrame:
        text = cy.rel_pairs(rel, src, cy.key_of(src), dst, cy.key_of(dst))
        with self._result(text) as result:
            df = result.get_as_pl()
        return df.select(pl.col("src").cast(pl.String), pl.col("dst").cast(pl.String))

    # --- reads -----------------------------------------------------------------------------

    def known_keys(self, kind: SourceKind, keys: pl.Series) -> pl.Series:
        if not kind.label:
            raise ValueError(f"{kind.name} is not a graph kind")
        keys = keys.cast(pl.String)
        wanted = keys.drop_nulls().unique()
        if wanted.len() == 0:
            return keys.clear()
        stored = self._rows(cy.count_nodes(kind.label))[0][0]
        if stored == 0:
            return keys.clear()
        if wanted.len() * _LOOKUP_VS_SCAN < stored:
            found = pl.Series(
                [r[0] for r in self._rows(cy.keys_present(kind), {"keys": wanted.to_list()})],
                dtype=pl.String,
            )
        else:
            found = self._ids(kind.label, kind.key)
        return keys.filter(keys.is_in(found.implode()))

    def records(self, kind: SourceKind, keys: pl.Series) -> pl.DataFrame:
        if not kind.label:
            raise ValueError(f"{kind.name} is not a graph kind")
        wanted = keys.cast(pl.String).drop_nulls().unique().to_list()
        rows = self._rows(cy.records_by_key(kind), {"keys": wanted}) if wanted else []
        return cy.records_frame(kind, rows, _py)

    def order(self, order_id: str) -> dict[str, Any] | None:
        rows = self._rows(cy.ORDER, {"order_id": order_id}, self.reader)
        return cy.record(ORDERS, rows[0], _py) if rows else None

    def order_records(self, order_id: str) -> dict[str, list[dict[str, Any]]]:
        params = {"order_id": order_id}
        if cy.DIRECT_PROPERTIES_AGREE:  # one round trip
            return cy.records_by_kind(self._rows(_ORDER_RECORDS, params, self.reader), _py)
        # a property name with two types: one query per kind
        return cy.sort_by_kind(
            {
                kind.name: [
                    cy.record(kind, row, _py)
                    for row in self._rows(cy.order_records_of(kind), params, self.reader)
                ]
                for kind in cy.DIRECT_KINDS
            }
        )

    def calibrations_for_order(self, order_id: str) -> list[dict[str, Any]]:
        rows = self._rows(cy.CALIBRATIONS_FOR_ORDER, {"order_id": order_id}, self.reader)
        return [cy.record(EQUIPMENT_CALIBRATIONS, row, _py) for row in rows]

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        bound = {k: _param(v) for k, v in (params or {}).items()}
        with self._result(cypher, bound, self.reader) as result:
            return result.get_as_pl()

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        conn = self.reader
        for label in cy.node_labels():
            out[f"node:{label}"] = self._rows(cy.count_nodes(label), None, conn)[0][0]
        for rel in cy.rel_layout():
            out[f"rel:{rel}"] = self._rows(cy.count_rels(rel), None, conn)[0][0]
        return out

    def reset(self) -> None:
        """Delete the database files and recreate an empty database with the schema."""
        self._writable()
        self.close()
        for p in _db_files(self.path):
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        self._open()
        self.ensure_schema()


_ORDER_RECORDS = cy.order_records_any("label")


def _db_files(path: Path) -> Iterable[Path]:
    yield path
    for suffix in _SIDECARS:
        yield path.with_name(path.name + suffix)
