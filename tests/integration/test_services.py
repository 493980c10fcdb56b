"""The local services are up (the runner calls `python -m orderscope.services up` first)."""

from __future__ import annotations

import pytest

from orderscope.config import load_settings
from orderscope.services import status, up

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def settings():
    return load_settings()


def test_status_reports_both_up_with_versions(settings) -> None:
    result = status(settings)
    assert result["postgres"]["state"] == "up", result["postgres"]
    assert result["neo4j"]["state"] == "up", result["neo4j"]
    assert result["all_up"] is True
    assert result["postgres"]["version"].startswith("1")
    assert result["postgres"]["timescaledb"].startswith("2."), result["postgres"]
    assert result["neo4j"]["version"].startswith("5.26"), result["neo4j"]


def test_up_again_is_a_noop(settings) -> None:
    before = status(settings)
    result = up(settings)
    assert result["postgres"]["already_up"] is True
    assert result["neo4j"]["already_up"] is True
    after = status(settings)
    for name in ("postgres", "neo4j"):
        assert after[name]["state"] == "up"
        assert after[name]["started_by_us"] == before[name]["started_by_us"]


def test_timescaledb_hypertable_works(settings) -> None:
    import psycopg

    with psycopg.connect(settings.pg_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS test_services CASCADE")
        conn.execute("CREATE SCHEMA test_services")
        try:
            conn.execute("CREATE TABLE test_services.m (ts timestamptz NOT NULL, v double precision)")
            conn.execute("SELECT create_hypertable('test_services.m', by_range('ts'))")
            conn.execute("INSERT INTO test_services.m VALUES (now(), 1.0)")
            assert conn.execute("SELECT count(*) FROM test_services.m").fetchone()[0] == 1
        finally:
            conn.execute("DROP SCHEMA test_services CASCADE")


def test_neo4j_accepts_writes(settings) -> None:
    from neo4j import GraphDatabase

    with GraphDatabase.driver(
        settings.neo4j_uri, auth=(settings.neo4j_user, settings.neo4j_password.get_secret_value())
    ) as driver:
        records, _, _ = driver.execute_query("RETURN 1 + 1 AS two", database_=settings.neo4j_database)
        assert records[0]["two"] == 2
