"""Our own PostgreSQL 15 cluster (with TimescaleDB) on loopback, data under services_dir.

The system cluster (port 5432) is never touched: we initdb a separate data directory, run it on
settings.pg_port with TCP only (no Unix socket, so no path-length or /run permission issues) and
scram password auth. The bootstrap superuser is settings.pg_user, as in the timescale Docker image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, cast

import psycopg
from psycopg import sql

from . import timescaledb
from ._util import (
    LOOPBACK,
    Progress,
    ServiceError,
    apt_install,
    chown_tree,
    grant_traverse,
    is_root,
    port_open,
    run,
    tail,
)

PG_BIN = Path("/usr/lib/postgresql/15/bin")
SERVICE_USER = "postgres"  # Debian's system user; PostgreSQL refuses to run as root.
SERVER_PACKAGES = ["postgresql-15", "postgresql-server-dev-15"]


def _root(settings: Any) -> Path:
    return Path(settings.services_dir).expanduser() / "postgres"


def _paths(settings: Any) -> dict[str, Path]:
    root = _root(settings)
    return {
        "root": root,
        "data": root / "data",
        "log": root / "postgres.log",
        "setup_log": Path(settings.services_dir).expanduser() / "logs" / "postgres-setup.log",
        "marker": root / "started_by_orderscope",
    }


def _run_as(settings: Any) -> str | None:
    return SERVICE_USER if is_root() else None


def _check_loopback(settings: Any) -> None:
    if settings.pg_host not in LOOPBACK:
        raise ServiceError(
            f"pg_host is {settings.pg_host!r}: the local services only manage a server on 127.0.0.1"
        )


def _connect(settings: Any, dbname: str | None = None, timeout: int = 3) -> psycopg.Connection:
    return psycopg.connect(
        host=settings.pg_host,
        port=settings.pg_port,
        user=settings.pg_user,
        password=settings.pg_password.get_secret_value(),
        dbname=dbname or settings.pg_database,
        connect_timeout=timeout,
        autocommit=True,
    )


def probe(settings: Any) -> dict[str, Any]:
    """Versions when our database answers with our credentials; state 'down' otherwise."""
    p = _paths(settings)
    started_by_us = p["marker"].exists() and _pg_ctl_running(settings)
    if not port_open(settings.pg_host, settings.pg_port):
        return {"state": "down", "port": settings.pg_port}
    try:
        with _connect(settings) as conn:
            shown = conn.execute("SHOW server_version").fetchone()
            assert shown is not None  # SHOW answers one row
            version = shown[0]
            row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
    except psycopg.Error as exc:
        return {"state": "unreachable", "port": settings.pg_port, "error": str(exc).strip()}
    return {
        "state": "up",
        "version": version,
        "timescaledb": row[0] if row else None,
        "port": settings.pg_port,
        "started_by_us": started_by_us,
    }


def _pg_ctl_running(settings: Any) -> bool:
    data = _paths(settings)["data"]
    if not (data / "PG_VERSION").exists():
        return False
    argv = [str(PG_BIN / "pg_ctl"), "-D", str(data), "status"]
    if is_root():
        argv = ["runuser", "-u", SERVICE_USER, "--", *argv]
    return subprocess.run(argv, capture_output=True, check=False, cwd="/").returncode == 0


def install(settings: Any, progress: Progress) -> dict[str, object]:
    """PostgreSQL 15 server + TimescaleDB, each only when missing."""
    p = _paths(settings)
    timings: dict[str, object] = {}
    t0 = time.monotonic()
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_config").exists():
        installed = apt_install(SERVER_PACKAGES, p["setup_log"], progress)
        timings["apt_install"] = installed
    apt_seconds = round(time.monotonic() - t0, 1)
    timings["apt_seconds"] = apt_seconds
    tsdb = timescaledb.ensure_installed(
        PG_BIN / "pg_config", Path(settings.services_dir).expanduser() / "build", p["setup_log"], progress
    )
    if "apt_seconds" in tsdb:
        timings["apt_seconds"] = round(apt_seconds + cast(float, tsdb.pop("apt_seconds")), 1)
    timings.update(tsdb)
    return timings


def init_cluster(settings: Any, progress: Progress) -> bool:
    """initdb our data directory once; returns True when it was created now."""
    p = _paths(settings)
    if (p["data"] / "PG_VERSION").exists():
        return False
    progress(f"initdb {p['data']}")
    p["root"].mkdir(parents=True, exist_ok=True)
    if p["data"].exists():  # a half-finished earlier initdb
        shutil.rmtree(p["data"])
    if is_root():
        chown_tree(p["root"], SERVICE_USER)
        os.chmod(p["root"], 0o700)
        grant_traverse(p["root"], SERVICE_USER, progress, p["setup_log"])
    pwfile = p["root"] / ".initdb-pw"  # 0600 from its creation on, removed right after initdb
    pwfile.unlink(missing_ok=True)
    with os.fdopen(os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as fh:
        fh.write(settings.pg_password.get_secret_value() + "\n")
    if is_root():
        chown_tree(pwfile, SERVICE_USER)
    try:
        run(
            [
                PG_BIN / "initdb",
                "-D",
                p["data"],
                "-U",
                settings.pg_user,
                f"--pwfile={pwfile}",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            p["setup_log"],
            cwd=p["root"],
            user=_run_as(settings),
            timeout=300,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    conf = p["data"] / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write(
            "\n# --- orderscope local service ---\n"
            "listen_addresses = '127.0.0.1'\n"
            f"port = {settings.pg_port}\n"
            "unix_socket_directories = ''\n"
            "shared_preload_libraries = 'timescaledb'\n"
            "timescaledb.telemetry_level = off\n"
            "password_encryption = 'scram-sha-256'\n"
            "max_connections = 100\n"
            "shared_buffers = 256MB\n"
            "logging_collector = off\n"
        )
    return True


def start(settings: Any, progress: Progress) -> None:
    """pg_ctl start (waits until the server accepts connections)."""
    p = _paths(settings)
    progress(f"starting PostgreSQL on 127.0.0.1:{settings.pg_port}")
    try:
        run(
            [PG_BIN / "pg_ctl", "-D", p["data"], "-l", p["log"], "-w", "-t", "90", "start"],
            p["setup_log"],
            cwd=p["root"],
            user=_run_as(settings),
            timeout=120,
        )
    except ServiceError as exc:
        raise ServiceError(f"{exc}\n--- {p['log']} ---\n{tail(p['log'])}") from exc
    p["marker"].write_text(str(time.time()))
    if p["log"].exists():  # pg_ctl creates the server log with the service user's umask
        os.chmod(p["log"], 0o600)


def ensure_database(settings: Any, progress: Progress, timeout: float = 60) -> None:
    """Create the orderscope database and the timescaledb extension in it (both idempotent)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _connect(settings, dbname="postgres") as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (settings.pg_database,)
                ).fetchone()
                if not exists:
                    progress(f"creating database {settings.pg_database}")
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(
                            sql.Identifier(settings.pg_database),
                            sql.Identifier(settings.pg_user),
                        )
                    )
            with _connect(settings) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
            return
        except psycopg.OperationalError as exc:
            if "authentication failed" in str(exc):
                raise ServiceError(
                    f"PostgreSQL on port {settings.pg_port} rejects user {settings.pg_user!r}: the "
                    f"cluster in {_paths(settings)['data']} was created with another password"
                ) from exc
            if time.monotonic() > deadline:
                raise ServiceError(f"PostgreSQL on port {settings.pg_port} did not accept us: {exc}") from exc
            time.sleep(0.5)


def up(settings: Any, progress: Progress) -> dict[str, Any]:
    """Install (once), init (once), start unless running, then wait for the extension."""
    _check_loopback(settings)
    t0 = time.monotonic()
    current = probe(settings)
    if current["state"] == "up":
        ensure_database(settings, progress)
        current = probe(settings)
        current.update(already_up=True, seconds=round(time.monotonic() - t0, 2))
        return current
    if current["state"] == "unreachable":
        if not _pg_ctl_running(settings):
            raise ServiceError(
                f"port {settings.pg_port} is taken by another server that rejects our credentials "
                f"({current['error']}); stop it or set ORDERSCOPE_PG_PORT"
            )
    steps = install(settings, progress)
    t1 = time.monotonic()
    steps["initdb"] = init_cluster(settings, progress)
    if not _pg_ctl_running(settings):
        if port_open(settings.pg_host, settings.pg_port):
            raise ServiceError(f"port {settings.pg_port} is in use by something else")
        start(settings, progress)
    ensure_database(settings, progress)
    steps["start_seconds"] = round(time.monotonic() - t1, 1)
    result = probe(settings)
    if result["state"] != "up":
        raise ServiceError(f"PostgreSQL did not come up: {result}")
    result.update(already_up=False, steps=steps, seconds=round(time.monotonic() - t0, 2))
    return result


def down(settings: Any) -> dict[str, Any]:
    """Stop the cluster only if `up` started it (marker file next to the data directory)."""
    p = _paths(settings)
    if not p["marker"].exists():
        return {"state": probe(settings)["state"], "stopped": False, "reason": "not started by orderscope"}
    if _pg_ctl_running(settings):
        run(
            [PG_BIN / "pg_ctl", "-D", p["data"], "-m", "fast", "-w", "-t", "60", "stop"],
            p["setup_log"],
            cwd=p["root"],
            user=_run_as(settings),
            timeout=90,
        )
        stopped = True
    else:
        stopped = False
    p["marker"].unlink(missing_ok=True)
    return {"state": "down", "stopped": stopped}
