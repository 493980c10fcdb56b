"""Multiple-testing corrections, power, score and confidence of the drill-down against hand
values."""

from __future__ import annotations

import pytest

from orderscope.analytics.rootcause.candidates import Candidate, kind_of
from orderscope.analytics.rootcause.scoring import (
    bonferroni,
    confidence,
    holm,
    level,
    norm_sf,
    power,
    raw_power,
    score,
    share_of,
)


def test_normal_tail():
    assert norm_sf(0.0) == 0.5
    assert norm_sf(1.959963984540054) == pytest.approx(0.025, abs=1e-12)
    assert norm_sf(-1.959963984540054) == pytest.approx(0.975, abs=1e-12)


def test_bonferroni_multiplies_by_the_tests_and_caps_at_one():
    assert bonferroni(0.001, 20) == pytest.approx(0.02)
    assert bonferroni(0.2, 10) == 1.0
    assert bonferroni(0.0, 1000) == 0.0


def test_holm_steps_down():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> 0.06 (monotone)
    got = holm([0.01, 0.04, 0.03, 0.005])
    assert got.tolist() == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # never above Bonferroni, never below the raw p, capped at 1
    assert holm([0.3, 0.6]).tolist() == pytest.approx([0.6, 0.6])
    assert holm([0.9, 0.8, 0.7]).tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert holm([]).tolist() == []


def test_power_clips_and_averages_with_the_tail():
    assert power(0.4) == 0.4
    assert power(1.5) == 1.0
    assert power(-0.2) == 0.0
    assert power(1.5, 0.5) == 0.75  # (1 + 0.5) / 2
    assert raw_power(1.5, 0.5) == 1.0  # (1.5 + 0.5) / 2: unclipped above
    assert raw_power(-0.5, 0.5) == 0.25
    assert share_of(0.3, 0.6) == 0.5
    assert share_of(0.3, 0.0) == 0.0


def test_score_weighs_power_surprise_and_kind():
    # 0.75 x (0.25 + 0.75 x (1 - 0.2)) x 0.8 (a condition) = 0.75 x 0.85 x 0.8 = 0.51
    assert score(0.75, 0.2, "condition") == pytest.approx(0.51)
    assert score(1.0, 0.0) == 1.0
    assert score(1.0, 1.0, "mechanism") == pytest.approx(0.25 * 0.6)
    assert score(1.0, 0.0, "entity", slice_weight=0.35) == pytest.approx(0.35)


def test_confidence_and_its_level():
    # (1 - p_adjusted) x min(1, power / 0.5)
    assert confidence(0.4, 0.02) == pytest.approx(0.98 * 0.8)
    assert level(confidence(0.4, 0.02)) == "medium"  # 0.784
    assert confidence(0.6, 0.05) == pytest.approx(0.95)
    assert level(0.95) == "high"
    assert level(0.9) == "high"
    assert level(0.5) == "medium"
    assert level(0.49) == "low"
    assert confidence(1.0, 1.0) == 0.0


def test_candidate_scores_and_ranks():
    a = Candidate("zone_id", "Z1", 0.5, 3.0, 1.0, 2.0, 10, 12, share=0.8, tail_share=0.4)
    b = Candidate("equipment_id", "E1", 0.5, 3.0, 1.0, 2.0, 5, 6, share=0.8, tail_share=0.4)
    assert a.power() == pytest.approx(0.6)
    a.p_adjusted = b.p_adjusted = 0.0
    assert a.rescore().score == b.rescore().score == pytest.approx(0.6)
    # equal score and surprise: the more specific dimension (a device before its zone) first
    assert sorted([a, b], key=Candidate.ranked) == [b, a]
    assert kind_of("calibration") == "condition"
    assert kind_of("qc_result") == "mechanism"
    assert kind_of("warehouse_id") == "entity"
