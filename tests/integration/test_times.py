"""Times that break the store (issue 7, item 4): a plausible window, integer epochs by declared
unit, zone names by their rules, and a reason that names the real problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderscope.config import Settings
from orderscope.domain.sources import SOURCE_KINDS, kind
from orderscope.ingest.pipeline import ingest_folder
from orderscope.ingest.readers import ROW, discover, read
from orderscope.ingest.timestamps import PLANNED_COLUMNS
from orderscope.ingest.validate import REASON_MAX, TimeWindow, validate
from orderscope.views.snapshot import build_snapshot

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)
W = TimeWindow.default(now=NOW)
LATEST = "latest 2026-12-04T07:00:00Z = now + 48 h; set ORDERSCOPE_EVENT_TIME_MAX_AHEAD_HOURS"
EARLIEST = "earliest 2000-01-01T00:00:00Z; set ORDERSCOPE_EVENT_TIME_MIN"
NO_UNIT = "set ORDERSCOPE_EPOCH_UNIT=s|ms|us|ns"


def _events(values: list, window: TimeWindow = W) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = len(values)
    frame = pl.DataFrame(
        {
            ROW: list(range(1, n + 1)),
            "event_id": [f"E{i}" for i in range(n)],
            "order_id": ["O1"] * n,
            "at": values,
            "actor_id": ["u1"] * n,
            "actor_role": ["user"] * n,
            "to_state": ["CREATED"] * n,
        }
    )
    return validate(kind("order_events"), frame, window)


def _outcome(values: list, window: TimeWindow = W) -> list[str]:
    """Per value: the accepted instant as ISO text, or the reason."""
    good, bad = _events(values, window)
    out = dict(zip(good[ROW], good["at"].dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"), strict=False))
    out.update(zip(bad[ROW], bad["reason"], strict=False))
    return [out[i + 1] for i in range(len(values))]


def test_years_0000_and_12026_are_rejected_before_the_stores():
    assert _outcome(["0000-01-01T00:00:00Z", "+12026-01-01T00:00:00Z", "0000-06-15T10:00:00+02:00"]) == [
        f"column at: 0000-01-01T00:00:00Z is before the accepted window ({EARLIEST})",
        f"column at: +12026-01-01T00:00:00Z is after the accepted window ({LATEST})",
        f"column at: 0000-06-15T10:00:00+02:00 is before the accepted window ({EARLIEST})",
    ]


def test_far_events_are_quarantined_and_never_move_the_data_clock(generated, copy_of, embedded):
    """One event each dated 9999-12-31, year 0000 and year +12026 for real orders: all three
    quarantined with the window as reason, the data clock is that of the clean file, and the
    snapshot of those orders still builds."""
    folder = copy_of(generated())
    events = folder / "order_events.jsonl"
    lines = [json.loads(line) for line in events.read_text().splitlines() if line.strip()]
    clean_clock = max(datetime.fromisoformat(e["at"]) for e in lines)
    far = {
        "EV-9999": "9999-12-31T00:00:00Z",
        "EV-0000": "0000-01-01T00:00:00Z",
        "EV-12026": "+12026-03-01T00:00:00Z",
    }
    picked = [lines[0], lines[len(lines) // 2], lines[-1]]
    with events.open("a") as f:
        for (event_id, at), base in zip(far.items(), picked, strict=False):
            f.write(json.dumps(dict(base, event_id=event_id, at=at)) + "\n")
    report = ingest_folder(folder, embedded).to_dict()
    counts = report["kinds"]["order_events"]
    assert (counts["rows_read"], counts["accepted"], counts["rejected"], counts["duplicate"]) == (
        len(lines) + 3,
        len(lines),
        3,
        0,
    )
    reasons = sorted(embedded.series.quarantine_rows(100)["reason"].to_list())
    assert len(reasons) == 3
    assert reasons[0].startswith("column at: +12026-03-01T00:00:00Z is after the accepted window (latest ")
    assert reasons[1] == f"column at: 0000-01-01T00:00:00Z is before the accepted window ({EARLIEST})"
    assert reasons[2].startswith("column at: 9999-12-31T00:00:00Z is after the accepted window (latest ")
    assert reasons[2].endswith(" = now + 48 h; set ORDERSCOPE_EVENT_TIME_MAX_AHEAD_HOURS)")
    assert embedded.series.data_clock() == clean_clock
    for base in picked:
        snap = build_snapshot(embedded, base["order_id"])
        assert snap["order_id"] == base["order_id"]
        assert all(e["at"].year == 2026 for e in snap["events"])


def _climate_parquet(folder: Path, at: pa.Array) -> Path:
    n = len(at)
    table = pa.table(
        {
            "sensor_id": [f"S{i}" for i in range(n)],
            "warehouse_id": ["W"] * n,
            "zone_id": ["Z"] * n,
            "at": at,
            "temperature_c": [20.0] * n,
            "humidity_pct": [45.0] * n,
        }
    )
    pq.write_table(table, folder / "climate_readings.parquet")
    return folder


def _read_validate(folder: Path, window: TimeWindow = W) -> tuple[pl.DataFrame, pl.DataFrame]:
    (source,), _ = discover(folder)
    return validate(source.kind, read(source).rows, window)


EPOCH_MS = [1767225600000, 1767225600123]  # 2026-01-01T00:00:00Z and .123


def test_epoch_ms_parquet_without_a_declared_unit_is_rejected_clearly(tmp_path):
    good, bad = _read_validate(_climate_parquet(tmp_path, pa.array(EPOCH_MS, pa.int64())))
    assert good.height == 0
    assert bad["reason"].to_list() == [
        f"column at: integer {v} has no declared unit ({NO_UNIT} or write a Parquet TIMESTAMP "
        "with a time zone)"
        for v in EPOCH_MS
    ]


def test_epoch_ms_parquet_with_a_declared_unit_is_read_exactly(tmp_path):
    folder = _climate_parquet(tmp_path, pa.array(EPOCH_MS, pa.int64()))
    good, bad = _read_validate(folder, TimeWindow(W.earliest, W.latest, epoch_unit="ms", now=NOW))
    assert bad.height == 0
    assert good["at"].dtype == pl.Datetime("us", "UTC")
    assert good["at"].to_list() == [
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC),
    ]
    # The wrong unit says what the number was read as.
    for unit, side in (("s", "after"), ("us", "before")):
        window = TimeWindow(W.earliest, W.latest, epoch_unit=unit, now=NOW)
        good, bad = _read_validate(folder, window)
        assert good.height == 0
        assert bad["reason"][0].startswith(
            f"column at: 1767225600000 {unit} since 1970-01-01 is {side} the accepted window"
        )


def test_epoch_json_number_by_declared_unit(tmp_path):
    line = {
        "event_id": "E1",
        "order_id": "O1",
        "at": 1767225600123,
        "actor_id": "u1",
        "actor_role": "user",
        "to_state": "CREATED",
    }
    (tmp_path / "order_events.jsonl").write_text(json.dumps(line) + "\n")
    good, bad = _read_validate(tmp_path)
    assert bad["reason"].to_list() == [
        (
            f"column at: integer 1767225600123 is not an ISO 8601 timestamp and has no declared unit "
            f"({NO_UNIT}, or write ISO 8601 with a UTC offset)"
        )
    ]
    good, bad = _read_validate(tmp_path, TimeWindow(W.earliest, W.latest, epoch_unit="ms", now=NOW))
    assert bad.height == 0 and good["at"][0] == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)


def test_parquet_timestamps_with_zone_stay_typed_and_far_ones_are_refused(tmp_path):
    ms = [1767225600123, -62167219200000, 2**62]  # 2026, year 0000, far beyond any calendar
    good, bad = _read_validate(
        _climate_parquet(tmp_path, pa.array(ms, pa.timestamp("ms", tz="Europe/Berlin")))
    )
    assert good["at"].to_list() == [datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=UTC)]
    assert bad["reason"].to_list() == [
        f"column at: 0000-01-01T00:00:00Z is before the accepted window ({EARLIEST})",
        f"column at: {2**62} ms since 1970-01-01 is after the accepted window ({LATEST})",
    ]


def test_iana_zone_names_are_read_by_the_zone_rules():
    assert _outcome(
        [
            "2026-11-02T10:00:00 Europe/Berlin",  # CET, +01:00
            "2026-07-01T10:00:00 Europe/Berlin",  # CEST, +02:00
            "2026-11-02T10:00:00[Europe/Berlin]",  # RFC 9557
            "2026-11-02T10:00:00+01:00[Europe/Berlin]",  # offset and zone agree
            "2026-11-02T10:00:00Z[Europe/Berlin]",  # Z: the instant, local offset unknown
            "2026-11-02T10:00:00 CET",
            "2026-11-02 10:00:00.250 Asia/Shanghai",
            "2026-11-02T10:00:00 europe/berlin",
            "2026-11-02T10:00:00 UTC",
        ]
    ) == [
        "2026-11-02T09:00:00Z",
        "2026-07-01T08:00:00Z",
        "2026-11-02T09:00:00Z",
        "2026-11-02T09:00:00Z",
        "2026-11-02T10:00:00Z",
        "2026-11-02T09:00:00Z",
        "2026-11-02T02:00:00.250Z",
        "2026-11-02T09:00:00Z",
        "2026-11-02T10:00:00Z",
    ]


def test_zone_problems_are_named():
    assert _outcome(
        [
            "2026-11-02T10:00:00 CEST",
            "2026-11-02T10:00:00[Mars/Olympus]",
            "2026-11-02T10:00:00+02:00[Europe/Berlin]",
        ]
    ) == [
        (
            "column at: unknown time zone 'CEST' (write a UTC offset such as +01:00, or an IANA name "
            "such as Europe/Berlin): '2026-11-02T10:00:00 CEST'"
        ),
        (
            "column at: unknown time zone 'Mars/Olympus' (write a UTC offset such as +01:00, or an IANA "
            "name such as Europe/Berlin): '2026-11-02T10:00:00[Mars/Olympus]'"
        ),
        (
            "column at: offset +02:00 does not match time zone Europe/Berlin at that time: "
            "'2026-11-02T10:00:00+02:00[Europe/Berlin]'"
        ),
    ]


def test_dst_edges_with_offsets_parse_exactly_to_the_millisecond():
    assert _outcome(
        [
            "2026-03-29T01:59:59.999+01:00",  # last instant of CET before the spring change
            "2026-03-29T03:00:00.001+02:00",  # first of CEST after it
            "2026-10-25T02:30:00.500+02:00",  # the autumn hour, first pass (CEST)
            "2026-10-25T02:30:00.500+01:00",  # the same wall time, second pass (CET)
            "2026-10-25T02:30:00.500+01:00[Europe/Berlin]",
            "2026-10-25T02:30:00.500+02:00[Europe/Berlin]",
            "2026-10-25T02:59:59.999+02:00",
        ]
    ) == [
        "2026-03-29T00:59:59.999Z",
        "2026-03-29T01:00:00.001Z",
        "2026-10-25T00:30:00.500Z",
        "2026-10-25T01:30:00.500Z",
        "2026-10-25T01:30:00.500Z",
        "2026-10-25T00:30:00.500Z",
        "2026-10-25T00:59:59.999Z",
    ]


def test_dst_gap_and_overlap_local_times_are_refused_with_the_reason():
    assert _outcome(
        [
            "2026-03-29T02:30:00 Europe/Berlin",
            "2026-10-25T02:30:00 Europe/Berlin",
            "2026-03-29T02:30:00+01:00[Europe/Berlin]",
        ]
    ) == [
        (
            "column at: local time 2026-03-29T02:30:00 does not exist in Europe/Berlin (skipped at a DST "
            "change; write a UTC offset): '2026-03-29T02:30:00 Europe/Berlin'"
        ),
        (
            "column at: local time 2026-10-25T02:30:00 is ambiguous in Europe/Berlin (it occurs twice at "
            "a DST change; write a UTC offset): '2026-10-25T02:30:00 Europe/Berlin'"
        ),
        (
            "column at: offset +01:00 does not match time zone Europe/Berlin at that time: "
            "'2026-03-29T02:30:00+01:00[Europe/Berlin]'"
        ),
    ]


def test_impossible_dates_times_and_offsets_are_named():
    assert _outcome(
        [
            "2026-02-30T10:00:00Z",
            "2025-02-29T10:00:00Z",
            "2026-04-31T10:00:00+01:00",
            "2026-13-01T10:00:00Z",
            "2026-11-02T24:00:00Z",
            "2026-11-02T10:00:00+25:00",
            "2026-02-30T10:00:00 Europe/Berlin",
            "2024-02-29T10:00:00Z",
        ]
    ) == [
        "column at: impossible date 2026-02-30: '2026-02-30T10:00:00Z'",
        "column at: impossible date 2025-02-29: '2025-02-29T10:00:00Z'",
        "column at: impossible date 2026-04-31: '2026-04-31T10:00:00+01:00'",
        "column at: impossible date 2026-13-01: '2026-13-01T10:00:00Z'",
        "column at: impossible time of day 24:00:00: '2026-11-02T24:00:00Z'",
        "column at: impossible UTC offset +25:00: '2026-11-02T10:00:00+25:00'",
        "column at: impossible date 2026-02-30: '2026-02-30T10:00:00 Europe/Berlin'",
        "2024-02-29T10:00:00Z",
    ]


def test_every_failed_timestamp_names_its_problem():
    huge = "2026-11-02T10:00:00Z" + "x" * 10_000_000
    out = _outcome(
        [
            "2026-11-02T10:00:00",
            "2026-11-02",
            "garbage",
            "1767225600",
            huge,
            "2026-11-02 10:00z",
            "2026-12-24T00:00:00Z",
        ]
    )
    assert out[:4] == [
        (
            "column at: naive timestamp (no time zone; add a UTC offset such as Z or +01:00): "
            "'2026-11-02T10:00:00'"
        ),
        "column at: a date without a time of day: '2026-11-02'",
        "column at: not an ISO 8601 timestamp: 'garbage'",
        (
            f"column at: integer 1767225600 is not an ISO 8601 timestamp and has no declared unit "
            f"({NO_UNIT}, or write ISO 8601 with a UTC offset)"
        ),
    ]
    assert out[4] == f"column at: not an ISO 8601 timestamp: '{huge[:200]}…'"
    assert out[5] == "2026-11-02T10:00:00Z"  # RFC 3339: a space, lower case, no seconds (ISO 8601)
    assert out[6] == f"column at: 2026-12-24T00:00:00Z is after the accepted window ({LATEST})"


def test_many_bad_columns_keep_the_reason_short():
    k = kind("orders")
    junk = "y" * 5000
    row = {c.name: junk for c in k.columns}
    _good, bad = validate(k, pl.DataFrame([row]).with_columns(pl.lit(1, pl.Int64).alias(ROW)), W)
    (reason,) = bad["reason"].to_list()
    assert len(reason) == REASON_MAX and reason.endswith("…")
    assert reason.startswith("column quantity: not an integer: '" + "y" * 200 + "…'")


def test_planned_times_may_lie_ahead_occurrences_may_not():
    k = kind("equipment_calibrations")
    frame = pl.DataFrame(
        {
            ROW: [1, 2, 3],
            "calibration_id": ["C1", "C2", "C3"],
            "equipment_id": ["EQ"] * 3,
            "warehouse_id": ["W"] * 3,
            "zone_id": ["Z"] * 3,
            "result": ["pass"] * 3,
            "calibrated_at": ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z", "2026-12-10T10:00:00Z"],
            "due_at": ["2027-11-20T10:00:00Z", "2207-11-20T10:00:00Z", "2027-01-10T10:00:00Z"],
        }
    )
    good, bad = validate(k, frame, W)
    assert good["calibration_id"].to_list() == ["C1"]
    assert bad["reason"].to_list() == [
        (
            "column due_at: 2207-11-20T10:00:00Z is after the accepted window for planned times "
            "(latest 2031-12-06T07:00:00Z = now + 1830 days; set ORDERSCOPE_PLANNED_TIME_MAX_AHEAD_DAYS)"
        ),
        f"column calibrated_at: 2026-12-10T10:00:00Z is after the accepted window ({LATEST})",
    ]
    assert {"promised_at", "due_at"} == PLANNED_COLUMNS


def test_window_from_settings_and_environment(monkeypatch):
    monkeypatch.setenv("ORDERSCOPE_EVENT_TIME_MIN", "2020-06-01")  # naive: taken as UTC
    monkeypatch.setenv("ORDERSCOPE_EVENT_TIME_MAX_AHEAD_HOURS", "1.5")
    monkeypatch.setenv("ORDERSCOPE_PLANNED_TIME_MAX_AHEAD_DAYS", "10")
    monkeypatch.setenv("ORDERSCOPE_EPOCH_UNIT", "ms")
    window = TimeWindow.from_settings(Settings(), now=datetime(2026, 12, 2, 7, 0, 30, 999, tzinfo=UTC))
    assert window == TimeWindow(
        earliest=datetime(2020, 6, 1, tzinfo=UTC),
        latest=datetime(2026, 12, 2, 8, 30, 30, tzinfo=UTC),
        planned_latest=datetime(2026, 12, 12, 7, 0, 30, tzinfo=UTC),
        epoch_unit="ms",
        now=datetime(2026, 12, 2, 7, 0, 30, tzinfo=UTC),
    )
    assert _outcome(["2026-12-02T08:30:31Z"], window) == [
        (
            "column at: 2026-12-02T08:30:31Z is after the accepted window (latest 2026-12-02T08:30:30Z "
            "= now + 1.5 h; set ORDERSCOPE_EVENT_TIME_MAX_AHEAD_HOURS)"
        )
    ]
    default = TimeWindow.default()  # the defaults, not the environment
    assert default.epoch_unit is None and default.earliest == datetime(2000, 1, 1, tzinfo=UTC)
    assert timedelta(hours=47) < default.latest - datetime.now(UTC) <= timedelta(hours=48)
    with pytest.raises(ValueError, match="empty"):
        TimeWindow(NOW, NOW)


@pytest.mark.parametrize("now", [None, datetime(2036, 1, 1, tzinfo=UTC)])
def test_generated_data_is_accepted_today_and_later(generated, now):
    folder = generated()
    window = TimeWindow.default(now=now)
    files, _ = discover(folder)
    assert {f.kind.name for f in files} == {k.name for k in SOURCE_KINDS}
    for source in files:
        _good, bad = validate(source.kind, read(source).rows, window)
        assert bad.height == 0, (source.kind.name, bad.head(3).to_dicts())


# -- properties -------------------------------------------------------------------------------

_ZONES = st.sampled_from(
    [
        "Europe/Berlin",
        "CET",
        "America/New_York",
        "Asia/Kolkata",
        "UTC",
        "CEST",
        "Mars/Olympus",
        "Australia/Lord_Howe",
    ]
)
_OFFSETS = st.sampled_from(["Z", "z", "+01:00", "+02:00", "-05:30", "+14:00", "+2400", "-00:00", ""])
_DATES = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.datetimes(min_value=datetime(1999, 12, 31), max_value=datetime(2027, 1, 1)),
)
_TEXT_TS = st.one_of(
    st.text(max_size=40),
    st.integers().map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.builds(lambda d, o: d.isoformat(timespec="milliseconds") + o, _DATES, _OFFSETS),
    st.builds(
        lambda d, z, sep: d.isoformat(sep=sep) + (f"[{z}]" if sep == "T" else f" {z}"),
        _DATES,
        _ZONES,
        st.sampled_from(["T", " "]),
    ),
    st.builds(
        lambda y, m, d, h: f"{y:+05d}-{m:02d}-{d:02d}T{h:02d}:00:00Z",
        st.integers(-99999, 99999),
        st.integers(0, 99),
        st.integers(0, 99),
        st.integers(0, 99),
    ),
    st.none(),
)
_TEXT = st.one_of(
    st.text(max_size=30),
    st.integers().map(str),
    st.floats().map(str),
    st.sampled_from(["true", "no", "T", "", " 1 "]),
    st.none(),
)
_WINDOWS = st.builds(
    lambda unit, hours: TimeWindow(W.earliest, NOW + timedelta(hours=hours), epoch_unit=unit, now=NOW),
    st.sampled_from([None, "s", "ms", "us", "ns"]),
    st.sampled_from([0, 48, 24 * 365]),
)
_PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(k, frame: pl.DataFrame, window: TimeWindow) -> None:
    good, bad = validate(k, frame, window)
    assert sorted(good[ROW].to_list() + bad[ROW].to_list()) == frame[ROW].to_list()
    for reason in bad["reason"]:
        assert reason and len(reason) <= REASON_MAX
    for c in k.columns:
        if c.type == "ts":
            latest = window.latest_for(c.name in PLANNED_COLUMNS)
            values = good[c.name].drop_nulls()
            assert good.schema[c.name] == pl.Datetime("us", "UTC")
            assert values.is_empty() or (values.min() >= window.earliest and values.max() <= latest)
        elif c.type in ("int", "float", "bool"):
            assert good.schema[c.name] == {"int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean}[c.type]


@_PROPERTY
@given(st.lists(st.tuples(_TEXT_TS, _TEXT_TS, _TEXT, _TEXT, _TEXT), min_size=1, max_size=12), _WINDOWS)
def test_property_text_columns_never_crash_and_always_explain(rows, window):
    k = kind("orders")
    base = {c.name: "x" for c in k.columns}
    records = [
        dict(base, created_at=a, promised_at=b, quantity=q, amount=m, cross_border=x)
        for a, b, q, m, x in rows
    ]
    frame = pl.DataFrame(records, schema={c.name: pl.String for c in k.columns})
    _check(k, frame.with_row_index(ROW, offset=1).with_columns(pl.col(ROW).cast(pl.Int64)), window)


_I64 = st.integers(-(2**63) + 1, 2**63 - 1)
_TYPED_TS = st.one_of(
    st.lists(st.one_of(_I64, st.integers(946_684_800_000, 1_796_000_000_000)), min_size=1, max_size=8).map(
        lambda v: pl.Series("at", v, pl.Int64)
    ),
    st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=8).map(lambda v: pl.Series("at", v, pl.UInt64)),
    st.lists(st.floats(), min_size=1, max_size=8).map(lambda v: pl.Series("at", v, pl.Float64)),
    st.builds(
        lambda v, unit, tz: pl.Series("at", v, pl.Int64).cast(pl.Datetime(unit, tz)),
        st.lists(_I64, min_size=1, max_size=8),
        st.sampled_from(["ms", "us", "ns"]),
        st.sampled_from([None, "UTC", "Europe/Berlin"]),
    ),
)


@_PROPERTY
@given(_TYPED_TS, st.data(), _WINDOWS)
def test_property_typed_parquet_columns_never_crash_and_always_explain(at, data, window):
    n = at.len()
    load = data.draw(
        st.one_of(
            st.lists(st.floats(), min_size=n, max_size=n).map(lambda v: pl.Series(v, dtype=pl.Float64)),
            st.lists(st.booleans(), min_size=n, max_size=n).map(lambda v: pl.Series(v, dtype=pl.Boolean)),
        )
    )
    capacity = data.draw(
        st.one_of(
            st.lists(st.floats(), min_size=n, max_size=n).map(lambda v: pl.Series(v, dtype=pl.Float64)),
            st.lists(_I64, min_size=n, max_size=n).map(lambda v: pl.Series(v, dtype=pl.Int64)),
            st.lists(st.integers(0, 2**64 - 1), min_size=n, max_size=n).map(
                lambda v: pl.Series(v, dtype=pl.UInt64)
            ),
        )
    )
    frame = pl.DataFrame(
        {
            ROW: list(range(1, n + 1)),
            "carrier_id": ["C"] * n,
            "hub_id": ["H"] * n,
            "at": at,
            "load_pct": load,
            "capacity_parcels": capacity,
        }
    )
    _check(kind("carrier_capacity"), frame, window)
