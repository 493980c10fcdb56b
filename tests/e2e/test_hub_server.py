"""On the server backend hubs hold no state of their own: two `orderscope serve` processes
run side by side against the same Neo4j + TimescaleDB, data pushed into one is read from the
other, and neither claims a data dir."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from orderscope.config import load_settings
from orderscope.stores import open_stores
from tests.e2e.test_hub import _env, _free_port
from tests.e2e.waiting import wait_until

pytestmark = [pytest.mark.server, pytest.mark.timeout(300)]


def _call(url: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def _start(port: int, cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "orderscope.cli", "serve", "--backend", "server", "--port", str(port)],
        cwd=cwd,
        env=dict(_env(), ORDERSCOPE_DATA_DIR=str(cwd / "no-data-dir")),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"hub on {port} ended: {proc.communicate()[1][-2000:]}")
        try:
            return bool(_call(f"http://127.0.0.1:{port}/readyz")["status"] == "ready")
        except OSError:
            return False

    wait_until(ready, f"hub on {port} did not come up", timeout=60, every=0.3)
    return proc


def test_two_hubs_share_the_servers(generated, tmp_path: Path) -> None:
    folder = generated(300, 9)
    with open_stores(load_settings(backend="server")) as stores:
        stores.graph.reset()
        stores.series.reset()
    a_port, b_port = _free_port(), _free_port()
    hubs = [_start(a_port, tmp_path), _start(b_port, tmp_path)]
    try:
        report = _call(f"http://127.0.0.1:{a_port}/api/v1/ingest/folder", {"path": str(folder)})
        assert report["totals"]["accepted"] > 0 and not report["failed_files"]
        a = _call(f"http://127.0.0.1:{a_port}/api/v1/stats")
        b = _call(f"http://127.0.0.1:{b_port}/api/v1/stats")
        assert a == b and a["kinds"]["orders"]["count"] == 300
        order = "O0000042"
        assert _call(f"http://127.0.0.1:{a_port}/api/v1/orders/{order}") == _call(
            f"http://127.0.0.1:{b_port}/api/v1/orders/{order}"
        )
        assert not (tmp_path / "no-data-dir" / "hub.json").exists()  # no data dir is claimed
    finally:
        for proc in hubs:
            proc.send_signal(signal.SIGINT)
        for proc in hubs:
            out, err = proc.communicate(timeout=60)
            assert "Traceback" not in err, err[-2000:]
