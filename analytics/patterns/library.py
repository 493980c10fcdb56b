"""The stall-pattern library: itemsets kept under a name, versioned, with the hits later runs
count (stored through the series port: save_pattern / patterns / pattern_hits, so it works in
server mode too)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from orderscope.analytics.patterns.itemsets import display_name, parse_items, pattern_id
from orderscope.analytics.patterns.results import LibraryEntry, Pattern, TrackedPattern
from orderscope.analytics.patterns.runs import run_mining
from orderscope.ports import Stores


def library(stores: Stores) -> pl.DataFrame:
    """Every library entry (pattern_library columns), by name then version."""
    return stores.series.patterns()


def keep(
    stores: Stores,
    id_or_items: str,
    name: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    note: str | None = None,
) -> LibraryEntry:
    """Save a pattern into the library under `name`: given by its items ('node=PICKING,
    zone_humidity=high') or by the id of a mined candidate (the window is mined again to find
    it) or of a library entry. A new version when the name exists with other items; nothing new
    when its newest version has the same items (then `created` is False)."""
    lib = stores.series.patterns()
    items, found = _resolve(stores, lib, id_or_items, since, until)
    if found is None:
        try:
            run = run_mining(stores, since, until)
            found = next((p for p in run.patterns if p.items == items), None)
        except Exception:  # scores are a courtesy; an empty store still keeps the entry
            found = None
    mine = lib.filter(pl.col("name") == name).sort("version")
    if mine.height and tuple(json.loads(mine["items"][-1])) == items:
        return LibraryEntry.from_row(mine.row(-1, named=True), created=False)
    entry = LibraryEntry(
        name=name,
        version=int(mine["version"].max()) + 1 if mine.height else 1,  # type: ignore[arg-type]
        pattern_id=pattern_id(items),
        items=json.dumps(list(items)),
        created_at=datetime.now(UTC),
        support=found.support if found else None,
        risk_ratio=found.risk_ratio if found else None,
        p_adjusted=found.p_adjusted if found else None,
        stalls=found.stalls if found else None,
        note=note,
        created=True,
    )
    stores.series.save_pattern(entry.row())
    return entry


def _resolve(
    stores: Stores, lib: pl.DataFrame, id_or_items: str, since: datetime | None, until: datetime | None
) -> tuple[tuple[str, ...], Pattern | None]:
    """The items `keep` was given (and the mined pattern, when found by its id)."""
    if "=" in id_or_items:
        return parse_items(id_or_items), None
    known = lib.filter(pl.col("pattern_id") == id_or_items)
    if known.height:
        return tuple(json.loads(known["items"][0])), None
    run = run_mining(stores, since, until)
    found = next((p for p in run.patterns if p.id == id_or_items), None)
    if found is None:
        raise KeyError(
            f"no mined pattern or library entry with id {id_or_items!r} in this window; "
            "run `orderscope patterns mine` (same --since/--until) or give the items"
        )
    return found.items, found


def library_report(stores: Stores, weeks: int = 4) -> list[TrackedPattern]:
    """The library with hit counts: total, per run, per ISO week over the last `weeks` weeks up
    to the data clock, and the trend (rising / falling / steady) of the last week against the
    weeks before."""
    lib = stores.series.patterns()
    if lib.height == 0:
        return []
    hits = stores.series.pattern_hits(lib["pattern_id"].unique().to_list())
    clock = stores.series.data_clock() or datetime.now(UTC)
    week0 = _week_start(clock) - timedelta(weeks=weeks - 1)
    starts = [week0 + timedelta(weeks=i) for i in range(weeks)]
    return [_tracked(r, hits, starts) for r in lib.sort("name", "version").iter_rows(named=True)]


def _tracked(entry: dict[str, Any], hits: pl.DataFrame, starts: list[datetime]) -> TrackedPattern:
    """One library entry with its hits per run and per week (starting at `starts`)."""
    h = hits.filter(pl.col("pattern_id") == entry["pattern_id"])
    per_run = (
        h.group_by("run_id", maintain_order=True)
        .agg(pl.len().alias("hits"), pl.col("recorded_at").min().alias("at"))
        .sort("at")
        .to_dicts()
    )
    weekly: list[dict[str, Any]] = []
    for w in starts:
        n = h.filter((pl.col("entered_at") >= w) & (pl.col("entered_at") < w + timedelta(weeks=1))).height
        weekly.append({"week": f"{w.isocalendar().year}-W{w.isocalendar().week:02d}", "hits": n})
    items = tuple(json.loads(entry["items"]))
    return TrackedPattern(
        **{k: entry[k] for k in _ENTRY},
        items=list(items),
        label=display_name(items),
        hits=h.height,
        hits_per_run=per_run,
        hits_per_week=weekly,
        trend=trend([w["hits"] for w in weekly]),
    )


# The library columns a report row repeats (the items are shown as a list, not JSON text).
_ENTRY = (
    "name",
    "version",
    "pattern_id",
    "created_at",
    "support",
    "risk_ratio",
    "p_adjusted",
    "stalls",
    "note",
)


def trend(counts: list[int]) -> str:
    """rising / falling / steady: the last count against the mean of the ones before (none
    without any)."""
    if not counts or sum(counts) == 0:
        return "none"
    last, before = counts[-1], counts[:-1]
    prior = sum(before) / len(before) if before else 0.0
    if last >= max(2.0, 1.5 * prior) and last > prior:
        return "rising"
    if prior >= 2.0 and last <= 0.5 * prior:
        return "falling"
    return "steady"


def _week_start(t: datetime) -> datetime:
    d = t.astimezone(UTC)
    return datetime(d.year, d.month, d.day, tzinfo=UTC) - timedelta(days=d.weekday())


__all__ = ["keep", "library", "library_report", "trend"]
