"""The stall-pattern miner's pure parts on tiny hand-made transactions: support, confidence and
risk ratio within a node, the Mantel-Haenszel risk ratio across nodes, Holm's correction, the
redundancy rules, the itemset vocabulary, the humid-hour rule and the library trend. No store:
every figure is worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import hypergeom, norm

from orderscope.analytics.patterns import ATTRIBUTES, mine_frame, parse_items, pattern_id
from orderscope.analytics.patterns.items import humid_hours
from orderscope.analytics.patterns.itemsets import BAND_1_2, BAND_GT2, BAND_OK, display_name
from orderscope.analytics.patterns.library import trend
from orderscope.analytics.patterns.mining import across_nodes, holm, non_redundant, within_node
from orderscope.analytics.patterns.results import Pattern


def transactions(groups: list[tuple[str, str, int, int]]) -> pl.DataFrame:
    """Visits of (node, zone_humidity, visits, stalled): every other attribute null; the first
    stalled visit of each group dwelt past twice its threshold, the others 1-2x."""
    rows = []
    for node, humidity, n, stalled in groups:
        for i in range(n):
            band = (BAND_GT2 if i == 0 else BAND_1_2) if i < stalled else BAND_OK
            rows.append({"node": node, "zone_humidity": humidity, "stalled": i < stalled, "dwell_band": band})
    return pl.DataFrame(rows).with_columns(
        pl.lit(None, pl.String).alias(a) for a in ATTRIBUTES if a != "zone_humidity"
    )


def test_support_confidence_and_risk_ratio_within_a_node():
    # PICKING: 20 humid visits, 10 stalled; 80 others, 4 stalled -> 14 stalls in 100 visits
    tx = transactions([("PICKING", "high", 20, 10), ("PICKING", "normal", 80, 4)])
    pats, tested = mine_frame(tx)
    # tested: {node, humid}, {node, normal} within the node and {humid}, {normal} across nodes
    assert tested == 4
    # {humid} alone covers the same visits as {node=PICKING, humid}: the closed set stays
    assert [p.items for p in pats] == [("node=PICKING", "zone_humidity=high")]
    p = pats[0]
    assert p.id == pattern_id(p.items) and p.name == "PICKING · humid zone"
    assert (p.stalls, p.visits) == (10, 20)
    assert p.support == pytest.approx(10 / 14) and p.confidence == 0.5
    # (10.5 / 20.5) / (4.5 / 80.5) with 0.5 added to each cell = 845.25 / 92.25
    assert p.risk_ratio == pytest.approx(845.25 / 92.25)
    assert p.expected == pytest.approx(20 * 14 / 100)
    # Fisher's one-sided p: 10 or more of the node's 14 stalls among 20 of its 100 visits
    fisher = hypergeom.sf(9, 100, 14, 20)
    assert p.p_value == pytest.approx(fisher) and p.significant
    assert p.p_adjusted >= p.p_value and p.p_adjusted <= 4 * fisher
    assert p.dwell_band == {BAND_1_2: 9, BAND_GT2: 1} and p.top_node == "PICKING"


def test_a_window_without_stalls_mines_nothing():
    assert mine_frame(transactions([("PICKING", "high", 5, 0)])) == ([], 0)


def test_mantel_haenszel_across_nodes():
    # X: 10 of 100 visits with the item, 5 of their 10 stalls; Y: 20 of 50, 4 of 8
    g = pl.DataFrame(
        {"node": ["X", "Y"], "zone": ["Z1", "Z1"], "n": [10, 20], "a": [5, 4], "a_gt2": [1, 0]},
    ).with_columns(N=pl.Series([100, 50]), A=pl.Series([10, 8]))
    out = across_nodes(g, ("zone",), norm).row(0, named=True)
    # sum a n0 / N = 5 x 90 / 100 + 4 x 30 / 50 = 6.9; sum c n / N = 5 x 10 / 100 + 4 x 20 / 50 = 2.1
    assert out["rr"] == pytest.approx(6.9 / 2.1)
    assert out["expected"] == pytest.approx(10 * 10 / 100 + 20 * 8 / 50)
    assert out["items"] == ["zone=Z1"] and (out["a"], out["n"], out["a_gt2"]) == (9, 30, 1)
    assert out["top_node"] == "X"  # the stratum holding most of the stalls
    assert 0.0 < out["p"] < 0.05


def test_within_node_risk_ratio():
    g = pl.DataFrame(
        {"node": ["X"], "zone": ["Z1"], "n": [10], "a": [5], "a_gt2": [2], "N": [100], "A": [10]}
    )
    out = within_node(g, ("zone",), hypergeom).row(0, named=True)
    # (5.5 / 10.5) / (5.5 / 90.5)
    assert out["rr"] == pytest.approx(90.5 / 10.5)
    assert out["items"] == ["node=X", "zone=Z1"] and out["expected"] == pytest.approx(1.0)
    assert out["p"] == pytest.approx(hypergeom.sf(4, 100, 10, 10))


def test_holm_step_down():
    # sorted 0.01, 0.03, 0.04, 0.5 times 4, 3, 2, 1 = 0.04, 0.09, 0.08, 0.5; running max 0.04,
    # 0.09, 0.09, 0.5; back in the order given
    assert holm(np.array([0.01, 0.04, 0.03, 0.5])) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm(np.array([0.6, 0.9])) == pytest.approx([1.0, 1.0])


def pattern(items: tuple[str, ...], stalls: int, visits: int, rr: float) -> Pattern:
    return Pattern(pattern_id(items), items, "", stalls, visits, 0.1, 0.1, rr, 1.0, 0.01, 0.01, True, "X")


def test_redundant_itemsets_are_dropped():
    sub = pattern(("zone=Z1",), 10, 40, 3.0)
    no_lift = pattern(("zone=Z1", "carrier_load=high"), 6, 20, 3.2)  # < 1.10 x 3.0
    sharper = pattern(("zone=Z1", "zone_humidity=high"), 10, 25, 5.0)  # the same stalls, more lift
    kept = non_redundant([sub, no_lift, sharper])
    assert [p.items for p in kept] == [sharper.items]


def test_items_are_parsed_into_canonical_order():
    assert parse_items("zone_humidity=high, node=PICKING") == ("node=PICKING", "zone_humidity=high")
    assert parse_items(["carrier=C1", "warehouse=W1"]) == ("warehouse=W1", "carrier=C1")
    for bad in ("nonsense=1", "zone=", "node=A,node=B", " , "):
        with pytest.raises(ValueError):
            parse_items(bad)
    assert pattern_id(("node=PICKING",)) == pattern_id(parse_items("node=PICKING"))
    assert display_name(("equipment=EQ1", "equipment_calibration=overdue")) == "EQ1 · overdue calibration"


def test_humid_hours_against_the_zone_baseline():
    # zone Z: 48 hours of history alternating 50 / 52 % (median 51, MAD 1): limit 51 + max(4 x
    # 1.4826, 10) = 61; in the window 60 is normal, 65 humid. Zone Y has 2 hours only: its
    # baseline is every hour it has (median 45, MAD 5: 45 + max(29.65, 10) = 74.65)
    hist = pl.DataFrame({"zone": ["Z"] * 48, "h": list(range(48)), "hum": [50.0, 52.0] * 24})
    window = pl.DataFrame(
        {"zone": ["Z", "Z", "Y", "Y"], "h": [100, 101, 100, 101], "hum": [60.0, 65.0, 40.0, 50.0]}
    )
    high = humid_hours(pl.concat([hist, window]).with_columns(pl.col("h").cast(pl.Int64)), since_h=100)
    assert high.select("zone", "h").rows() == [("Z", 101)]


def test_trend_of_weekly_hits():
    assert trend([0, 0, 0, 0]) == "none"
    assert trend([0, 0, 0, 9]) == "rising"  # 9 >= max(2, 1.5 x 0)
    assert trend([4, 4, 4, 1]) == "falling"  # prior 4 >= 2 and 1 <= 2
    assert trend([3, 3, 3, 3]) == "steady"
