"""The robust dwell baseline on a hand-made table: which level a (node, warehouse, hour of week)
cell takes, and its threshold max(SLA, ceil(median + 3 x 1.4826 x MAD)); the stall verdicts
joined to that grid; the history window baselines learn from. No store: every figure is
worked out by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from orderscope.analytics.baselines import (
    GRID_SCHEMA,
    LEVEL_CELL,
    LEVEL_NODE,
    LEVEL_NODE_WH,
    LEVEL_SLA,
    Baselines,
)
from orderscope.analytics.stalls import STALL_SCHEMA, history_window, judged
from orderscope.domain.lifecycle import load_catalog

CATALOG = load_catalog()
PICK = "PICKING"  # SLA 4 h = 14,400,000 ms in the shipped catalog
PACK = "PACKED"  # SLA 6 h = 21,600,000 ms
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def table() -> pl.DataFrame:
    """PICKING at W1: a cell (hour 5) of 25 visits, median 10,000,000 ms, MAD 1,000,000; a
    sparse cell (hour 6, 5 visits); the node x warehouse row (30 visits, median 2,000,000, MAD
    100,000). PICKING at node level: 60 visits, median 20,000,000, MAD 2,000,000. PACKED: only
    a sparse node row (10 visits)."""
    rows = [
        (LEVEL_CELL, PICK, "W1", 5, 25, 10_000_000.0, 1_000_000.0),
        (LEVEL_CELL, PICK, "W1", 6, 5, 90_000_000.0, 0.0),
        (LEVEL_NODE_WH, PICK, "W1", None, 30, 2_000_000.0, 100_000.0),
        (LEVEL_NODE, PICK, None, None, 60, 20_000_000.0, 2_000_000.0),
        (LEVEL_NODE, PACK, None, None, 10, 1.0, 0.0),
    ]
    return pl.DataFrame(
        rows,
        schema={
            "level": pl.String,
            "node": pl.String,
            "warehouse_id": pl.String,
            "how": pl.Int64,
            "n": pl.Int64,
            "median_ms": pl.Float64,
            "mad_ms": pl.Float64,
        },
        orient="row",
    )


@pytest.fixture(scope="module")
def grid() -> pl.DataFrame:
    return Baselines(table(), T0, T0).grid(CATALOG, ["W1", "W2"], [PICK, PACK])


def cell(grid: pl.DataFrame, node: str, wh: str, how: int) -> dict:
    return grid.filter(
        (pl.col("node") == node) & (pl.col("warehouse_id") == wh) & (pl.col("how") == how)
    ).row(0, named=True)


def test_the_grid_covers_every_node_warehouse_and_hour(grid):
    assert grid.schema == pl.Schema(GRID_SCHEMA)
    assert grid.height == 2 * 2 * 168


def test_a_dense_cell_uses_its_own_robust_threshold(grid):
    # 10,000,000 + 3 x 1.4826 x 1,000,000 = 14,447,800, above the SLA of 14,400,000
    c = cell(grid, PICK, "W1", 5)
    assert c["baseline_level"] == LEVEL_CELL and c["baseline_n"] == 25
    assert c["baseline_median_ms"] == 10_000_000.0 and c["baseline_mad_ms"] == 1_000_000.0
    assert c["threshold_ms"] == 14_447_800


def test_a_sparse_cell_falls_back_to_node_and_warehouse(grid):
    # hour 6 holds 5 visits (< 20): node x warehouse, 2,000,000 + 444,780 = 2,444,780 is below the
    # SLA, so the SLA (14,400,000) is the threshold
    for how in (6, 0, 167):
        c = cell(grid, PICK, "W1", how)
        assert c["baseline_level"] == LEVEL_NODE_WH and c["baseline_n"] == 30
        assert c["threshold_ms"] == 14_400_000


def test_another_warehouse_falls_back_to_the_node(grid):
    # W2 has no row of its own: node level, 20,000,000 + 3 x 1.4826 x 2,000,000 = 28,895,600
    c = cell(grid, PICK, "W2", 5)
    assert c["baseline_level"] == LEVEL_NODE and c["baseline_n"] == 60
    assert c["threshold_ms"] == 28_895_600


def test_a_node_without_a_dense_baseline_is_judged_by_its_sla(grid):
    c = cell(grid, PACK, "W1", 5)
    assert c["baseline_level"] == LEVEL_SLA and c["baseline_n"] is None
    assert c["baseline_median_ms"] is None and c["threshold_ms"] == 21_600_000


def test_resting_nodes_and_empty_inputs_have_no_grid():
    base = Baselines(table(), T0, T0)
    resting = sorted(CATALOG.resting)
    assert base.grid(CATALOG, ["W1"], resting).height == 0
    assert base.grid(CATALOG, [], [PICK]).height == 0


def test_a_larger_k_raises_only_the_robust_part():
    # k = 10: 2,000,000 + 10 x 1.4826 x 100,000 = 3,482,600, still below the SLA; the cell:
    # 10,000,000 + 14,826,000 = 24,826,000
    g = Baselines(table(), T0, T0, k=10.0).grid(CATALOG, ["W1"], [PICK])
    assert cell(g, PICK, "W1", 6)["threshold_ms"] == 14_400_000
    assert cell(g, PICK, "W1", 5)["threshold_ms"] == 24_826_000


def test_stalled_visits_get_their_basis_and_excess(grid):
    raw = pl.DataFrame(
        {
            "order_id": ["A", "B", "C"],
            "node": [PICK, PICK, PICK],
            "visit": [1, 1, 2],
            "warehouse_id": ["W1", "W1", "W2"],
            "entered_at": [T0, T0, T0],
            "left_at": [T0 + timedelta(hours=5), None, None],
            "dwell_ms": [14_448_800, 15_000_000, 30_000_000],
            "how": [5, 6, 5],
            "threshold_ms": [0, 0, 0],  # the store's copy: replaced by the grid's
        },
        schema_overrides={"entered_at": pl.Datetime("us", "UTC"), "left_at": pl.Datetime("us", "UTC")},
    )
    out = judged(raw, grid)
    assert out.schema == pl.Schema(STALL_SCHEMA)
    # excess: C 30,000,000 - 28,895,600; B 15,000,000 - 14,400,000; A 14,448,800 - 14,447,800
    assert out["order_id"].to_list() == ["C", "B", "A"]
    assert out["excess_ms"].to_list() == [1_104_400, 600_000, 1_000]
    assert out["open"].to_list() == [True, True, False]
    assert out["baseline_level"].to_list() == [LEVEL_NODE, LEVEL_NODE_WH, LEVEL_CELL]
    assert judged(raw, grid, limit=1)["order_id"].to_list() == ["C"]


def test_history_window():
    since, as_of = T0 + timedelta(days=30), T0 + timedelta(days=40)
    assert history_window(since, as_of) == (since - timedelta(days=28), since)
    assert history_window(since, as_of, None) == (None, since)
    # without `since`: every visit closed by as_of, as_of included
    assert history_window(None, as_of) == (None, as_of + timedelta(microseconds=1))
