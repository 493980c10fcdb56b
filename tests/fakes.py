"""In-memory fakes of both store ports, for unit tests of the use cases (no database, no files).

`FakeGraph` implements orderscope.graph.port.GraphStore and `FakeSeries`
orderscope.series.port.SeriesStore with dicts and polars frames, laid out from
orderscope.domain.sources alone (no adapter code), so a use case over `fake_stores()` runs in
milliseconds. They keep the ports' contracts for every typed method: tests/unit/test_fakes.py runs
the assertions of the adapters' contract tests (tests/integration/test_graph_port.py,
test_series_port.py) on them.

What they do not do: run query text. `GraphStore.query(cypher)` and `SeriesStore.query(sql)` raise
NotImplementedError, because a fake that interpreted Cypher or SQL would be a third dialect to keep
in step with two real ones. Use cases that compose query text (the metrics, stalls, flows,
patterns, root cause, search) are tested in integration and end-to-end tests against both real
adapters instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import polars as pl

from orderscope.domain.lifecycle import Catalog, load_catalog
from orderscope.domain.sources import (
    ENTITY_LABELS,
    EQUIPMENT_CALIBRATIONS,
    FRAME_TYPES,
    ORDER_EVENTS,
    ORDERS,
    QC_REPORTS,
    SOURCE_KINDS,
    SourceKind,
    conform,
)
from orderscope.graph.port import GraphStore
from orderscope.ports import Stores
from orderscope.series.port import SeriesStore, ident

NO_QUERY_TEXT = "the fake runs no query text (use cases that do are tested on the real adapters)"
TS = pl.Datetime("us", "UTC")
# As the series adapters: a pending-dwell scope this share of all orders is rebuilt whole (the
# visits written then count every order's visits).
FULL_REBUILD_SHARE = 0.5


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: Any) -> Any:
    """Timestamps as the ports read them back: tz-aware, in UTC."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


# --- the graph -----------------------------------------------------------------------------------

GRAPH_KINDS: tuple[SourceKind, ...] = tuple(k for k in SOURCE_KINDS if k.store == "graph")
DIRECT_KINDS: tuple[SourceKind, ...] = tuple(k for k in GRAPH_KINDS if k.order_rel)


def _label(kind: SourceKind) -> str:
    if kind.store != "graph" or kind.label is None:
        raise ValueError(f"{kind.name} is not a graph kind")
    return kind.label


def _rel_types() -> tuple[str, ...]:
    """Every relationship type of the schema, from the source catalog."""
    types: dict[str, None] = {}
    for k in GRAPH_KINDS:
        if k.order_rel:
            types[k.order_rel] = None
        for link in k.entity_links:
            types[link.rel] = None
        for er in k.entity_relations:
            types[er.rel] = None
    return tuple(types)


NODE_LABELS: tuple[str, ...] = tuple(_label(k) for k in GRAPH_KINDS) + ENTITY_LABELS
REL_TYPES: tuple[str, ...] = _rel_types()

# (from label, from key, to label, to key): one relationship; a set per type merges repeats.
Edge = tuple[str, str, str, str]


class FakeGraph:
    """The service graph in dicts: records per kind by key, entity ids per label, edges per
    relationship type."""

    name = "fake"

    def __init__(self) -> None:
        self.closed = False
        self.reset()

    def ensure_schema(self) -> None:
        """Nothing to lay out."""

    def reset(self) -> None:
        self._records: dict[str, dict[str, dict[str, Any]]] = {k.name: {} for k in GRAPH_KINDS}
        self._entities: dict[str, set[str]] = {label: set() for label in ENTITY_LABELS}
        self._edges: dict[str, set[Edge]] = {rel: set() for rel in REL_TYPES}

    def close(self) -> None:
        self.closed = True

    # --- writes ----------------------------------------------------------------------------------

    def add_records(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        label = _label(kind)
        frame = conform(kind, frame)
        stored = self._records[kind.name]
        rows = [{c: _utc(v) for c, v in r.items()} for r in frame.to_dicts()]
        # All or nothing, as the adapters: check the whole batch before writing any of it.
        keys = [r[kind.key] for r in rows]
        taken = [k for k in keys if k in stored]
        if taken or len(set(keys)) != len(keys):
            raise ValueError(f"{kind.name}: keys stored already or repeated in the batch: {taken or keys}")
        if kind.order_rel:
            missing = sorted({r["order_id"] for r in rows} - set(self._records[ORDERS.name]))
            if missing:
                raise ValueError(f"{kind.name}: order(s) {missing} do not exist")
        for row in rows:
            key = row[kind.key]
            stored[key] = row
            if kind.order_rel:
                self._edges[kind.order_rel].add((_label(ORDERS), row["order_id"], label, key))
            for link in kind.entity_links:
                if row[link.column] is not None:
                    self._entities[link.label].add(row[link.column])
                    self._edges[link.rel].add((label, key, link.label, row[link.column]))
            for er in kind.entity_relations:
                src, dst = row[er.from_column], row[er.to_column]
                for entity_label, entity in ((er.from_label, src), (er.to_label, dst)):
                    if entity is not None:
                        self._entities[entity_label].add(entity)
                if src is not None and dst is not None:
                    self._edges[er.rel].add((er.from_label, src, er.to_label, dst))
        return len(rows)

    # --- reads -----------------------------------------------------------------------------------

    def known_keys(self, kind: SourceKind, keys: pl.Series) -> pl.Series:
        _label(kind)
        keys = keys.cast(pl.String)
        stored = pl.Series(list(self._records[kind.name]), dtype=pl.String)
        return keys.filter(keys.is_in(stored.implode()).fill_null(False))

    def records(self, kind: SourceKind, keys: pl.Series) -> pl.DataFrame:
        _label(kind)
        stored = self._records[kind.name]
        wanted = keys.cast(pl.String).drop_nulls().unique(maintain_order=True).to_list()
        rows = [stored[k] for k in wanted if k in stored]
        return pl.DataFrame(
            {
                c.name: pl.Series(c.name, [r[c.name] for r in rows], dtype=FRAME_TYPES[c.type])
                for c in kind.columns
            }
        )

    def order(self, order_id: str) -> dict[str, Any] | None:
        row = self._records[ORDERS.name].get(order_id)
        return None if row is None else dict(row)

    def _linked(self, order_id: str, kind: SourceKind) -> list[dict[str, Any]]:
        assert kind.order_rel is not None
        keys = [e[3] for e in self._edges[kind.order_rel] if e[1] == order_id]
        return _by_time_then_key(kind, [dict(self._records[kind.name][k]) for k in keys])

    def order_records(self, order_id: str) -> dict[str, list[dict[str, Any]]]:
        return {k.name: self._linked(order_id, k) for k in DIRECT_KINDS}

    def calibrations_for_order(self, order_id: str) -> list[dict[str, Any]]:
        # Order -> QC report -> Equipment <- Calibration, each calibration once.
        used = {r["equipment_id"] for r in self._linked(order_id, QC_REPORTS)} - {None}
        cals = [
            dict(r) for r in self._records[EQUIPMENT_CALIBRATIONS.name].values() if r["equipment_id"] in used
        ]
        return _by_time_then_key(EQUIPMENT_CALIBRATIONS, cals)

    def query(self, cypher: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Not supported: the fake runs no Cypher (see the module docstring)."""
        raise NotImplementedError(NO_QUERY_TEXT)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind in GRAPH_KINDS:
            out[f"node:{_label(kind)}"] = len(self._records[kind.name])
        for label in ENTITY_LABELS:
            out[f"node:{label}"] = len(self._entities[label])
        for rel in REL_TYPES:
            out[f"rel:{rel}"] = len(self._edges[rel])
        return out


def _by_time_then_key(kind: SourceKind, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lowest = datetime.min.replace(tzinfo=UTC)
    t, k = kind.time_column, kind.key
    return sorted(rows, key=lambda r: (r[t] is None, r[t] or lowest, r[k]))


# --- the series store ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A table of the fake series store: columns (name -> polars type), which may be left out
    of an appended frame (optional), and the identity that makes a row new."""

    name: str
    columns: dict[str, pl.DataType]
    identity: tuple[str, ...] = ()
    optional: frozenset[str] = frozenset()

    def empty(self, columns: Iterable[str] | None = None) -> pl.DataFrame:
        names = list(columns) if columns is not None else list(self.columns)
        return pl.DataFrame(schema={n: self.columns[n] for n in names})

    def prepare(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame laid out as the table: its columns in order, the port's types, optional
        columns it lacks as nulls, timestamps in UTC truncated to milliseconds (the stored
        precision); one row per identity (the first)."""
        missing = [c for c in self.columns if c not in frame.columns and c not in self.optional]
        if missing:
            raise ValueError(f"{self.name}: frame lacks required columns {missing}")
        frame = frame.select(
            [
                _typed(frame, name, dtype).alias(name)
                if name in frame.columns
                else pl.lit(None, dtype).alias(name)
                for name, dtype in self.columns.items()
            ]
        )
        if self.identity:
            frame = frame.unique(subset=list(self.identity), keep="first", maintain_order=True)
        return frame


def _typed(frame: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    e = pl.col(name)
    if dtype == TS:
        src = frame.schema[name]
        if isinstance(src, pl.Datetime) and src.time_zone is None:
            e = e.dt.replace_time_zone("UTC")
        return e.cast(TS).dt.truncate("1ms")
    return e.cast(dtype)


def _kind_table(kind: SourceKind) -> Table:
    return Table(
        name=kind.name,
        columns={c.name: FRAME_TYPES[c.type] for c in kind.columns},
        identity=kind.identity,
        optional=frozenset(c.name for c in kind.columns if not c.required),
    )


def _table(name: str, spec: str, identity: tuple[str, ...] = ()) -> Table:
    """spec: 'name:type ...' with types as in orderscope.domain.sources (+ int32), '?' optional."""
    types = {**FRAME_TYPES, "int32": pl.Int32(), "text": pl.String()}
    columns: dict[str, pl.DataType] = {}
    optional = set()
    for item in spec.split():
        if item.endswith("?"):
            item = item[:-1]
            optional.add(item.partition(":")[0])
        col, _, typ = item.partition(":")
        columns[col] = types[typ or "str"]
    return Table(name, columns, identity, frozenset(optional))


STORED_KINDS: dict[str, SourceKind] = {
    k.name: k for k in (ORDERS, *(k for k in SOURCE_KINDS if k.store == "series"))
}
STAGE_DWELL = _table(
    "stage_dwell",
    "order_id node visit:int32 entered_at:ts left_at:ts? dwell_ms:int? entered_by_event left_by_event?",
)
LEDGER = _table(
    "ingest_ledger",
    "batch_id kind source_file content_hash status rows_read:int? accepted:int? rejected:int? "
    "duplicate:int? started_at:ts finished_at:ts? conflict:int? error?",
    ("batch_id",),
)
LEDGER_COUNTS = ("rows_read", "accepted", "rejected", "duplicate", "conflict")
QUARANTINE = _table(
    "quarantine",
    "batch_id kind source_file content_hash? row_number:int reason raw quarantined_at:ts outcome?",
)
PATTERN_LIBRARY = _table(
    "pattern_library",
    "name version:int32 pattern_id items created_at:ts support:float? risk_ratio:float? "
    "p_adjusted:float? stalls:int? note?",
    ("name", "version"),
)
PATTERN_HITS = _table(
    "pattern_hits",
    "pattern_id order_id node visit:int32 entered_at:ts dwell_ms:int? run_id recorded_at:ts",
    ("pattern_id", "order_id", "node", "visit"),
)


class FakeSeries:
    """The series store as polars frames, one per table."""

    name = "fake"

    def __init__(self) -> None:
        self.kind_tables = {name: _kind_table(k) for name, k in STORED_KINDS.items()}
        self.closed = False
        self.reset()

    def ensure_schema(self) -> None:
        """Nothing to lay out."""

    def reset(self) -> None:
        self._frames: dict[str, pl.DataFrame] = {n: t.empty() for n, t in self.kind_tables.items()}
        for table in (STAGE_DWELL, LEDGER, QUARANTINE, PATTERN_LIBRARY, PATTERN_HITS):
            self._frames[table.name] = table.empty()
        self._pending: set[str] = set()

    def close(self) -> None:
        self.closed = True

    def _kind_table(self, kind: SourceKind) -> Table:
        if kind.name not in self.kind_tables:
            raise ValueError(f"{kind.name} is not stored in the series store")
        return self.kind_tables[kind.name]

    def _append(self, table: Table, frame: pl.DataFrame) -> pl.DataFrame:
        """Add the rows whose identity is new (the first of a repeated one); returns them."""
        if frame.is_empty():
            return table.empty()
        new = table.prepare(frame).join(
            self._frames[table.name].select(table.identity), on=list(table.identity), how="anti"
        )
        self._frames[table.name] = pl.concat([self._frames[table.name], new])
        return new

    def _probe(self, table: Table, keys: pl.DataFrame) -> pl.DataFrame:
        """The key columns typed as the table's, timestamps truncated to the stored
        milliseconds (so a key given with microseconds still matches)."""
        return keys.select([_key(keys, c, table.columns[c]).alias(c) for c in keys.columns]).with_columns(
            [pl.col(c).dt.truncate("1ms") for c in keys.columns if table.columns[c] == TS]
        )

    # --- writes ----------------------------------------------------------------------------------

    def known_keys(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        table = self._kind_table(kind)
        if keys.is_empty():
            return table.empty(kind.identity)
        ids = list(kind.identity)
        given = keys.select([_key(keys, c, table.columns[c]).alias(c) for c in ids]).with_row_index("_i")
        probe = self._probe(table, given.drop("_i")).with_row_index("_i")
        stored = probe.join(self._frames[table.name].select(ids).unique(), on=ids, how="semi")
        found = given.filter(pl.col("_i").is_in(stored["_i"].implode())).drop("_i")
        return found.unique(maintain_order=True)

    def append(self, kind: SourceKind, frame: pl.DataFrame) -> int:
        new = self._append(self._kind_table(kind), frame)
        if kind is ORDER_EVENTS:
            self._pending.update(new["order_id"].to_list())
        return new.height

    def stored_rows(self, kind: SourceKind, keys: pl.DataFrame) -> pl.DataFrame:
        table = self._kind_table(kind)
        if keys.is_empty():
            return table.empty()
        ids = list(kind.identity)
        probe = self._probe(table, keys.select(ids)).unique()
        return self._frames[table.name].join(probe, on=ids, how="semi")

    def rebuild_dwell(self, order_ids: pl.Series | None = None) -> int:
        events = self._frames[ORDER_EVENTS.name]
        dwell = self._frames[STAGE_DWELL.name]
        if order_ids is None:
            self._pending.clear()
            visits = _visits(events)
            self._frames[STAGE_DWELL.name] = visits
            return visits.height
        scope = order_ids.cast(pl.String).drop_nulls().unique()
        if scope.is_empty():
            return 0
        visits = _visits(events.filter(pl.col("order_id").is_in(scope.implode())))
        kept = dwell.filter(~pl.col("order_id").is_in(scope.implode()))
        self._frames[STAGE_DWELL.name] = pl.concat([kept, visits])
        return visits.height

    def rebuild_pending_dwell(self) -> int:
        if not self._pending:
            return 0
        if len(self._pending) >= FULL_REBUILD_SHARE * self._frames[ORDERS.name].height:
            return self.rebuild_dwell()
        n = self.rebuild_dwell(pl.Series(sorted(self._pending), dtype=pl.String))
        self._pending.clear()
        return n

    def pending_dwell(self) -> int:
        return len(self._pending)

    def _ledger_row(self, batch_id: str) -> dict[str, Any] | None:
        rows = self._frames[LEDGER.name].filter(pl.col("batch_id") == batch_id).to_dicts()
        return rows[0] if rows else None

    def _ledger_put(self, row: dict[str, Any]) -> None:
        """Insert or replace the batch's entry (its instants kept to the microsecond, as the
        adapters keep the times they take themselves)."""
        ledger = self._frames[LEDGER.name]
        others = ledger.filter(pl.col("batch_id") != row["batch_id"])
        self._frames[LEDGER.name] = pl.concat([others, pl.DataFrame([row], schema=LEDGER.columns)])

    def ledger_find(self, kind: str, content_hash: str) -> dict[str, Any] | None:
        done = self._frames[LEDGER.name].filter(
            (pl.col("kind") == kind) & (pl.col("content_hash") == content_hash) & (pl.col("status") == "done")
        )
        rows = done.sort(["finished_at", "batch_id"], descending=[True, False]).head(1).to_dicts()
        return rows[0] if rows else None

    def ledger_start(self, batch_id: str, kind: str, source_file: str, content_hash: str) -> None:
        # A resumed batch keeps its counts; the rest starts again.
        row = self._ledger_row(batch_id) or dict.fromkeys(LEDGER.columns)
        row.update(
            batch_id=batch_id,
            kind=kind,
            source_file=source_file,
            content_hash=content_hash,
            status="started",
            started_at=_now(),
            finished_at=None,
            error=None,
        )
        self._ledger_put(row)

    def ledger_finish(self, batch_id: str, counts: dict[str, int]) -> None:
        row = self._ledger_row(batch_id)
        if row is None:
            raise KeyError(f"no ledger entry for batch {batch_id!r} (ledger_start first)")
        row.update({k: int(counts.get(k, 0)) for k in LEDGER_COUNTS}, status="done", finished_at=_now())
        self._ledger_put(row)

    def ledger_fail(self, batch_id: str, error: str) -> None:
        row = self._ledger_row(batch_id)
        if row is not None:
            row.update(status="failed", error=error, finished_at=_now())
            self._ledger_put(row)

    def quarantine(self, batch_id: str, kind: str, source_file: str, rows: pl.DataFrame) -> int:
        if rows.is_empty():
            return 0
        entry = self._ledger_row(batch_id)
        content_hash = entry["content_hash"] if entry else None
        outcome = pl.col("outcome") if "outcome" in rows.columns else pl.lit("rejected")
        frame = rows.select(
            pl.lit(batch_id).alias("batch_id"),
            pl.lit(kind).alias("kind"),
            pl.lit(source_file).alias("source_file"),
            pl.lit(content_hash, pl.String).alias("content_hash"),
            pl.col("row_number").cast(pl.Int64),
            pl.col("reason").cast(pl.String),
            pl.col("raw").cast(pl.String),
            pl.lit(_now(), TS).alias("quarantined_at"),
            outcome.cast(pl.String).fill_null("rejected").alias("outcome"),
        ).unique("row_number", keep="first", maintain_order=True)
        # The same row of the same content (or, without a ledger entry, the same file) is kept once.
        content = pl.coalesce("content_hash", "source_file")
        seen = (
            self._frames[QUARANTINE.name]
            .filter(pl.col("kind") == kind)
            .filter(content == (content_hash or source_file))
            .select("row_number")
        )
        new = frame.join(seen, on="row_number", how="anti")
        self._frames[QUARANTINE.name] = pl.concat([self._frames[QUARANTINE.name], new])
        return new.height

    # --- reads -----------------------------------------------------------------------------------

    def known_order_ids(self, order_ids: pl.Series) -> pl.Series:
        stored = self._frames[ORDERS.name]["order_id"]
        ids = order_ids.cast(pl.String).drop_nulls().unique()
        return ids.filter(ids.is_in(stored.implode())).sort().alias("order_id")

    def events(self, order_id: str) -> pl.DataFrame:
        return self._frames[ORDER_EVENTS.name].filter(pl.col("order_id") == order_id).sort("at", "event_id")

    def dwell(self, order_id: str) -> pl.DataFrame:
        visits = self._frames[STAGE_DWELL.name].filter(pl.col("order_id") == order_id)
        return visits.sort("entered_at", "entered_by_event")

    def readings(
        self,
        kind: SourceKind,
        where: dict[str, list[Any]],
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> pl.DataFrame:
        table = self._kind_table(kind)
        for column in where:
            ident(column)
            if column not in table.columns:
                raise ValueError(f"{kind.name} has no column {column!r}")
        frame = self._frames[kind.name]
        for column, values in where.items():
            frame = frame.filter(
                pl.col(column).is_in(pl.Series(values, dtype=table.columns[column]).implode())
            )
        t = pl.col(kind.time_column)
        if start is not None:
            frame = frame.filter(t >= start)
        if end is not None:
            frame = frame.filter(t <= end)
        return frame.sort(list(dict.fromkeys((kind.time_column, *kind.identity))))

    def sessions_overlapping(self, actor_ids: list[str], start: datetime, end: datetime) -> pl.DataFrame:
        sessions = self._frames["operator_sessions"]
        return sessions.filter(
            pl.col("actor_id").is_in(pl.Series(actor_ids, dtype=pl.String).implode())
            & (pl.col("login_at") <= end)
            & (pl.col("logout_at").is_null() | (pl.col("logout_at") >= start))
        ).sort("login_at", "session_id")

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Not supported: the fake runs no SQL (see the module docstring)."""
        raise NotImplementedError(NO_QUERY_TEXT)

    def data_clock(self) -> datetime | None:
        clock = self._frames[ORDER_EVENTS.name]["at"].max()
        assert clock is None or isinstance(clock, datetime)
        return clock

    def counts(self) -> dict[str, int]:
        names = (*STORED_KINDS, STAGE_DWELL.name, QUARANTINE.name)
        return {n: self._frames[n].height for n in names}

    def quarantine_rows(self, limit: int = 100) -> pl.DataFrame:
        rows = self._frames[QUARANTINE.name]
        return rows.sort(
            ["quarantined_at", "batch_id", "row_number"], descending=[True, False, False], maintain_order=True
        ).head(limit)

    def quarantine_summary(self) -> pl.DataFrame:
        return (
            self._frames[QUARANTINE.name]
            .group_by("kind", pl.col("outcome").fill_null("rejected"))
            .agg(pl.len().cast(pl.Int64).alias("rows"))
            .sort("kind", "outcome")
        )

    def ledger(self) -> pl.DataFrame:
        return self._frames[LEDGER.name].sort("started_at", "batch_id", maintain_order=True)

    # --- stall-pattern library -------------------------------------------------------------------

    def save_pattern(self, row: dict[str, Any]) -> bool:
        return self._append(PATTERN_LIBRARY, pl.DataFrame([row])).height > 0

    def patterns(self) -> pl.DataFrame:
        return self._frames[PATTERN_LIBRARY.name].sort("name", "version")

    def record_pattern_hits(self, frame: pl.DataFrame) -> int:
        return self._append(PATTERN_HITS, frame).height

    def pattern_hits(self, pattern_ids: list[str] | None = None) -> pl.DataFrame:
        hits = self._frames[PATTERN_HITS.name]
        if pattern_ids is not None:
            hits = hits.filter(pl.col("pattern_id").is_in(pl.Series(pattern_ids, dtype=pl.String).implode()))
        return hits.sort("pattern_id", "entered_at", "order_id", "node", "visit")


def _key(keys: pl.DataFrame, name: str, dtype: pl.DataType) -> pl.Expr:
    """A key column typed as the table's (timestamps made UTC, not truncated: as given)."""
    e = pl.col(name)
    if dtype == TS:
        src = keys.schema[name]
        if isinstance(src, pl.Datetime) and src.time_zone is None:
            e = e.dt.replace_time_zone("UTC")
    return e.cast(dtype)


def _visits(events: pl.DataFrame) -> pl.DataFrame:
    """stage_dwell from order events, as the adapters derive it: by event time (ties by
    event_id); a visit opens at an order's first event and at each event whose to_state differs
    from the one before; it closes when the next visit opens (the last one stays open)."""
    by_order = ["order_id"]
    entries = (
        events.sort("order_id", "at", "event_id")
        .with_columns(prev=pl.col("to_state").shift(1).over(by_order))
        .filter(pl.col("prev").is_null() | (pl.col("prev") != pl.col("to_state")))
    )
    visits = entries.select(
        "order_id",
        pl.col("to_state").alias("node"),
        (pl.int_range(pl.len()).over("order_id", "to_state") + 1).cast(pl.Int32).alias("visit"),
        pl.col("at").alias("entered_at"),
        pl.col("at").shift(-1).over(by_order).alias("left_at"),
        pl.col("event_id").alias("entered_by_event"),
        pl.col("event_id").shift(-1).over(by_order).alias("left_by_event"),
    ).with_columns(dwell_ms=(pl.col("left_at") - pl.col("entered_at")).dt.total_milliseconds().cast(pl.Int64))
    return visits.select(list(STAGE_DWELL.columns))


# --- both ----------------------------------------------------------------------------------------


def fake_stores(catalog: Catalog | None = None) -> Stores:
    """A Stores pair over fresh fakes (backend "fake"), with the shipped catalog by default."""
    return Stores(graph=FakeGraph(), series=FakeSeries(), backend="fake", catalog=catalog or load_catalog())


if TYPE_CHECKING:  # the fakes are what the ports say they are (mypy runs over this module)
    _graph: GraphStore = FakeGraph()
    _series: SeriesStore = FakeSeries()

__all__ = ["NO_QUERY_TEXT", "FakeGraph", "FakeSeries", "fake_stores"]
