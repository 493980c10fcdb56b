"""The real hub: `orderscope serve` as a child process on an ingested embedded store, and the
real CLI, inbox and dashboard (headless Chromium) around it while it serves.

The generated data is split by order: the first 300 orders (with every record that belongs to
them, and the readings) are ingested before the hub starts; the other 100 arrive while it
serves, through `orderscope ingest` (which goes through the hub) and the inbox. At the end the
store holds exactly what one ingest of the whole folder gives.

Needs Debian's `chromium` and `chromium-driver`: fails loudly, never skips, when they are missing.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orderscope.config import load_settings
from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores
from orderscope.views.stats import collect_stats
from tests.e2e.browser import headless_chromium
from tests.e2e.waiting import wait_until

ORDERS, SEED = 400, 5
FIRST = 300  # orders in the store before the hub starts
INBOX_KIND = "notifications"  # the later orders' notifications arrive through the inbox

pytestmark = pytest.mark.timeout(300)


# --- the data, split by order ------------------------------------------------------------


def _split(folder: Path, first: Path, later: Path) -> None:
    """Copy the source files of `folder` into `first` (orders up to O{FIRST}, their records,
    and everything not kept per order) and `later` (the other orders and their records, as
    `<kind>-later.<ext>` files)."""
    first.mkdir()
    later.mkdir()
    early = {f"O{i:07d}" for i in range(1, FIRST + 1)}
    early_waybills: set[str] = set()
    with (folder / "shipments.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            if row["order_id"] in early:
                early_waybills.add(row["waybill"])
    for path in sorted(folder.iterdir()):
        if path.name == "ground_truth.json":
            continue
        key, keep = (
            ("order_id", early) if path.name != "logistics_tracks.jsonl" else ("waybill", early_waybills)
        )
        if path.suffix == ".csv":
            head, *lines = path.read_text().splitlines()
            column = head.split(",").index(key) if key in head.split(",") else None
            if column is None:
                shutil.copy(path, first / path.name)
                continue
            parts: dict[bool, list[str]] = {True: [], False: []}
            for line in lines:
                parts[next(csv.reader([line]))[column] in keep].append(line)
            (first / path.name).write_text("\n".join([head, *parts[True]]) + "\n")
            (later / f"{path.stem}-later.csv").write_text("\n".join([head, *parts[False]]) + "\n")
        elif path.suffix == ".jsonl":
            records = [line for line in path.read_text().splitlines() if line.strip()]
            if key not in json.loads(records[0]):
                shutil.copy(path, first / path.name)
                continue
            parts = {True: [], False: []}
            for line in records:
                parts[json.loads(line)[key] in keep].append(line)
            (first / path.name).write_text("\n".join(parts[True]) + "\n")
            (later / f"{path.stem}-later.jsonl").write_text("\n".join(parts[False]) + "\n")
        else:  # the Parquet readings are not kept per order
            shutil.copy(path, first / path.name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    # COLUMNS: a message is one line, as a terminal shows it (rich wraps at 80 without a tty)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSCOPE_")}
    return dict(env, COLUMNS="250", ORDERSCOPE_INBOX_POLL_SECONDS="0.3", PYTHONUNBUFFERED="1")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderscope.cli", *args],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def world(generated, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The split folders, a store holding the first part, and what the CLI said about it
    before any hub ran."""
    root = tmp_path_factory.mktemp("hub-e2e")
    full = generated(ORDERS, SEED)
    _split(full, root / "first", root / "later")
    inbox_file = next((root / "later").glob(f"{INBOX_KIND}-later.*"))
    (root / "dropped").mkdir()
    inbox_file.rename(root / "dropped" / inbox_file.name)
    data_dir = root / "store"
    with open_stores(load_settings(backend="embedded", data_dir=data_dir)) as stores:
        report = ingest_folder(root / "first", stores)
        assert report.totals.rejected == 0 and report.totals.conflict == 0
    stats = cli("stats", "--json", "--data-dir", str(data_dir), cwd=root)
    snapshot = cli("snapshot", "O0000042", "--json", "--data-dir", str(data_dir), cwd=root)
    assert stats.returncode == 0 and snapshot.returncode == 0, stats.stderr + snapshot.stderr
    missing = cli("snapshot", "O9999999", "--data-dir", str(data_dir), cwd=root)
    assert missing.returncode != 0 and "O9999999" in missing.stderr
    return {
        "root": root,
        "full": full,
        "data_dir": data_dir,
        "stats": json.loads(stats.stdout),
        "snapshot": json.loads(snapshot.stdout),
        "missing": missing.stderr,
        "dropped": root / "dropped" / inbox_file.name,
    }


@pytest.fixture(scope="module")
def hub(world) -> Iterator[dict[str, Any]]:
    port = _free_port()
    log = (world["root"] / "hub.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orderscope.cli",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(world["data_dir"]),
        ],
        cwd=world["root"],
        env=_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"

    def ready() -> bool:
        assert process.poll() is None, (world["root"] / "hub.log").read_text()
        try:
            return _get(url + "readyz")[0] == 200
        except OSError:
            return False

    wait_until(ready, "the hub did not become ready", timeout=90, every=0.3)
    state = {"process": process, "url": url, "port": port, "log": world["root"] / "hub.log"}
    try:
        yield state
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with headless_chromium() as driver:
        yield driver


def _orders_shown(driver: Any, url: str, expected: str, timeout: float = 20) -> str:
    """Load the overview until its Orders figure reads `expected` (a new page load each try,
    as a manager would press reload); the last figure seen."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        driver.get(url)
        end = min(deadline, time.monotonic() + 8)
        while time.monotonic() < end:
            try:
                elements = driver.find_elements("css selector", "#kpi-orders")
                seen = elements[0].text.strip() if elements else seen
            except (StaleElementReferenceException, WebDriverException):
                pass
            if seen == expected:
                return seen
            if seen:
                break
            time.sleep(0.2)
        time.sleep(0.5)
    return seen


# --- the hub at work ---------------------------------------------------------------------


def test_reads_go_through_the_hub(world, hub):
    owner = json.loads((world["data_dir"] / "hub.json").read_text())
    assert owner["url"] == hub["url"] and owner["pid"] == hub["process"].pid
    stats = cli("stats", "--json", "--data-dir", str(world["data_dir"]), cwd=world["root"])
    snapshot = cli("snapshot", "O0000042", "--json", "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert stats.returncode == 0, stats.stderr
    assert snapshot.returncode == 0, snapshot.stderr
    assert json.loads(stats.stdout) == world["stats"]
    assert json.loads(snapshot.stdout) == world["snapshot"]
    text = cli("snapshot", "O0000042", "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert text.returncode == 0 and "O0000042" in text.stdout
    missing = cli("snapshot", "O9999999", "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    assert missing.stderr == world["missing"]  # the same words as without a hub


@pytest.mark.parametrize(
    "command",
    [
        ["reset", "--yes"],
        ["patterns", "keep", "node=PICKING", "--name", "picking"],
        ["quarantine"],
    ],
    ids=["reset", "patterns-keep", "quarantine"],
)
def test_other_commands_name_the_hub(world, hub, command):
    """A command that does not go through the hub says so in one line and changes nothing."""
    r = cli(*command, "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert r.returncode != 0
    output = (r.stdout + r.stderr).strip()
    assert "Traceback" not in output and "lock" not in output.lower()
    assert len(output.splitlines()) == 1, output
    assert hub["url"] in output and str(hub["process"].pid) in output
    assert _get(hub["url"] + "readyz")[0] == 200  # the hub still serves


def test_a_second_hub_on_the_same_data_dir_is_refused(world, hub):
    r = cli("serve", "--port", str(_free_port()), "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert r.returncode != 0 and hub["url"] in r.stderr and "Traceback" not in r.stderr
    r = cli(
        "serve", "--port", str(hub["port"]), "--data-dir", str(world["root"] / "other"), cwd=world["root"]
    )
    assert r.returncode != 0 and "--port" in r.stderr and "Traceback" not in r.stderr


def test_dashboard_shows_new_orders_without_a_restart(world, hub, browser):
    assert _orders_shown(browser, hub["url"], f"{FIRST:,}") == f"{FIRST:,}"
    browser.save_screenshot(str(Path(tempfile.gettempdir()) / "dash-hub-before.png"))

    r = cli(
        "ingest",
        str(world["root"] / "later"),
        "--json",
        "--data-dir",
        str(world["data_dir"]),
        cwd=world["root"],
    )
    assert r.returncode == 0, r.stderr
    assert "through" in r.stderr and hub["url"] in r.stderr  # it said where the ingest went
    report = json.loads(r.stdout)
    assert report["totals"]["accepted"] == report["totals"]["rows_read"] > 0
    assert report["kinds"]["orders"]["accepted"] == ORDERS - FIRST

    assert _orders_shown(browser, hub["url"], f"{ORDERS:,}") == f"{ORDERS:,}"
    browser.save_screenshot(str(Path(tempfile.gettempdir()) / "dash-hub-after.png"))


def _wait_for(path: Path, timeout: float = 30) -> None:
    wait_until(path.exists, f"{path} did not appear", timeout=timeout)


def test_inbox(world, hub):
    inbox = world["data_dir"] / "inbox"
    dropped: Path = world["dropped"]
    shutil.copy(dropped, inbox / ".partial")  # a copy in progress (a dot name) is left alone
    (inbox / ".partial").rename(inbox / dropped.name)
    (inbox / "returns-broken.parquet").write_bytes(b"PAR1 this is not parquet at all")
    (inbox / "notes.txt").write_text("not a source file")

    done = inbox / "done" / dropped.name
    _wait_for(done.with_name(done.name + ".report.json"))
    report = json.loads(done.with_name(done.name + ".report.json").read_text())
    rows = len([line for line in dropped.read_text().splitlines() if line.strip()])
    assert done.exists() and not (inbox / dropped.name).exists()
    assert report["kinds"][INBOX_KIND]["accepted"] == rows > 0

    broken = inbox / "failed" / "returns-broken.parquet"
    _wait_for(broken.with_name(broken.name + ".report.json"))
    assert broken.exists()
    failure = json.loads(broken.with_name(broken.name + ".report.json").read_text())
    assert "returns-broken.parquet" in json.dumps(failure["failed_files"])
    unknown = inbox / "failed" / "notes.txt"
    _wait_for(unknown.with_name(unknown.name + ".report.json"))
    assert "not named after a source kind" in unknown.with_name(unknown.name + ".report.json").read_text()

    stats = cli("stats", "--json", "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert json.loads(stats.stdout)["kinds"][INBOX_KIND]["count"] >= rows


def test_metrics_count_what_came_in(world, hub):
    status, body = _get(hub["url"] + "metrics")
    text = body.decode()
    assert status == 200
    assert 'orderscope_ingest_rows_total{kind="orders",outcome="accepted"} 100.0' in text
    assert f'orderscope_ingest_rows_total{{kind="{INBOX_KIND}",outcome="accepted"}}' in text
    assert 'route="/api/v1/ingest/folder"' in text and "orderscope_data_clock_lag_seconds" in text


def test_stopped_by_ctrl_c_the_store_holds_everything(world, hub, ingested):
    """SIGINT: the hub stops cleanly, removes its owner file, and the store it leaves is the
    one a single ingest of the whole folder makes (commands open it directly again)."""
    process = hub["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(60) == 0
    log = hub["log"].read_text()
    assert "Traceback" not in log and "orderscope hub stopped" in log
    assert not (world["data_dir"] / "hub.json").exists()

    r = cli("stats", "--json", "--data-dir", str(world["data_dir"]), cwd=world["root"])
    assert r.returncode == 0, r.stderr
    after = json.loads(r.stdout)
    whole, _ = ingested(ORDERS, SEED)
    with open_stores(whole, read_only=True) as stores:
        expected = collect_stats(stores)
    assert after["kinds"] == expected["kinds"]
    assert after["quarantine"] == expected["quarantine"] == 0
    assert after["stage_dwell"] == expected["stage_dwell"]
