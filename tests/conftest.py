"""Shared fixtures: small generated datasets (made once per session) and fresh embedded stores."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orderscope.config import Settings, load_settings
from orderscope.stores import Stores, open_stores


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory):
    """generated(orders, seed, scenario) -> folder, each made once per test session."""
    from orderscope.generator import generate

    made: dict[tuple, Path] = {}

    def make(orders: int = 400, seed: int = 5, scenario: str = "default") -> Path:
        key = (orders, seed, scenario)
        if key not in made:
            out = tmp_path_factory.mktemp(f"gen-{orders}-{seed}-{scenario}")
            generate(out, orders=orders, seed=seed, scenario=scenario)
            made[key] = out
        return made[key]

    return make


@pytest.fixture(scope="session")
def ingested(generated, tmp_path_factory: pytest.TempPathFactory):
    """ingested(orders, seed, scenario) -> (settings, folder): a generated dataset ingested
    once per session into its own embedded store. Open it with
    `open_stores(settings, read_only=True)`; never write to it."""
    from orderscope.ingest.pipeline import ingest_folder

    made: dict[tuple, tuple[Settings, Path]] = {}

    def make(orders: int = 3000, seed: int = 5, scenario: str = "default"):
        key = (orders, seed, scenario)
        if key not in made:
            folder = generated(orders, seed, scenario)
            settings = load_settings(
                backend="embedded",
                data_dir=tmp_path_factory.mktemp(f"store-{orders}-{seed}-{scenario}"),
            )
            with open_stores(settings) as stores:
                ingest_folder(folder, stores)
            made[key] = (settings, folder)
        return made[key]

    return make


@pytest.fixture(scope="session")
def on_servers(ingested):
    """on_servers(orders, seed, scenario) -> (embedded settings, server settings, folder): the
    dataset of `ingested` loaded into Neo4j + TimescaleDB too. The servers hold one dataset at
    a time and other tests reset them, so it is loaded again unless they already hold exactly
    this one (the same row count in every table and the same data clock as the embedded store);
    tests comparing the backends on one dataset then share a single server load."""
    from orderscope.ingest.pipeline import ingest_folder

    def make(orders: int, seed: int, scenario: str):
        embedded, folder = ingested(orders, seed, scenario)
        server = load_settings(backend="server")
        with open_stores(embedded, read_only=True) as e:
            want = (e.series.counts(), e.series.data_clock(), e.graph.counts())
        with open_stores(server) as stores:
            held = (stores.series.counts(), stores.series.data_clock(), stores.graph.counts())
            if held != want:
                stores.graph.reset()
                stores.series.reset()
                ingest_folder(folder, stores)
        return embedded, server, folder

    return make


@pytest.fixture
def copy_of(tmp_path: Path):
    """A private, writable copy of a generated folder (to damage or shuffle)."""

    def copy(folder: Path, name: str = "data") -> Path:
        target = tmp_path / name
        shutil.copytree(folder, target)
        return target

    return copy


@pytest.fixture
def embedded_settings(tmp_path: Path) -> Settings:
    return load_settings(backend="embedded", data_dir=tmp_path / "store")


@pytest.fixture
def embedded(embedded_settings: Settings) -> Iterator[Stores]:
    with open_stores(embedded_settings) as stores:
        yield stores


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session", autouse=True)
def _servers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Bring up Neo4j and PostgreSQL+TimescaleDB when a selected test needs them: containers
    (testcontainers) where a Docker engine answers, otherwise the project's local services.
    A failure here errors the server tests loudly; it never skips them.

    Local services this session started are stopped when it ends (Neo4j holds a 2 GB heap);
    those already running before it (`.ci/run`, a developer's `services up`) are left running,
    and so is everything when ORDERSCOPE_KEEP_SERVICES=1."""
    if not any(item.get_closest_marker("server") for item in request.session.items):
        yield
        return
    if _docker_answers():
        with _containers():
            yield
        return
    settings = load_settings()
    started = _local_services_started_by(settings)
    try:
        yield
    finally:
        if os.environ.get("ORDERSCOPE_KEEP_SERVICES") != "1":
            _stop_local_services(settings, started)


def _local_services_started_by(settings: Settings) -> list[str]:
    """`services up`; the names of the services that were not up before it (so this session
    started them, even when `up` then fails for the other one)."""
    from orderscope.services import ServiceError, status, up

    before = status(settings)
    down = [name for name in ("postgres", "neo4j") if before[name]["state"] != "up"]
    try:
        up(settings)
    except ServiceError:
        _stop_local_services(settings, down)
        raise
    return down


def _stop_local_services(settings: Settings, names: list[str]) -> None:
    """`services down` for these services only; each stops only if `up` started it."""
    if not names:
        return
    from orderscope.services import down

    down(settings, only=names)


@contextmanager
def _containers() -> Iterator[None]:
    try:
        from testcontainers.community.neo4j import Neo4jContainer  # type: ignore[import-untyped]
        from testcontainers.community.postgres import PostgresContainer  # type: ignore[import-untyped]
    except ImportError:
        from testcontainers.neo4j import Neo4jContainer  # type: ignore[import-untyped]
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

    password = "orderscope-dev"
    with (
        Neo4jContainer("neo4j:5.26-community", password=password) as neo4j,
        PostgresContainer(
            "timescale/timescaledb:2.19.3-pg16",
            username="orderscope",
            password=password,
            dbname="orderscope",
        ) as pg,
    ):
        env = {
            "ORDERSCOPE_NEO4J_URI": neo4j.get_connection_url(),
            "ORDERSCOPE_NEO4J_PASSWORD": password,
            "ORDERSCOPE_PG_HOST": pg.get_container_host_ip(),
            "ORDERSCOPE_PG_PORT": str(pg.get_exposed_port(5432)),
        }
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer (unit, integration, e2e) from its folder, so `-m unit`
    and `-m "not e2e"` select layers."""
    for item in items:
        layer = Path(str(item.fspath)).parent.name
        if layer in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, layer))
