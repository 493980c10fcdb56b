from datetime import UTC, datetime

import pytest

from orderscope.domain.periods import parse_period

UTC = UTC


def test_iso_week():
    p = parse_period("2026-W47")
    assert (p.start, p.end) == (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))
    assert p.previous().start == datetime(2026, 11, 9, tzinfo=UTC)


def test_month_day_and_range():
    assert parse_period("2026-12").end == datetime(2027, 1, 1, tzinfo=UTC)
    assert parse_period("2026-11-18").end == datetime(2026, 11, 19, tzinfo=UTC)
    r = parse_period("2026-11-16T06:00+01:00/2026-11-17")
    assert r.start == datetime(2026, 11, 16, 5, tzinfo=UTC)
    assert datetime(2026, 11, 16, 12, tzinfo=UTC) in r


@pytest.mark.parametrize("bad", ["last week", "2026-W99", "2026-11-20/2026-11-10"])
def test_bad_periods_say_what_is_accepted(bad):
    with pytest.raises(ValueError, match="ISO week"):
        parse_period(bad)
