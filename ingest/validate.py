"""Type a frame of raw source rows to its kind's columns, giving every bad row a reason.

Two vectorized passes over the whole batch: the first parses every column once, the second
derives the reasons from the parsed values and the original text (cheap comparisons, no
re-parsing). The result splits into typed good rows and rejected rows (ROW, reason); the raw
text of rejected rows is attached by the reader (ReadResult.raw), only for those rows.
Timestamp columns are parsed and bounded to a TimeWindow by orderscope.ingest.timestamps.
"""

from __future__ import annotations

import polars as pl

from orderscope.domain.sources import FRAME_TYPES, SourceKind
from orderscope.ingest.readers import ROW
from orderscope.ingest.timestamps import (
    TimeWindow,
    fast_parse,
    is_text,
    nulls,
    parse_times,
    quoted,
    trimmed,
)

__all__ = ["REASON", "TimeWindow", "reject", "validate"]

REASON = "_reason"
DTYPES = FRAME_TYPES
REASON_MAX = 500  # characters of a row's whole reason
_TRUE = ["true", "1", "yes", "y", "t"]
_FALSE = ["false", "0", "no", "n", "f"]
_WORD = {"int": "an integer", "float": "a number", "bool": "a boolean"}


def _text_name(name: str) -> str:
    return f"__text_{name}"


def _why_name(name: str) -> str:
    return f"__why_{name}"


def _parse(name: str, type_: str, dtype: pl.DataType) -> list[pl.Expr]:
    """Expressions for pass one: the typed value, and the text it came from. Timestamps get
    only their fast parse here; the rest (other spellings, epochs, the window) follows."""
    if type_ == "ts":
        if is_text(dtype):  # the fast parse of every column in one parallel select
            text = trimmed(pl.col(name))
            return [fast_parse(text).alias(name), text.alias(_text_name(name))]
        return [pl.col(name)]
    if type_ in ("str", "json"):
        if is_text(dtype) or dtype.is_numeric() or dtype == pl.Boolean:
            return [pl.col(name).cast(pl.String).replace("", None).alias(name)]
        return _wrong_type(name, type_, dtype)
    if is_text(dtype):
        text = pl.col(name).cast(pl.String).str.strip_chars().replace("", None)
        if type_ == "bool":
            low = text.str.to_lowercase()
            value: pl.Expr = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
        else:
            value = text.cast(DTYPES[type_], strict=False)
        return [value.alias(name), text.alias(_text_name(name))]
    if dtype.is_numeric() or dtype == pl.Boolean:  # Parquet numbers and booleans
        value = pl.col(name)
        if type_ == "int" and dtype.is_float():  # 2.5 is not an integer; casting would cut it
            value = pl.when(value.is_finite() & (value == value.round())).then(value)
        return [value.cast(DTYPES[type_], strict=False).alias(name)]
    return _wrong_type(name, type_, dtype)


def _number_failures(parsed: pl.DataFrame, rows: pl.DataFrame, name: str, type_: str) -> pl.DataFrame:
    """The reason for Parquet numbers that did not cast (2.5 for an integer), formatted only
    for those rows, never for the whole column."""
    if _why_name(name) in parsed.columns:
        return parsed
    failed = (parsed[name].is_null() & rows[name].is_not_null()).arg_true()
    if not failed.len():
        return parsed
    text = rows[name].gather(failed).cast(pl.String).alias("t").to_frame()
    word = _WORD[type_]
    why = text.select(pl.format(f"column {name}: not {word}: '{{}}'", "t")).to_series()
    return parsed.with_columns(nulls(_why_name(name), parsed.height, pl.String()).scatter(failed, why))


def _wrong_type(name: str, type_: str, dtype: pl.DataType) -> list[pl.Expr]:
    """A Parquet column of a type that cannot hold the column's values (lists, dates, …)."""
    return [
        pl.lit(None, dtype=DTYPES[type_]).alias(name),
        pl.when(pl.col(name).is_not_null())
        .then(pl.lit(f"column {name}: Parquet type {dtype} cannot hold this column"))
        .alias(_why_name(name)),
    ]


def _problems(name: str, type_: str, required: bool, helpers: set[str]) -> list[pl.Expr]:
    """Expressions for pass two, over parsed values, their original text and the reasons
    found while parsing (timestamps)."""
    value = pl.col(name)
    out: list[pl.Expr] = []
    text_col, why_col = _text_name(name), _why_name(name)
    if why_col in helpers:
        why = pl.col(why_col)
        out.append(why)
        if required:
            out.append(
                pl.when(value.is_null() & why.is_null()).then(pl.lit(f"missing required field {name}"))
            )
    elif text_col in helpers:
        text = pl.col(text_col)
        failed = text.is_not_null() & value.is_null()
        out.append(
            pl.when(failed).then(pl.format(f"column {name}: not {_WORD[type_]}: '{{}}'", quoted(text)))
        )
        if required:
            out.append(pl.when(text.is_null()).then(pl.lit(f"missing required field {name}")))
    elif required:
        out.append(pl.when(value.is_null()).then(pl.lit(f"missing required field {name}")))
    return out


def validate(
    kind: SourceKind, rows: pl.DataFrame, window: TimeWindow | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed good rows (ROW and the kind's columns) and rejected rows (ROW, reason).

    Timestamps outside `window` are rejected; it also says how integer epochs are read.
    None: the default window (Settings defaults, the wall clock now). An ingest builds one
    with TimeWindow.from_settings(settings) and passes it to every batch."""
    window = window or TimeWindow.default()
    present = rows.schema
    parse: list[pl.Expr] = [pl.col(ROW)]
    missing: list[str] = []
    for col in kind.columns:
        if col.name in present:
            parse.extend(_parse(col.name, col.type, present[col.name]))
        else:
            parse.append(pl.lit(None, dtype=DTYPES[col.type]).alias(col.name))
            if col.required:
                missing.append(f"missing column {col.name}")
    parsed = rows.select(parse)
    for col in kind.columns:
        name = col.name
        if col.type == "ts" and name in present:
            text = _text_name(name)
            if text in parsed.columns:
                value, why = parse_times(name, parsed[text], window, fast=parsed[name])
                parsed = parsed.drop(text)
            else:
                value, why = parse_times(name, parsed[name], window)
            parsed = parsed.with_columns(value)
            if why.null_count() < why.len():  # an all-null column would cost in pass two
                parsed = parsed.with_columns(why.alias(_why_name(name)))
        elif name in present and col.type in _WORD and not is_text(present[name]):
            parsed = _number_failures(parsed, rows, name, col.type)
    helpers = {c for c in parsed.columns if c.startswith(("__text_", "__why_"))}
    problems = [pl.lit(m) for m in missing]
    for col in kind.columns:
        problems.extend(_problems(col.name, col.type, col.required, helpers))
    reason = pl.concat_str(problems, separator="; ", ignore_nulls=True).replace("", None)
    parsed = parsed.with_columns(reason.alias(REASON)).drop(*helpers)
    long = pl.col(REASON).str.len_chars() > REASON_MAX
    if parsed.select(long.any()).item():  # rare: many long problems in one row
        cut = pl.col(REASON).str.slice(0, REASON_MAX - 1) + pl.lit("…")
        parsed = parsed.with_columns(pl.when(long).then(cut).otherwise(pl.col(REASON)).alias(REASON))
    good = parsed.filter(pl.col(REASON).is_null()).drop(REASON)
    bad = parsed.filter(pl.col(REASON).is_not_null()).select(ROW, pl.col(REASON).alias("reason"))
    return good, bad


def reject(frame: pl.DataFrame, mask: pl.Expr, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows where `mask` holds into rejects with `reason`; the rest stay."""
    flagged = frame.with_columns(mask.fill_null(False).alias("_bad"))
    bad = flagged.filter("_bad").select(ROW, reason.alias("reason"))
    return flagged.filter(~pl.col("_bad")).drop("_bad"), bad
