"""Property tests for the readers (issue 7): whatever the bytes, read_chunks either raises
UnreadableFile (naming the file) or returns batches whose rows and rejects account for every
record, numbered from 1; never another exception, never a hang. Valid content survives any
Unicode encoding, and CSV written by Python's csv module reads back exactly."""

from __future__ import annotations

import csv
import io
import json
import random
import tempfile
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from orderscope.domain.sources import kind
from orderscope.ingest.readers import (
    MAX_RECORD_BYTES,
    ROW,
    ReadResult,
    UnreadableFile,
    discover,
    read_chunks,
)
from orderscope.ingest.textfiles import MAX_RAW_CHARS

pytestmark = pytest.mark.timeout(120)  # a hang fails the test instead of stalling the run

SETTINGS = settings(
    max_examples=40,
    deadline=None,  # shared cores: time is bounded by max_examples and the timeout above
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,  # the same examples on every run: a failure reproduces
)
ORDERS = kind("orders")
EVENTS = kind("order_events")
CLIMATE = kind("climate_readings")
NAMES = {"csv": "orders.csv", "jsonl": "order_events.jsonl", "parquet": "climate_readings.parquet"}


def outcome(name: str, data: bytes, chunk_rows: int | None = None) -> list[ReadResult] | None:
    """The batches of a file holding `data`, checked for the invariants every read must keep,
    or None when the file is refused as a whole (with a message that names it)."""
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / name).write_bytes(data)
        (source,), _ = discover(Path(folder))
        try:
            parts = list(read_chunks(source, chunk_rows))
        except UnreadableFile as e:
            assert str(e).startswith(f"{name}: ") and len(str(e)) < 400, str(e)
            assert "cannot be read (" not in str(e), str(e)  # the safety net: an unforeseen error
            return None
    assert parts
    for p in parts:
        assert p.rows_read == p.rows.height + p.rejects.height
        assert p.rows.schema[ROW] == pl.Int64 and p.rejects.schema[ROW] == pl.Int64
        assert p.rejects["reason"].null_count() == 0
        assert all(0 < len(r) < 400 for r in p.rejects["reason"])
        assert all(len(r) <= MAX_RAW_CHARS + 40 for r in p.rejects["raw"].drop_nulls())
    numbers = [n for p in parts for n in (*p.rows[ROW], *p.rejects[ROW])]
    assert len(numbers) == len(set(numbers)) and all(n >= 1 for n in numbers)
    return parts


def numbers(parts: list[ReadResult]) -> list[int]:
    return sorted(n for p in parts for n in (*p.rows[ROW], *p.rejects[ROW]))


def rows_of(parts: list[ReadResult]) -> pl.DataFrame:
    return pl.concat([p.rows for p in parts], how="diagonal_relaxed")


def non_blank(lines: list[bytes]) -> int:
    return sum(1 for line in lines if line.strip(b" \t\r\n"))


@pytest.fixture(scope="module")
def samples(generated) -> dict[str, bytes]:
    folder = generated()
    events = (folder / "order_events.jsonl").read_bytes().split(b"\n")[:400]
    return {
        "csv": (folder / "orders.csv").read_bytes(),
        "jsonl": b"\n".join(events) + b"\n",
        "parquet": (folder / "carrier_capacity.parquet").read_bytes(),
    }


# -- arbitrary bytes ------------------------------------------------------------------------

_PIECES = [
    ",",
    '"',
    "\n",
    "\r\n",
    "\r",
    " ",
    "\t",
    "a",
    "1",
    "é",
    "\x00",
    "\x1f",
    "{",
    "}",
    ":",
    "[",
    "]",
    "\\",
    "\\u0000",
    '"order_id"',
    "\ufeff",
    "ü",
]
_TEXT = st.lists(st.sampled_from(_PIECES) | st.text(max_size=5), max_size=300).map("".join)
_BYTES = st.one_of(
    st.binary(max_size=3000),
    _TEXT.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(_TEXT, st.sampled_from(["utf-16", "utf-16-le", "latin-1", "utf-32"])).map(
        lambda te: te[0].encode(te[1], "replace")
    ),
)


@SETTINGS
@given(data=_BYTES, header=st.booleans(), chunk_rows=st.sampled_from([None, 1, 7]))
def test_csv_any_bytes(data, header, chunk_rows):
    if header:
        data = ",".join(c.name for c in ORDERS.columns).encode() + b"\n" + data
    parts = outcome("orders.csv", data, chunk_rows)
    if parts is not None:
        found = numbers(parts)
        assert found == list(range(1, len(found) + 1))  # CSV records count from 1, no gaps
        assert len(found) <= data.count(b"\n") + data.count(b"\r") + 1


@SETTINGS
@given(data=_BYTES, chunk_rows=st.sampled_from([None, 1, 7]))
@example(data=b"\n\r\n", chunk_rows=None)  # CRLF mixed with LF stopped DuckDB's line reader
@example(data=b"\r\t", chunk_rows=None)  # a blank line holding a carriage return
def test_jsonl_any_bytes(data, chunk_rows):
    parts = outcome("order_events.jsonl", data, chunk_rows)
    if parts is None:
        return
    lines = data.split(b"\n")
    assert all(n <= len(lines) for n in numbers(parts))  # JSON Lines rows are line numbers
    if parts[-1].encoding in ("UTF-8", "UTF-8 with a BOM"):
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        assert len(numbers(parts)) == non_blank(body.split(b"\n"))


@SETTINGS
@given(data=st.binary(max_size=2000), framed=st.booleans())
def test_parquet_any_bytes(data, framed):
    if framed:  # magic at both ends, so that pyarrow itself gets to read the footer
        data = b"PAR1" + data + b"PAR1"
    outcome("climate_readings.parquet", data)


# -- truncations ----------------------------------------------------------------------------


@SETTINGS
@given(
    fmt=st.sampled_from(["csv", "jsonl", "parquet"]),
    cut=st.floats(0, 1),
    chunk_rows=st.sampled_from([None, 3, 50]),
)
def test_truncated_files(samples, fmt, cut, chunk_rows):
    full = samples[fmt]
    data = full[: int(len(full) * cut)]
    parts = outcome(NAMES[fmt] if fmt != "parquet" else "carrier_capacity.parquet", data, chunk_rows)
    lines = data.split(b"\n")
    if fmt == "csv":
        assert b'"' not in full  # so that every non-blank line after the header is a record
        if not data:
            assert parts is None
        else:
            assert parts is not None and numbers(parts) == list(range(1, non_blank(lines[1:]) + 1))
    elif fmt == "jsonl":
        assert parts is not None and len(numbers(parts)) == non_blank(lines)
        assert rows_of(parts).height >= non_blank(lines) - 1  # at most the cut line is broken
    elif data == full:
        assert parts is not None and rows_of(parts).height == pq.read_metadata(io.BytesIO(full)).num_rows
    else:
        assert parts is None


# -- encodings ------------------------------------------------------------------------------

_UNICODE = ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32"]
_ACCENTED = st.text(alphabet="éüßçñÅøÉ", min_size=1, max_size=4)


@SETTINGS
@given(
    fmt=st.sampled_from(["csv", "jsonl"]),
    encoding=st.sampled_from([*_UNICODE, "latin-1", "cp1252"]),
    marked=st.sets(st.integers(1, 399), max_size=6),
    accent=_ACCENTED,
)
def test_encodings(samples, fmt, encoding, marked, accent):
    lines = samples[fmt].decode().rstrip("\n").split("\n")
    first = 1 if fmt == "csv" else 0  # a data record's index in lines
    for r in marked:
        line = lines[r - 1 + first]
        lines[r - 1 + first] = line.replace(line.split(",")[1], line.split(",")[1].replace("0", accent, 1), 1)
    changed = sorted(
        r for r in marked if lines[r - 1 + first] != samples[fmt].decode().split("\n")[r - 1 + first]
    )
    text = "\n".join(lines) + "\n"
    plain = outcome(NAMES[fmt], text.encode())
    parts = outcome(NAMES[fmt], text.encode(encoding))
    assert plain is not None and parts is not None
    if encoding in _UNICODE:
        assert rows_of(parts).equals(rows_of(plain))
        assert sum(p.rejects.height for p in parts) == sum(p.rejects.height for p in plain)
    else:  # a Latin-1 file: the lines with a non-ASCII byte are rejected, by line, the rest arrive
        rejected = sorted(
            n for p in parts for n in p.rejects.filter(pl.col("reason").str.contains("not UTF-8 text"))[ROW]
        )
        assert rejected == changed
        assert len(numbers(parts)) == len(numbers(plain))


# -- huge fields ----------------------------------------------------------------------------


@settings(SETTINGS, max_examples=12)
@given(
    fmt=st.sampled_from(["csv", "jsonl"]),
    at=st.integers(1, 300),
    size=st.one_of(
        st.integers(MAX_RECORD_BYTES - 300, MAX_RECORD_BYTES + 300), st.integers(1, 3 * MAX_RECORD_BYTES)
    ),
    careful=st.booleans(),
)
def test_huge_fields(samples, fmt, at, size, careful):
    lines = samples[fmt].rstrip(b"\n").split(b"\n")
    i = at if fmt == "csv" else at - 1
    if fmt == "csv":
        fields = lines[i].split(b",")
        fields[1] = b"x" * max(0, size - (len(lines[i]) - len(fields[1])))
        lines[i] = b",".join(fields)
    else:
        record = json.loads(lines[i])
        record["evidence"] = ""
        pad = size - len(json.dumps(record, separators=(",", ":")))
        record["evidence"] = "x" * max(0, pad)
        lines[i] = json.dumps(record, separators=(",", ":")).encode()
    if careful:  # a NUL line at the end sends the file the careful way
        lines.append(b"\0")
    parts = outcome(NAMES[fmt], b"\n".join(lines) + b"\n")
    assert parts is not None
    rejects = pl.concat([p.rejects for p in parts])
    rows = rows_of(parts)
    assert rows.height + rejects.height == len(lines) - (fmt == "csv")
    if len(lines[i]) > MAX_RECORD_BYTES:
        assert at in rejects[ROW].to_list()
        reason = rejects.filter(pl.col(ROW) == at)["reason"][0]
        assert reason.endswith(f"the line is {len(lines[i]):,} bytes, over the 1,048,576-byte limit")
    else:
        assert at in rows[ROW].to_list()


# -- keys and columns -----------------------------------------------------------------------

_KEYS = st.sampled_from([c.name for c in EVENTS.columns] + ["note", "Order_ID", "zz", ""])
_VALUES = st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5), st.booleans())


@SETTINGS
@given(
    objects=st.lists(st.lists(st.tuples(_KEYS, _VALUES), max_size=14), min_size=1, max_size=30),
    chunk_rows=st.sampled_from([None, 4]),
)
def test_jsonl_duplicate_and_unknown_keys(objects, chunk_rows):
    known = {c.name for c in EVENTS.columns}
    lines = ["{" + ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in pairs) + "}" for pairs in objects]
    text = "\n".join(lines)
    parts = outcome("order_events.jsonl", text.encode(), chunk_rows)
    assert parts is not None
    unknown = list(dict.fromkeys(k for pairs in objects for k, _ in pairs if k not in known))
    assert list(parts[-1].ignored_columns) == unknown
    repeats = {
        n
        for n, pairs in enumerate(objects, start=1)
        if len([k for k, _ in pairs if k in known]) > len({k for k, _ in pairs if k in known})
    }
    nul = {n for n, line in enumerate(lines, start=1) if "\\u0000" in line}  # rejected too
    rejects = pl.concat([p.rejects for p in parts])
    assert set(rejects[ROW]) == repeats | nul
    rows = rows_of(parts)
    for row in rows.iter_rows(named=True):
        given_values = dict(objects[row[ROW] - 1])
        for name, value in given_values.items():
            if name in known and name not in ("diff", "impact") and isinstance(value, str):
                assert row[name] == value


_FIELD = st.text(alphabet=st.sampled_from(list("ab ,\"\n\r\té€😀\\'")), max_size=12)


@SETTINGS
@given(
    records=st.lists(st.lists(_FIELD, min_size=14, max_size=14), max_size=25),
    ending=st.sampled_from(["\n", "\r\n"]),
    careful=st.booleans(),
    chunk_rows=st.sampled_from([None, 3]),
)
def test_csv_written_by_the_csv_module_reads_back(records, ending, careful, chunk_rows):
    out = io.StringIO()
    # QUOTE_MINIMAL quotes a field holding a character of the line terminator only: with "\n"
    # a lone "\r" would go out bare (a line ending to any reader), so quote every field then
    writer = csv.writer(
        out, lineterminator=ending, quoting=csv.QUOTE_MINIMAL if ending == "\r\n" else csv.QUOTE_ALL
    )
    writer.writerow([c.name for c in ORDERS.columns])
    writer.writerows(records)
    data = out.getvalue().encode() + (b"\0\n" if careful else b"")
    parts = outcome("orders.csv", data, chunk_rows)
    assert parts is not None
    rows = rows_of(parts)
    expected = [[v or None for v in r] for r in records]
    assert [list(r[1:]) for r in rows.iter_rows()] == expected
    assert rows[ROW].to_list() == list(range(1, len(records) + 1))
    assert sum(p.rejects.height for p in parts) == careful


_PARQUET_TYPES = {
    "string": pa.large_string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "ts": pa.timestamp("ms", tz="UTC"),
}


@SETTINGS
@given(
    columns=st.lists(
        st.tuples(
            st.sampled_from([c.name for c in CLIMATE.columns] + ["note", "extra_id"]),
            st.sampled_from(sorted(_PARQUET_TYPES)),
        ),
        max_size=8,
    ),
    n=st.integers(0, 40),
    group=st.integers(1, 16),
    chunk_rows=st.sampled_from([None, 5]),
    seed=st.integers(0, 1000),
)
def test_parquet_any_table(columns, n, group, chunk_rows, seed):
    rnd = random.Random(seed)
    arrays, names = [], []
    for name, type_name in columns:
        sample = [_pick(type_name, rnd) for _ in range(n)]
        arrays.append(pa.array(sample, type=_PARQUET_TYPES[type_name]))
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names) if names else pa.table({"x": [0] * n}).drop(["x"])
    buffer = io.BytesIO()
    pq.write_table(table, buffer, row_group_size=group)
    parts = outcome("climate_readings.parquet", buffer.getvalue(), chunk_rows)
    known = {c.name for c in CLIMATE.columns}
    if any(names.count(k) > 1 for k in known):
        assert parts is None  # a repeated column of the kind is ambiguous
        return
    assert parts is not None
    total = n if names else 0
    assert numbers(parts) == list(range(1, total + 1))
    assert list(parts[-1].ignored_columns) == list(dict.fromkeys(x for x in names if x not in known))
    nul = {
        i + 1
        for i in range(total)
        for a, (_, t) in zip(arrays, columns, strict=False)
        if t == "string" and (a[i].as_py() or "").find("\0") >= 0
    }
    assert set(pl.concat([p.rejects for p in parts])[ROW]) <= nul


def _pick(type_name: str, rnd: random.Random):
    if rnd.random() < 0.2:
        return None
    if type_name == "string":
        return rnd.choice(["", "S1", "é", "a\0b", "x" * rnd.randint(0, 30)])
    if type_name == "int":
        return rnd.randint(-(2**40), 2**40)
    if type_name == "float":
        return rnd.choice([0.0, -1.5, float("nan"), float("inf"), 1e300])
    return rnd.randint(0, 2**41)
