"""Flow anomalies: variants and loops vs baseline; the planted flow loop and its concentration."""

from __future__ import annotations

import json

import pytest

from orderscope.analytics.flows import flow_anomalies, loop_cycles
from orderscope.stores import open_stores

PLANTED = "PAID>PICKING>CANCELLED>PAID"


def _truth(folder):
    gt = json.loads((folder / "ground_truth.json").read_text())
    return next(i for i in gt["incidents"] if i["kind"] == "flow_loop")


def test_loop_cycles():
    v = "CREATED>PAID>PICKING>CANCELLED>PAID>PICKING>CANCELLED>PAID>PICKING>PICKED"
    assert loop_cycles(v) == [PLANTED, PLANTED]  # rotations are not counted again
    assert loop_cycles("PICKING>PICKED>QC_INSPECTING>PICKING>PICKED") == [
        "PICKING>PICKED>QC_INSPECTING>PICKING"
    ]
    assert loop_cycles("CREATED>PAID>DELIVERED") == []
    assert loop_cycles("") == []


# seeds 5 (default: all three incidents) was looked at while building; 17 and 41 were not
@pytest.mark.parametrize("seed,scenario", [(5, "default"), (17, "loop"), (41, "loop")])
def test_planted_loop_tops_the_list_with_its_concentration(ingested, seed, scenario):
    settings, folder = ingested(3000, seed, scenario)
    inc = _truth(folder)
    with open_stores(settings, read_only=True) as stores:
        result = flow_anomalies(stores, inc["period"], inc["baseline"]).to_dict()
    top = result["loops"][0]
    assert top["cycle"] == PLANTED
    assert top["loop"] == inc["pattern"][:4]
    assert top["significant"] and top["p_adjusted"] < 0.01
    assert top["orders"] >= len(inc["affected_orders"]) * 0.9
    assert top["rate"] > top["baseline_rate"]
    assert top["where"].get("channel") == inc["cause"]["channel"]
    assert top["where"].get("sku_category") == inc["cause"]["sku_category"]
    assert "warehouse_id" not in top["where"] and "region" not in top["where"]
    best = top["concentration"][0]
    assert set(best["segment"].items()) <= set(inc["cause"].items())
    assert best["lift"] > 2
    # the variants carrying the loop rose too
    ups = [v for v in result["variants"] if v["significant"]]
    assert all(v["has_loop"] for v in ups if v["direction"] == "up")
    assert result["orders"]["period"] > 0 and result["orders"]["baseline"] > 0


@pytest.mark.parametrize("seed", [5, 23])
def test_clean_has_nothing_significant(ingested, seed):
    settings, folder = ingested(3000, seed, "clean")
    gt = json.loads((folder / "ground_truth.json").read_text())
    assert gt["incidents"] == []
    with open_stores(settings, read_only=True) as stores:
        result = flow_anomalies(stores, "2026-W47").to_dict()
    assert result["baseline"]["label"] == "before 2026-W47"
    assert not [r for r in result["loops"] if r["significant"]]
    assert not [r for r in result["variants"] if r["significant"]]
    for r in result["loops"]:
        assert 0.0 <= r["p_value"] <= 1.0 and r["p_adjusted"] >= r["p_value"]
