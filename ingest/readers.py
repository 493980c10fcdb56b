"""Find source files in a folder and read them into frames without losing a single row.

Text formats are read with every column as a string, so that validation (not the reader) decides
what is malformed and says why. A row the reader itself cannot parse (a broken JSON line, a CSV
line with the wrong number of fields, a line that is not UTF-8, a record over MAX_RECORD_BYTES)
comes back as a structural reject, with its line number in the reason.

A file that cannot be read as a whole (0 bytes, binary, truncated Parquet, a header repeating a
column, text in a legacy encoding throughout) raises `UnreadableFile`, and nothing else: its
message names the file, says what is wrong and what to do. Encodings (see textfiles): a UTF-8
BOM is stripped; UTF-16/UTF-32 are decoded; a few bytes that are not UTF-8 reject their own
line; a file that is mostly not UTF-8 is refused whole. Names in the file that the kind does
not have are reported in `ReadResult.ignored_columns`.
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from orderscope.domain.sources import SOURCE_KINDS, SourceKind
from orderscope.ingest import csv_reader, jsonl_reader
from orderscope.ingest.textfiles import (
    ENCODING_NAMES,
    MAX_RECORD_BYTES,
    NAME_CHARS,
    RAW,
    ROW,
    UnreadableFile,
    as_utf8,
    clip,
    clip_expr,
    reject_frame,
    short,
    sniff,
)

__all__ = [
    "CHUNK_ROWS",
    "EXTENSIONS",
    "MAX_RECORD_BYTES",
    "RAW",
    "ROW",
    "ReadResult",
    "SourceFile",
    "UnreadableFile",
    "discover",
    "read",
    "read_chunks",
]

EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
CHUNK_ROWS = 1_000_000  # rows per batch: bounds memory whatever the file's size


@dataclass
class SourceFile:
    kind: SourceKind
    path: Path
    format: str

    def content_hash(self) -> str:
        h = hashlib.blake2b(digest_size=20)
        with self.path.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        return h.hexdigest()


@dataclass
class ReadResult:
    rows: pl.DataFrame  # ROW (+ RAW for JSON Lines) and the columns as read
    rejects: pl.DataFrame  # ROW, reason, raw (raw clipped to MAX_RAW_CHARS)
    # Names in the file the kind does not have (CSV header, Parquet schema, JSON keys), in
    # order of appearance; each chunk carries those of the file so far, so the last chunk's
    # are the file's.
    ignored_columns: tuple[str, ...] = ()
    encoding: str = "UTF-8"  # how the text was decoded ("UTF-16", …); "Parquet" for Parquet

    @property
    def rows_read(self) -> int:
        return self.rows.height + self.rejects.height

    def raw(self, rejected: pl.DataFrame) -> pl.DataFrame:
        """ROW, reason, raw for rows rejected after reading: the row exactly as read, as JSON
        text, clipped to MAX_RAW_CHARS. Encoded only for the rejected rows, never for the
        whole file."""
        # The reason under a name no kind has: returns have a column `reason` of their own.
        why = "__rejected_because"
        picked = self.rows.join(rejected.select(ROW, pl.col("reason").alias(why)), on=ROW, how="inner")
        if RAW in picked.columns:
            raw = pl.col(RAW)
        else:
            fields = [c for c in self.rows.columns if c not in (ROW, RAW)]
            raw = pl.struct([_as_text(c, picked.schema[c]) for c in fields]).struct.json_encode()
        return picked.select(ROW, pl.col(why).alias("reason"), clip_expr(raw).alias("raw"))


# Instants polars can write as text (years 1–9999), in epoch microseconds.
_TEXT_RANGE_US = (-62_135_596_800_000_000, 253_402_300_799_999_999)


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """A column as text for the raw row; a timestamp outside years 1–9999 (which polars cannot
    format) is written as its epoch microseconds instead."""
    if not isinstance(dtype, pl.Datetime):
        return pl.col(name).cast(pl.String)
    unit = dtype.time_unit or "us"
    raw = pl.col(name).cast(pl.Int64)  # the stored count, in the column's own unit
    scale = {"ns": 1000, "us": 1, "ms": 0.001}[unit]
    low, high = (int(bound * scale) for bound in _TEXT_RANGE_US)
    return (
        pl.when(raw.is_between(low, high))
        .then(pl.col(name).cast(pl.String))
        .otherwise(pl.format("{} {} since 1970-01-01", raw, pl.lit(unit)))
        .alias(name)
    )


def discover(folder: Path) -> tuple[list[SourceFile], list[Path]]:
    """Source files in `folder`, in ingest order (orders first, tracks after shipments), and
    the files that are not recognised as any source kind."""
    by_name = sorted(SOURCE_KINDS, key=lambda k: -len(k.name))
    found: list[SourceFile] = []
    unknown: list[Path] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        fmt = EXTENSIONS.get(path.suffix.lower())
        stem = path.name[: -len(path.suffix)]
        kind = next((k for k in by_name if fmt and re.fullmatch(rf"{k.name}([-_.].*)?", stem)), None)
        if kind is None:
            unknown.append(path)
        else:
            found.append(SourceFile(kind, path, fmt))  # type: ignore[arg-type]
    order = {k.name: i for i, k in enumerate(SOURCE_KINDS)}
    found.sort(key=lambda f: (order[f.kind.name], f.path.name))
    return found, unknown


def read(source: SourceFile) -> ReadResult:
    """The whole file at once (small files, tests); ingest streams with read_chunks."""
    parts = list(read_chunks(source, chunk_rows=1 << 62))
    if len(parts) == 1:
        return parts[0]
    return ReadResult(
        pl.concat([p.rows for p in parts], how="diagonal_relaxed"),
        pl.concat([p.rejects for p in parts]),
        parts[-1].ignored_columns,
        parts[-1].encoding,
    )


def read_chunks(source: SourceFile, chunk_rows: int | None = None) -> Iterator[ReadResult]:
    """The file in batches of about `chunk_rows` (default CHUNK_ROWS) rows, each with its own
    rejects; row numbers count from the start of the file. Yields at least one batch (an empty
    one for a file without rows). For every batch, rows_read = rows + rejects.

    Raises UnreadableFile, and no other error, when the file as a whole cannot be read:
    before the first batch, or (a Parquet row group that is corrupt) after some batches."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    try:
        if source.format == "parquet":
            yield from _parquet_chunks(source, chunk_rows)
        else:
            yield from _text_chunks(source, chunk_rows)
    except UnreadableFile:
        raise
    except OSError as e:
        raise UnreadableFile(source.path, f"cannot be read ({e.strerror or short(e)})") from None
    except (
        duckdb.Error,
        pa.ArrowException,
        pl.exceptions.PolarsError,
        csv.Error,
        UnicodeError,
        ValueError,
    ) as e:
        raise UnreadableFile(
            source.path, f"cannot be read ({type(e).__name__}: {short(e)}); check the file"
        ) from None


# -- Parquet --------------------------------------------------------------------------------


def _parquet_chunks(source: SourceFile, chunk_rows: int) -> Iterator[ReadResult]:
    """pyarrow, batch by batch, only the kind's columns. Rows whose text is over
    MAX_RECORD_BYTES, or holds a NUL character, are rejected."""
    pf = _open_parquet(source.path)
    names = pf.schema_arrow.names
    wanted = {c.name for c in source.kind.columns}
    known = [c.name for c in source.kind.columns if c.name in names]
    for name in known:
        if names.count(name) > 1:
            raise UnreadableFile(source.path, f"repeats column '{name}'; export it again")
    ignored = tuple(dict.fromkeys(clip(n, NAME_CHARS) for n in names if n not in wanted))
    try:
        empty = pl.from_arrow(pf.schema_arrow.empty_table().select(known))
    except (pa.ArrowException, pl.exceptions.PolarsError, ValueError, TypeError) as e:
        raise UnreadableFile(
            source.path, f"has a column type orderscope cannot read ({short(e)}); export it again"
        ) from None
    assert isinstance(empty, pl.DataFrame)

    def result(frame: pl.DataFrame) -> ReadResult:
        rows, bad = _oversize(frame)
        return ReadResult(rows, bad, ignored, "Parquet")

    offset = 1
    batches = pf.iter_batches(batch_size=min(chunk_rows, 1 << 24), columns=known)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError, ValueError) as e:
            done = f" (the {offset - 1:,} rows before it were read)" if offset > 1 else ""
            raise UnreadableFile(
                source.path,
                f"corrupt Parquet data after row {offset - 1:,} ({short(e)}); export it again{done}",
            ) from None
        if batch is None:
            break
        numbers = pl.int_range(offset, offset + batch.num_rows, dtype=pl.Int64, eager=True)
        if known:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.insert_column(0, numbers.alias(ROW))
        else:  # none of the kind's columns: the rows still count (and fail validation)
            frame = numbers.alias(ROW).to_frame()
        offset += batch.num_rows
        yield result(frame)
    if offset == 1:
        yield result(empty.insert_column(0, pl.Series(ROW, [], dtype=pl.Int64)))


def _open_parquet(path: Path) -> pq.ParquetFile:
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile(path, "0 bytes, not a Parquet file; export it again")
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(max(0, size - 4))
        tail = f.read(4)
    if head != b"PAR1":
        text = head.isascii() and head.decode().isprintable()
        looks = "it starts like text; CSV or JSON Lines?" if text else "it starts with other bytes"
        raise UnreadableFile(path, f"not a Parquet file ({looks}); check the file and its name")
    if size < 12 or tail != b"PAR1":
        raise UnreadableFile(path, "truncated Parquet file (footer missing); export it again")
    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        chunks = [
            (g, meta.row_group(g).column(c))
            for g in range(meta.num_row_groups)
            for c in range(meta.row_group(g).num_columns)
        ]
    except (pa.ArrowException, OSError, ValueError) as e:
        raise UnreadableFile(path, f"corrupt Parquet footer ({short(e)}); export it again") from None
    for g, col in chunks:
        offsets = [o for o in (col.dictionary_page_offset, col.data_page_offset) if o]
        if offsets and min(offsets) + col.total_compressed_size > size:
            raise UnreadableFile(
                path,
                f"truncated Parquet file (row group {g + 1} lies past the end of the file); export it again",
            )
    return pf


def _oversize(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split off rows whose text columns total over MAX_RECORD_BYTES or hold a NUL."""
    text = [c for c, t in frame.schema.items() if t == pl.String]
    if not text:
        return frame, reject_frame([])
    size = pl.sum_horizontal([pl.col(c).str.len_bytes().fill_null(0) for c in text])
    nul = pl.any_horizontal([pl.col(c).str.contains("\0", literal=True).fill_null(False) for c in text])
    reason = (
        pl.when(size > MAX_RECORD_BYTES)
        .then(pl.format(f"record of {{}} bytes, over the {MAX_RECORD_BYTES:,}-byte limit", size))
        .when(nul)
        .then(pl.lit("a value holds a NUL character"))
    )
    marked = frame.with_columns(reason.alias("_reason"))
    bad = marked.filter(pl.col("_reason").is_not_null())
    if not bad.height:
        return frame, reject_frame([])
    fields = [_as_text(c, frame.schema[c]) for c in frame.columns if c != ROW]
    raw = pl.struct(fields).struct.json_encode()
    rejects = bad.select(
        ROW, pl.format("malformed row: {}", "_reason").alias("reason"), clip_expr(raw).alias("raw")
    )
    return marked.filter(pl.col("_reason").is_null()).drop("_reason"), rejects


# -- text formats ---------------------------------------------------------------------------


def _text_chunks(source: SourceFile, chunk_rows: int) -> Iterator[ReadResult]:
    what = "CSV" if source.format == "csv" else "JSON Lines"
    encoding = sniff(source.path, what)
    with as_utf8(source.path, encoding) as path:
        text = encoding if encoding == "utf-8-sig" else "utf-8"  # as_utf8 wrote plain UTF-8
        name = ENCODING_NAMES[encoding]
        if source.format == "csv":
            yield from _csv_chunks(source, path, text, name, chunk_rows)
        else:
            yield from _jsonl_chunks(source, path, text, name, chunk_rows)


def _csv_chunks(
    source: SourceFile, path: Path, encoding: str, name: str, chunk_rows: int
) -> Iterator[ReadResult]:
    header = csv_reader.read_header(source.path, path, encoding)
    wanted = {c.name for c in source.kind.columns}
    ignored = tuple(clip(n, NAME_CHARS) for n in header.names if n not in wanted)
    if csv_reader.fast_path_reads_all(path, header):
        yielded = False
        for rows in csv_reader.fast_frames(path, header, chunk_rows):
            yielded = True
            yield ReadResult(rows, reject_frame([]), ignored, name)
        if not yielded:  # a header and no records
            schema = {ROW: pl.Int64, **dict.fromkeys(header.names, pl.String)}
            yield ReadResult(pl.DataFrame(schema=schema), reject_frame([]), ignored, name)
        return
    for rows, bad in csv_reader.careful_frames(path, encoding, header, chunk_rows):
        yield ReadResult(rows, reject_frame(bad), ignored, name)


def _jsonl_chunks(
    source: SourceFile, path: Path, encoding: str, name: str, chunk_rows: int
) -> Iterator[ReadResult]:
    for rows, bad, ignored in jsonl_reader.frames(source.kind, path, encoding, chunk_rows):
        yield ReadResult(rows, bad, ignored, name)
