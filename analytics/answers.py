"""The one JSON form of the analytics questions whose result is a frame plus its context
(stalls, health by slice): the CLI's `--json` and the API answer with exactly this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from orderscope.analytics.health import slice_health
from orderscope.analytics.stalls import find_stalls
from orderscope.domain.periods import Period
from orderscope.ports import Stores


@dataclass
class StallReport:
    as_of: datetime | None
    since: datetime | None
    open_only: bool
    total: int
    stalls: list[dict[str, Any]]  # the largest excess first, at most the limit asked for

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of,
            "since": self.since,
            "open_only": self.open_only,
            "total": self.total,
            "stalls": self.stalls,
        }


def stall_report(stores: Stores, since: datetime | None, open_only: bool, limit: int) -> StallReport:
    """Stalls in progress at/after `since` (all, or open only); `limit` <= 0 lists every one."""
    as_of = stores.series.data_clock()
    frame = find_stalls(stores, since, open_only)
    rows = frame.head(limit).to_dicts() if limit > 0 else frame.to_dicts()
    return StallReport(as_of, since, open_only, frame.height, rows)


@dataclass
class SliceHealthReport:
    period: Period
    by: list[str]
    slices: pl.DataFrame

    def to_dict(self) -> dict[str, Any]:
        period = {"label": self.period.label, "start": self.period.start, "end": self.period.end}
        return {"period": period, "by": self.by, "slices": self.slices.to_dicts()}


def last_week(clock: datetime | None) -> Period:
    """The default period of health by slice: the 7 days up to the data clock (now when empty)."""
    clock = clock or datetime.now(UTC)
    return Period("last 7 days", clock - timedelta(days=7), clock + timedelta(microseconds=1))


def slice_health_report(stores: Stores, by: list[str], period: Period | None = None) -> SliceHealthReport:
    """Health per slice of orders created in `period` (default: the last 7 days of data);
    ValueError naming the dimensions when `by` holds an unknown one."""
    period = period or last_week(stores.series.data_clock())
    return SliceHealthReport(period, by, slice_health(stores, by, period))
