"""A crash at any point of an ingest, followed by the same command, ends exactly as an
uninterrupted run — on both backends.

Each case runs `orderscope ingest` in a child process that is killed with SIGKILL (the named
points of orderscope.ingest.crashpoints, or a timer at a moment of the run), once or twice in a
row, then runs the same command to completion. The stores must then hold exactly what an
uninterrupted run leaves: the same `stats`, the same quarantine, the same snapshot for 50
random orders. Batches of 2,000 rows make the big files span several batches, so the points fall
inside files as well as between them. A server restarted mid-ingest must end the run with a
clear message (no traceback), after which the same command completes exactly.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orderscope.config import Settings, load_settings
from orderscope.ingest.crashpoints import POINTS
from orderscope.stores import open_stores
from orderscope.views.snapshot import build_snapshot, jsonable
from orderscope.views.stats import collect_stats

BATCH_ROWS = 2000
SAMPLE = 50

# (crash points, one per killed run) — every point of POINTS at least once on each backend; most
# cases kill several runs in a row (each lands wherever the rerun has got to), so few cases
# cover every phase. The n-th pass is chosen to land inside the run (orders and order_events
# span several batches).
EMBEDDED_CASES = [
    ("file-done:2",),  # order_events done in the ledger, the rest and dwell not yet
    ("quarantined:6", "file-started:2", "derive-started:1"),
    ("file-done:9", "chunk-read:5", "series-written:4", "graph-written:3"),
]
SERVER_CASES = [
    ("quarantined:5", "file-done:2", "derive-started:1"),
    ("file-started:3", "chunk-read:4", "series-written:4", "graph-written:3"),
]
assert {c.split(":")[0] for case in EMBEDDED_CASES for c in case} == set(POINTS)
assert {c.split(":")[0] for case in SERVER_CASES for c in case} == set(POINTS)


def _cli(settings: Settings, folder: Path, crash_at: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("ORDERSCOPE_CRASH_AT", None)
    env.update(
        ORDERSCOPE_BACKEND=settings.backend,
        ORDERSCOPE_DATA_DIR=str(settings.data_dir),
        ORDERSCOPE_INGEST_BATCH_ROWS=str(BATCH_ROWS),
    )
    if crash_at:
        env["ORDERSCOPE_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-c", "from orderscope.cli import app; app()", "ingest", str(folder), "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(settings: Settings, folder: Path, crash_at: str | None = None) -> tuple[int, str]:
    proc = _cli(settings, folder, crash_at)
    out, err = proc.communicate(timeout=600)
    return proc.returncode, out + err


def _state(settings: Settings, order_ids: list[str] | None = None) -> dict:
    """What must be equal after a crash and a rerun: stats, quarantine, ledger outcome per
    file, pending derivations, and the snapshots of a sample of orders."""
    with open_stores(settings, read_only=True) as stores:
        stats = collect_stats(stores)
        stats.pop("backend")
        quarantine = sorted(
            stores.series.quarantine_rows(1_000_000)
            .select("kind", "source_file", "row_number", "reason", "raw", "outcome")
            .rows()
        )
        ledger = stores.series.ledger()
        done = sorted(ledger.filter(ledger["status"] == "done")["source_file"].unique().to_list())
        if order_ids is None:
            ids = stores.series.query('SELECT "order_id" FROM "orders" ORDER BY 1')["order_id"]
            order_ids = random.Random(11).sample(ids.to_list(), SAMPLE)
        snapshots = {o: json.dumps(jsonable(build_snapshot(stores, o)), sort_keys=True) for o in order_ids}
        pending = stores.series.pending_dwell()
    return {
        "stats": stats,
        "quarantine": quarantine,
        "done": done,
        "pending": pending,
        "snapshots": snapshots,
    }


def _fresh(settings: Settings) -> None:
    with open_stores(settings) as stores:
        stores.graph.reset()
        stores.series.reset()


@pytest.fixture(scope="module")
def source(generated, tmp_path_factory) -> Path:
    """A generated folder with a few bad and conflicting rows, so quarantine is written too."""
    folder = tmp_path_factory.mktemp("crash-src")
    original = generated(orders=500, seed=7)
    for path in original.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    events = folder / "order_events.jsonl"
    first = json.loads(events.read_text().splitlines()[0])
    with events.open("a") as f:
        f.write("{not json\n")
        f.write(json.dumps(dict(first, to_state="TELEPORTED")) + "\n")  # a conflict
        f.write(json.dumps(dict(first, event_id="EV-X", order_id="O-NOPE")) + "\n")
    return folder


def _reference(settings: Settings, source: Path) -> dict:
    _fresh(settings)
    code, output = _run(settings, source)
    assert code == 0, output
    state = _state(settings)
    assert state["stats"]["stage_dwell"] > 0 and state["pending"] == 0
    return state


def _crash_then_rerun(settings: Settings, source: Path, points: tuple[str, ...], want: dict):
    _fresh(settings)
    for point in points:
        code, output = _run(settings, source, crash_at=point)
        assert code == -signal.SIGKILL, f"{point} was not reached: {code}\n{output[-2000:]}"
    code, output = _run(settings, source)
    assert code == 0, output
    assert "Traceback" not in output
    got = _state(settings, list(want["snapshots"]))
    for part in ("stats", "quarantine", "done", "pending"):
        assert got[part] == want[part], (points, part)
    differing = [o for o, snap in want["snapshots"].items() if got["snapshots"][o] != snap]
    assert not differing, (points, differing[:5])


@pytest.fixture(scope="module")
def embedded_reference(source, tmp_path_factory):
    settings = load_settings(backend="embedded", data_dir=tmp_path_factory.mktemp("crash-ref"))
    _reference(settings, source)  # warm: the timing below is of a run like the test's
    start = time.perf_counter()
    state = _reference(settings, source)
    return time.perf_counter() - start, state


@pytest.mark.parametrize("points", EMBEDDED_CASES, ids=["+".join(c) for c in EMBEDDED_CASES])
def test_embedded_crash_then_rerun_equals_uninterrupted(points, source, embedded_reference, tmp_path):
    _, want = embedded_reference
    settings = load_settings(backend="embedded", data_dir=tmp_path / "store")
    _crash_then_rerun(settings, source, points, want)


@pytest.mark.parametrize("fraction", [0.5])
def test_embedded_kill_at_a_random_moment(fraction, source, embedded_reference, tmp_path):
    """kill -9 from outside at a moment spread over the run (timed from the reference)."""
    duration, want = embedded_reference
    settings = load_settings(backend="embedded", data_dir=tmp_path / "store")
    proc = _cli(settings, source)
    time.sleep(duration * fraction)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    code, output = _run(settings, source)
    assert code == 0, output
    got = _state(settings, list(want["snapshots"]))
    assert {k: got[k] for k in ("stats", "quarantine", "done", "pending")} == {
        k: want[k] for k in ("stats", "quarantine", "done", "pending")
    }
    assert got["snapshots"] == want["snapshots"]


@pytest.fixture(scope="module")
def server_reference(source):
    settings = load_settings(backend="server")
    return settings, _reference(settings, source)


@pytest.mark.server
@pytest.mark.parametrize("points", SERVER_CASES, ids=["+".join(c) for c in SERVER_CASES])
def test_server_crash_then_rerun_equals_uninterrupted(points, source, server_reference):
    settings, want = server_reference
    _crash_then_rerun(settings, source, points, want)


def _restart(which: str) -> None:
    from orderscope.services import manager, neo4j, postgres

    settings = load_settings()
    (postgres if which == "postgres" else neo4j).down(settings)
    manager.up(settings)  # starts what is down, leaves the rest


@pytest.mark.server
@pytest.mark.parametrize("which", ["postgres", "neo4j"])
def test_server_restarted_mid_ingest(which, source, server_reference):
    """The server goes away while the ingest runs: it ends with a clear error (or rides it
    out), and the same command afterwards completes exactly."""
    settings, want = server_reference
    _fresh(settings)
    proc = _cli(settings, source)
    time.sleep(4.0)  # the child has started and is writing
    _restart(which)
    out, err = proc.communicate(timeout=600)
    assert "Traceback" not in out + err, (out + err)[-3000:]
    if proc.returncode != 0:
        said = " ".join(err.split())  # the terminal wraps the message
        assert "run the same command" in said or "cannot reach" in said, err[-2000:]
    code, output = _run(settings, source)
    assert code == 0, output
    got = _state(settings, list(want["snapshots"]))
    assert {k: got[k] for k in ("stats", "quarantine", "done", "pending")} == {
        k: want[k] for k in ("stats", "quarantine", "done", "pending")
    }
    assert got["snapshots"] == want["snapshots"]
