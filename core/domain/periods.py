"""Periods as people write them: an ISO week (2026-W47), a month (2026-11), a day
(2026-11-18), or an explicit range (2026-11-16/2026-11-23, '..' also accepted; end exclusive).
Every period is a half-open UTC interval [start, end)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

UTC = UTC


@dataclass(frozen=True)
class Period:
    label: str
    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def previous(self) -> Period:
        """The period of the same length just before this one (the default baseline)."""
        length = self.end - self.start
        return Period(f"before {self.label}", self.start - length, self.start)


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def _moment(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_period(text: str) -> Period:
    """Raises ValueError with the accepted forms when `text` is none of them."""
    text = text.strip()
    try:
        if m := re.fullmatch(r"(\d{4})-W(\d{2})", text):
            start = _midnight(date.fromisocalendar(int(m[1]), int(m[2]), 1))
            return Period(text, start, start + timedelta(days=7))
        if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
            year, month = int(m[1]), int(m[2])
            nxt = (year + 1, 1) if month == 12 else (year, month + 1)
            return Period(text, _midnight(date(year, month, 1)), _midnight(date(*nxt, 1)))
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            start = _midnight(date.fromisoformat(text))
            return Period(text, start, start + timedelta(days=1))
    except ValueError:
        pass
    if parts := re.split(r"/|\.\.", text):
        if len(parts) == 2:
            try:
                start, end = _moment(parts[0]), _moment(parts[1])
            except ValueError:
                pass
            else:
                if end > start:
                    return Period(text, start, end)
    raise ValueError(
        f"cannot read period {text!r}: use an ISO week (2026-W47), a month (2026-11), a day "
        "(2026-11-18) or a range (2026-11-16/2026-11-23)"
    )


def parse_moment(text: str | None) -> datetime | None:
    """An ISO moment (naive = UTC), or the start of a period (2026-W47, 2026-11-18, ...);
    ValueError saying the accepted forms when it is neither."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value
    except ValueError:
        return parse_period(text).start
