"""A finding's sentence and its JSON form, for hand-made findings."""

from __future__ import annotations

from datetime import UTC, datetime

from orderscope.analytics.rootcause import Evidence, Explanation, Finding, FindingStats, SegmentRef
from orderscope.analytics.rootcause.wording import Change, describe, finding_sentence, slice_sentence
from orderscope.domain.periods import parse_period


def _finding(**kw) -> Finding:
    base = {
        "dimension": "equipment_id",
        "value": "EQ-N1-Z2-1",
        "segment": {"warehouse_id": "WH-N1", "equipment_id": "EQ-N1-Z2-1", "zone_id": "WH-N1-Z2"},
        "contribution": 1.0754,
        "surprise": 3.1,
        "score": 0.5,
        "confidence": "medium",
        "confidence_value": 0.74,
        "kind": "entity",
        "stats": FindingStats(8.07, 9.67, 120, 130, 0.0123),
        "explanation": "",
        "conditions": [SegmentRef("humidity_band", "very humid (>=70 %)", 0.8, 2.5)],
    }
    base.update(kw)
    return Finding(**base)


def test_a_device_is_named_first_with_where_it_stands():
    assert describe({"warehouse_id": "WH-N1", "zone_id": "Z2", "equipment_id": "EQ-1"}) == (
        "Equipment EQ-1 (zone Z2, warehouse WH-N1)"
    )
    assert describe({"channel": "marketplace", "sku_category": "electronics"}) == (
        "Channel marketplace (sku category electronics)"
    )
    assert describe({}) == "The slice"


def test_sentence_of_a_rise():
    change = Change("cycle_time", None, 0.99)
    assert finding_sentence(_finding(), change) == (
        "Equipment EQ-N1-Z2-1 (zone WH-N1-Z2, warehouse WH-N1) accounts for 108 % of the rise of "
        "0.99 h in average fulfilment cycle time (created to handed over): 9.67 h against 8.07 h "
        "in the baseline; zone humidity very humid (>=70 %) (medium confidence)."
    )


def test_sentence_against_the_trend_and_of_a_rate():
    fd = _finding(
        segment={"broker_id": "BRK-02"},
        contribution=0.6,
        stats=FindingStats(0.1, 0.35, 40, 42, 0.001),
        conditions=[],
        confidence="high",
    )
    assert finding_sentence(fd, Change("stall_rate", "STAGE_B", -0.02)) == (
        "Broker BRK-02 worsened against the trend (fall of 2.0 points in stall rate at "
        "STAGE_B overall): 35.0 % against 10.0 % in the baseline, 60 % of all the "
        "increases seen (high confidence)."
    )


def test_sentence_of_stage_time():
    fd = _finding(
        dimension="node",
        value="STAGE_A",
        segment={"node": "STAGE_A"},
        contribution=0.59,
        stats=FindingStats(1.2, 1.8, 100, 100, 0.01, note="mean hours per order spent in the node"),
        conditions=[],
        confidence="high",
    )
    assert finding_sentence(fd, Change("cycle_time", None, 0.99)) == (
        "Time spent in STAGE_A accounts for 59 % of the rise of 0.99 h in average fulfilment cycle "
        "time (created to handed over) (1.80 h per order against 1.20 h) (high confidence)."
    )


def test_sentence_of_the_slice():
    fd = _finding(
        dimension="channel+sku_category",
        value="marketplace+electronics",
        segment={"channel": "marketplace", "sku_category": "electronics"},
        kind="slice",
        stats=FindingStats(0.3704, 0.6774, 27, 31, 0.0011, None, 0.0778, False),
        conditions=[SegmentRef("flow", "cancel -> reinstate loop", 0.9163, 0.0)],
        confidence="high",
    )
    assert slice_sentence(fd, Change("stall_rate", None, 0.307), 0.0778) == (
        "The change is specific to Channel marketplace (sku category electronics): stall rate went "
        "from 37.0 % to 67.7 % while the rest moved by 7.8 %; driven by flow cancel -> reinstate "
        "loop (high confidence)."
    )


def test_json_form_keeps_the_key_order_of_the_cli():
    fd = _finding(
        context={"zone_id": "WH-N1-Z2"},
        related=[SegmentRef("inspector_id", "QI-1", 0.3, 1.9)],
        evidence=Evidence({"orders": ["O1", "O2"]}, looked_up=True),
    )
    d = fd.to_dict()
    assert list(d) == [
        "dimension",
        "value",
        "segment",
        "contribution",
        "surprise",
        "score",
        "confidence",
        "confidence_value",
        "kind",
        "stats",
        "context",
        "conditions",
        "explanation",
        "related",
        "evidence",
        "evidence_counts",
    ]
    assert d["evidence_counts"] == {"orders": 2}
    assert list(d["stats"]) == [
        "baseline_mean",
        "period_mean",
        "baseline_units",
        "period_units",
        "p_adjusted",
    ]
    # a slice finding's conditions are attached after ranking: they follow its explanation
    sf = _finding(kind="slice", stats=FindingStats(0.1, 0.2, 1, 2, 0.5, None, 0.01, True)).to_dict()
    assert list(sf)[-3:] == ["explanation", "conditions", "evidence"]
    assert list(sf["stats"])[-2:] == ["rest_of_population_delta", "interaction"]
    # no look-up made: the empty ids only
    assert _finding(conditions=[]).to_dict()["evidence"] == {}
    assert "evidence_counts" not in _finding().to_dict()


def test_explanation_json_form():
    p, b = parse_period("2026-W47"), parse_period("2026-W46")
    empty = Explanation("cycle_time", {}, p, b, None, None, None, 0, 0, note="no units in the period")
    assert empty.to_dict() == {
        "metric": "cycle_time",
        "slice": {},
        "period": "2026-W47",
        "baseline": "2026-W46",
        "period_range": [datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC)],
        "baseline_range": [datetime(2026, 11, 9, tzinfo=UTC), datetime(2026, 11, 16, tzinfo=UTC)],
        "value": {"period": None, "baseline": None, "delta": None},
        "units": {"period": 0, "baseline": 0},
        "findings": [],
        "note": "no units in the period",
    }
    full = Explanation("node_dwell", {}, p, b, 2.0, 1.5, 0.5, 10, 9, [_finding()], focus_node="STAGE_A")
    assert list(full.to_dict()) == [
        "metric",
        "slice",
        "period",
        "baseline",
        "period_range",
        "baseline_range",
        "value",
        "units",
        "focus_node",
        "findings",
    ]
