"""The mix + rate decomposition reproduces a hand-computed example exactly.

The example: eight units of one dimension, `warehouse`, with two segments.

    baseline (per 0):  A: y = 1, 3  (mean 2)     B: y = 4, 6  (mean 5)    N0 = 4, M0 = 14/4 = 3.5
    period   (per 1):  A: y = 2, 4, 6 (mean 4)   B: y = 5     (mean 5)    N1 = 4, M1 = 17/4 = 4.25
    delta = M1 - M0 = 0.75

contribution = w1 (m1 - m0) + (w1 - w0) (m0 - M0):
    A: w0 = 2/4, w1 = 3/4:  0.75 x (4 - 2) + (0.75 - 0.5) x (2 - 3.5) = 1.5 - 0.375 =  1.125
    B: w0 = 2/4, w1 = 1/4:  0.25 x (5 - 5) + (0.25 - 0.5) x (5 - 3.5) =       -0.375 = -0.375
    (they sum to the delta, 0.75); shares of the delta: A 1.125 / 0.75 = 1.5, B -0.5.

Surprise of A (every figure a fraction, computed by hand):
    population variance over both periods: sum 31, sum of squares 143, n 8:
        143/8 - (31/8)^2 = 183/64
    A's variance: n 5, sum 16, sum of squares 66: (66 - 16^2/5) / 4 = 37/10, shrunk by 10
        pseudo-units: (5 x 37/10 + 10 x 183/64) / 15 = 1507/480
    standard error of the contribution: (3/4)^2 x 1507/480 x (1/3 + 1/2)
        + (2 - 3.5)^2 x (3/4 x 1/4 / 4 + 1/2 x 1/2 / 4) = 1759/1024
    the rest (B): n 3, sum 15, sum of squares 77: (77 - 15^2/3) / 2 = 1, shrunk
        (3 x 1 + 10 x 183/64) / 13 = 1011/416; its change 5/1 - 10/2 = 0
    difference in differences: (4 - 2) - 0 = 2, variance 1507/480 x (1/3 + 1/2)
        + 1011/416 x (1/1 + 1/2) = 5861/936
    z = min(1.125 / sqrt(1759/1024), 2 / sqrt(5861/936)) = 2 / sqrt(5861/936) = 0.79925
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from orderscope.analytics.rootcause.decomposition import (
    Dual,
    SliceStats,
    Sums,
    decompose,
    long_membership,
    segment_sums,
)

FRAME = pl.DataFrame(
    {
        "warehouse": ["A", "A", "B", "B", "A", "A", "A", "B"],
        "hours": [1.0, 3.0, 4.0, 6.0, 2.0, 4.0, 6.0, 5.0],
        "in_period": [0, 0, 0, 0, 1, 1, 1, 1],
    }
)


def _by_value(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["value"]: r for r in frame.to_dicts()}


def test_contributions_and_shares_equal_the_hand_figures():
    seg = _by_value(decompose(FRAME, ["warehouse"], metric="hours", period="in_period"))
    a, b = seg["A"], seg["B"]
    assert (a["baseline_units"], a["period_units"]) == (2, 3)
    assert (b["baseline_units"], b["period_units"]) == (2, 1)
    assert (a["baseline_mean"], a["period_mean"]) == (2.0, 4.0)
    assert (b["baseline_mean"], b["period_mean"]) == (5.0, 5.0)
    assert a["contribution"] == 1.125
    assert b["contribution"] == -0.375
    assert a["share"] == 1.5
    assert b["share"] == -0.5
    assert a["contribution"] + b["contribution"] == 0.75  # a single-valued dimension: the delta


def test_surprise_equals_the_hand_figure():
    a = _by_value(decompose(FRAME, ["warehouse"], metric="hours", period="in_period"))["A"]
    assert a["surprise"] == pytest.approx(2 / math.sqrt(5861 / 936), rel=1e-12)
    assert a["surprise"] == pytest.approx(0.7992489223, abs=1e-10)


def test_slice_stats_from_sums_match_the_units():
    y = FRAME["hours"].to_numpy()
    per = FRAME["in_period"].to_numpy()
    st = SliceStats.of_units(y, per)
    assert (st.N0, st.N1, st.M0, st.M1, st.delta) == (4.0, 4.0, 3.5, 4.25, 0.75)
    assert st.var == 183 / 64
    assert st.totals == Sums(4.0, 14.0, 62.0, 4.0, 17.0, 81.0)
    mask = (FRAME["warehouse"] == "A").to_numpy()
    (c, z, m0, m1), sums = st.of_mask(mask)
    assert sums == Sums(2.0, 4.0, 10.0, 3.0, 12.0, 56.0)
    assert (c, m0, m1) == (1.125, 2.0, 4.0)
    assert st.of_sums(sums) == (c, z, m0, m1)


def test_sign_turns_the_question_round():
    """A fall looked for as a rise: the same contribution, the surprise of the other side."""
    up = _by_value(decompose(FRAME, ["warehouse"], metric="hours", period="in_period"))["B"]
    down = _by_value(decompose(FRAME, ["warehouse"], metric="hours", period="in_period", sign=-1.0))["B"]
    assert up["contribution"] == down["contribution"] == -0.375
    assert up["surprise"] < 0 < down["surprise"]


def test_a_unit_may_sit_in_several_segments():
    """Membership is a table: an order inspected on two devices counts in both segments."""
    units = pl.DataFrame({"unit": [0, 1, 2, 3], "per": [0, 0, 1, 1], "y": [1.0, 2.0, 3.0, 5.0]}).with_columns(
        pl.col("per").cast(pl.Int8)
    )
    membership = pl.DataFrame(
        {"unit": [0, 1, 2, 3, 3], "dim": ["equipment_id"] * 5, "value": ["E1", "E2", "E1", "E1", "E2"]}
    )
    table = segment_sums(membership, units, np.array([0.0, 0.0, 1.0, 1.0]))
    rows = {r["value"]: r for r in table.to_dicts()}
    assert rows["E1"] == {
        "dim": "equipment_id",
        "value": "E1",
        "n0": 1.0,
        "s0": 1.0,
        "ss0": 1.0,
        "n1": 2.0,
        "s1": 8.0,
        "ss1": 34.0,
        "e0": 0.0,
        "e1": 2.0,
    }
    assert (rows["E2"]["n0"], rows["E2"]["s0"], rows["E2"]["n1"], rows["E2"]["s1"]) == (1.0, 2.0, 1.0, 5.0)


def test_long_membership_skips_missing_values():
    units = pl.DataFrame({"unit": [0, 1], "region": ["North", None], "cross_border": [True, False]})
    long = long_membership(units, ["region", "cross_border"])
    assert long.to_dicts() == [
        {"unit": 0, "dim": "region", "value": "North"},
        {"unit": 0, "dim": "cross_border", "value": "true"},
        {"unit": 1, "dim": "cross_border", "value": "false"},
    ]


def test_dual_twin_flags_the_tail():
    """The robust twin of a continuous metric: above the baseline's 95th percentile, or
    flagged abnormal."""
    y = FRAME["hours"].to_numpy()
    per = FRAME["in_period"].to_numpy()
    flags = np.array([False, True, False, False, False, False, False, False])
    dual = Dual(y, per, binary=False, flags=flags)
    # baseline 1, 3, 4, 6: its 95th percentile is 5.7; the period's 6 is above it
    assert dual.e.tolist() == [0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert dual.tests == 2 and not dual.binary
    s = dual.of_mask((FRAME["warehouse"] == "A").to_numpy())
    assert (s.contribution, s.share, s.baseline_units, s.period_units) == (1.125, 1.5, 2, 3)
    assert s.tail_share is not None
    binary = Dual((y > 3).astype(np.float64), per, binary=True)
    assert binary.tests == 1 and binary.t is binary.m
    assert binary.of_mask(np.ones(8, bool)).tail_share is None
