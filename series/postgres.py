"""PostgreSQL plumbing under the TimescaleDB series adapter (psycopg 3): placeholders, frames in
and out, table locks and bulk index rebuilds. Kept apart from orderscope.series.timescale so the
adapter class reads as the port's methods.

  * placeholders: the shared texts use $n; `to_pyformat` turns them into psycopg's %(pn)s;
  * frames in: a large frame is written by polars as CSV and COPYed into a temporary table
    (temporary tables are never WAL-logged); a small one (up to SMALL_FRAME_ROWS) travels as
    array parameters unnested in a CTE: no DDL per call (`relation` picks);
  * frames out: rows are fetched and built into polars with the layout's schema (so an empty
    result keeps its dtypes); without one, the schema comes from the result's type OIDs.
Identifiers pass through `ident`; values always travel as parameters.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import polars as pl
import psycopg

from orderscope.series.port import ident
from orderscope.series.tables import Table, idents

# Logical type -> column type: text is `text COLLATE "C"` (byte order, as DuckDB sorts), JSON
# stays `json` (the text as given comes back, as from DuckDB), timestamps are `timestamptz`.
TYPES: dict[str, str] = {
    "str": 'text COLLATE "C"',
    "text": 'text COLLATE "C"',
    "int": "bigint",
    "int32": "integer",
    "float": "double precision",
    "bool": "boolean",
    "ts": "timestamptz",
    "json": "json",
}
# Array types for parameters unnested in a CTE (no collation clause in a cast).
_ARRAY_TYPES: dict[str, str] = {
    "str": "text[]",
    "text": "text[]",
    "int": "bigint[]",
    "int32": "integer[]",
    "float": "double precision[]",
    "bool": "boolean[]",
    "ts": "timestamptz[]",
    "json": "json[]",
}

# Result type OIDs -> polars dtypes, for fetch() without a schema (anything else is inferred).
_OID_TYPES: dict[int, pl.DataType] = {
    16: pl.Boolean(),
    18: pl.String(),  # "char"
    19: pl.String(),  # name
    20: pl.Int64(),
    21: pl.Int16(),
    23: pl.Int32(),
    25: pl.String(),
    114: pl.String(),  # json, as text
    700: pl.Float32(),
    701: pl.Float64(),
    1042: pl.String(),
    1043: pl.String(),
    1082: pl.Date(),
    1083: pl.Time(),
    1114: pl.Datetime("us"),
    1184: pl.Datetime("us", "UTC"),
    1186: pl.Duration("us"),
    2950: pl.String(),  # uuid (as text)
    3802: pl.String(),  # jsonb, as text
}
_NUMERIC_OID = 1700

# Frames up to this many rows travel as array parameters; larger ones are COPYed.
SMALL_FRAME_ROWS = 5_000
_COPY_CHUNK_ROWS = 200_000
_ANALYZE_MIN_ROWS = 50_000  # a staged frame this large gets planner statistics
_EPOCH = "timestamptz '1970-01-01 00:00:00+00'"

_names = itertools.count()


def unique_name(prefix: str) -> str:
    """A name for a temporary relation, unique within this process."""
    return f"{prefix}_{next(_names)}"


# --- placeholders ---------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|\$(\d+)|%")


def to_pyformat(sql: str, params: Sequence[Any] | None) -> tuple[str, dict[str, Any]]:
    """$n placeholders -> psycopg's %(pn)s (a $n may repeat); every % is doubled (psycopg
    parses the whole text, literals included); a $n inside a string literal, a quoted
    identifier or a comment is not a placeholder."""
    params = list(params or [])

    def sub(m: re.Match[str]) -> str:
        tok = m.group(0)
        if m.group(1) is not None:
            i = int(m.group(1))
            if not 1 <= i <= len(params):
                raise ValueError(f"placeholder ${i} has no parameter ({len(params)} given)")
            return f"%(p{i})s"
        return tok.replace("%", "%%")

    return _PLACEHOLDER.sub(sub, sql), {f"p{i + 1}": v for i, v in enumerate(params)}


# --- statements -----------------------------------------------------------------------------


def run(conn: psycopg.Connection, sql: str, params: Sequence[Any] | None = None) -> int:
    """A statement with $n placeholders; returns rows changed."""
    text, named = to_pyformat(sql, params)
    cur = conn.execute(text, named)  # type: ignore[arg-type]
    return max(cur.rowcount, 0)


def fetch(
    conn: psycopg.Connection,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] | None = None,
    schema: Mapping[str, pl.DataType] | None = None,
    pyformat: bool = False,
) -> pl.DataFrame:
    """The rows of a query as a frame: with `schema` (column -> dtype) exactly those dtypes,
    else dtypes from the result's type OIDs. `pyformat`: the text and (named) parameters are
    psycopg's already."""
    if pyformat:
        text, named = sql, params
    else:
        text, named = to_pyformat(sql, params)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute(text, named)  # type: ignore[arg-type]
        rows = cur.fetchall()
        desc = cur.description or []
    names = [d.name for d in desc]
    if schema is not None:
        return _frame(rows, [(n, schema[n]) for n in names])
    cols: list[tuple[str, pl.DataType | None]] = []
    for i, d in enumerate(desc):
        dtype = _OID_TYPES.get(d.type_code)
        if d.type_code == _NUMERIC_OID:
            dtype = _numeric_dtype([r[i] for r in rows])
            if dtype == pl.Float64:
                rows = [(*r[:i], None if r[i] is None else float(r[i]), *r[i + 1 :]) for r in rows]
        cols.append((d.name, dtype))
    return _frame(rows, cols)


def _frame(rows: list[tuple[Any, ...]], cols: Sequence[tuple[str, pl.DataType | None]]) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema={n: (d if d is not None else pl.Null()) for n, d in cols})
    data = {n: list(v) for (n, _), v in zip(cols, zip(*rows, strict=True), strict=True)}
    return pl.DataFrame([pl.Series(n, data[n], dtype=d, strict=False) for n, d in cols])


def _numeric_dtype(values: list[Any]) -> pl.DataType:
    """numeric results: whole numbers (sum of integers: DuckDB's HUGEINT) as Decimal(38, 0),
    anything else (avg of integers, EXTRACT: DuckDB's DOUBLE) as Float64."""
    present = [v for v in values if v is not None]
    if present and all(
        isinstance(v, Decimal) and v.is_finite() and v == v.to_integral_value() and abs(v) < 10**38
        for v in present
    ):
        return pl.Decimal(38, 0)
    return pl.Float64()


# --- frames in ------------------------------------------------------------------------------


def copy_in(
    conn: psycopg.Connection,
    frame: pl.DataFrame,
    table: Table,
    stem: str,
    analyze: bool = True,
) -> tuple[str, str]:
    """COPY the frame (columns of `table`) into a new temporary table; returns the relation
    to read it from and the prefix (a CTE, or "") that defines it for one statement.
    Temporary tables are not WAL-logged; this one is dropped at commit, so call inside a
    transaction. polars writes the CSV (null: empty; empty string: quoted); timestamps
    travel as epoch microseconds (integers parse much faster than timestamptz text) and
    the CTE turns them back, exactly."""
    raw = unique_name(f"_in_{stem}")
    stamps = [c for c in frame.columns if table.col(c).type == "ts"]
    defs = ", ".join(
        f"{ident(c)} {'bigint' if c in stamps else TYPES[table.col(c).type]}" for c in frame.columns
    )
    conn.execute(f"CREATE TEMPORARY TABLE {ident(raw)} ({defs}) ON COMMIT DROP")
    if stamps:
        frame = frame.with_columns(pl.col(c).dt.epoch("us") for c in stamps)
    with (
        conn.cursor() as cur,
        cur.copy(f"COPY {ident(raw)} ({idents(frame.columns)}) FROM STDIN (FORMAT csv)") as cp,
    ):
        for off in range(0, frame.height, _COPY_CHUNK_ROWS):
            buf = io.BytesIO()
            frame.slice(off, _COPY_CHUNK_ROWS).write_csv(buf, include_header=False)
            cp.write(buf.getbuffer())
    if analyze and frame.height > _ANALYZE_MIN_ROWS:  # the planner's row estimate for the anti-join
        conn.execute(f"ANALYZE {ident(raw)}")
    if not stamps:
        return raw, ""
    name = f"{raw}_v"
    cols = ", ".join(
        f"{_EPOCH} + {ident(c)} * interval '1 microsecond' AS {ident(c)}" if c in stamps else ident(c)
        for c in frame.columns
    )
    return name, f"WITH {ident(name)} AS (SELECT {cols} FROM {ident(raw)}) "


def _unnest_cte(frame: pl.DataFrame, types: dict[str, str], alias: str) -> tuple[str, dict[str, Any]]:
    """`WITH "alias" (cols) AS (SELECT * FROM unnest(arrays...))` and its parameters."""
    casts, params = [], {}
    for i, c in enumerate(frame.columns):
        params[f"_u{i}"] = frame[c].to_list()
        casts.append(f"%(_u{i})s::{_ARRAY_TYPES[types[c]]}")
    cte = f"WITH {ident(alias)} ({idents(frame.columns)}) AS (SELECT * FROM unnest({', '.join(casts)})) "
    return cte, params


@contextmanager
def relation(
    conn: psycopg.Connection, frame: pl.DataFrame, table: Table, stem: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The frame (columns of `table`) visible to one statement: (relation name, a prefix
    for the statement, its parameters). Small frames: a CTE over unnested arrays; large:
    a temporary table filled by COPY (inside a transaction)."""
    if frame.height <= SMALL_FRAME_ROWS:
        alias = f"_in_{stem}"
        cte, params = _unnest_cte(frame, {c: table.col(c).type for c in frame.columns}, alias)
        yield alias, cte, params
        return
    with conn.transaction():
        src, prefix = copy_in(conn, frame, table, stem)
        yield src, prefix, {}


# --- tables under load ----------------------------------------------------------------------


def qualified(schema: str, table: str) -> str:
    """`"schema"."table"`: a table named outside the session's search_path."""
    return f"{ident(schema)}.{ident(table)}"


def lock_table(conn: psycopg.Connection, qualified: str) -> None:
    """One writer per table until the transaction ends (an advisory lock on its name)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [qualified])


def is_empty(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {ident(table)})").fetchone()
    return bool(row and row[0])


_INDEX_DEFS = """
SELECT i.relname, pg_get_indexdef(x.indexrelid)
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
WHERE x.indrelid = %s::regclass
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
ORDER BY i.relname
"""


@contextmanager
def rebuilt_indexes(conn: psycopg.Connection, schema: str, table: str, rebuild: bool) -> Iterator[None]:
    """With `rebuild` (a large load into an empty table), the table's indexes (those that back
    no constraint) are dropped and built again afterwards: a sorted build is several times
    faster than row-by-row index maintenance. Readers of the table wait for the load's commit."""
    if not rebuild:
        yield
        return
    defs = conn.execute(_INDEX_DEFS, [qualified(schema, table)]).fetchall()
    for name, _ in defs:
        conn.execute(f"DROP INDEX {ident(schema)}.{ident(name)}")
    yield
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for _, ddl in defs:
        conn.execute(ddl)
