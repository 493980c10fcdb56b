"""Timestamps of source rows: parse, bound to a plausible window, and name the real problem.

Fast path: one vectorized ISO 8601 / RFC 3339 parse of the whole column, then two comparisons
with the window. Only rows the fast parse fails take the slower path, still vectorized over
those rows: a space or lower-case 't'/'z', no seconds, a zone name (`… Europe/Berlin`, RFC 9557
`…[Europe/Berlin]`, `CET`) converted with the zone's rules, integer epochs read by the declared
unit; any other row gets a reason that says what is wrong with it (no zone, impossible date,
garbage). Nothing outside the window reaches the stores: far years break the graph store and
one far-future event would move the data clock.

Occurrence times may lie at most a small margin ahead of the wall clock at ingest; planned
times (PLANNED_COLUMNS: promises and due dates) lie ahead by nature and get a wider margin.
"""

from __future__ import annotations

import functools
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal

import polars as pl

EpochUnit = Literal["s", "ms", "us", "ns"]
PER_SECOND: dict[str, int] = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
PLANNED_COLUMNS = frozenset({"promised_at", "due_at"})  # times that lie ahead by nature
QUOTE_MAX = 200  # characters of a value quoted in a reason
TS = pl.Datetime("us", "UTC")

ISO = "%Y-%m-%dT%H:%M:%S%.f%#z"
_LOCAL = "%Y-%m-%dT%H:%M:%S%.f"
_SHOW = "%Y-%m-%dT%H:%M:%S%.fZ"
_SHAPE = (
    r"^(?P<date>[+-]?\d{4,6}-\d{2}-\d{2})"
    r"(?:[Tt ](?P<time>\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?))?"
    r"\s*(?P<off>[Zz]|[+-]\d{2}(?::?\d{2})?)?"
    r"\s*(?:\[!?(?P<bracket>[^\]]{1,64})\]|(?P<zone>[A-Za-z][A-Za-z0-9_+\-/]{0,63}))?$"
)
_INT = r"^[+-]?\d+$"
_DECIMAL = r"^[+-]?(\d+\.\d*|\.\d+)$"
_NO_UNIT = "set ORDERSCOPE_EPOCH_UNIT=s|ms|us|ns"
_SAFE_YEARS = 200_000  # beyond this, formatting a datetime panics in polars: show the epoch


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _iso(value: datetime) -> str:
    text = value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return text + (f".{value.microsecond:06d}".rstrip("0") if value.microsecond else "") + "Z"


def _ahead(now: datetime, delta: timedelta) -> datetime:
    try:
        return now + delta
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _epoch_int(value: datetime, unit: str) -> int:
    micros = (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return micros * PER_SECOND[unit] // 1_000_000


def quoted(text: pl.Expr) -> pl.Expr:
    """The text for a reason, cut to QUOTE_MAX characters."""
    return (
        pl.when(text.str.len_chars() > QUOTE_MAX)
        .then(text.str.slice(0, QUOTE_MAX) + pl.lit("…"))
        .otherwise(text)
    )


@dataclass(frozen=True)
class TimeWindow:
    """Accepted event times [earliest, latest] and how to read integer epochs.

    `planned_latest` bounds PLANNED_COLUMNS (None: latest + the default planned margin);
    `now` is the wall clock the margins were added to, shown in reasons. Build it once per
    ingest with `TimeWindow.from_settings(settings)`."""

    earliest: datetime
    latest: datetime
    planned_latest: datetime | None = None
    epoch_unit: EpochUnit | None = None
    now: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("earliest", "latest", "planned_latest", "now"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value))
        if self.planned_latest is None:
            days = _defaults().planned_time_max_ahead_days
            object.__setattr__(self, "planned_latest", _ahead(self.latest, timedelta(days=days)))
        if not self.earliest < self.latest:
            raise ValueError(f"event time window is empty: {self.earliest} … {self.latest}")
        if self.epoch_unit not in (None, *PER_SECOND):
            raise ValueError(f"epoch unit {self.epoch_unit!r}: use one of s, ms, us, ns")

    @classmethod
    def from_settings(cls, settings: Any, now: datetime | None = None) -> TimeWindow:
        """From Settings (event_time_min, event_time_max_ahead_hours,
        planned_time_max_ahead_days, epoch_unit) and the wall clock (now: default the
        current time, whole seconds)."""
        now = _utc(now or datetime.now(UTC)).replace(microsecond=0)
        return cls(
            earliest=settings.event_time_min,
            latest=_ahead(now, timedelta(hours=settings.event_time_max_ahead_hours)),
            planned_latest=_ahead(now, timedelta(days=settings.planned_time_max_ahead_days)),
            epoch_unit=settings.epoch_unit,
            now=now,
        )

    @classmethod
    def default(cls, now: datetime | None = None) -> TimeWindow:
        """The settings' defaults (not the environment) and the wall clock."""
        return cls.from_settings(_defaults(), now)

    def latest_for(self, planned: bool) -> datetime:
        return self.planned_latest if planned else self.latest  # type: ignore[return-value]

    def before_text(self) -> str:
        return (
            f"is before the accepted window (earliest {_iso(self.earliest)}; set ORDERSCOPE_EVENT_TIME_MIN)"
        )

    def after_text(self, planned: bool) -> str:
        latest = self.latest_for(planned)
        rel = ""
        if self.now is not None:
            ahead = (latest - self.now).total_seconds()
            rel = f" = now + {ahead / 86400:g} days" if planned else f" = now + {ahead / 3600:g} h"
        if planned:
            return (
                f"is after the accepted window for planned times (latest {_iso(latest)}{rel}; "
                "set ORDERSCOPE_PLANNED_TIME_MAX_AHEAD_DAYS)"
            )
        return (
            f"is after the accepted window (latest {_iso(latest)}{rel}; "
            "set ORDERSCOPE_EVENT_TIME_MAX_AHEAD_HOURS)"
        )


@functools.cache
def _defaults() -> SimpleNamespace:
    from orderscope.config import Settings  # the defaults only: no environment, no file

    return SimpleNamespace(**{n: f.default for n, f in Settings.model_fields.items()})


@functools.cache
def _zones() -> dict[str, str]:
    """Lower-case IANA name -> name, for the names polars knows."""
    return {name.lower(): name for name in zoneinfo.available_timezones() if _polars_knows(name)}


def _polars_knows(zone: str) -> bool:
    """Some names the system knows, polars does not (Factory, localtime)."""
    try:
        pl.Series([datetime(2026, 1, 1)]).dt.replace_time_zone(zone)
    except pl.exceptions.ComputeError:
        return False
    return True


def _scatter(target: pl.Series, idx: pl.Series, values: pl.Series) -> pl.Series:
    return target.scatter(idx, values) if idx.len() else target


def nulls(name: str, n: int, dtype: pl.DataType = TS) -> pl.Series:
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(name)


def _where(mask: pl.Series, text: str) -> pl.Series:
    return mask.to_frame("m").select(pl.when(pl.col("m")).then(pl.lit(text)).alias("r")).to_series()


def _quote(values: pl.Series) -> pl.Series:
    return values.cast(pl.String).to_frame("t").select(quoted(pl.col("t"))).to_series()


_I64 = (-(2**63) + 1, 2**63 - 1)


class _Column:
    """Parsing one timestamp column against the window."""

    def __init__(self, name: str, window: TimeWindow, planned: bool) -> None:
        self.name, self.window = name, window
        self.earliest, self.latest = window.earliest, window.latest_for(planned)
        self.before, self.after = window.before_text(), window.after_text(planned)

    def reason(self, fmt: str, *args: pl.Expr | str) -> pl.Expr:
        return pl.format(f"column {self.name}: {fmt}", *args)

    # -- instants as integers since the epoch: the window check never overflows ---------------
    def bounded(
        self, phys: pl.Series, unit: str, shown: pl.Series | None, suffix: str = ""
    ) -> tuple[pl.Series, pl.Series]:
        """Integers since 1970-01-01 in `unit` -> (value, window reason). In a reason a value
        reads as `shown` (cut to QUOTE_MAX) + suffix; shown None: the instant, formatted."""
        lo = max(_epoch_int(self.earliest, unit), _I64[0])
        hi = min(_epoch_int(self.latest, unit), _I64[1])
        frame = pl.DataFrame({"p": phys.cast(pl.Int64)})
        p = pl.col("p")
        inside: pl.Expr = pl.when(p.is_between(lo, hi)).then(p)
        if unit == "s":  # not a polars time unit; inside the window the product fits
            inside, unit_as = inside * 1_000_000, "us"
        else:
            unit_as = unit
        value = frame.select(
            inside.cast(pl.Datetime(unit_as, "UTC")).dt.cast_time_unit("us")  # type: ignore[arg-type]
        ).to_series()
        why = nulls("r", phys.len(), pl.String())
        out = frame.select((p < lo) | (p > hi)).to_series().arg_true()
        if not out.len():
            return value, why
        sub = frame[out]
        if shown is None:
            safe = min(_SAFE_YEARS * 365 * 86400 * PER_SECOND[unit], 2**62)
            fmt = p.clip(-safe, safe).cast(pl.Datetime(unit, "UTC")).dt.strftime(_SHOW)  # type: ignore[arg-type]
            show = pl.when(p.abs() < safe).then(fmt).otherwise(pl.format(f"{{}} {unit} since 1970-01-01", p))
        else:
            sub = sub.with_columns(_quote(shown.gather(out)).alias("s"))
            show = pl.col("s") + pl.lit(suffix)
        reasons = sub.select(
            pl.when(p < lo)
            .then(self.reason(f"{{}} {self.before}", show))
            .otherwise(self.reason(f"{{}} {self.after}", show))
        ).to_series()
        return value, why.scatter(out, reasons)

    def typed(self, raw: pl.Series) -> tuple[pl.Series, pl.Series]:
        """A Parquet TIMESTAMP: with a time zone it is an instant; without one it is naive."""
        dtype = raw.dtype
        assert isinstance(dtype, pl.Datetime)
        if dtype.time_zone is None:
            why = f"column {self.name}: naive timestamp (no time zone; write a Parquet TIMESTAMP with a time zone)"
            return nulls(self.name, raw.len()), _where(raw.is_not_null(), why)
        return self.bounded(raw.to_physical(), dtype.time_unit or "us", None)

    def numbers(self, raw: pl.Series, integral: bool, text: bool) -> tuple[pl.Series, pl.Series]:
        """Epochs (Parquet numbers, or digits in text) read by the declared unit."""
        unit, word = self.window.epoch_unit, "integer" if integral else "number"
        present = raw.is_not_null()
        if unit is None:
            hint = (
                f"is not an ISO 8601 timestamp and has no declared unit ({_NO_UNIT}, or write "
                "ISO 8601 with a UTC offset)"
                if text
                else f"has no declared unit ({_NO_UNIT} or write a Parquet TIMESTAMP with a time zone)"
            )
            why = _quote(raw).to_frame("s").select(self.reason(f"{word} {{}} {hint}", "s")).to_series()
            return nulls(self.name, raw.len()), why.set(~present, None)
        if integral:
            phys, in_unit = raw.cast(pl.Int64, strict=False), unit
        else:  # to whole microseconds; beyond the window is beyond int64 too: clamp, then refuse
            micros = raw.cast(pl.Float64, strict=False) * (1_000_000 / PER_SECOND[unit])
            lo, hi = _epoch_int(self.earliest, "us"), _epoch_int(self.latest, "us")
            phys, in_unit = micros.clip(lo - 1, hi + 1).round().cast(pl.Int64, strict=False), "us"
        value, why = self.bounded(phys, in_unit, raw, f" {unit} since 1970-01-01")
        broken = (phys.is_null() & present).arg_true()  # NaN, or an integer beyond int64
        if broken.len():
            bad = (
                _quote(raw.gather(broken))
                .to_frame("s")
                .select(self.reason(f"{word} {{}} is not a time in {unit} since 1970-01-01", "s"))
                .to_series()
            )
            why = why.scatter(broken, bad)
        return value, why

    # -- text ---------------------------------------------------------------------------------
    def text(self, text: pl.Series, value: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Trimmed text and its fast parse (fast_parse) -> (value, reason)."""
        why = nulls("r", text.len(), pl.String())
        retry = (text.is_not_null() & value.is_null()).arg_true()
        if retry.len():  # only the rows the fast parse failed
            fixed, reasons = self.retry(text.gather(retry))
            value, why = value.scatter(retry, fixed), why.scatter(retry, reasons)
        value, window_why = self.bounded(value.to_physical(), "us", text)
        return value, why.fill_null(window_why)

    def retry(self, text: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Every other spelling accepted (epochs, zone names, …), or the reason."""
        value, why = nulls(self.name, text.len()), nulls("r", text.len(), pl.String())
        integer, decimal = text.str.contains(_INT), text.str.contains(_DECIMAL)
        for mask, integral in ((integer, True), (decimal, False)):
            idx = mask.arg_true()
            if idx.len():
                v, r = self.numbers(text.gather(idx), integral, text=True)
                value, why = _scatter(value, idx, v), _scatter(why, idx, r)
        rest = (~integer & ~decimal).arg_true()
        if rest.len():
            v, r = self.spelled(text.gather(rest))
            value, why = _scatter(value, rest, v), _scatter(why, rest, r)
        return value, why

    def spelled(self, text: pl.Series) -> tuple[pl.Series, pl.Series]:
        """Date-time shapes other than strict RFC 3339: with an offset, a zone name, or none."""
        t, q = pl.col("t"), quoted(pl.col("t"))
        f = text.to_frame("t").with_columns(t.str.extract_groups(_SHAPE).alias("g")).unnest("g")
        date, time, off = pl.col("date"), pl.col("time"), pl.col("off")
        name = pl.coalesce("bracket", "zone")
        clock = time.str.replace(",", ".", literal=True)
        clock = pl.when(time.str.len_chars() == 5).then(clock + ":00").otherwise(clock)
        year = date.str.extract(r"^([+-]?\d+)").cast(pl.Int64, strict=False)
        f = f.with_columns(
            local=(date + "T" + clock).str.to_datetime(_LOCAL, strict=False, time_unit="us"),
            zone_name=name.str.to_lowercase().replace_strict(_zones(), default=None),
            offset_value=(date + "T" + clock + off.str.to_uppercase()).str.to_datetime(
                ISO, strict=False, time_zone="UTC", time_unit="us"
            ),
        )
        reason = (
            pl.when(date.is_null())
            .then(self.reason("not an ISO 8601 timestamp: '{}'", q))
            .when(year < self.earliest.year)
            .then(self.reason(f"{{}} {self.before}", q))
            .when(year > self.latest.year)
            .then(self.reason(f"{{}} {self.after}", q))
            .when(date.str.to_date("%Y-%m-%d", strict=False).is_null())
            .then(self.reason("impossible date {}: '{}'", date, q))
            .when(time.is_null())
            .then(self.reason("a date without a time of day: '{}'", q))
            .when(pl.col("local").is_null())
            .then(self.reason("impossible time of day {}: '{}'", time, q))
            .when(off.is_null() & name.is_null())
            .then(
                self.reason("naive timestamp (no time zone; add a UTC offset such as Z or +01:00): '{}'", q)
            )
            .when(name.is_not_null() & pl.col("zone_name").is_null())
            .then(
                self.reason(
                    "unknown time zone '{}' (write a UTC offset such as +01:00, or an IANA name such "
                    "as Europe/Berlin): '{}'",
                    quoted(name),
                    q,
                )
            )
            .when(off.is_not_null() & pl.col("offset_value").is_null())
            .then(self.reason("impossible UTC offset {}: '{}'", off, q))
        )
        f = f.with_columns(reason.alias("r")).with_row_index("i")
        value = f["offset_value"].set(f["r"].is_not_null(), None)
        why = f["r"]
        zoned = f.filter(pl.col("r").is_null() & pl.col("zone_name").is_not_null())
        for zone in zoned["zone_name"].unique().to_list():  # one pass per zone, not per row
            part = zoned.filter(pl.col("zone_name") == zone)
            v, r = self.in_zone(part, zone)
            value, why = value.scatter(part["i"], v), why.scatter(part["i"], r)
        return value.alias(self.name), why

    def in_zone(self, part: pl.DataFrame, zone: str) -> tuple[pl.Series, pl.Series]:
        """Local times in one IANA zone -> instants. A local time that does not exist or occurs
        twice (DST changes) is refused; a written offset must agree with the zone (Z and -00:00
        say only that the local offset is unknown, RFC 9557)."""
        local, off, q = pl.col("local"), pl.col("off"), quoted(pl.col("t"))
        exact = local.dt.replace_time_zone(zone, ambiguous="null", non_existent="null")
        first = local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
        shown = local.dt.strftime("%Y-%m-%dT%H:%M:%S%.f")
        seen = pl.col("offset_value").dt.convert_time_zone(zone).dt.replace_time_zone(None)
        unknown_offset = off.str.to_uppercase().is_in(["Z", "-00:00", "-0000", "-00"])
        out = part.select(
            pl.when(off.is_not_null())
            .then(pl.col("offset_value"))
            .otherwise(exact.dt.convert_time_zone("UTC"))
            .alias("v"),
            pl.when(off.is_not_null() & ~unknown_offset & (seen != local))
            .then(self.reason(f"offset {{}} does not match time zone {zone} at that time: '{{}}'", off, q))
            .when(off.is_null() & first.is_null())
            .then(
                self.reason(
                    f"local time {{}} does not exist in {zone} (skipped at a DST change; "
                    "write a UTC offset): '{}'",
                    shown,
                    q,
                )
            )
            .when(off.is_null() & exact.is_null())
            .then(
                self.reason(
                    f"local time {{}} is ambiguous in {zone} (it occurs twice at a DST "
                    "change; write a UTC offset): '{}'",
                    shown,
                    q,
                )
            )
            .alias("r"),
        )
        return out["v"].set(out["r"].is_not_null(), None), out["r"]


def trimmed(text: pl.Expr) -> pl.Expr:
    """Timestamp text as parsed: trimmed, empty = missing."""
    return text.cast(pl.String).str.strip_chars().replace("", None)


def fast_parse(text: pl.Expr) -> pl.Expr:
    """The fast path: strict RFC 3339 / ISO 8601 with an offset, over trimmed text."""
    return text.str.to_datetime(ISO, strict=False, time_zone="UTC", time_unit="us")


def is_text(dtype: pl.DataType) -> bool:
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def parse_times(
    name: str, raw: pl.Series, window: TimeWindow, fast: pl.Series | None = None
) -> tuple[pl.Series, pl.Series]:
    """(value as Datetime(us, UTC), reason or null) for one timestamp column of any type. A
    null or empty value has neither: whether it may be missing is the caller's business.
    For text, a caller may pass the trimmed text as `raw` and its fast_parse as `fast` (to run
    the fast parse of several columns in parallel, in one select)."""
    col = _Column(name, window, planned=name in PLANNED_COLUMNS)
    dtype = raw.dtype
    if is_text(dtype):
        if fast is None:
            raw = raw.to_frame("t").select(trimmed(pl.col("t"))).to_series()
            fast = raw.to_frame("t").select(fast_parse(pl.col("t"))).to_series()
        value, why = col.text(raw, fast)
    elif isinstance(dtype, pl.Datetime):
        value, why = col.typed(raw)
    elif dtype.is_integer() or dtype.is_float():
        value, why = col.numbers(raw, dtype.is_integer(), text=False)
    elif dtype == pl.Null:
        value, why = nulls(name, raw.len()), nulls("r", raw.len(), pl.String())
    else:
        what = (
            "a date without a time of day" if dtype == pl.Date else f"Parquet type {dtype}, not a timestamp"
        )
        value, why = nulls(name, raw.len()), _where(raw.is_not_null(), f"column {name}: {what}")
    return value.cast(TS).alias(name), why.alias("reason")
