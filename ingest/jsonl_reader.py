"""JSON Lines sources, parsed by DuckDB in C and streamed: one query per file gives each line's
number, its JSON type, the keys the kind lacks, a repeated key of the kind and the typed record.

A line that is not a JSON object, repeats a key or holds a NUL is a structural reject naming its
line; row numbers (ROW) are the file's line numbers, blank lines are not rows. Lines DuckDB
cannot take (not UTF-8, over MAX_RECORD_BYTES, control bytes) are blanked in a temporary copy
first and rejected here, by line.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from orderscope.domain.sources import SourceKind
from orderscope.ingest.textfiles import (
    BLANK,
    NAME_CHARS,
    RAW,
    ROW,
    Lines,
    clip,
    clip_expr,
    needs_care,
    open_text,
    reject_frame,
    stream,
)

# rows (ROW, RAW and the kind's columns as text), structural rejects (ROW, reason, raw), and the
# names the kind does not have among the file's keys so far
Frames = tuple[pl.DataFrame, pl.DataFrame, tuple[str, ...]]


def frames(kind: SourceKind, path: Path, encoding: str, chunk_rows: int) -> Iterator[Frames]:
    """DuckDB parses JSON Lines in C, streaming; a line that is not a JSON object (or repeats
    a key) is a structural reject. Row numbers are the file's line numbers; blank lines are
    not rows. A file holding lines DuckDB cannot take (not UTF-8, over MAX_RECORD_BYTES, NUL,
    control bytes) is first copied with those lines blanked and rejected here, by line."""
    with _sanitized(path, encoding) as (clean, early):
        sql = _sql(kind)
        ignored: dict[str, None] = {}
        yielded = False
        done = 0  # early rejects handed over so far
        for lines in stream(sql, {"path": str(clean)}, chunk_rows):
            last = lines.get_column(ROW).max()
            upto = done
            while upto < len(early) and early[upto][0] <= last:  # type: ignore[operator]
                upto += 1
            rows, bad = _split(lines, ignored)
            bad = pl.concat([reject_frame(early[done:upto]), bad]).sort(ROW)
            done = upto
            yield rows, bad, tuple(ignored)
            yielded = True
        if done < len(early) or not yielded:
            spec = {ROW: pl.Int64, RAW: pl.String, **{c.name: pl.String for c in kind.columns}}
            yield pl.DataFrame(schema=spec), reject_frame(early[done:]), tuple(ignored)


def _struct_spec(kind: SourceKind) -> str:
    types = ", ".join(f'"{c.name}": "{"JSON" if c.type == "json" else "VARCHAR"}"' for c in kind.columns)
    return "{" + types + "}"


_JSON_WORDS = {
    "ARRAY": "an array",
    "VARCHAR": "a string",
    "BIGINT": "a number",
    "UBIGINT": "a number",
    "HUGEINT": "a number",
    "DOUBLE": "a number",
    "BOOLEAN": "true or false",
    "NULL": "null",
}


def _sql(kind: SourceKind) -> str:
    """One streaming query: line number, line, its JSON type, top-level keys the kind lacks, a
    repeated key of the kind, the typed struct. All in C, and at most two JSON parses of a
    line (keys, struct; the type only for lines without keys); every key check is linear in
    the keys of a line, so a line of a million keys cannot stall it. A key repeats when the
    known keys occur more often than there are distinct known keys in the line."""
    spec = _struct_spec(kind).replace("'", "''")
    known = "[" + ", ".join("'" + c.name.replace("'", "''") + "'" for c in kind.columns) + "]"
    return f"""
        WITH lines AS (
            SELECT row_number() OVER () AS {ROW}, line
            FROM read_csv($path, columns = {{'line': 'VARCHAR'}}, header = false,
                          delim = '\x1f', quote = '', escape = '', auto_detect = false)
        ), keyed AS (
            SELECT *, try(json_keys(line)) AS _keys FROM lines
        ), typed AS (
            SELECT *, CASE WHEN len(_keys) > 0 THEN 'OBJECT' ELSE try(json_type(line)) END AS _type,
                   list_filter(_keys, lambda k: NOT list_contains({known}, k)) AS _extra,
                   len(list_filter({known}, lambda k: list_contains(_keys, k))) AS _distinct
            FROM keyed
        )
        SELECT {ROW}, line AS {RAW}, _type, _extra,
               CASE WHEN len(_keys) - len(_extra) > _distinct
                    THEN list_filter({known}, lambda k: len(list_filter(_keys, lambda x: x = k)) > 1)[1]
               END AS _dup,
               CASE WHEN _type = 'OBJECT' THEN try(json_transform(line, '{spec}')) END AS s
        FROM typed"""


def _split(lines: pl.DataFrame, ignored: dict[str, None]) -> tuple[pl.DataFrame, pl.DataFrame]:
    lines = lines.filter(pl.col(RAW).str.strip_chars(BLANK) != "")
    kind = pl.col("_type")
    reason: pl.Expr = (
        pl.when(kind.is_null())
        .then(pl.lit("not a JSON object (not valid JSON)"))
        .when(kind != "OBJECT")
        .then(pl.format("not a JSON object ({})", kind.replace(_JSON_WORDS).str.to_lowercase()))
        .when(pl.col("_dup").is_not_null())
        .then(pl.format("key '{}' appears more than once", pl.col("_dup")))
        .when(pl.col(RAW).str.contains("\\u0000", literal=True))
        .then(pl.lit("a value holds a NUL character (\\u0000)"))
        .when(pl.col("s").is_null())
        .then(pl.lit("the JSON object cannot be read"))
    )
    reason = pl.format("malformed row at line {}: {}", ROW, reason)
    lines = lines.with_columns(reason.alias("reason"))
    for key in lines.get_column("_extra").explode().drop_nulls().unique(maintain_order=True):
        ignored.setdefault(clip(key, NAME_CHARS), None)
    good = lines.filter(pl.col("reason").is_null())
    rows = good.drop("reason", "_type", "_extra", "_dup").unnest("s")
    bad = lines.filter(pl.col("reason").is_not_null()).select(
        ROW, "reason", clip_expr(pl.col(RAW)).alias("raw")
    )
    return rows.with_columns(pl.col(ROW).cast(pl.Int64)), bad.with_columns(pl.col(ROW).cast(pl.Int64))


@contextmanager
def _sanitized(path: Path, encoding: str) -> Iterator[tuple[Path, list[tuple[int, str, str]]]]:
    """`path` itself when the fast path can take it; else a temporary copy in which each line
    it cannot take is blank, and those lines as rejects (line, reason, raw)."""
    if not needs_care(path, 3 if encoding == "utf-8-sig" else 0, jsonl=True):
        yield path, []
        return
    fd, tmp = tempfile.mkstemp(prefix="orderscope-", suffix=".jsonl")
    rejects: list[tuple[int, str, str]] = []
    try:
        with (
            open_text(path, encoding, newline="\n") as f,
            os.fdopen(fd, "w", encoding="utf-8", newline="") as out,
        ):
            lines = Lines(f)
            while (line := lines.peek()) is not None:
                lines.pop()
                text = "" if line.blank else line.text.rstrip("\r\n")
                problem = text and (
                    line.problem()
                    or (
                        "a control character (0x1F) outside a string"
                        if "\x1f" in text
                        else "a carriage return inside the line"
                        if "\r" in text
                        else None
                    )
                )
                if problem:
                    rejects.append((line.number, f"malformed row at line {line.number}: {problem}", line.raw))
                    text = ""
                out.write(text + "\n")
        yield Path(tmp), rejects
    finally:
        os.unlink(tmp)
