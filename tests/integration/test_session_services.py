"""A test session stops the local services it started, and only those (issue 7, item 8)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from orderscope import services
from orderscope.config import load_settings
from tests.conftest import _local_services_started_by, _stop_local_services

ROOT = Path(__file__).resolve().parents[2]


class FakeServices:
    """status/up/down as the session fixture sees them, on pretend servers."""

    def __init__(self, up_before: set[str], fail: str | None = None) -> None:
        self.running = set(up_before)
        self.started_by_up: set[str] = set()
        self.fail = fail
        self.stopped: list[str] = []

    def status(self, settings):
        return {n: {"state": "up" if n in self.running else "down"} for n in ("postgres", "neo4j")}

    def up(self, settings, progress=None):
        for name in ("postgres", "neo4j"):
            if name == self.fail:
                raise services.ServiceError(f"{name} would not start")
            if name not in self.running:
                self.running.add(name)
                self.started_by_up.add(name)
        return {}

    def down(self, settings, only=None):
        for name in only:
            if name in self.started_by_up:  # like the real one: only what `up` started
                self.running.discard(name)
                self.stopped.append(name)
        return {}


@pytest.fixture
def fake(monkeypatch):
    def make(up_before: set[str], fail: str | None = None) -> FakeServices:
        f = FakeServices(up_before, fail)
        for name in ("status", "up", "down"):
            monkeypatch.setattr(services, name, getattr(f, name))
        return f

    return make


def test_a_session_that_started_the_services_stops_them(fake) -> None:
    f = fake(set())
    started = _local_services_started_by(load_settings())
    assert sorted(started) == ["neo4j", "postgres"] and f.running == {"neo4j", "postgres"}
    _stop_local_services(load_settings(), started)
    assert f.running == set() and sorted(f.stopped) == ["neo4j", "postgres"]


def test_services_already_running_are_left_alone(fake) -> None:
    """`.ci/run` or a developer ran `services up` before pytest."""
    f = fake({"postgres", "neo4j"})
    started = _local_services_started_by(load_settings())
    _stop_local_services(load_settings(), started)
    assert started == [] and f.stopped == [] and f.running == {"postgres", "neo4j"}


def test_only_the_one_the_session_started_is_stopped(fake) -> None:
    f = fake({"postgres"})
    started = _local_services_started_by(load_settings())
    _stop_local_services(load_settings(), started)
    assert started == ["neo4j"] and f.stopped == ["neo4j"] and f.running == {"postgres"}


def test_a_failed_start_stops_what_it_did_start(fake) -> None:
    f = fake(set(), fail="neo4j")
    with pytest.raises(services.ServiceError):
        _local_services_started_by(load_settings())
    assert f.stopped == ["postgres"] and f.running == set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.server
@pytest.mark.slow
def test_a_real_session_stops_the_services_it_started_and_the_readme_command_leaves_nothing() -> None:
    """A nested pytest session, as a developer runs the README's command with no services up:
    its own services dir and ports (so the servers this run uses are not touched), a small heap.
    It starts Neo4j and PostgreSQL for its server test, and they are down when it has ended."""
    installed = Path(load_settings().services_dir).expanduser() / "neo4j" / "lib" / ".complete"
    if not installed.exists():
        pytest.skip("the local services are not installed here (servers from containers)")
    home = Path(tempfile.mkdtemp(prefix="orderscope-session-"))
    env = {
        **os.environ,
        "ORDERSCOPE_SERVICES_DIR": str(home),
        "ORDERSCOPE_NEO4J_URI": f"bolt://127.0.0.1:{_free_port()}",
        "ORDERSCOPE_PG_PORT": str(_free_port()),
        "ORDERSCOPE_NEO4J_HEAP": "512m",
        "ORDERSCOPE_NEO4J_PAGECACHE": "64m",
        "ORDERSCOPE_NEO4J_VERSION": installed.read_text().strip(),  # the jars Maven has cached
    }
    env.pop("ORDERSCOPE_KEEP_SERVICES", None)
    nested = load_settings(
        services_dir=home, neo4j_uri=env["ORDERSCOPE_NEO4J_URI"], pg_port=int(env["ORDERSCOPE_PG_PORT"])
    )
    try:
        assert not services.status(nested)["all_up"]
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                "server",
                "tests/integration/test_service_secrets.py::test_set_up_services_leave_no_secret_in_logs_or_process_arguments",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert "1 passed" in proc.stdout
        after = services.status(nested)
        assert after["postgres"]["state"] == "down" and after["neo4j"]["state"] == "down", after
    finally:
        services.down(nested)
        shutil.rmtree(home, ignore_errors=True)
