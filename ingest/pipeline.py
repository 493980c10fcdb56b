"""Ingest a folder of source files: read, validate, guard, de-duplicate, link, write, account.

Per file: structural and type checks (validate), references to known orders and waybills, the
state-change guard for order events, duplicates within the file and against the store, then one
bulk write. Rejected rows go to quarantine with their reason; the ledger records every batch so
the same file is never applied twice and an interrupted batch can simply be run again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from orderscope.guard import guard_reasons
from orderscope.ingest.readers import ROW, ReadResult, SourceFile, discover, read_chunks
from orderscope.ingest.validate import reject, validate
from orderscope.lifecycle import Catalog, load_catalog
from orderscope.sources import ORDER_EVENTS, ORDERS, SHIPMENTS, SOURCE_KINDS, SourceKind
from orderscope.stores import Stores

Progress = Callable[[str, int], None]  # (what is happening, files finished by this step: 0 or 1)


@dataclass
class KindCounts:
    files: int = 0
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    skipped_files: int = 0

    def add(self, other: KindCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class IngestReport:
    kinds: dict[str, KindCounts] = field(default_factory=dict)
    unknown_files: list[str] = field(default_factory=list)
    rejections: list[dict] = field(default_factory=list)  # a sample, for the summary
    seconds: float = 0.0
    store_seconds: dict[str, float] = field(default_factory=dict)  # graph, series, read, …
    series_rows: int = 0  # rows written to the series store (readings, events, order dimension)

    @contextmanager
    def timing(self, store: str) -> Iterator[None]:
        """Accumulate time spent in one phase: writing to a store (graph, series), reading,
        validating, checking. The bench reports them."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.store_seconds[store] = self.store_seconds.get(store, 0.0) + (
                time.perf_counter() - start
            )

    @property
    def totals(self) -> KindCounts:
        total = KindCounts()
        for counts in self.kinds.values():
            total.add(counts)
        return total

    def to_dict(self) -> dict:
        totals = self.totals
        return {
            "kinds": {k: asdict(v) for k, v in self.kinds.items()},
            "totals": asdict(totals),
            "unknown_files": self.unknown_files,
            "rejections_sample": self.rejections,
            "seconds": round(self.seconds, 3),
            "rows_per_s": round(totals.rows_read / self.seconds) if self.seconds else None,
        }


class IngestError(RuntimeError):
    """The folder cannot be ingested at all (missing, empty); says what to do."""


def ingest_folder(
    folder: Path,
    stores: Stores,
    catalog: Catalog | None = None,
    progress: Progress | None = None,
    reprocess: bool = False,
) -> IngestReport:
    """Ingest every recognised source file in `folder`. `reprocess` runs files the ledger has
    already seen through row-level de-duplication again (e.g. after fixing missing orders)."""
    if not folder.is_dir():
        raise IngestError(f"{folder} is not a folder; pass the folder holding the source files")
    files, unknown = discover(folder)
    if not files:
        names = ", ".join(k.file_name for k in SOURCE_KINDS[:3])
        raise IngestError(f"no source files in {folder} (expected names like {names} …)")
    catalog = catalog or load_catalog()
    started = time.perf_counter()
    report = IngestReport(
        kinds={k.name: KindCounts() for k in SOURCE_KINDS},
        unknown_files=[p.name for p in unknown],
    )
    touched: list[pl.Series] = []
    store_was_empty = stores.series.data_clock() is None
    for source in files:
        counts, events = _ingest_file(source, stores, catalog, report, reprocess, progress)
        report.kinds[source.kind.name].add(counts)
        if events is not None:
            touched.append(events)
        if progress:
            progress(f"{source.path.name} · {counts.rows_read:,} rows", 1)
    if touched:
        orders = None if store_was_empty else pl.concat(touched).unique()
        if progress:
            progress("rebuilding stage dwell from the event log", 0)
        with report.timing("series"):
            report.series_rows += stores.series.rebuild_dwell(orders)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_file(
    source: SourceFile,
    stores: Stores,
    catalog: Catalog,
    report: IngestReport,
    reprocess: bool,
    progress: Progress | None = None,
) -> tuple[KindCounts, pl.Series | None]:
    kind = source.kind
    with report.timing("read"):
        content_hash = source.content_hash()
    done = stores.series.ledger_find(kind.name, content_hash)
    if done and not reprocess:
        rows = int(done["rows_read"])
        return KindCounts(files=1, rows_read=rows, duplicate=rows, skipped_files=1), None

    batch_id = uuid.uuid4().hex
    stores.series.ledger_start(batch_id, kind.name, source.path.name, content_hash)
    counts = KindCounts(files=1)
    touched: list[pl.Series] = []
    chunks = read_chunks(source)
    while True:
        with report.timing("read"):
            chunk = next(chunks, None)
        if chunk is None:
            break
        part, orders = _ingest_chunk(source, chunk, batch_id, stores, catalog, report)
        counts.add(part)
        if progress:
            progress(f"{source.path.name} · {counts.rows_read:,} rows so far", 0)
        if orders is not None:
            touched.append(orders)
    counts.files = 1
    stores.series.ledger_finish(
        batch_id,
        {"rows_read": counts.rows_read, "accepted": counts.accepted,
         "rejected": counts.rejected, "duplicate": counts.duplicate},
    )  # fmt: skip
    return counts, (pl.concat(touched).unique() if touched else None)


def _ingest_chunk(
    source: SourceFile,
    chunk: ReadResult,
    batch_id: str,
    stores: Stores,
    catalog: Catalog,
    report: IngestReport,
) -> tuple[KindCounts, pl.Series | None]:
    """One batch of a file. Rows repeating an earlier batch of the same file are caught as
    duplicates by the store check, since that batch is already written."""
    kind = source.kind
    with report.timing("validate"):
        good, bad = validate(kind, chunk.rows)
    rejects = [bad]
    with report.timing("check"):
        good, dup_in_file = _drop_repeats(kind, good)
        good, bad = _check_references(kind, good, stores)
        rejects.append(bad)
        if kind is ORDER_EVENTS:
            reasons = guard_reasons(good, catalog)
            good, bad = reject(
                good.with_columns(reasons), pl.col(reasons.name).is_not_null(), pl.col(reasons.name)
            )
            good = good.drop(reasons.name)
            rejects.append(bad)

    new, dup_in_store = _write(kind, good, stores, report)
    late = pl.concat([r for r in rejects if r is not None])
    rejected = pl.concat([chunk.rejects, chunk.raw(late)]).sort(ROW)
    if rejected.height:
        stores.series.quarantine(
            batch_id, kind.name, source.path.name, rejected.rename({ROW: "row_number"})
        )
        report.rejections.extend(
            {"kind": kind.name, "file": source.path.name, "row": r[ROW], "reason": r["reason"]}
            for r in rejected.head(max(0, 50 - len(report.rejections))).iter_rows(named=True)
        )
    counts = KindCounts(
        rows_read=chunk.rows_read,
        accepted=new,
        rejected=rejected.height,
        duplicate=dup_in_file + dup_in_store,
    )
    touched = good.get_column("order_id").unique() if kind is ORDER_EVENTS else None
    return counts, touched


def _drop_repeats(kind: SourceKind, good: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Keep the first of rows repeating an identity within the file."""
    first = good.select(pl.struct(list(kind.identity)).is_first_distinct()).to_series()
    return good.filter(first), int((~first).sum())


def _check_references(
    kind: SourceKind, good: pl.DataFrame, stores: Stores
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if kind is not ORDERS and "order_id" in good.columns:
        known = stores.series.known_order_ids(good.get_column("order_id").unique())
        return reject(
            good,
            ~pl.col("order_id").is_in(known.implode()),
            pl.format("unknown order '{}' (not in orders; ingest the order master first)",
                      pl.col("order_id")),
        )
    if kind.name == "logistics_tracks":
        known = stores.graph.known_keys(SHIPMENTS, good.get_column("waybill").unique())
        return reject(
            good,
            ~pl.col("waybill").is_in(known.implode()),
            pl.format("unknown waybill '{}' (no shipment carries it)", pl.col("waybill")),
        )
    return good, None


def _write(
    kind: SourceKind, good: pl.DataFrame, stores: Stores, report: IngestReport
) -> tuple[int, int]:
    """Write rows the target store lacks; returns (accepted, duplicates against the store).
    The order master lives in both stores and each gets what it lacks, so a batch that crashed
    between the two writes completes on the next run."""
    rows = good.drop(ROW)
    fresh = rows
    if kind.store == "series" or kind is ORDERS:
        with report.timing("series"):
            known = stores.series.known_keys(kind, rows.select(kind.identity))
            fresh = rows.join(known, on=list(kind.identity), how="anti")
            stores.series.append(kind, fresh)
            report.series_rows += fresh.height
    if kind.store == "graph":
        with report.timing("graph"):
            known_keys = stores.graph.known_keys(kind, rows.get_column(kind.key))
            graph_fresh = rows.filter(~pl.col(kind.key).is_in(known_keys.implode()))
            stores.graph.add_records(kind, graph_fresh)
        if kind is not ORDERS:
            fresh = graph_fresh
    return fresh.height, rows.height - fresh.height
