"""Find source files in a folder and read them into frames without losing a single row.

Text formats are read with every column as a string, so that validation (not the reader) decides
what is malformed and says why. A row the reader itself cannot parse (a broken JSON line, a CSV
line with the wrong number of fields) comes back as a structural reject, with its line number.
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
import pyarrow.parquet as pq

from orderscope.sources import SOURCE_KINDS, SourceKind

EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
ROW = "_row"  # 1-based record number within the file (data rows, header excluded)
RAW = "_raw"  # the line as read (JSON Lines only); other formats re-encode rejected rows


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
    rejects: pl.DataFrame  # ROW, reason, raw

    @property
    def rows_read(self) -> int:
        return self.rows.height + self.rejects.height

    def raw(self, rejected: pl.DataFrame) -> pl.DataFrame:
        """ROW, reason, raw for rows rejected after reading: the row exactly as read, as JSON
        text. Encoded only for the rejected rows, never for the whole file."""
        picked = self.rows.join(rejected.select(ROW, "reason"), on=ROW, how="inner")
        if RAW in picked.columns:
            raw = pl.col(RAW)
        else:
            fields = [c for c in self.rows.columns if c not in (ROW, RAW)]
            raw = pl.struct([pl.col(c).cast(pl.String) for c in fields]).struct.json_encode()
        return picked.select(ROW, "reason", raw.alias("raw"))


def discover(folder: Path) -> tuple[list[SourceFile], list[Path]]:
    """Source files in `folder`, in ingest order (orders first, tracks after shipments), and
    the files that are not recognised as any source kind."""
    by_name = sorted(SOURCE_KINDS, key=lambda k: -len(k.name))
    found: list[SourceFile] = []
    unknown: list[Path] = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        fmt = EXTENSIONS.get(path.suffix.lower())
        stem = path.name[: -len(path.suffix)]
        kind = next(
            (k for k in by_name if fmt and re.fullmatch(rf"{k.name}([-_.].*)?", stem)), None
        )
        if kind is None:
            unknown.append(path)
        else:
            found.append(SourceFile(kind, path, fmt))  # type: ignore[arg-type]
    order = {k.name: i for i, k in enumerate(SOURCE_KINDS)}
    found.sort(key=lambda f: (order[f.kind.name], f.path.name))
    return found, unknown


def _rejects(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={ROW: pl.Int64, "reason": pl.String, "raw": pl.String}, orient="row"
    )


CHUNK_ROWS = 1_000_000  # rows per batch: bounds memory whatever the file's size


def read(source: SourceFile) -> ReadResult:
    """The whole file at once (small files, tests); ingest streams with read_chunks."""
    parts = list(read_chunks(source, chunk_rows=1 << 62))
    if len(parts) == 1:
        return parts[0]
    return ReadResult(
        pl.concat([p.rows for p in parts], how="diagonal_relaxed"),
        pl.concat([p.rejects for p in parts]),
    )


def read_chunks(source: SourceFile, chunk_rows: int | None = None) -> Iterator[ReadResult]:
    """The file in batches of about `chunk_rows` (default CHUNK_ROWS) rows, each with its own
    rejects; row numbers count from the start of the file."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    if source.format == "parquet":
        yield from _parquet_chunks(source, chunk_rows)
    elif source.format == "jsonl":
        yield from _jsonl_chunks(source, chunk_rows)
    else:
        yield from _csv_chunks(source, chunk_rows)


def _parquet_chunks(source: SourceFile, chunk_rows: int) -> Iterator[ReadResult]:
    offset = 1
    for batch in pq.ParquetFile(source.path).iter_batches(batch_size=min(chunk_rows, 1 << 24)):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.with_row_index(ROW, offset=offset).with_columns(pl.col(ROW).cast(pl.Int64))
        offset += frame.height
        yield ReadResult(frame, _rejects([]))


def _parser() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB used only as a fast file parser: quiet, and modest in memory."""
    con = duckdb.connect(config={"memory_limit": "2GB"})
    con.execute("SET enable_progress_bar = false")
    return con


def _stream(sql: str, params: dict, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Run a DuckDB query and hand its result over in frames of about chunk_rows rows."""
    con = _parser()
    try:
        reader = con.sql(sql, params=params).to_arrow_reader(min(chunk_rows, 1_000_000))
        pending: list[pl.DataFrame] = []
        size = 0
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            pending.append(frame)
            size += frame.height
            if size >= chunk_rows:
                yield pl.concat(pending)
                pending, size = [], 0
        if pending:
            yield pl.concat(pending)
    finally:
        con.close()


def _struct_spec(kind: SourceKind) -> str:
    types = ", ".join(f'"{c.name}": "{"JSON" if c.type == "json" else "VARCHAR"}"' for c in kind.columns)
    return "{" + types + "}"


def _jsonl_chunks(source: SourceFile, chunk_rows: int) -> Iterator[ReadResult]:
    """DuckDB parses JSON Lines in C, streaming; a line that is not a JSON object is a
    structural reject. Row numbers are the file's line numbers; blank lines are not rows."""
    spec = _struct_spec(source.kind).replace("'", "''")
    sql = f"""SELECT row_number() OVER () AS {ROW}, line AS {RAW},
                     CASE WHEN try(json_type(line)) = 'OBJECT'
                          THEN try(json_transform(line, '{spec}')) END AS s
              FROM read_csv($path, columns = {{'line': 'VARCHAR'}}, header = false,
                            delim = '\x1f', quote = '', escape = '', auto_detect = false)"""
    for lines in _stream(sql, {"path": str(source.path)}, chunk_rows):
        lines = lines.filter(pl.col(RAW).str.strip_chars() != "")
        ok = pl.col("s").is_not_null()
        rows = lines.filter(ok).unnest("s").with_columns(pl.col(ROW).cast(pl.Int64))
        bad = lines.filter(~ok).select(
            pl.col(ROW).cast(pl.Int64), pl.lit("malformed row: not a JSON object").alias("reason"),
            pl.col(RAW).alias("raw"),
        )
        yield ReadResult(rows, bad)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


_CSV = (
    "read_csv($path, header = true, columns = $columns, delim = ',', quote = '\"', "
    "escape = '\"', auto_detect = false, strict_mode = true, ignore_errors = false)"
)


def _csv_chunks(source: SourceFile, chunk_rows: int) -> Iterator[ReadResult]:
    """Fast path: DuckDB's strict CSV reader, streamed, once a counting pass has shown that it
    reads every line. Otherwise the file is read line by line, so one broken quote cannot
    swallow the rows after it."""
    with source.path.open(newline="") as f:
        header = next(csv.reader(f), [])
    params = {"path": str(source.path), "columns": {name: "VARCHAR" for name in header}}
    con = _parser()
    try:
        parsed = con.sql(f"SELECT count(*) FROM {_CSV}", params=params).fetchall()[0][0]
        fast = parsed == max(_count_lines(source.path) - 1, 0)
    except duckdb.Error:
        fast = False
    finally:
        con.close()
    if not fast:
        yield _read_csv_by_line(source, header)
        return
    sql = f"SELECT row_number() OVER () AS {ROW}, * FROM {_CSV}"
    for rows in _stream(sql, params, chunk_rows):
        yield ReadResult(rows.with_columns(pl.col(ROW).cast(pl.Int64)), _rejects([]))


def _read_csv_by_line(source: SourceFile, header: list[str]) -> ReadResult:
    good: list[list[str | None]] = []
    numbers: list[int] = []
    bad: list[tuple[int, str, str]] = []
    with source.path.open(newline="") as f:
        lines = f.read().splitlines()[1:]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as e:
            bad.append((number, f"malformed row: {e}", line))
            continue
        if len(fields) != len(header):
            bad.append(
                (number, f"malformed row: {len(fields)} fields, header has {len(header)}", line)
            )
            continue
        good.append([v if v != "" else None for v in fields])
        numbers.append(number)
    rows = pl.DataFrame(good, schema={h: pl.String for h in header}, orient="row")
    rows = rows.with_columns(pl.Series(ROW, numbers, dtype=pl.Int64)).select(ROW, *header)
    return ReadResult(rows, _rejects(bad))
