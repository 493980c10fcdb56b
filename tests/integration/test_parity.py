"""The same data through both backends gives the same answers (snapshot and stats)."""

from __future__ import annotations

import json
import random

import pytest

from orderscope.config import load_settings
from orderscope.ingest.pipeline import ingest_folder
from orderscope.stores import open_stores
from orderscope.views.snapshot import build_snapshot, jsonable
from orderscope.views.stats import collect_stats

pytestmark = pytest.mark.server


def _normalised(snapshot: dict) -> str:
    """Snapshot JSON with every list of records sorted, so row order inside a kind that has
    ties on its time column cannot make two correct answers differ."""
    data = jsonable(snapshot)
    for name, rows in data["linked"].items():
        data["linked"][name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    return json.dumps(data, sort_keys=True)


@pytest.fixture(scope="module")
def both(generated, tmp_path_factory):
    folder = generated(orders=300, seed=21)
    embedded = load_settings(backend="embedded", data_dir=tmp_path_factory.mktemp("parity"))
    server = load_settings(backend="server")
    with open_stores(server) as stores:
        stores.graph.reset()
        stores.series.reset()
        ingest_folder(folder, stores)
    with open_stores(embedded) as stores:
        ingest_folder(folder, stores)
    return embedded, server


def test_stats_agree(both):
    embedded, server = both
    with open_stores(embedded, read_only=True) as e, open_stores(server, read_only=True) as s:
        a, b = collect_stats(e), collect_stats(s)
    a.pop("backend"), b.pop("backend")
    assert a == b


def test_snapshots_are_identical_for_a_sample_of_orders(both):
    embedded, server = both
    with open_stores(embedded, read_only=True) as e, open_stores(server, read_only=True) as s:
        ids = e.series.query("SELECT order_id FROM orders ORDER BY order_id")["order_id"].to_list()
        sample = random.Random(3).sample(ids, 40)
        for order_id in sample:
            assert _normalised(build_snapshot(e, order_id)) == _normalised(build_snapshot(s, order_id)), (
                order_id
            )
