"""up / down / status for the local PostgreSQL+TimescaleDB and Neo4j services.

Both services install and start in parallel (apt calls are serialised); a file lock under
services_dir keeps two `up`s from racing each other.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import neo4j, postgres
from ._util import ServiceError, noop

SERVICES = {"postgres": postgres, "neo4j": neo4j}


@contextmanager
def _locked(settings: Any) -> Iterator[None]:
    root = Path(settings.services_dir).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    with (root / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def up(settings: Any, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Install once, start both services, return when both accept authenticated connections.

    Raises ServiceError naming every service that failed (after letting the other finish).
    """
    report = progress or noop
    t0 = time.monotonic()
    with _locked(settings), ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(module.up, settings, lambda msg, n=name: report(f"[{n}] {msg}"))
            for name, module in SERVICES.items()
        }
        result: dict[str, Any] = {}
        errors: list[str] = []
        for name, future in futures.items():
            try:
                result[name] = future.result()
            except Exception as exc:  # noqa: BLE001 - reported with the service name
                result[name] = {"state": "failed", "error": str(exc)}
                errors.append(f"{name}: {exc}")
    result["seconds"] = round(time.monotonic() - t0, 2)
    if errors:
        raise ServiceError("local services failed to start:\n" + "\n".join(errors))
    return result


def down(settings: Any) -> dict[str, Any]:
    """Stop whatever `up` started; leave servers we did not start alone."""
    with _locked(settings):
        return {name: module.down(settings) for name, module in SERVICES.items()}


def status(settings: Any) -> dict[str, Any]:
    """Which services answer with our credentials, and their versions."""
    result: dict[str, Any] = {name: module.probe(settings) for name, module in SERVICES.items()}
    result["all_up"] = all(result[name]["state"] == "up" for name in SERVICES)
    result["services_dir"] = str(Path(settings.services_dir).expanduser())
    return result
