"""What the readers share: the file-level error, limits, and the handling of text files.

A text source (CSV, JSON Lines) is sniffed before it is parsed: a UTF-8 BOM is stripped,
UTF-16 and UTF-32 (with a BOM, or UTF-16 without one when the alternating zero bytes show it)
are decoded into a temporary UTF-8 copy, and a file that is binary (control bytes, or a known
format such as Parquet, ZIP, gzip) or mostly not UTF-8 (a legacy encoding) is refused as a
whole with `UnreadableFile`. Anything else is UTF-8 text, and a line holding bytes that are not
UTF-8 (a Latin-1 'é' in an otherwise UTF-8 file) is rejected on its own, naming its line and
byte, so the valid rows of the file still arrive.
"""

from __future__ import annotations

import codecs
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import duckdb
import polars as pl

ROW = "_row"  # 1-based record number (CSV: data records; JSON Lines: line number)
RAW = "_raw"  # the line as read (JSON Lines only); other formats re-encode rejected rows
MAX_RECORD_BYTES = 1 << 20  # one record (a CSV record, a JSON line) larger than this is rejected
MAX_RAW_CHARS = 64 << 10  # the raw text kept for a rejected row
NAME_CHARS = 80  # a column name in a message or in ignored_columns
_SNIFF_BYTES = 64 << 10
BLANK = " \t\r\n"


class UnreadableFile(ValueError):
    """A source file that cannot be read as a whole (or, for Parquet, from some point on).
    `str()` names the file, says what is wrong and what to do, e.g.
    "orders.csv: header repeats column 'order_id'; give every column its own name"."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(str(path), problem)
        self.path = Path(path)
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path.name}: {self.problem}"


def short(error: BaseException, limit: int = 200) -> str:
    """An exception's message on one line, never longer than `limit` (messages of parsing
    libraries may quote a whole line of the file)."""
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reject_frame(rows: list[tuple[int, str, str]]) -> pl.DataFrame:
    """Structural rejects (row number, reason, raw) as the frame every reader hands back."""
    return pl.DataFrame(rows, schema={ROW: pl.Int64, "reason": pl.String, "raw": pl.String}, orient="row")


def clip(text: str, limit: int = MAX_RAW_CHARS) -> str:
    if len(text) <= limit:
        return text
    size = len(text.encode("utf-8", "surrogatepass"))
    return f"{text[:limit]}… (truncated, {size} bytes)"


def clip_expr(text: pl.Expr) -> pl.Expr:
    """`clip` for a column of text."""
    long = text.str.len_chars() > MAX_RAW_CHARS
    marked = pl.concat_str(
        text.str.slice(0, MAX_RAW_CHARS),
        pl.lit("… (truncated, "),
        text.str.len_bytes().cast(pl.String),
        pl.lit(" bytes)"),
    )
    return pl.when(long).then(marked).otherwise(text)


# -- sniffing -------------------------------------------------------------------------------

_BOMS = [
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
]
_MAGIC = [
    (b"PAR1", "a Parquet file", "name it .parquet"),
    (b"PK\x03\x04", "a ZIP archive (an Excel workbook?)", "export the sheet as {what}"),
    (b"\x1f\x8b", "gzip-compressed", "decompress it first"),
    (b"%PDF", "a PDF document", "export the data as {what}"),
    (b"SQLite format 3\x00", "an SQLite database", "export the table as {what}"),
]
_CONTROL = [bytes([b]) for b in [*range(9), 11, *range(14, 27), *range(28, 32)]]
_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, after surrogateescape
ENCODING_NAMES = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with a BOM",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16",
    "utf-16-be": "UTF-16",
    "utf-32": "UTF-32",
}


def sniff(path: Path, what: str) -> str:
    """The encoding of a text source file (a Python codec name), or UnreadableFile when it is
    not text. `what` names the format for messages ("CSV", "JSON Lines")."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    for magic, name, todo in _MAGIC:
        if head.startswith(magic):
            raise UnreadableFile(path, f"{name}, not {what} text; {todo.format(what=what)}")
    if len(head) >= 4:
        even, odd = head[0::2], head[1::2]
        if odd.count(0) > 0.3 * len(odd) and even.count(0) < 0.05 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.3 * len(even) and odd.count(0) < 0.05 * len(odd):
            return "utf-16-be"
    control = sum(head.count(b) for b in _CONTROL)
    if control > 0.01 * len(head):
        raise UnreadableFile(path, f"binary data, not {what} text; is it the right file?")
    bad = len(_UNDECODABLE.findall(head.decode("utf-8", "surrogateescape")))
    if bad > 0.3 * len(head):
        raise UnreadableFile(
            path,
            f"not UTF-8 text ({bad:,} of the first {len(head):,} bytes are not UTF-8; the file "
            "is in another encoding); save it as UTF-8",
        )
    return "utf-8"


@contextmanager
def as_utf8(path: Path, encoding: str) -> Iterator[Path]:
    """The file itself when it is UTF-8, else a temporary UTF-8 copy (deleted afterwards).
    A UTF-16/32 file that does not decode is refused as a whole."""
    if encoding in ("utf-8", "utf-8-sig"):
        yield path
        return
    name = ENCODING_NAMES[encoding]
    fd, tmp = tempfile.mkstemp(prefix="orderscope-", suffix=".utf8" + path.suffix)
    try:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        done = 0
        with path.open("rb") as f, os.fdopen(fd, "wb") as out:
            while True:
                chunk = f.read(1 << 20)
                try:
                    out.write(decoder.decode(chunk, final=not chunk).encode("utf-8"))
                except UnicodeError as e:
                    where = (
                        "its end is cut in the middle of a character"
                        if not chunk
                        else (f"near byte {done + getattr(e, 'start', 0):,}: {getattr(e, 'reason', e)}")
                    )
                    raise UnreadableFile(
                        path, f"{name} text that does not decode ({where}); save it as UTF-8"
                    ) from None
                if not chunk:
                    break
                done += len(chunk)
        yield Path(tmp)
    finally:
        os.unlink(tmp)


def needs_care(path: Path, start: int, jsonl: bool) -> bool:
    """Whether a UTF-8 file holds something the DuckDB fast path would stop at or read
    differently: a NUL byte, a line over MAX_RECORD_BYTES; for JSON Lines also bytes that are
    not UTF-8, the unit separator (0x1F, its column delimiter), a lone carriage return, and
    CRLF mixed with LF line endings. One pass in C-speed steps (memchr, the UTF-8 decoder), a
    few Python steps per MiB."""
    run = 0  # bytes since the last newline
    carry = b""  # an incomplete UTF-8 sequence at the end of the previous chunk
    last = b""
    endings = [0, 0]  # lines ending in CRLF, in LF alone
    with path.open("rb") as f:
        f.seek(start)
        while chunk := f.read(MAX_RECORD_BYTES):
            if b"\0" in chunk or (jsonl and b"\x1f" in chunk):
                return True
            first = chunk.find(b"\n")
            if first < 0:
                run += len(chunk)
            elif run + first - (chunk[first - 1 : first] == b"\r") > MAX_RECORD_BYTES:
                return True
            else:
                run = len(chunk) - chunk.rfind(b"\n") - 1
            if run > MAX_RECORD_BYTES:
                return True
            if jsonl:
                joined = last + chunk
                crlf = joined.count(b"\r\n") if b"\r" in joined else 0
                if crlf < joined.count(b"\r") - (joined[-1:] == b"\r"):
                    return True  # a lone carriage return
                endings[0] += crlf
                endings[1] += chunk.count(b"\n") - crlf
                if endings[0] and endings[1]:
                    return True  # CRLF and LF mixed: DuckDB's line reader stops at that
                last = chunk[-1:]
                if carry or not chunk.isascii():
                    data = carry + chunk
                    try:
                        _, used = codecs.utf_8_decode(data, "strict", False)
                    except UnicodeDecodeError:
                        return True
                    carry = data[used:]
    return bool(carry) or last == b"\r"


# -- physical lines, for the careful paths ---------------------------------------------------


@dataclass
class Line:
    number: int  # 1-based line number in the file
    text: str  # with its line ending; undecodable bytes as surrogates; clipped when oversize
    size: int  # bytes, without the line ending
    ending: int  # characters of the line ending (0, 1 or 2)

    @property
    def oversize(self) -> bool:
        return self.size > MAX_RECORD_BYTES

    @property
    def blank(self) -> bool:
        return not self.oversize and not self.text.strip(BLANK)

    def problem(self) -> str | None:
        """Why this line cannot be part of any record, or None."""
        if self.oversize:
            return f"the line is {self.size:,} bytes, over the {MAX_RECORD_BYTES:,}-byte limit"
        bad = _UNDECODABLE.search(self.text)
        if bad:
            byte = ord(bad.group()) - 0xDC00
            return (
                f"not UTF-8 text (byte 0x{byte:02X} at column {bad.start() + 1}); if the "
                "file is Latin-1 or Windows-1252, save it as UTF-8"
            )
        if "\0" in self.text:
            return "the line holds a NUL byte (binary data?)"
        return None

    @property
    def raw(self) -> str:
        """The line as valid text, for quarantine: undecodable bytes shown as \\xNN."""
        text = self.text.rstrip("\r\n").encode("utf-8", "surrogateescape")
        shown = text.decode("utf-8", "backslashreplace")
        if self.oversize:
            return f"{shown[:MAX_RAW_CHARS]}… (truncated, {self.size} bytes)"
        return clip(shown)


def _encoded(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


class Lines:
    """The physical lines of a text file, numbered, with lookahead. A line longer than
    MAX_RECORD_BYTES is kept clipped, with its size, and never held in memory whole."""

    def __init__(self, f: TextIO) -> None:
        self._f = f
        self._ahead: deque[Line] = deque()
        self._number = 0

    def _read(self) -> Line | None:
        text = self._f.readline(MAX_RECORD_BYTES + 1)
        if not text:
            return None
        self._number += 1
        if len(text) <= MAX_RECORD_BYTES or text.endswith(("\n", "\r")):
            content = text.rstrip("\r\n")
            return Line(self._number, text, _encoded(content), len(text) - len(content))
        size, head = 0, text[:MAX_RAW_CHARS]
        while text and not text.endswith(("\n", "\r")):
            size += _encoded(text)
            text = self._f.readline(MAX_RECORD_BYTES)
        content = text.rstrip("\r\n")
        return Line(self._number, head, size + _encoded(content), len(text) - len(content))

    def peek(self, i: int = 0) -> Line | None:
        while len(self._ahead) <= i:
            line = self._read()
            if line is None:
                return None
            self._ahead.append(line)
        return self._ahead[i]

    def pop(self, n: int = 1) -> None:
        for _ in range(n):
            self._ahead.popleft()


def open_text(path: Path, encoding: str, newline: str) -> TextIO:
    """A UTF-8 file (see as_utf8) as text: BOM stripped, bytes that are not UTF-8 kept as
    surrogates for Line.problem, line endings kept. `newline`: "" for CSV (any line ending),
    "\n" for JSON Lines."""
    bom = "utf-8-sig" if encoding == "utf-8-sig" else "utf-8"
    return path.open(encoding=bom, errors="surrogateescape", newline=newline)


# -- DuckDB as a parser ---------------------------------------------------------------------


def parser() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB used only as a fast file parser: quiet, and modest in memory."""
    con = duckdb.connect(config={"memory_limit": "2GB"})
    con.execute("SET enable_progress_bar = false")
    return con


def stream(sql: str, params: dict[str, Any], chunk_rows: int) -> Iterator[pl.DataFrame]:
    """Run a DuckDB query and hand its result over in frames of about chunk_rows rows."""
    con = parser()
    try:
        reader = con.sql(sql, params=params).to_arrow_reader(min(chunk_rows, 1_000_000))
        pending: list[pl.DataFrame] = []
        size = 0
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            pending.append(frame)
            size += frame.height
            if size >= chunk_rows:
                yield pl.concat(pending)
                pending, size = [], 0
        if pending:
            yield pl.concat(pending)
    finally:
        con.close()
