"""Flow anomalies' pure parts on hand-made counts and frames: the conditional binomial test of
two rates, the log rate-ratio z, loops found in variants and counted, the loop and variant rows
with their Bonferroni factor, and where a loop concentrates. No store: every figure is worked
out by hand in the comments."""

from __future__ import annotations

import math

import polars as pl
import pytest

from orderscope.analytics.flows import (
    DIMENSIONS,
    FlowLoop,
    concentration,
    log_ratio_z,
    loop_counts,
    loop_cycles,
    loop_rows,
    two_sided_p,
    upper_p,
    variant_rows,
)
from orderscope.views.metrics import SLICE_DIMENSIONS

LOOP = "PAID>PICKING>CANCELLED>PAID"


def test_the_flow_dimensions_are_the_slice_dimensions():
    assert sorted(DIMENSIONS) == sorted(SLICE_DIMENSIONS) and len(DIMENSIONS) == len(SLICE_DIMENSIONS)


def test_upper_tail_of_the_conditional_binomial():
    # 3 of 100 period orders vs 1 of 100 baseline orders: X ~ Bin(4, 1/2), P(X >= 3) = 5/16
    assert upper_p(3, 1, 100, 100) == pytest.approx(5 / 16)
    # twice the period's orders: Bin(4, 2/3), P(X >= 3) = 4 (2/3)^3 (1/3) + (2/3)^4 = 48/81
    assert upper_p(3, 1, 200, 100) == pytest.approx(48 / 81)
    assert upper_p(0, 5, 100, 100) == 1.0 and upper_p(3, 1, 100, 0) == 1.0


def test_two_sided_p():
    # Bin(4, 1/2): P(X <= 3) = 15/16, P(X >= 3) = 5/16 -> 2 x 5/16
    assert two_sided_p(3, 1, 100, 100) == pytest.approx(10 / 16)
    # a count in the middle: both tails above 1/2 -> capped at 1
    assert two_sided_p(2, 2, 100, 100) == 1.0
    assert two_sided_p(0, 0, 100, 100) == 1.0


def test_log_ratio_z():
    # (3.5 / 100) / (1.5 / 100) = 7/3; se = sqrt(1/3.5 + 1/1.5)
    expect = math.log(7 / 3) / math.sqrt(1 / 3.5 + 1 / 1.5)
    assert log_ratio_z(3, 1, 100, 100) == pytest.approx(expect)
    assert expect == pytest.approx(0.868222, abs=1e-6)
    assert log_ratio_z(3, 1, 0, 100) == 0.0


def test_loops_of_variants_are_counted_per_order_and_per_occurrence():
    variants = pl.DataFrame(
        {
            "variant": [
                "CREATED>PAID>PICKING>CANCELLED>PAID>PICKING>CANCELLED>PAID>PICKING",
                "CREATED>PAID>PICKING>CANCELLED>PAID>PICKING",
                "CREATED>PAID>PICKING",
            ],
            "orders": [2, 5, 40],
            "has_loop": [1, 1, 0],
        }
    )
    assert loop_cycles(variants["variant"][0]) == [LOOP, LOOP]
    # 2 + 5 orders show the loop; it occurs 2 x 2 + 5 x 1 = 9 times
    assert loop_counts(variants) == {LOOP: (7, 9)}


def test_loop_rows_test_each_cycle_with_the_bonferroni_factor():
    lp = {LOOP: (20, 22), "A>B>A": (1, 1)}
    lb = {LOOP: (2, 2)}
    rows = loop_rows(lp, lb, 1000, 1000, tests=10, alpha=0.01)
    top = rows[0]
    assert isinstance(top, FlowLoop) and top.cycle == LOOP and top.loop == LOOP.split(">")
    assert top.revisited == "PAID" and (top.orders, top.occurrences) == (20, 22)
    assert top.rate == 0.02 and top.baseline_rate == 0.002 and top.rate_ratio == pytest.approx(10.0)
    # X ~ Bin(22, 1/2): P(X >= 20) = (231 + 22 + 1) / 2^22; x 10 tests = 6.1e-4 < 0.01
    assert top.p_value == pytest.approx(254 / 2**22)
    assert top.p_adjusted == pytest.approx(10 * 254 / 2**22) and top.significant
    # the other cycle: 1 order, no baseline, p = 1/2 (Bin(1, 1/2)), not significant
    other = rows[1]
    assert other.cycle == "A>B>A" and other.p_value == pytest.approx(0.5)
    assert other.rate_ratio is None and not other.significant
    d = top.to_dict()
    assert list(d)[-3:] == ["significant", "concentration", "where"] and "log_p" not in d


def test_variant_rows_share_and_direction():
    rows = variant_rows({"A>B": 30, "A>C": 70}, {"A>B": 50, "A>C": 50}, 100, 100, tests=4, alpha=0.01)
    by = {">".join(r.variant): r for r in rows}
    assert by["A>B"].direction == "down" and by["A>C"].direction == "up"
    assert by["A>B"].share == 0.3 and by["A>B"].baseline_share == 0.5
    assert by["A>C"].share_ratio == pytest.approx(1.4)
    assert by["A>B"].p_adjusted == pytest.approx(min(1.0, 4 * by["A>B"].p_value))
    assert not by["A>B"].has_loop


def test_concentration_names_the_segment_the_loop_sits_in():
    # 40 orders in each of 4 segments (channel x sku_category) of one warehouse and region;
    # the loop: 18 orders in marketplace + electronics, 2 elsewhere
    seg_all = pl.DataFrame(
        {
            "channel": ["marketplace", "marketplace", "web", "web"],
            "sku_category": ["electronics", "apparel", "electronics", "apparel"],
            "warehouse_id": ["W1"] * 4,
            "region": ["North"] * 4,
            "orders": [40, 40, 40, 40],
        }
    )
    seg_loops = pl.DataFrame(
        {
            "variant": [f"CREATED>{LOOP}"] * 3 + ["CREATED>PAID>PICKING>PICKED>QC_INSPECTING>PICKING"],
            "channel": ["marketplace", "web", "marketplace", "web"],
            "sku_category": ["electronics", "apparel", "apparel", "electronics"],
            "warehouse_id": ["W1"] * 4,
            "region": ["North"] * 4,
            "orders": [18, 1, 1, 30],
        }
    )
    rows, where = concentration(LOOP, seg_loops, seg_all, alpha=0.01)
    assert where == {"channel": "marketplace", "sku_category": "electronics"}
    best = rows[0]
    assert best.dimension == "channel+sku_category" and best.value == "marketplace+electronics"
    # 18 of the loop's 20 orders, in a quarter of all orders: lift 0.9 / 0.25
    assert best.loop_orders == 18 and best.orders == 40
    assert best.share_of_loops == 0.9 and best.share_of_orders == 0.25 and best.lift == pytest.approx(3.6)
    # one dimension alone: 19 of 20 in marketplace, half of the orders
    channel = next(r for r in rows if r.dimension == "channel" and r.value == "marketplace")
    assert channel.loop_orders == 19 and channel.lift == pytest.approx(1.9)
    # warehouse and region are constant: no surprise there, and no warehouse+region pair
    assert all(r.dimension != "warehouse_id+region" for r in rows)
    assert concentration(LOOP, seg_loops.head(0), seg_all, alpha=0.01) == ([], {})
