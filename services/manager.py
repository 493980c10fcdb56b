"""up / down / status for the local PostgreSQL+TimescaleDB and Neo4j services.

Both services install and start in parallel (apt calls are serialised); a file lock under
services_dir keeps two `up`s from racing each other.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import neo4j, postgres
from ._util import ServiceError, noop, secure_logs

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
    with _locked(settings):
        _secure_logs(settings, report)  # logs left by an earlier release, before anything runs
        try:
            return _up(settings, report, t0)
        finally:
            _secure_logs(settings, report)  # and the logs this start wrote


def _secrets(settings: Any) -> list[str]:
    return [getattr(settings, name).get_secret_value() for name in ("neo4j_password", "pg_password")]


def _secure_logs(settings: Any, report: Callable[[str], None]) -> None:
    for change in secure_logs(Path(settings.services_dir), _secrets(settings)):
        if change.startswith("redacted"):
            report(f"{change}: it held a password")


def _up(settings: Any, report: Callable[[str], None], t0: float) -> dict[str, Any]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {
            name: pool.submit(module.up, settings, lambda msg, n=name: report(f"[{n}] {msg}"))
            for name, module in SERVICES.items()
        }
        result: dict[str, Any] = {}
        errors: list[str] = []
        for name, future in futures.items():
            try:
                result[name] = future.result()
            except Exception as exc:
                result[name] = {"state": "failed", "error": str(exc)}
                errors.append(f"{name}: {exc}")
    result["seconds"] = round(time.monotonic() - t0, 2)
    if errors:
        raise ServiceError("local services failed to start:\n" + "\n".join(errors))
    return result


def down(settings: Any, only: Iterable[str] | None = None) -> dict[str, Any]:
    """Stop whatever `up` started (of the services named in `only`, when given); leave servers
    we did not start alone."""
    names = list(SERVICES) if only is None else [n for n in SERVICES if n in set(only)]
    with _locked(settings):
        return {name: SERVICES[name].down(settings) for name in names}


def status(settings: Any) -> dict[str, Any]:
    """Which services answer with our credentials, and their versions."""
    result: dict[str, Any] = {name: module.probe(settings) for name, module in SERVICES.items()}
    result["all_up"] = all(result[name]["state"] == "up" for name in SERVICES)
    result["services_dir"] = str(Path(settings.services_dir).expanduser())
    return result
