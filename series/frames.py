"""Frames in and out of the series store: incoming frames laid out exactly as a table (column
order, the port's dtypes, millisecond timestamps), one row per identity, and empty results that
keep their dtypes. Shared by both series adapters; no SQL here.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from orderscope.series.tables import Table

_POLARS_TYPES: dict[str, pl.DataType] = {
    "str": pl.String(),
    "text": pl.String(),
    "json": pl.String(),
    "int": pl.Int64(),
    "int32": pl.Int32(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "ts": pl.Datetime("us", "UTC"),
}


def prepare_frame(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """The frame laid out exactly as the table: columns in table order with the port's types,
    missing optional columns as nulls, timestamps truncated to milliseconds (the stored
    precision of every timestamp)."""
    missing = [c.name for c in table.columns if c.name not in frame.columns and c.required]
    if missing:
        raise ValueError(f"{table.name}: frame lacks required columns {missing}")
    exprs = []
    for c in table.columns:
        dtype = _POLARS_TYPES[c.type]
        e = pl.col(c.name) if c.name in frame.columns else pl.lit(None)
        if c.type == "ts" and c.name in frame.columns:
            src = frame.schema[c.name]
            if isinstance(src, pl.Datetime) and src.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
            e = e.cast(dtype).dt.truncate("1ms")
        else:
            e = e.cast(dtype)
        exprs.append(e.alias(c.name))
    return frame.select(exprs)


def dedupe_frame(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """One row per identity, the first one of the batch."""
    if not table.identity or frame.select(table.identity).is_unique().all():
        return frame
    return frame.unique(subset=list(table.identity), keep="first", maintain_order=True)


def key_frame(table: Table, keys: pl.DataFrame, key_columns: Sequence[str]) -> pl.DataFrame:
    """The key columns with the port's types (timestamps untouched: compared truncated)."""
    out = []
    for c in key_columns:
        dtype = _POLARS_TYPES[table.col(c).type]
        e = pl.col(c)
        if table.col(c).type == "ts":
            src = keys.schema[c]
            if isinstance(src, pl.Datetime) and src.time_zone is None:
                e = e.dt.replace_time_zone("UTC")
        out.append(e.cast(dtype).alias(c))
    return keys.select(out)


def quarantine_frame(rows: pl.DataFrame) -> pl.DataFrame:
    """Rejected rows as the quarantine insert reads them: row_number, reason, raw, outcome
    ('rejected' unless the frame says 'conflict'), one row per row number."""
    outcome = pl.col("outcome") if "outcome" in rows.columns else pl.lit("rejected")
    return rows.select(
        pl.col("row_number").cast(pl.Int64),
        pl.col("reason").cast(pl.String),
        pl.col("raw").cast(pl.String),
        outcome.cast(pl.String).fill_null("rejected").alias("outcome"),
    ).unique("row_number", keep="first", maintain_order=True)


def empty_frame(table: Table, columns: Sequence[str] | None = None) -> pl.DataFrame:
    names = columns or table.column_names
    return pl.DataFrame(schema={n: _POLARS_TYPES[table.col(n).type] for n in names})


def schema_of(table: Table, columns: Sequence[str] | None = None) -> dict[str, pl.DataType]:
    """Column name -> the port's dtype, for building a result frame of the table."""
    return dict(empty_frame(table, columns).schema)
