"""Tell a duplicate from a conflict.

A row whose identity (event_id, report number, sensor + time, …) is already known is a
**duplicate** when its content equals the known row, and a **conflict** when any other field
differs: the new content is quarantined with the fields that differ (`to_state: PICKED →
TELEPORTED`), never dropped as if it were a repeat. Known means stored, or earlier in the same
file (the first occurrence wins, later ones are compared with it).

Values are compared as stored: timestamps at millisecond precision (the stores' precision),
JSON by its parsed value (key order and spacing do not make a conflict).
"""

from __future__ import annotations

import json

import polars as pl

from orderscope.domain.sources import SourceKind
from orderscope.ingest.readers import ROW

SHOWN_CHARS = 60  # a value longer than this is cut in a reason (the raw row keeps it whole)
_OLD = "__old"
_REF = "__ref"  # what the row conflicts with, for the reason text


def _comparable(dtype_name: str, expr: pl.Expr) -> pl.Expr:
    return expr.dt.truncate("1ms") if dtype_name == "ts" else expr


def _shown(type_: str, expr: pl.Expr) -> pl.Expr:
    text = expr.dt.to_string("%Y-%m-%dT%H:%M:%S%.3fZ") if type_ == "ts" else expr.cast(pl.String)
    text = text.fill_null("∅")
    return (
        pl.when(text.str.len_chars() > SHOWN_CHARS)
        .then(pl.concat_str(text.str.slice(0, SHOWN_CHARS), pl.lit("…")))
        .otherwise(text)
    )


def _canonical(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    except ValueError:
        return text


def _join_keys(kind: SourceKind, frame: pl.DataFrame) -> pl.DataFrame:
    types = {c.name: c.type for c in kind.columns}
    return frame.with_columns(_comparable(types[k], pl.col(k)).alias(k) for k in kind.identity)


def differences(
    kind: SourceKind, new: pl.DataFrame, known: pl.DataFrame, reference: pl.Expr
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split the rows of `new` whose identity is in `known` into duplicates (ROW) and conflicts
    (ROW, reason). `reference` is evaluated on `known` and names what a conflicting row
    conflicts with (e.g. "the stored record", "row 12 of this file")."""
    ids = list(kind.identity)
    others = [c for c in kind.columns if c.name not in kind.identity]
    old = (
        _join_keys(kind, known)
        .select(*ids, *(pl.col(c.name).alias(c.name + _OLD) for c in others), reference.alias(_REF))
        .unique(subset=ids, keep="first", maintain_order=True)
    )
    joined = _join_keys(kind, new.select(ROW, *(c.name for c in kind.columns))).join(old, on=ids, how="inner")
    if joined.is_empty():
        return joined.select(ROW), pl.DataFrame(schema={ROW: pl.Int64, "reason": pl.String})
    changed: list[pl.Expr] = []
    for c in others:
        a = _comparable(c.type, pl.col(c.name))
        b = _comparable(c.type, pl.col(c.name + _OLD))
        differs = ~a.eq_missing(b)
        if c.type == "json":  # texts differ: compare what they mean (rare rows only)
            canon = joined.filter(differs).select(
                ROW,
                pl.col(c.name).map_elements(_canonical, return_dtype=pl.String).alias("_a"),
                pl.col(c.name + _OLD).map_elements(_canonical, return_dtype=pl.String).alias("_b"),
            )
            same = canon.filter(pl.col("_a").eq_missing(pl.col("_b")))[ROW]
            differs = differs & ~pl.col(ROW).is_in(same.implode())
        changed.append(
            pl.when(differs).then(
                pl.format(
                    "{}: {} → {}",
                    pl.lit(c.name),
                    _shown(c.type, pl.col(c.name + _OLD)),
                    _shown(c.type, pl.col(c.name)),
                )
            )
        )
    key_text = pl.concat_str([_shown(kind.column(k).type, pl.col(k)) for k in ids], separator=" / ")
    diff = pl.concat_str(changed, separator="; ", ignore_nulls=True) if changed else pl.lit(None)
    judged = joined.select(ROW, diff.replace("", None).alias("_diff"), key_text.alias("_key"), _REF)
    duplicates = judged.filter(pl.col("_diff").is_null()).select(ROW)
    conflicts = judged.filter(pl.col("_diff").is_not_null()).select(
        ROW,
        pl.format(
            "conflict: {} {} '{}' differs from {} ({})",
            pl.lit(kind.name),
            pl.lit(" + ".join(ids)),
            pl.col("_key"),
            pl.col(_REF),
            pl.col("_diff"),
        ).alias("reason"),
    )
    return duplicates, conflicts


def split_repeats(kind: SourceKind, good: pl.DataFrame) -> tuple[pl.DataFrame, int, pl.DataFrame]:
    """Within one batch: the first row of each identity stays; a later row with the same
    content is a duplicate, with other content a conflict. Returns (kept rows, duplicates,
    conflicts as ROW + reason)."""
    first = good.select(pl.struct(list(kind.identity)).is_first_distinct()).to_series()
    if bool(first.all()):
        return good, 0, pl.DataFrame(schema={ROW: pl.Int64, "reason": pl.String})
    kept, repeats = good.filter(first), good.filter(~first)
    dups, conflicts = differences(kind, repeats, kept, pl.format("row {} of this file", pl.col(ROW)))
    return kept, dups.height, conflicts
