"""Open the pair of stores (service graph + series) for the configured backend.

The only place that knows which adapter class serves which backend; everything else talks to
the GraphStore and SeriesStore ports.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orderscope.config import Settings
from orderscope.domain.lifecycle import load_catalog
from orderscope.graph.port import GraphStore
from orderscope.ownership import HubOwner, live_owner
from orderscope.ports import Stores
from orderscope.series.port import SeriesStore


class StoreUnavailable(RuntimeError):
    """A store could not be opened; the message says what to do."""


class HubOwnsStore(StoreUnavailable):
    """A running hub owns the embedded data dir: ask it (over HTTP) instead."""

    def __init__(self, owner: HubOwner, data_dir: Path) -> None:
        super().__init__(
            f"the orderscope hub at {owner.url} (pid {owner.pid}) owns {data_dir}: use its API or "
            "dashboard (ingest, snapshot and stats go through it by themselves), or stop it first"
        )
        self.owner = owner


def open_graph(settings: Settings, read_only: bool = False) -> GraphStore:
    if settings.backend == "server":
        from orderscope.graph.neo4j import Neo4jGraph

        return Neo4jGraph(
            settings.neo4j_uri,
            settings.neo4j_user,
            settings.neo4j_password.get_secret_value(),
            settings.neo4j_database,
        )
    from orderscope.graph.ladybug import LadybugGraph

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return LadybugGraph(
        settings.graph_path,
        read_only=read_only,
        buffer_pool_size=settings.graph_buffer_mb * 2**20,
    )


def open_series(settings: Settings, read_only: bool = False) -> SeriesStore:
    if settings.backend == "server":
        from orderscope.series.timescale import TimescaleSeries

        return TimescaleSeries(settings.pg_dsn)
    from orderscope.series.duckdb import DuckDBSeries

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return DuckDBSeries(settings.series_path, read_only=read_only, memory_limit_mb=settings.series_memory_mb)


@contextmanager
def open_stores(settings: Settings, read_only: bool = False) -> Iterator[Stores]:
    """Both stores, schema ensured (unless read-only), closed on exit."""
    hub = live_owner(settings)
    if hub is not None:
        raise HubOwnsStore(hub, settings.data_dir)
    if read_only and settings.backend == "embedded" and not settings.series_path.exists():
        raise StoreUnavailable(
            f"no orderscope data under {settings.data_dir.resolve()}: run `orderscope ingest DIR` "
            "(or `orderscope demo`) first, or point --data-dir / ORDERSCOPE_DATA_DIR at your data"
        )
    try:
        graph = open_graph(settings, read_only)
    except Exception as e:  # the drivers' own errors vary; say what to do
        raise StoreUnavailable(_hint(settings, "graph", e)) from e
    try:
        series = open_series(settings, read_only)
    except Exception as e:
        graph.close()
        raise StoreUnavailable(_hint(settings, "series", e)) from e
    stores = Stores(graph, series, settings.backend, load_catalog(settings.catalog))
    try:
        if not read_only:
            graph.ensure_schema()
            series.ensure_schema()
        yield stores
    finally:
        stores.close()


_DRIVER_MODULES = ("duckdb", "ladybug", "neo4j", "psycopg", "psycopg_pool")


def is_store_error(error: BaseException) -> bool:
    """Whether an exception comes from a store's driver (a server gone away, a lost
    connection, a full disk) rather than from orderscope's own code."""
    return any(
        (type(e).__module__ or "").split(".")[0] in _DRIVER_MODULES
        for e in (error, error.__cause__, error.__context__)
        if e is not None
    ) or isinstance(error, ConnectionError)


def _hint(settings: Settings, which: str, error: Exception) -> str:
    if settings.backend == "server":
        where = settings.neo4j_uri if which == "graph" else f"{settings.pg_host}:{settings.pg_port}"
        return (
            f"cannot reach the {which} server at {where}: {error}. Start the local services with "
            "`orderscope services up` (or `docker compose up -d`), or check ORDERSCOPE_* settings."
        )
    held = _LOCK_HOLDER.search(str(error))
    if held or "lock" in str(error).lower():
        pid = f" (pid {held.group(1)})" if held else ""
        return (
            f"another orderscope process{pid} is using {settings.data_dir} (a dashboard, an ingest?): "
            "wait for it or stop it. To read and ingest at the same time, run `orderscope serve`: "
            "commands then go through it"
        )
    return f"cannot open the embedded {which} store under {settings.data_dir}: {error}"


_LOCK_HOLDER = re.compile(r"PID (\d+)")
