"""Ingest a folder of source files: read, validate, guard, de-duplicate, link, write, account.

Per file: structural and type checks (validate), repeated identities within the file and
against the store (a duplicate when the content is the same, a conflict when it differs), then
references to known orders and waybills, the state-change guard for order events, and one bulk
write. Every row read ends as accepted, rejected, duplicate or conflict; rejects and conflicts go
to quarantine with their reason. A file that cannot be read at all is listed as failed with its
reason and the other files go on. The ledger records every file so the same content is never
applied twice; stage dwell is derived from durable marks (rebuild_pending_dwell), so a run
killed at any point and then run again ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from orderscope.domain.guard import guard_reasons
from orderscope.domain.lifecycle import Catalog
from orderscope.domain.sources import ORDER_EVENTS, ORDERS, SHIPMENTS, SOURCE_KINDS, SourceKind
from orderscope.ingest import crashpoints
from orderscope.ingest.conflicts import differences, split_repeats
from orderscope.ingest.readers import (
    ROW,
    ReadResult,
    SourceFile,
    UnreadableFile,
    discover,
    read_chunks,
)
from orderscope.ingest.validate import TimeWindow, reject, validate
from orderscope.ports import Stores

Progress = Callable[[str, int], None]  # (what is happening, files finished by this step: 0 or 1)


@dataclass
class KindCounts:
    files: int = 0
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicate: int = 0
    conflict: int = 0
    skipped_files: int = 0
    failed_files: int = 0

    def add(self, other: KindCounts) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


@dataclass
class IngestReport:
    kinds: dict[str, KindCounts] = field(default_factory=dict)
    unknown_files: list[str] = field(default_factory=list)
    failed_files: list[dict[str, str]] = field(default_factory=list)  # file, kind, error
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)  # file -> columns
    rejections: list[dict[str, Any]] = field(default_factory=list)  # a sample, for the summary
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
            self.store_seconds[store] = self.store_seconds.get(store, 0.0) + (time.perf_counter() - start)

    @property
    def totals(self) -> KindCounts:
        total = KindCounts()
        for counts in self.kinds.values():
            total.add(counts)
        return total

    def to_dict(self) -> dict[str, Any]:
        totals = self.totals
        return {
            "kinds": {k: asdict(v) for k, v in self.kinds.items()},
            "totals": asdict(totals),
            "unknown_files": self.unknown_files,
            "failed_files": self.failed_files,
            "ignored_columns": self.ignored_columns,
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
    batch_rows: int | None = None,
    window: TimeWindow | None = None,
) -> IngestReport:
    """Ingest every recognised source file in `folder`. `reprocess` runs files the ledger has
    already seen through row-level de-duplication again (e.g. after fixing missing orders);
    `batch_rows` bounds the rows held in memory per batch (default: the readers' CHUNK_ROWS);
    `window` is the accepted range of times (default: TimeWindow.default(), fixed now)."""
    window = window or TimeWindow.default()
    if not folder.is_dir():
        raise IngestError(f"{folder} is not a folder; pass the folder holding the source files")
    files, unknown = discover(folder)
    if not files:
        names = ", ".join(k.file_name for k in SOURCE_KINDS[:3])
        raise IngestError(f"no source files in {folder} (expected names like {names} …)")
    catalog = catalog or stores.catalog
    started = time.perf_counter()
    report = IngestReport(
        kinds={k.name: KindCounts() for k in SOURCE_KINDS},
        unknown_files=[p.name for p in unknown],
    )
    for source in files:
        counts = _ingest_file(source, stores, catalog, window, report, reprocess, progress, batch_rows)
        report.kinds[source.kind.name].add(counts)
        if progress:
            progress(f"{source.path.name} · {counts.rows_read:,} rows", 1)
    # Always, even when every file was skipped: an earlier run may have died before it.
    crashpoints.reached("derive-started")
    if progress:
        progress("deriving stage dwell from the event log", 0)
    with report.timing("series"):
        report.series_rows += stores.series.rebuild_pending_dwell()
    report.seconds = time.perf_counter() - started
    return report


def _ingest_file(
    source: SourceFile,
    stores: Stores,
    catalog: Catalog,
    window: TimeWindow,
    report: IngestReport,
    reprocess: bool,
    progress: Progress | None = None,
    batch_rows: int | None = None,
) -> KindCounts:
    """One file, batch by batch. A file that cannot be read (or stops being readable half-way)
    is marked failed with its reason; what its earlier batches stored stays, and the next run
    reads the file again (row-level de-duplication makes that exact)."""
    kind = source.kind
    with report.timing("read"):
        content_hash = source.content_hash()
    done = stores.series.ledger_find(kind.name, content_hash)
    if done and not reprocess:
        rows = int(done["rows_read"])
        return KindCounts(files=1, rows_read=rows, duplicate=rows, skipped_files=1)

    batch_id = uuid.uuid4().hex
    stores.series.ledger_start(batch_id, kind.name, source.path.name, content_hash)
    crashpoints.reached("file-started")
    counts = KindCounts(files=1)
    chunks = read_chunks(source, batch_rows)
    while True:
        try:
            with report.timing("read"):
                chunk = next(chunks, None)
        except UnreadableFile as e:
            stores.series.ledger_fail(batch_id, str(e))
            report.failed_files.append({"file": source.path.name, "kind": kind.name, "error": str(e)})
            counts.failed_files = 1
            return counts
        if chunk is None:
            break
        if chunk.ignored_columns:
            ignored = report.ignored_columns.setdefault(source.path.name, [])
            ignored += [c for c in chunk.ignored_columns if c not in ignored]
        counts.add(_ingest_chunk(source, chunk, batch_id, stores, catalog, window, report))
        if progress:
            progress(f"{source.path.name} · {counts.rows_read:,} rows so far", 0)
    counts.files = 1
    stores.series.ledger_finish(
        batch_id,
        {
            "rows_read": counts.rows_read,
            "accepted": counts.accepted,
            "rejected": counts.rejected,
            "duplicate": counts.duplicate,
            "conflict": counts.conflict,
        },
    )
    crashpoints.reached("file-done")
    return counts


def _ingest_chunk(
    source: SourceFile,
    chunk: ReadResult,
    batch_id: str,
    stores: Stores,
    catalog: Catalog,
    window: TimeWindow,
    report: IngestReport,
) -> KindCounts:
    """One batch of a file. Rows repeating an earlier batch of the same file meet that batch's
    rows in the store, so they are judged duplicate or conflict exactly as within a batch."""
    kind = source.kind
    with report.timing("validate"):
        good, bad = validate(kind, chunk.rows, window)
    rejects: list[pl.DataFrame | None] = [bad]
    with report.timing("check"):
        # Against the store first (every row, repeats too), then repeats among the new rows.
        good, known, conflicts_in_store = _split_known(kind, good, stores)
        good, dup_in_file, conflicts_in_file = split_repeats(kind, good)
        good, unreferenced = _check_references(kind, good, stores)
        rejects.append(unreferenced)
        if kind is ORDER_EVENTS:
            reasons = guard_reasons(good, catalog)
            good, bad = reject(
                good.with_columns(reasons), pl.col(reasons.name).is_not_null(), pl.col(reasons.name)
            )
            good = good.drop(reasons.name)
            rejects.append(bad)
    crashpoints.reached("chunk-read")

    accepted = _write(kind, good, known, stores, report)
    late = pl.concat([r for r in rejects if r is not None])
    conflicts = pl.concat([conflicts_in_file, conflicts_in_store])
    quarantined = pl.concat(
        [
            pl.concat([chunk.rejects, chunk.raw(late)]).with_columns(outcome=pl.lit("rejected")),
            chunk.raw(conflicts).with_columns(outcome=pl.lit("conflict")),
        ]
    ).sort(ROW)
    if quarantined.height:
        stores.series.quarantine(
            batch_id, kind.name, source.path.name, quarantined.rename({ROW: "row_number"})
        )
        report.rejections.extend(
            {
                "kind": kind.name,
                "file": source.path.name,
                "row": r[ROW],
                "reason": r["reason"],
                "outcome": r["outcome"],
            }
            for r in quarantined.head(max(0, 50 - len(report.rejections))).iter_rows(named=True)
        )
    crashpoints.reached("quarantined")
    return KindCounts(
        rows_read=chunk.rows_read,
        accepted=accepted,
        rejected=quarantined.height - conflicts.height,
        duplicate=dup_in_file + known.height,
        conflict=conflicts.height,
    )


def _split_known(
    kind: SourceKind, good: pl.DataFrame, stores: Stores
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Rows whose identity is not stored yet; stored ones with the same content (duplicates,
    returned whole: the order master may still lack its graph half after a crash); and
    conflicts (ROW, reason)."""
    keys = good.select(kind.identity)
    stored: pl.DataFrame | None
    if kind.store == "series" or kind is ORDERS:
        stored = stores.series.stored_rows(kind, stores.series.known_keys(kind, keys))
    else:
        known = stores.graph.known_keys(kind, keys.get_column(kind.key))
        stored = stores.graph.records(kind, known) if known.len() else None
    if stored is None or stored.is_empty():
        return good, good.clear(), pl.DataFrame(schema={ROW: pl.Int64, "reason": pl.String})
    dups, conflicts = differences(kind, good, stored, pl.lit("the stored record"))
    judged = pl.concat([dups[ROW], conflicts[ROW]])
    return (
        good.filter(~pl.col(ROW).is_in(judged.implode())),
        good.filter(pl.col(ROW).is_in(dups[ROW].implode())),
        conflicts,
    )


def _cut(value: pl.Expr, limit: int = 200) -> pl.Expr:
    """A value quoted in a reason, cut (the raw row keeps it whole)."""
    return (
        pl.when(value.str.len_chars() > limit)
        .then(pl.concat_str(value.str.slice(0, limit), pl.lit("…")))
        .otherwise(value)
    )


def _check_references(
    kind: SourceKind, good: pl.DataFrame, stores: Stores
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    if kind is not ORDERS and "order_id" in good.columns:
        known = stores.series.known_order_ids(good.get_column("order_id").unique())
        return reject(
            good,
            ~pl.col("order_id").is_in(known.implode()),
            pl.format(
                "unknown order '{}' (not in orders; ingest the order master first)", _cut(pl.col("order_id"))
            ),
        )
    if kind.name == "logistics_tracks":
        known = stores.graph.known_keys(SHIPMENTS, good.get_column("waybill").unique())
        return reject(
            good,
            ~pl.col("waybill").is_in(known.implode()),
            pl.format("unknown waybill '{}' (no shipment carries it)", _cut(pl.col("waybill"))),
        )
    return good, None


def _write(
    kind: SourceKind, good: pl.DataFrame, known: pl.DataFrame, stores: Stores, report: IngestReport
) -> int:
    """Write the new rows; returns how many. The order master lives in both stores and each
    gets what it lacks — its `known` (duplicate) rows included — so a batch that crashed
    between the two writes completes on the next run."""
    rows = good.drop(ROW)
    if kind.store == "series" or kind is ORDERS:
        with report.timing("series"):
            stores.series.append(kind, rows)
            report.series_rows += rows.height
        crashpoints.reached("series-written")
    if kind.store == "graph":
        with report.timing("graph"):
            if kind is ORDERS:  # checked against the series dimension so far
                rows = pl.concat([rows, known.drop(ROW)]).unique(kind.key, maintain_order=True)
                present = stores.graph.known_keys(kind, rows.get_column(kind.key))
                rows = rows.filter(~pl.col(kind.key).is_in(present.implode()))
            stores.graph.add_records(kind, rows)
        crashpoints.reached("graph-written")
    return good.height
