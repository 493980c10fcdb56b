"""Hostile source files (issue 7, items 3 and 5): each gives a clear file-level error naming the
file and the problem (UnreadableFile, never a library traceback) or per-row rejects naming the
line, and honest readers (BOM, UTF-16, quoted newlines, ignored columns)."""

from __future__ import annotations

import json
import pickle
import random
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orderscope.ingest.readers import (
    MAX_RECORD_BYTES,
    ROW,
    ReadResult,
    UnreadableFile,
    discover,
    read,
    read_chunks,
)
from orderscope.ingest.textfiles import MAX_RAW_CHARS
from orderscope.ingest.validate import validate

MB = 1 << 20


def _source(folder: Path, name: str, data: bytes):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    files, _ = discover(folder)
    (source,) = [f for f in files if f.path.name == name]
    return source


def _read(tmp_path: Path, name: str, data: bytes, chunk_rows: int | None = None) -> list[ReadResult]:
    parts = list(read_chunks(_source(tmp_path / "in", name, data), chunk_rows))
    assert parts, "read_chunks yields at least one batch"
    for p in parts:
        assert p.rows_read == p.rows.height + p.rejects.height
    return parts


def _all(parts: list[ReadResult]) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = pl.concat([p.rows for p in parts], how="diagonal_relaxed")
    return rows, pl.concat([p.rejects for p in parts])


def _unreadable(tmp_path: Path, name: str, data: bytes) -> str:
    with pytest.raises(UnreadableFile) as caught:
        list(read_chunks(_source(tmp_path / "in", name, data)))
    message = str(caught.value)
    assert message.startswith(f"{name}: ")
    assert len(message) < 300
    return message


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    from orderscope.generator import generate

    out = tmp_path_factory.mktemp("hostile-gen")
    generate(out, orders=200, seed=5)
    return out


@pytest.fixture(scope="module")
def orders(folder) -> bytes:
    return (folder / "orders.csv").read_bytes()


@pytest.fixture(scope="module")
def events(folder) -> bytes:
    return (folder / "order_events.jsonl").read_bytes()


def _lines(data: bytes) -> list[bytes]:
    return data.rstrip(b"\n").split(b"\n")


# -- Parquet --------------------------------------------------------------------------------


def test_zero_byte_parquet(tmp_path):
    assert _unreadable(tmp_path, "climate_readings.parquet", b"") == (
        "climate_readings.parquet: 0 bytes, not a Parquet file; export it again"
    )


@pytest.mark.parametrize("cut", [100, 8, 4, 1])
def test_parquet_with_its_footer_cut(tmp_path, folder, cut):
    data = (folder / "climate_readings.parquet").read_bytes()[:-cut]
    assert _unreadable(tmp_path, "climate_readings.parquet", data) == (
        "climate_readings.parquet: truncated Parquet file (footer missing); export it again"
    )


def test_truncated_parquet(tmp_path, folder):
    data = (folder / "climate_readings.parquet").read_bytes()
    message = _unreadable(tmp_path, "climate_readings.parquet", data[: len(data) // 2])
    assert "truncated Parquet file" in message


def test_text_named_parquet(tmp_path, orders):
    assert _unreadable(tmp_path, "climate_readings.parquet", orders) == (
        "climate_readings.parquet: not a Parquet file (it starts like text; CSV or JSON "
        "Lines?); check the file and its name"
    )


def _climate(n: int, **extra) -> pa.Table:
    at = pa.array([1_700_000_000_000 + i * 60_000 for i in range(n)], type=pa.timestamp("ms", "UTC"))
    return pa.table(
        {
            "sensor_id": [f"S{i % 7}" for i in range(n)],
            "warehouse_id": ["W"] * n,
            "zone_id": ["Z"] * n,
            "at": at,
            "temperature_c": [20.0] * n,
            "humidity_pct": [45.0] * n,
            **extra,
        }
    )


def test_parquet_row_group_corrupt_mid_file(tmp_path):
    path = tmp_path / "build.parquet"
    pq.write_table(_climate(3000), path, row_group_size=1000, compression="zstd")
    meta = pq.ParquetFile(path).metadata
    start = meta.row_group(1).column(0).data_page_offset
    data = bytearray(path.read_bytes())
    data[start : start + 64] = b"\xff" * 64  # the page header of row group 2 is garbage
    source = _source(tmp_path / "in", "climate_readings.parquet", bytes(data))
    chunks = read_chunks(source, chunk_rows=1000)
    first = next(chunks)
    assert first.rows.height == 1000 and first.rows[ROW].to_list()[:2] == [1, 2]
    with pytest.raises(UnreadableFile) as caught:
        list(chunks)
    assert str(caught.value).startswith("climate_readings.parquet: corrupt Parquet data after row 1,000 (")
    assert str(caught.value).endswith("export it again (the 1,000 rows before it were read)")


def test_parquet_unknown_columns_are_reported_and_huge_values_rejected(tmp_path):
    table = _climate(4, note=["a", "b", "c", "d"], extra_id=[1, 2, 3, 4])
    big = table.column("zone_id").to_pylist()
    big[2] = "z" * (2 * MB)
    table = table.set_column(table.schema.get_field_index("zone_id"), "zone_id", pa.array(big))
    path = tmp_path / "build.parquet"
    pq.write_table(table, path)
    (part,) = _read(tmp_path, "climate_readings.parquet", path.read_bytes())
    assert part.ignored_columns == ("note", "extra_id")
    assert "note" not in part.rows.columns  # only the kind's columns are read
    assert part.rows[ROW].to_list() == [1, 2, 4]
    assert part.rejects[ROW].to_list() == [3]
    assert part.rejects["reason"][0] == (
        f"malformed row: record of {2 * MB + 3} bytes, over the 1,048,576-byte limit"
    )
    raw = part.rejects["raw"][0]
    assert len(raw) < MAX_RAW_CHARS + 40 and raw.endswith(" bytes)")


def test_parquet_without_rows_yields_one_empty_batch(tmp_path):
    path = tmp_path / "build.parquet"
    pq.write_table(_climate(0), path)
    (part,) = _read(tmp_path, "climate_readings.parquet", path.read_bytes())
    assert part.rows.height == 0 and part.rejects.height == 0
    assert part.rows.columns[0] == ROW and "sensor_id" in part.rows.columns


# -- CSV: files that cannot be read -----------------------------------------------------------


def test_zero_byte_csv(tmp_path):
    assert _unreadable(tmp_path, "orders.csv", b"") == "orders.csv: 0 bytes, no header; export the file again"


def test_blank_csv(tmp_path):
    assert _unreadable(tmp_path, "orders.csv", b"\n \r\n\n") == (
        "orders.csv: no header: the file holds only blank lines"
    )


def test_binary_file_named_csv(tmp_path):
    data = random.Random(3).randbytes(20_000)
    assert _unreadable(tmp_path, "orders.csv", data) == (
        "orders.csv: binary data, not CSV text; is it the right file?"
    )


@pytest.mark.parametrize(
    "head, problem",
    [
        (b"PK\x03\x04", "a ZIP archive (an Excel workbook?), not CSV text; export the sheet as CSV"),
        (b"PAR1", "a Parquet file, not CSV text; name it .parquet"),
        (b"\x1f\x8b\x08", "gzip-compressed, not CSV text; decompress it first"),
    ],
)
def test_other_formats_named_csv(tmp_path, head, problem):
    assert _unreadable(tmp_path, "orders.csv", head + bytes(200)) == f"orders.csv: {problem}"


def test_duplicated_header_column(tmp_path, orders):
    header, rest = orders.split(b"\n", 1)
    data = header.replace(b"customer_id", b"order_id") + b"\n" + rest
    assert _unreadable(tmp_path, "orders.csv", data) == (
        "orders.csv: header repeats column 'order_id'; give every column its own name"
    )


def test_csv_in_a_legacy_encoding_throughout(tmp_path):
    text = "order_id,customer_id\n" + "".join(f"О{i},Покупатель-{i}\n" for i in range(200))
    message = _unreadable(tmp_path, "orders.csv", text.encode("cp1251"))
    assert message.startswith("orders.csv: not UTF-8 text (")
    assert message.endswith("save it as UTF-8")


def test_truncated_utf16_csv(tmp_path, orders):
    data = orders.decode().encode("utf-16")[:-1]  # half a character at the end
    assert _unreadable(tmp_path, "orders.csv", data) == (
        "orders.csv: UTF-16 text that does not decode (its end is cut in the middle of a "
        "character); save it as UTF-8"
    )


# -- CSV: honest reading --------------------------------------------------------------------


def test_header_only_csv_has_no_rows(tmp_path, orders):
    (part,) = _read(tmp_path, "orders.csv", orders.split(b"\n")[0] + b"\n")
    assert part.rows.height == 0 and part.rejects.height == 0
    assert part.rows.columns[1:] == orders.split(b"\n")[0].decode().split(",")


@pytest.mark.parametrize(
    "encoding, name",
    [
        ("utf-8-sig", "UTF-8 with a BOM"),
        ("utf-16", "UTF-16"),
        ("utf-16-le", "UTF-16"),
        ("utf-16-be", "UTF-16"),
        ("utf-32", "UTF-32"),
    ],
)
def test_csv_bom_and_utf16_are_read(tmp_path, orders, encoding, name):
    text = orders.decode().replace("C000147", "Zoë-Čapek")
    plain = read(_source(tmp_path / "plain", "orders.csv", text.encode()))
    (part,) = _read(tmp_path, "orders.csv", text.encode(encoding))
    assert part.encoding == name
    assert part.rows.equals(plain.rows)
    good, bad = validate(_source(tmp_path / "plain", "orders.csv", b"").kind, part.rows)
    assert bad.height == 0 and good.height == 200  # not "missing column order_id"
    assert "Zoë-Čapek" in good["customer_id"].to_list()


def test_latin1_lines_are_rejected_by_line_and_the_rest_arrive(tmp_path, orders):
    lines = orders.decode().split("\n")
    marked = [3, 50]  # data records (file lines 4 and 51)
    for r in marked:
        lines[r] = lines[r].replace(lines[r].split(",")[1], "Café", 1)
    parts = _read(tmp_path, "orders.csv", "\n".join(lines).encode("latin-1"))
    rows, rejects = _all(parts)
    assert rows.height == 198 and rejects[ROW].to_list() == marked
    column = lines[3].index("é") + 1
    assert rejects["reason"][0] == (
        f"malformed row at line 4: not UTF-8 text (byte 0xE9 at column {column}); if the "
        "file is Latin-1 or Windows-1252, save it as UTF-8"
    )
    assert "Caf\\xe9" in rejects["raw"][0]  # the raw line, its byte visible


def test_quoted_newline_is_one_row(tmp_path, orders):
    lines = _lines(orders)
    fields = lines[5].split(b",")
    fields[1], fields[2] = b'"C1\nsecond, line"', b'"we""b\r\nx"'
    lines[5] = b",".join(fields)
    for careful in (False, True):  # a NUL line sends the file the careful (Python) way
        extra = [b"\0"] if careful else []
        rows, rejects = _all(_read(tmp_path / str(careful), "orders.csv", b"\n".join(lines + extra)))
        assert rows.height == 200 and rejects.height == len(extra)
        assert rows[ROW].to_list() == list(range(1, 201))
        row = rows.filter(pl.col(ROW) == 5)
        assert (row["customer_id"][0], row["channel"][0]) == ("C1\nsecond, line", 'we"b\r\nx')
        assert rows.filter(pl.col(ROW) == 6)["order_id"][0] == lines[6].split(b",")[0].decode()
        if careful:
            assert rejects["reason"][0] == (
                "malformed row at line 204: the line holds a NUL byte (binary data?)"
            )


def test_blank_lines_and_crlf_are_not_rows(tmp_path, orders):
    lines = _lines(orders)
    data = b"\r\n".join(lines[:10]) + b"\r\n\r\n  \r\n" + b"\r\n".join(lines[10:]) + b"\r\n\r\n"
    rows, rejects = _all(_read(tmp_path, "orders.csv", data))
    assert rows.height == 200 and rejects.height == 0
    assert rows[ROW].to_list() == list(range(1, 201))
    assert not any(v.endswith("\r") for v in rows["promised_at"].to_list())


def test_unknown_csv_columns_are_reported(tmp_path, orders):
    lines = _lines(orders)
    data = b"\n".join([lines[0] + b",note,"] + [line + b",x," for line in lines[1:]])
    (part,) = _read(tmp_path, "orders.csv", data)
    assert part.ignored_columns == ("note", "(unnamed column 16)")
    assert part.rows.height == 200


def test_csv_nul_byte_rejects_its_line(tmp_path, orders):
    lines = _lines(orders)
    lines[7] = lines[7].replace(b",", b",\0", 1)
    rows, rejects = _all(_read(tmp_path, "orders.csv", b"\n".join(lines)))
    assert rows.height == 199 and rejects[ROW].to_list() == [7]
    assert rejects["reason"][0] == "malformed row at line 8: the line holds a NUL byte (binary data?)"


def test_csv_huge_field_is_rejected_and_never_kept_whole(tmp_path, orders):
    lines = _lines(orders)
    lines[9] = lines[9].replace(lines[9].split(b",")[1], b"x" * (10 * MB), 1)
    size = len(lines[9])
    rows, rejects = _all(_read(tmp_path, "orders.csv", b"\n".join(lines) + b"\n"))
    assert rows.height == 199 and rejects[ROW].to_list() == [9]
    assert rejects["reason"][0] == (
        f"malformed row at line 10: the line is {size:,} bytes, over the 1,048,576-byte limit"
    )
    assert len(rejects["raw"][0]) < MAX_RAW_CHARS + 40
    assert rejects["raw"][0].endswith(f"… (truncated, {size} bytes)")


def test_csv_record_over_the_limit_is_rejected_on_the_fast_path_too(tmp_path, orders):
    lines = _lines(orders)  # 1.5 MiB over two lines: no line is over the limit, the record is
    half = b"y" * (3 * MB // 4)
    lines[2] = lines[2].replace(lines[2].split(b",")[1], b'"' + half + b"\n" + half + b'"', 1)
    rows, rejects = _all(_read(tmp_path, "orders.csv", b"\n".join(lines)))
    assert rows.height == 199 and rejects.height >= 1
    assert rejects["reason"][0].startswith("malformed row at line 3: a quoted field runs on past")


def test_broken_quote_rejects_only_its_line(tmp_path, orders):
    lines = _lines(orders)
    lines[20] = lines[20].replace(b",", b',"', 1)
    rows, rejects = _all(_read(tmp_path, "orders.csv", b"\n".join(lines)))
    assert rows.height == 199 and rejects[ROW].to_list() == [20]
    assert rejects["reason"][0] == "malformed row at line 21: a quoted field is not closed"


def test_csv_chunks_number_rows_from_the_start_of_the_file(tmp_path, orders):
    for extra in ([], [b"\0"]):  # fast path, careful path
        parts = _read(
            tmp_path / str(len(extra)), "orders.csv", b"\n".join(_lines(orders) + extra), chunk_rows=64
        )
        rows, rejects = _all(parts)
        assert len(parts) >= 3
        assert sorted(rows[ROW].to_list() + rejects[ROW].to_list()) == list(range(1, 201 + len(extra)))


# -- JSON Lines -----------------------------------------------------------------------------


def test_jsonl_of_garbage_text_rejects_every_line(tmp_path):
    data = b'hello\n{"a":\n\n[1, 2]\n"x"\nnull\n42\n'
    (part,) = _read(tmp_path, "order_events.jsonl", data)
    assert part.rows.height == 0
    assert part.rejects[ROW].to_list() == [1, 2, 4, 5, 6, 7]  # line 3 is blank
    assert part.rejects["reason"].to_list() == [
        "malformed row at line 1: not a JSON object (not valid JSON)",
        "malformed row at line 2: not a JSON object (not valid JSON)",
        "malformed row at line 4: not a JSON object (an array)",
        "malformed row at line 5: not a JSON object (a string)",
        "malformed row at line 6: not a JSON object (null)",
        "malformed row at line 7: not a JSON object (a number)",
    ]


def test_binary_jsonl(tmp_path):
    data = random.Random(4).randbytes(5000)
    assert _unreadable(tmp_path, "order_events.jsonl", data) == (
        "order_events.jsonl: binary data, not JSON Lines text; is it the right file?"
    )


def test_jsonl_with_a_10mb_field(tmp_path, events):
    lines = _lines(events)
    record = json.loads(lines[3])
    record["evidence"] = "e" * (10 * MB)
    lines[3] = json.dumps(record).encode()
    rows, rejects = _all(_read(tmp_path, "order_events.jsonl", b"\n".join(lines) + b"\n"))
    assert rows.height == len(lines) - 1 and rejects[ROW].to_list() == [4]
    assert rejects["reason"][0] == (
        f"malformed row at line 4: the line is {len(lines[3]):,} bytes, over the 1,048,576-byte limit"
    )
    raw = rejects["raw"][0]
    assert len(raw) < MAX_RAW_CHARS + 40 and raw.endswith(f"(truncated, {len(lines[3])} bytes)")


def test_jsonl_long_line_under_the_limit_keeps_a_clipped_raw(tmp_path):
    data = b'{"event_id": "' + b"x" * (MAX_RECORD_BYTES // 2) + b'"\n'  # not valid JSON
    (part,) = _read(tmp_path, "order_events.jsonl", data)
    assert part.rejects["reason"][0] == "malformed row at line 1: not a JSON object (not valid JSON)"
    assert part.rejects["raw"][0].endswith(f"(truncated, {len(data) - 1} bytes)")


def test_jsonl_unknown_keys_are_reported_for_the_file(tmp_path, events):
    lines = _lines(events)
    for i, extra in [(2, {"note": 1}), (3000, {"zz": [1], "note": 2})]:
        lines[i] = json.dumps({**json.loads(lines[i]), **extra}).encode()
    parts = _read(tmp_path, "order_events.jsonl", b"\n".join(lines), chunk_rows=1000)
    assert len(parts) > 3
    assert parts[0].ignored_columns == ("note",)
    assert parts[-1].ignored_columns == ("note", "zz")
    rows, rejects = _all(parts)
    assert rows.height == len(lines) and rejects.height == 0


def test_jsonl_duplicate_key_is_rejected(tmp_path, events):
    lines = _lines(events)
    lines[5] = lines[5][:-1] + b', "to_state": "TELEPORTED"}'
    lines[6] = lines[6][:-1] + b', "zz": 1, "zz": 2}'  # an ignored key may repeat
    rows, rejects = _all(_read(tmp_path, "order_events.jsonl", b"\n".join(lines)))
    assert rejects[ROW].to_list() == [6]
    assert rejects["reason"][0] == "malformed row at line 6: key 'to_state' appears more than once"
    assert rows.height == len(lines) - 1


def test_jsonl_latin1_line_and_nul(tmp_path, events):
    lines = _lines(events)
    lines[1] = lines[1].replace(b'"event_id":"', b'"event_id":"\xe9', 1)
    lines[2] = lines[2].replace(b'"event_id":"', b'"event_id":"\\u0000', 1)
    rows, rejects = _all(_read(tmp_path, "order_events.jsonl", b"\n".join(lines)))
    assert rows.height == len(lines) - 2
    assert rejects["reason"].to_list() == [
        (
            "malformed row at line 2: not UTF-8 text (byte 0xE9 at column 14); if the file is "
            "Latin-1 or Windows-1252, save it as UTF-8"
        ),
        "malformed row at line 3: a value holds a NUL character (\\u0000)",
    ]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_jsonl_bom_and_utf16_are_read(tmp_path, events, encoding):
    rows, rejects = _all(_read(tmp_path, "order_events.jsonl", events.decode().encode(encoding)))
    assert rows.height == len(_lines(events)) and rejects.height == 0


def test_jsonl_mixing_crlf_and_lf_line_endings(tmp_path, events):
    lines = _lines(events)
    data = b"\r\n".join(lines[:100]) + b"\r\n" + b"\n".join(lines[100:]) + b"\n\r\n"
    rows, rejects = _all(_read(tmp_path, "order_events.jsonl", data))
    assert rows.height == len(lines) and rejects.height == 0
    assert rows[ROW].to_list() == list(range(1, len(lines) + 1))


def test_empty_jsonl_has_no_rows(tmp_path):
    (part,) = _read(tmp_path, "order_events.jsonl", b"")
    assert part.rows.height == 0 and part.rejects.height == 0


# -- the error itself -----------------------------------------------------------------------


def test_unreadable_file_is_a_value_error_that_survives_pickling():
    error = UnreadableFile(Path("/data/in/orders.csv"), "0 bytes, no header; export the file again")
    assert isinstance(error, ValueError)
    again = pickle.loads(pickle.dumps(error))
    assert str(again) == str(error) == "orders.csv: 0 bytes, no header; export the file again"
    assert again.problem == error.problem and again.path == error.path


def test_a_file_that_vanishes_is_unreadable(tmp_path, orders):
    source = _source(tmp_path / "in", "orders.csv", orders)
    shutil.rmtree(tmp_path / "in")
    with pytest.raises(UnreadableFile, match=r"^orders.csv: cannot be read \(No such file"):
        list(read_chunks(source))


def test_parquet_instant_beyond_year_9999_is_quarantined_with_its_raw_value(generated, copy_of, embedded):
    """polars cannot write such an instant as text: the raw row keeps its count instead of the
    ingest dying while it quarantines the row."""
    import polars as pl

    from orderscope.ingest.pipeline import ingest_folder

    folder = copy_of(generated())
    path = folder / "climate_readings.parquet"
    good = pl.read_parquet(path)
    far = good.head(1).with_columns(pl.lit(2**62, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")).alias("at"))
    pl.concat([good, far]).write_parquet(path)
    c = ingest_folder(folder, embedded).to_dict()["kinds"]["climate_readings"]
    assert (c["accepted"], c["rejected"]) == (good.height, 1)
    (raw,) = embedded.series.quarantine_rows(5)["raw"].to_list()
    assert f"{2**62} ms since 1970-01-01" in raw
