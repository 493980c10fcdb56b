"""The in-memory fakes keep the ports' contracts: the adapters' own contract tests run on them.

Every test of tests/integration/test_graph_port.py and test_series_port.py that takes the store
fixture runs here on a fresh fake, with the same assertions, except those that need query text
(the fakes run none: tests/fakes.py says why) — a new contract test is picked up by itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest

from orderscope.domain.sources import ORDERS, QC_REPORTS
from tests.fakes import NO_QUERY_TEXT, FakeGraph, FakeSeries
from tests.integration import test_graph_port as graph_contract
from tests.integration import test_series_port as series_contract

# Contract tests that run query text (Cypher / SQL) on the store.
GRAPH_QUERY_TEXT = {
    "test_entities_created_once_across_batches",
    "test_entity_relations_are_merged_not_duplicated",
    "test_parameters_are_safe",
    "test_query_returns_polars_and_binds_instants",
}
SERIES_QUERY_TEXT = {
    "test_tables_have_exactly_the_kind_columns",
    "test_query_parameterized",
    "test_injection_looking_values_are_data",
}


def contract_tests(module: ModuleType, fixture: str, skip: set[str]) -> list[Callable[..., None]]:
    """The module's tests whose first parameter is the store fixture, but those in `skip`."""
    return [
        fn
        for name, fn in vars(module).items()
        if name.startswith("test_")
        and inspect.isfunction(fn)
        and list(inspect.signature(fn).parameters)[:1] == [fixture]
        and name not in skip
    ]


def run(check: Callable[..., None], store: Any, tmp_path: Path) -> None:
    extra = {"tmp_path": tmp_path} if "tmp_path" in inspect.signature(check).parameters else {}
    check(store, **extra)


@pytest.mark.parametrize(
    "check",
    contract_tests(graph_contract, "graph_store", GRAPH_QUERY_TEXT),
    ids=lambda fn: fn.__name__.removeprefix("test_"),
)
def test_fake_graph_keeps_the_port_contract(check: Callable[..., None], tmp_path: Path) -> None:
    run(check, FakeGraph(), tmp_path)


@pytest.mark.parametrize(
    "check",
    contract_tests(series_contract, "series_store", SERIES_QUERY_TEXT),
    ids=lambda fn: fn.__name__.removeprefix("test_"),
)
def test_fake_series_keeps_the_port_contract(check: Callable[..., None], tmp_path: Path) -> None:
    run(check, FakeSeries(), tmp_path)


def test_most_contract_tests_run_on_the_fakes() -> None:
    assert len(contract_tests(graph_contract, "graph_store", GRAPH_QUERY_TEXT)) >= 8
    assert len(contract_tests(series_contract, "series_store", SERIES_QUERY_TEXT)) >= 18


def test_the_fakes_run_no_query_text() -> None:
    with pytest.raises(NotImplementedError, match="no query text"):
        FakeGraph().query("MATCH (o:`Order`) RETURN o")
    with pytest.raises(NotImplementedError, match="no query text"):
        FakeSeries().query('SELECT * FROM "orders"')
    assert "real adapters" in NO_QUERY_TEXT


def test_fake_graph_writes_a_batch_whole_or_not_at_all() -> None:
    """As the adapters: a record of an unknown order, or a key stored already, fails the
    batch and leaves nothing of it behind."""
    g = FakeGraph()
    g.add_records(ORDERS, graph_contract.frame(ORDERS, [graph_contract.order_row("O1")]))
    ts = graph_contract.ts
    bad = graph_contract.frame(
        QC_REPORTS,
        [
            graph_contract.qc_row("QC1", "O1", ts(2), "E1"),
            graph_contract.qc_row("QC2", "missing", ts(2), "E2"),
        ],
    )
    with pytest.raises(ValueError, match="do not exist"):
        g.add_records(QC_REPORTS, bad)
    c = g.counts()
    assert c["node:QCReport"] == 0 and c["node:Equipment"] == 0 and c["rel:HAS_QC_REPORT"] == 0
    assert g.add_records(QC_REPORTS, bad.head(1)) == 1
    with pytest.raises(ValueError, match="stored already"):
        g.add_records(QC_REPORTS, bad.head(1))
    assert g.counts()["node:QCReport"] == 1


def test_fake_series_pending_dwell_is_derived_once() -> None:
    s = FakeSeries()
    s.append(ORDERS, series_contract.orders_frame(["O1", "O2", "O3"]))
    s.append(
        series_contract.EVENTS,
        series_contract.events_frame(series_contract.lifecycle("O1", ["CREATED", "PAID"])),
    )
    assert s.pending_dwell() == 1
    assert s.rebuild_pending_dwell() == 2  # one order of three: its own visits only
    assert s.pending_dwell() == 0 and s.rebuild_pending_dwell() == 0
    both = series_contract.lifecycle("O2", ["CREATED"]) + series_contract.lifecycle("O3", ["CREATED"])
    s.append(series_contract.EVENTS, series_contract.events_frame(both))
    assert s.rebuild_pending_dwell() == 4  # two of three: rebuilt whole, every order's visits
    assert s.dwell("O1")["node"].to_list() == ["CREATED", "PAID"]
    assert s.known_order_ids(pl.Series(["O3", "X", "O1"])).to_list() == ["O1", "O3"]
