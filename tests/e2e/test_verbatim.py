"""Values are printed verbatim: markup, ANSI escapes and carriage returns in data are shown, never
interpreted (issue 7, item 6); huge values are cut in text output and whole in JSON."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from orderscope.cli.display import MAX_RAW, MAX_VALUE, esc, visible

# What a source system may well send: rich markup, an OSC 8 link, ANSI colour, a carriage return
# that would overwrite the line, and a backslash just before the markup that follows the value.
MARKUP = "[/] [bold red]x[/] [link=http://x]y[/link] \x1b[31mred\r over :smile: end\\"
BAD_STATE = "[/]TELE\x1b[2J[bold]"
BAD_COMMENT = "[bold]x[/bold] \x1b]8;;http://x\x07link\x1b]8;;\x07 [/]"
HUGE = 50_000


# --- the helpers -------------------------------------------------------------------------------


def _render(markup: str) -> str:
    buf = io.StringIO()
    Console(file=buf, width=100_000, emoji=False, highlight=False, color_system=None).print(markup)
    return buf.getvalue().removesuffix("\n")


TRICKY = [
    "[",
    "]",
    "/",
    "\\",
    "bold",
    "red",
    "link=",
    "=",
    "@",
    "#",
    ":",
    "smile",
    "\x1b",
    "\r",
    "\n",
    "\t",
    "\x00",
    "\x7f",
    "\x9b",
    "\u202e",
    "\u2028",
    "é",
    "€",
    " ",
    "x",
    "[/]",
    "[b]",
    "none",
    "[none][/none]",
    "[@click]",
    "[link=http://x]",
]


@pytest.mark.parametrize("seed", range(5))
def test_esc_round_trips_any_text_through_rich_markup(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(400):
        value = "".join(rng.choice(TRICKY) for _ in range(rng.randint(0, 12)))
        shown = visible(value)
        assert _render(f"[bold]{esc(value)}[/] | {esc(value)} [dim]after[/]") == f"{shown} | {shown} after"
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(no_wrap=True)
        table.add_row(esc(value))
        assert _render(table).rstrip() == shown.rstrip(), repr(value)


def test_visible_shows_control_characters_and_cuts_long_values() -> None:
    assert visible("a\x1b[31mb\rc\nd\te\x00\x7f\u202e") == "a\\x1b[31mb\\rc\\nd\\te\\x00\\x7f\\u202e"
    assert visible("line 1\nline 2\tx\r", multiline=True) == "line 1\nline 2\tx\\r"
    assert visible(None) == ""
    assert visible("y" * 10_000, 200) == "y" * 200 + "… (10,000 chars)"
    assert visible("y" * 200, 200) == "y" * 200
    assert all(ord(c) >= 0x20 for c in visible("".join(map(chr, range(0x20)))))


# --- the commands, as a user runs them ------------------------------------------------------------


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide terminal so that no table cell wraps a value over two lines.
    env = {**os.environ, "COLUMNS": "4000", "NO_COLOR": "1"}
    env.pop("ORDERSCOPE_BACKEND", None)
    proc = subprocess.run(
        [sys.executable, "-m", "orderscope.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return proc


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    both = proc.stdout + proc.stderr
    assert proc.returncode == 0, both[-3000:]
    assert "Traceback" not in both and "MarkupError" not in both, both[-3000:]
    # Nothing from the data reaches the terminal as a control character.
    assert "\x1b" not in both and "\r" not in proc.stdout and "\x07" not in both
    return proc.stdout


def _hostile_folder(folder: Path) -> str:
    """Plant markup in accepted values and in rejected rows; returns the order whose event
    evidence carries MARKUP."""
    events = folder / "order_events.jsonl"
    lines = events.read_text().splitlines()
    order_id = None
    for i, line in enumerate(lines):
        row = json.loads(line)
        if row["evidence"]:
            row["evidence"], order_id = MARKUP, row["order_id"]
            lines[i] = json.dumps(row)
            break
    assert order_id
    bad = json.loads(lines[0]) | {"event_id": "EV-BAD-MARKUP", "to_state": BAD_STATE}
    events.write_text("\n".join([*lines, json.dumps(bad)]) + "\n")

    approvals = folder / "approvals.csv"
    rows = list(csv.reader(approvals.open(newline="")))
    rows[1][-1] = "[bold]approved[/bold] [/]"
    unknown = list(rows[1])
    unknown[0], unknown[1], unknown[-1] = "APR-BAD-1", "O9999999", BAD_COMMENT + "y" * HUGE
    with approvals.open("w", newline="") as fh:
        csv.writer(fh).writerows([*rows, unknown])
    (folder / "[red]notes.txt").write_text("not a source file\n")
    return order_id


def test_markup_and_control_characters_in_data_are_printed_verbatim(generated, copy_of, tmp_path) -> None:
    folder = copy_of(generated(400, 5))
    order_id = _hostile_folder(folder)
    data = ["--data-dir", str(tmp_path / "store")]

    ingest = _ok(_cli("ingest", str(folder), *data, cwd=tmp_path))
    assert visible("[red]notes.txt") in ingest

    rows = json.loads(_cli("quarantine", "--json", "--limit", "100", *data, cwd=tmp_path).stdout)
    ours = [r for r in rows if "EV-BAD-MARKUP" in r["raw"] or "APR-BAD-1" in r["raw"]]
    assert len(ours) == 2, rows
    huge = next(r for r in ours if "APR-BAD-1" in r["raw"])
    assert json.loads(huge["raw"])["comment"] == BAD_COMMENT + "y" * HUGE  # JSON output is whole
    state = next(r for r in ours if r is not huge)
    assert BAD_STATE in state["reason"]
    for r in ours:  # the summary's sample of rejections, as they are (reason cut)
        assert visible(r["reason"], MAX_VALUE) in ingest

    text = _ok(_cli("quarantine", "--limit", "100", *data, cwd=tmp_path))
    for r in ours:
        assert visible(r["reason"], MAX_VALUE) in text
        assert visible(r["raw"], MAX_RAW) in text
    assert visible(BAD_STATE) in text and "[bold]x[/bold] " in text
    assert max(map(len, text.splitlines())) < MAX_RAW + 200  # the 50 kB row is cut
    assert f"({len(huge['raw']):,} chars)" in text

    snap = _ok(_cli("snapshot", order_id, *data, cwd=tmp_path))
    assert visible(MARKUP) in snap
    full = json.loads(_ok(_cli("snapshot", order_id, "--json", *data, cwd=tmp_path)))
    assert MARKUP in [e["evidence"] for e in full["events"]]

    # A value typed by the user is data too.
    missing = _cli("snapshot", "[/]O1\x1b[2J", *data, cwd=tmp_path)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr and "\x1b" not in missing.stderr
    assert visible("[/]O1\x1b[2J") in missing.stderr


def test_long_values_are_cut_in_the_snapshot_text_and_whole_in_json(generated, copy_of, tmp_path) -> None:
    folder = copy_of(generated(400, 5))
    events = folder / "order_events.jsonl"
    lines = events.read_text().splitlines()
    for i, line in enumerate(lines):
        row = json.loads(line)
        if row["evidence"]:
            row["evidence"] = "[b]" + "e" * HUGE
            lines[i] = json.dumps(row)
            break
    events.write_text("\n".join(lines) + "\n")
    data = ["--data-dir", str(tmp_path / "store")]
    _ok(_cli("ingest", str(folder), *data, cwd=tmp_path))
    snap = _ok(_cli("snapshot", row["order_id"], *data, cwd=tmp_path))
    assert visible("[b]" + "e" * HUGE, MAX_VALUE) in snap
    assert max(map(len, snap.splitlines())) < 2000
    full = json.loads(_cli("snapshot", row["order_id"], "--json", *data, cwd=tmp_path).stdout)
    assert "[b]" + "e" * HUGE in [e["evidence"] for e in full["events"]]
