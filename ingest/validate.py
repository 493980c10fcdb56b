"""Type a frame of raw source rows to its kind's columns, giving every bad row a reason.

All checks are polars expressions over the whole batch; the result splits into typed good rows
and rejected rows (ROW, reason, raw) ready for quarantine.
"""

from __future__ import annotations

import polars as pl

from orderscope.ingest.readers import RAW, ROW
from orderscope.sources import Column, SourceKind

REASON = "_reason"
TS = pl.Datetime("us", "UTC")
DTYPES: dict[str, pl.DataType] = {
    "str": pl.String(), "int": pl.Int64(), "float": pl.Float64(), "bool": pl.Boolean(),
    "ts": TS, "json": pl.String(),
}  # fmt: skip
_OFFSET = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_TS_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_TRUE = ["true", "1", "yes", "y", "t"]
_FALSE = ["false", "0", "no", "n", "f"]


def _text(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.String).str.strip_chars()


def _parse_ts(text: pl.Expr) -> pl.Expr:
    norm = text.str.replace(r"[Zz]$", "+00:00")
    return pl.coalesce(
        [norm.str.to_datetime(f, strict=False, time_zone="UTC", time_unit="us") for f in _TS_FORMATS]
    )


def _typed(col: Column, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """(typed value, reason-or-null) for one column of a frame."""
    name = col.name
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            value = pl.lit(None, dtype=TS)
            problem = pl.lit(f"column {name}: naive timestamp (no time zone)")
            return value, pl.when(pl.col(name).is_not_null()).then(problem)
        return pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us"), pl.lit(None)
    text = _text(name).replace("", None)
    if col.type == "str":
        return text, pl.lit(None)
    if col.type == "json":
        return pl.col(name).cast(pl.String), pl.lit(None)
    if col.type == "ts":
        value = _parse_ts(text)
        problem = pl.when(text.is_not_null() & ~text.str.contains(_OFFSET)).then(
            pl.format(f"column {name}: naive timestamp (no time zone): '{{}}'", text)
        ).when(text.is_not_null() & value.is_null()).then(
            pl.format(f"column {name}: not an ISO 8601 timestamp: '{{}}'", text)
        )
        return value, problem
    if col.type == "bool":
        low = text.str.to_lowercase()
        value = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
        problem = pl.when(text.is_not_null() & value.is_null()).then(
            pl.format(f"column {name}: not a boolean: '{{}}'", text)
        )
        return value, problem
    target = DTYPES[col.type]
    value = text.cast(target, strict=False)
    word = "an integer" if col.type == "int" else "a number"
    problem = pl.when(text.is_not_null() & value.is_null()).then(
        pl.format(f"column {name}: not {word}: '{{}}'", text)
    )
    return value, problem


def validate(kind: SourceKind, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed good rows (ROW, RAW and kind's columns) and rejected rows (ROW, reason, raw)."""
    values: list[pl.Expr] = []
    problems: list[pl.Expr] = []
    present = set(rows.columns)
    for col in kind.columns:
        target = DTYPES[col.type]
        if col.name not in present:
            values.append(pl.lit(None, dtype=target).alias(col.name))
            if col.required:
                problems.append(pl.lit(f"missing column {col.name}"))
            continue
        dtype = rows.schema[col.name]
        value, problem = _typed(col, dtype)
        values.append(value.cast(target).alias(col.name))
        problems.append(problem)
        if col.required:
            problems.append(
                pl.when(value.is_null() & problem.is_null()).then(
                    pl.lit(f"missing required field {col.name}")
                )
            )
    typed = rows.select(
        pl.col(ROW),
        pl.col(RAW),
        *values,
        pl.concat_str(problems, separator="; ", ignore_nulls=True).replace("", None).alias(REASON),
    )
    good = typed.filter(pl.col(REASON).is_null()).drop(REASON)
    bad = typed.filter(pl.col(REASON).is_not_null()).select(
        ROW, pl.col(REASON).alias("reason"), pl.col(RAW).alias("raw")
    )
    return good, bad


def reject(frame: pl.DataFrame, mask: pl.Expr, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows where `mask` holds into rejects with `reason`; the rest stay."""
    flagged = frame.with_columns(mask.fill_null(False).alias("_bad"))
    bad = flagged.filter("_bad").select(ROW, reason.alias("reason"), pl.col(RAW).alias("raw"))
    return flagged.filter(~pl.col("_bad")).drop("_bad"), bad
