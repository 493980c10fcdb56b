"""CSV sources, read as CSV readers do: a quoted field may hold commas and newlines.

Fast path: DuckDB's strict reader in C, streamed, once a counting pass has shown that it reads
the whole file. Otherwise the careful path parses records (not lines) with Python's csv module
and resynchronises at the next line after a broken one: a record may run over several lines
only if it comes out with exactly the header's number of fields, so one stray quote rejects its
own line and never swallows the rows after it.

Row numbers (ROW) count data records from 1, header excluded; blank lines are not records and a
record over several lines counts once. A reason from the careful path names the line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from orderscope.ingest.textfiles import (
    MAX_RECORD_BYTES,
    ROW,
    Lines,
    UnreadableFile,
    clip,
    needs_care,
    open_text,
    parser,
    stream,
)

Frames = tuple[pl.DataFrame, list[tuple[int, str, str]]]  # rows, rejects (ROW, reason, raw)

if csv.field_size_limit() <= MAX_RECORD_BYTES:  # records are bounded by MAX_RECORD_BYTES instead
    csv.field_size_limit(MAX_RECORD_BYTES + 1)

_SQL = (
    "read_csv($path, header = true, skip = $skip, columns = $columns, delim = ',', "
    "quote = '\"', escape = '\"', auto_detect = false, strict_mode = true, "
    "ignore_errors = false)"
)


@dataclass
class Header:
    names: list[str]
    skip: int  # blank lines before the header
    lines: int  # physical lines up to the end of the header


def read_header(source: Path, path: Path, encoding: str) -> Header:
    if source.stat().st_size == 0:
        raise UnreadableFile(source, "0 bytes, no header; export the file again")
    with open_text(path, encoding, newline="") as f:
        lines = Lines(f)
        skip = 0
        while (first := lines.peek()) is not None and first.blank:
            skip += 1
            lines.pop()
        if first is None:
            raise UnreadableFile(source, "no header: the file holds only blank lines")
        where = f"the header (line {first.number})"
        problem = first.problem()
        if problem:
            raise UnreadableFile(source, f"{where}: {problem}")
        used, fields, problem = parse_record(lines, None)
        if problem:
            raise UnreadableFile(source, f"{where} is not CSV: {problem}")
    names = [name or f"(unnamed column {i})" for i, name in enumerate(fields, start=1)]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise UnreadableFile(
                source, f"header repeats column '{clip(name, 80)}'; give every column its own name"
            )
        seen.add(name)
    return Header(names, skip, first.number + used - 1)


def fast_path_reads_all(path: Path, header: Header) -> bool:
    """One counting pass: DuckDB's strict reader gets through the file, every record within
    the size limit (a NUL byte or an over-long line has already sent the file the careful way)."""
    if needs_care(path, 0, jsonl=False):
        return False
    columns = [f"c{i}" for i in range(len(header.names))]
    size = f"strlen(concat({', '.join(columns)}))"
    params = {"path": str(path), "skip": header.skip, "columns": dict.fromkeys(columns, "VARCHAR")}
    con = parser()
    try:
        row = con.sql(f"SELECT count(*), max({size}) FROM {_SQL}", params=params).fetchall()[0]
    except duckdb.Error:
        return False
    finally:
        con.close()
    return (row[1] or 0) <= MAX_RECORD_BYTES


def fast_frames(path: Path, header: Header, chunk_rows: int) -> Iterator[pl.DataFrame]:
    columns = [f"c{i}" for i in range(len(header.names))]
    params = {"path": str(path), "skip": header.skip, "columns": dict.fromkeys(columns, "VARCHAR")}
    sql = f"SELECT row_number() OVER () AS {ROW}, * FROM {_SQL}"
    rename = dict(zip(columns, header.names, strict=False))
    for rows in stream(sql, params, chunk_rows):
        yield rows.rename(rename).with_columns(pl.col(ROW).cast(pl.Int64))


def careful_frames(path: Path, encoding: str, header: Header, chunk_rows: int) -> Iterator[Frames]:
    """Record by record in Python, for files the fast path cannot take."""
    width = len(header.names)
    schema = {ROW: pl.Int64, **dict.fromkeys(header.names, pl.String)}
    good: list[list[object]] = []
    bad: list[tuple[int, str, str]] = []
    record = 0
    with open_text(path, encoding, newline="") as f:
        lines = Lines(f)
        while (line := lines.peek()) is not None and line.number <= header.lines:
            lines.pop()
        while (first := lines.peek()) is not None:
            if first.blank:
                lines.pop()
                continue
            record += 1
            problem = first.problem()
            if problem is None:
                used, fields, problem = parse_record(lines, width)
                if problem is None:
                    good.append([record, *(v or None for v in fields)])
                    lines.pop(used)
            if problem is not None:
                bad.append((record, f"malformed row at line {first.number}: {problem}", first.raw))
                lines.pop()
            if len(good) + len(bad) >= chunk_rows:
                yield pl.DataFrame(good, schema=schema, orient="row"), bad
                good, bad = [], []
    if good or bad or not record:
        yield pl.DataFrame(good, schema=schema, orient="row"), bad


def parse_record(lines: Lines, width: int | None) -> tuple[int, list[str], str | None]:
    """The record starting at the next line: (lines it spans, fields, None), or (1, fields
    or [], what is wrong) when it is not a record of `width` fields."""
    used = 0
    size = 0
    stop: str | None = None

    def feed() -> Iterator[str]:
        nonlocal used, size, stop
        while (line := lines.peek(used)) is not None:
            if used and line.problem():
                stop = f"a quoted field runs into line {line.number}, which cannot be read"
                return
            size += line.size
            if size > MAX_RECORD_BYTES:
                stop = f"a quoted field runs on past {MAX_RECORD_BYTES:,} bytes (a quote not closed?)"
                return
            used += 1
            size += line.ending  # a line ending inside a quoted field is part of the record
            yield line.text

    try:
        fields = next(csv.reader(feed(), strict=True), [])
    except csv.Error as e:
        return 1, [], stop or _problem(e)
    if width is not None and len(fields) != width:
        return 1, fields, f"{len(fields)} fields, header has {width}"
    return used, fields, None


def _problem(error: csv.Error) -> str:
    text = str(error)
    if "unexpected end of data" in text:
        return "a quoted field is not closed"
    if "expected after" in text:
        return "text after the closing quote of a field"
    return text
