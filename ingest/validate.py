"""Type a frame of raw source rows to its kind's columns, giving every bad row a reason.

Two vectorized passes over the whole batch: the first parses every column once, the second
derives the reasons from the parsed values and the original text (cheap comparisons, no
re-parsing). The result splits into typed good rows and rejected rows (ROW, reason); the raw
text of rejected rows is attached by the reader (ReadResult.raw), only for those rows.
"""

from __future__ import annotations

import polars as pl

from orderscope.ingest.readers import ROW
from orderscope.sources import FRAME_TYPES, SourceKind

REASON = "_reason"
DTYPES = FRAME_TYPES
TS = FRAME_TYPES["ts"]
_OFFSET = r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_ISO = "%Y-%m-%dT%H:%M:%S%.f%#z"
_ISO_SPACE = "%Y-%m-%d %H:%M:%S%.f%#z"  # RFC 3339 allows a space; rare, parsed on demand
_TRUE = ["true", "1", "yes", "y", "t"]
_FALSE = ["false", "0", "no", "n", "f"]
_WORD = {"int": "an integer", "float": "a number", "bool": "a boolean", "ts": "an ISO 8601 timestamp"}


def _text_name(name: str) -> str:
    return f"__text_{name}"


def _to_ts(text: pl.Expr, fmt: str) -> pl.Expr:
    return text.str.to_datetime(fmt, strict=False, time_zone="UTC", time_unit="us")


def _parse(name: str, type_: str, dtype: pl.DataType) -> list[pl.Expr]:
    """Expressions for pass one: the typed value, and the trimmed text it came from."""
    if type_ in ("str", "json"):
        return [pl.col(name).cast(pl.String).replace("", None).alias(name)]
    if isinstance(dtype, pl.Datetime):  # Parquet: already typed; naive ones are rejected
        if dtype.time_zone is None:
            return [pl.lit(None, dtype=TS).alias(name), pl.lit("naive").alias(_text_name(name))]
        return [pl.col(name).dt.convert_time_zone("UTC").dt.cast_time_unit("us").alias(name)]
    if dtype != pl.String:  # Parquet numbers and booleans
        return [pl.col(name).cast(DTYPES[type_], strict=False).alias(name)]
    text = pl.col(name).str.strip_chars().replace("", None)
    if type_ == "ts":
        value = _to_ts(text, _ISO)
    elif type_ == "bool":
        low = text.str.to_lowercase()
        value = pl.when(low.is_in(_TRUE)).then(True).when(low.is_in(_FALSE)).then(False)
    else:
        value = text.cast(DTYPES[type_], strict=False)
    return [value.alias(name), text.alias(_text_name(name))]


def _problems(name: str, type_: str, required: bool, texts: set[str]) -> list[pl.Expr]:
    """Expressions for pass two, over parsed values and their original text."""
    value = pl.col(name)
    out: list[pl.Expr] = []
    text_col = _text_name(name)
    if text_col in texts:
        text = pl.col(text_col)
        failed = text.is_not_null() & value.is_null()
        if type_ == "ts":
            out.append(
                pl.when(text == "naive").then(pl.lit(f"column {name}: naive timestamp (no time zone)"))
                .when(failed & ~text.str.contains(_OFFSET))
                .then(pl.format(f"column {name}: naive timestamp (no time zone): '{{}}'", text))
                .when(failed)
                .then(pl.format(f"column {name}: not {_WORD[type_]}: '{{}}'", text))
            )
        else:
            out.append(pl.when(failed).then(pl.format(f"column {name}: not {_WORD[type_]}: '{{}}'", text)))
        if required:
            out.append(pl.when(text.is_null()).then(pl.lit(f"missing required field {name}")))
    elif required:
        out.append(pl.when(value.is_null()).then(pl.lit(f"missing required field {name}")))
    return out


def _space_separated(parsed: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    """Second chance for timestamps written with a space instead of 'T' (only those rows)."""
    for name in names:
        text_col = _text_name(name)
        retry = parsed.select(
            (pl.col(text_col).is_not_null() & pl.col(name).is_null()).arg_true()
        ).to_series()
        if retry.len():
            fixed = parsed[text_col].gather(retry).to_frame().select(_to_ts(pl.col(text_col), _ISO_SPACE))
            parsed = parsed.with_columns(parsed[name].scatter(retry, fixed.to_series()))
    return parsed


def validate(kind: SourceKind, rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Typed good rows (ROW and the kind's columns) and rejected rows (ROW, reason)."""
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
    parsed = _space_separated(
        parsed, [c.name for c in kind.columns if c.type == "ts" and _text_name(c.name) in parsed.columns]
    )
    texts = {c for c in parsed.columns if c.startswith("__text_")}
    problems = [pl.lit(m) for m in missing]
    for col in kind.columns:
        problems.extend(_problems(col.name, col.type, col.required, texts))
    parsed = parsed.with_columns(
        pl.concat_str(problems, separator="; ", ignore_nulls=True).replace("", None).alias(REASON)
    ).drop(*texts)
    good = parsed.filter(pl.col(REASON).is_null()).drop(REASON)
    bad = parsed.filter(pl.col(REASON).is_not_null()).select(ROW, pl.col(REASON).alias("reason"))
    return good, bad


def reject(frame: pl.DataFrame, mask: pl.Expr, reason: pl.Expr) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split rows where `mask` holds into rejects with `reason`; the rest stay."""
    flagged = frame.with_columns(mask.fill_null(False).alias("_bad"))
    bad = flagged.filter("_bad").select(ROW, reason.alias("reason"))
    return flagged.filter(~pl.col("_bad")).drop("_bad"), bad
