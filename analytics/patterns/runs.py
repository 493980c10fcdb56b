"""A mining run: the window's transactions mined into ranked patterns and, when recorded, the
new hits of the library's kept patterns counted and stored through the series port."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import polars as pl

from orderscope.analytics.patterns.items import transactions
from orderscope.analytics.patterns.itemsets import as_dict
from orderscope.analytics.patterns.mining import ALPHA, MAX_LEN, MIN_STALLS, MIN_SUPPORT, mine_frame
from orderscope.analytics.patterns.results import MiningRun, Pattern
from orderscope.domain.lifecycle import Catalog
from orderscope.ports import Stores

WINDOW = timedelta(days=7)


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def window(
    stores: Stores, since: datetime | None, until: datetime | None
) -> tuple[datetime, datetime] | None:
    """[since, until] with the defaults filled in: until the data clock, since WINDOW before
    until; None for an empty store."""
    end = utc(until) or utc(stores.series.data_clock())
    if end is None:
        return None
    return (utc(since) or end - WINDOW), end


def run_mining(
    stores: Stores,
    since: datetime | None = None,
    until: datetime | None = None,
    min_support: float = MIN_SUPPORT,
    *,
    min_stalls: int = MIN_STALLS,
    max_len: int = MAX_LEN,
    alpha: float = ALPHA,
    catalog: Catalog | None = None,
    record: bool = False,
) -> MiningRun:
    """Mine the window and, with `record`, count and store new hits of the kept patterns."""
    catalog = catalog or stores.catalog
    win = window(stores, since, until)
    if win is None:
        now = datetime.now(UTC)
        return MiningRun(now, now, 0, 0, 0, [])
    since, until = win
    tx = transactions(stores, since, until, catalog)
    pats, tested = mine_frame(tx, min_support, min_stalls=min_stalls, max_len=max_len, alpha=alpha)
    run = MiningRun(since, until, tx.height, int(tx["stalled"].sum()), tested, pats)
    if record:
        run.run_id = f"run-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        run.new_hits = record_hits(stores, tx, run.run_id)
    return run


def mine_patterns(
    stores: Stores,
    since: datetime | None = None,
    until: datetime | None = None,
    min_support: float = MIN_SUPPORT,
    *,
    min_stalls: int = MIN_STALLS,
    max_len: int = MAX_LEN,
    alpha: float = ALPHA,
    catalog: Catalog | None = None,
) -> list[Pattern]:
    """Ranked non-redundant stall patterns of the window [since, until] (defaults: the 7 days up
    to the data clock); significant ones first."""
    return run_mining(
        stores,
        since,
        until,
        min_support,
        min_stalls=min_stalls,
        max_len=max_len,
        alpha=alpha,
        catalog=catalog,
        record=False,
    ).patterns


def newest_versions(lib: pl.DataFrame) -> pl.DataFrame:
    """The newest version of each name of a library frame."""
    if lib.height == 0:
        return lib
    return lib.sort("name", "version").group_by("name", maintain_order=True).last()


def record_hits(stores: Stores, tx: pl.DataFrame, run_id: str) -> dict[str, int]:
    """Store the stalled visits of `tx` matching all items of each kept pattern (newest
    version); returns the new hits per library name."""
    cur = newest_versions(stores.series.patterns())
    stalled = tx.filter(pl.col("stalled"))
    now = datetime.now(UTC)
    frames = []
    for r in cur.iter_rows(named=True):  # one row per kept pattern: a handful
        items = as_dict(tuple(json.loads(r["items"])))
        if any(a not in tx.columns for a in items):
            continue
        cond = pl.all_horizontal(pl.col(a) == v for a, v in items.items())
        hits = stalled.filter(cond).select(
            pl.lit(r["pattern_id"]).alias("pattern_id"),
            "order_id",
            "node",
            pl.col("visit").cast(pl.Int32),
            "entered_at",
            "dwell_ms",
            pl.lit(run_id).alias("run_id"),
            pl.lit(now).cast(pl.Datetime("us", "UTC")).alias("recorded_at"),
        )
        frames.append((r["name"], hits))
    return {name: stores.series.record_pattern_hits(hits) if hits.height else 0 for name, hits in frames}


__all__ = ["WINDOW", "mine_patterns", "newest_versions", "record_hits", "run_mining", "window"]
