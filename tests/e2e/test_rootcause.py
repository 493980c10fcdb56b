"""Root-cause drill-down accuracy against the generator's planted ground truth.

Seeds 101-105 are test seeds: the method was tuned on seeds 5-9 only. For every planted
incident we ask the drill-down the ground truth's own question (metric, slice, period,
baseline) and check that the planted cause is the top finding, that its evidence records are
returned, and that the same questions on the clean scenario yield no high-confidence finding.
"""

from __future__ import annotations

import json
import math

import pytest

from orderscope.analytics.rootcause import RootCauseError, explain
from orderscope.domain.periods import parse_period
from orderscope.stores import open_stores

ORDERS = 5000
SEEDS = (101, 102, 103, 104, 105)
SINGLE = {"qc": (101,), "customs": (102,), "loop": (103,)}  # one-incident scenarios
CLEAN_SEEDS = (101, 102, 103)
KINDS = ("qc_rework_spike", "customs_stall", "flow_loop")


def _truth(folder) -> dict:
    return json.loads((folder / "ground_truth.json").read_text())


def _ask(settings, inc: dict, top: int = 10) -> dict:
    """The answer in its JSON form (what the CLI prints with --json)."""
    with open_stores(settings, read_only=True) as stores:
        return explain(
            stores,
            inc["metric"],
            inc["slice"],
            parse_period(inc["period"]),
            parse_period(inc["baseline"]),
            top=top,
        ).to_dict()


def _names_cause(finding: dict, cause: dict) -> bool:
    """The finding names every cause entity (the zone of the qc incident is optional: the
    warehouse + equipment are the cause; the zone is where the equipment stands)."""
    seg = finding["segment"]
    return all(seg.get(k) == v for k, v in cause.items() if k != "zone_id")


def _rank(result: dict, cause: dict) -> int | None:
    return next((i for i, f in enumerate(result["findings"]) if _names_cause(f, cause)), None)


@pytest.fixture(scope="module")
def planted(ingested):
    """(incident, result) for every incident of every planted run."""
    runs = [(s, "default") for s in SEEDS] + [(s, sc) for sc, seeds in SINGLE.items() for s in seeds]
    out = []
    for seed, scenario in runs:
        settings, folder = ingested(ORDERS, seed, scenario)
        for inc in _truth(folder)["incidents"]:
            out.append((seed, scenario, inc, _ask(settings, inc)))
    return out


@pytest.mark.parametrize("kind", KINDS)
def test_planted_cause_is_the_top_finding(planted, kind):
    runs = [(seed, sc, inc, r) for seed, sc, inc, r in planted if inc["kind"] == kind]
    assert len(runs) >= len(SEEDS)
    ranks = [_rank(r, inc["cause"]) for _, _, inc, r in runs]
    top1 = sum(1 for k in ranks if k == 0)
    assert top1 >= math.ceil(0.9 * len(runs)), (kind, ranks)
    assert all(k is not None and k < 3 for k in ranks), (kind, ranks)


@pytest.mark.parametrize("kind", KINDS)
def test_planted_cause_reaches_high_confidence(planted, kind):
    """High in at least half of the runs and never low. A few thousand orders carry only a
    handful of affected units (4-15 stalled declarations, 15-30 reworked inspections), so a
    run may fall short of high; at 100,000 orders every planted cause is high."""
    levels = []
    for _seed, _scenario, inc, r in planted:
        if inc["kind"] != kind:
            continue
        k = _rank(r, inc["cause"])
        assert k is not None
        levels.append(r["findings"][k]["confidence"])
    assert levels.count("high") >= math.ceil(0.5 * len(levels)), (kind, levels)
    assert "low" not in levels, (kind, levels)


def _overlap(truth: list[str], got: list[str]) -> float:
    return len(set(truth) & set(got)) / len(set(truth)) if truth else 1.0


def test_evidence_records_are_returned(planted):
    for seed, sc, inc, r in planted:
        k = _rank(r, inc["cause"])
        assert k is not None
        ev = r["findings"][k]["evidence"]
        truth = inc["evidence"]
        where = (seed, sc, inc["id"])
        if inc["kind"] == "qc_rework_spike":
            assert _overlap(truth["qc_reports"], ev.get("qc_reports", [])) >= 0.8, where
            assert _overlap(truth["warehouse_tasks"], ev.get("warehouse_tasks", [])) >= 0.8, where
            assert set(truth["equipment_calibrations"]) <= set(ev.get("equipment_calibrations", [])), where
            assert set(truth["climate_readings"]) <= set(ev.get("climate_readings", [])), where
            # the overdue calibration is the only one returned; nothing else was due
            assert len(ev["equipment_calibrations"]) == 1, where
        elif inc["kind"] == "customs_stall":
            assert _overlap(truth["operator_sessions"], ev.get("operator_sessions", [])) >= 0.8, where
            assert _overlap(truth["customs_declarations"], ev.get("customs_declarations", [])) >= 0.8, where
            # precision too: the spike sessions, not the broker's whole calendar
            assert len(ev["operator_sessions"]) <= 1.25 * len(truth["operator_sessions"]), where
        else:
            assert _overlap(truth["approvals"], ev.get("approvals", [])) >= 0.8, where


def test_findings_are_well_formed(planted):
    seed, sc, inc, r = planted[0]
    assert set(r) >= {"metric", "slice", "period", "baseline", "value", "findings"}
    assert r["metric"] == inc["metric"] and r["slice"] == inc["slice"]
    assert r["period"] == inc["period"] and r["baseline"] == inc["baseline"]
    v = r["value"]
    assert v["delta"] == pytest.approx(v["period"] - v["baseline"])
    scores = [f["score"] for f in r["findings"]]
    assert scores == sorted(scores, reverse=True)
    for f in r["findings"]:
        assert {
            "dimension",
            "value",
            "contribution",
            "surprise",
            "score",
            "confidence",
            "confidence_value",
            "evidence",
            "explanation",
        } <= set(f)
        assert f["confidence"] in ("high", "medium", "low")
        assert 0.0 <= f["confidence_value"] <= 1.0
        assert isinstance(f["explanation"], str) and f["explanation"].endswith(".")
        assert all(isinstance(ids, list) for ids in f["evidence"].values())
    top = r["findings"][0]
    assert top["explanation"].split()[0] not in ("", "None")


def test_clean_scenario_has_no_high_confidence_finding(ingested):
    worst = []
    for seed in CLEAN_SEEDS:
        _, folder = ingested(ORDERS, seed, "default")  # the questions (periods, slices)
        settings, _ = ingested(ORDERS, seed, "clean")
        for inc in _truth(folder)["incidents"]:
            r = _ask(settings, inc)
            high = [f for f in r["findings"] if f["confidence"] == "high"]
            assert not high, (seed, inc["id"], high[0]["dimension"], high[0]["value"])
            worst.append(max((f["confidence_value"] for f in r["findings"]), default=0.0))
    assert max(worst) < 0.9


def test_other_metrics_and_slices_answer(ingested):
    settings, folder = ingested(ORDERS, SEEDS[0], "default")
    inc = _truth(folder)["incidents"][0]
    customs = next(i for i in _truth(folder)["incidents"] if i["kind"] == "customs_stall")
    node = customs["slice"]["node"]  # where the declarations stall
    p, b = parse_period(inc["period"]), parse_period(inc["baseline"])
    with open_stores(settings, read_only=True) as stores:
        # node_dwell without a node: drills into the node that moved most
        r = explain(stores, "node_dwell", {}, p, b, top=5)
        assert r.focus_node and r.findings
        # stall rate at one node, and a boolean order dimension
        r = explain(stores, "stall_rate", {"node": node, "cross_border": "true"}, p, b)
        assert r.value_period is not None
        # the customs stall shows at the node's stall rate too, and names the broker
        assert r.findings[0].segment.get("broker_id") == "BRK-02"
        with pytest.raises(RootCauseError):
            explain(stores, "cycle_time", {"node": stores.catalog.roles.start}, p, b)
        with pytest.raises(RootCauseError):
            explain(stores, "revenue", {}, p, b)
        with pytest.raises(RootCauseError):
            explain(stores, "cycle_time", {"colour": "red"}, p, b)
        with pytest.raises(RootCauseError):
            explain(stores, "cycle_time", {}, p, p)


def test_cli_json_and_table(ingested):
    import typer
    from typer.testing import CliRunner

    from orderscope.cli.rootcause import register

    settings, folder = ingested(ORDERS, SEEDS[0], "default")
    inc = next(i for i in _truth(folder)["incidents"] if i["kind"] == "customs_stall")
    app = typer.Typer()
    register(app)

    @app.command()
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    base = [
        "rootcause",
        "--metric",
        inc["metric"],
        "--slice",
        f"node={inc['slice']['node']}",
        "--period",
        inc["period"],
        "--baseline",
        inc["baseline"],
        "--data-dir",
        str(settings.data_dir),
        "--backend",
        "embedded",
        "--top",
        "3",
    ]
    res = CliRunner().invoke(app, [*base, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["findings"][0]["segment"]["broker_id"] == "BRK-02"
    assert len(data["findings"]) <= 3
    res = CliRunner().invoke(app, base)
    assert res.exit_code == 0, res.output
    assert "BRK-02" in res.stdout
    res = CliRunner().invoke(app, [*base[:4], "region", *base[5:]])
    assert res.exit_code != 0


@pytest.mark.server
def test_server_backend_gives_the_same_top_finding(ingested):
    from orderscope.config import load_settings
    from orderscope.ingest.pipeline import ingest_folder

    settings, folder = ingested(ORDERS, SEEDS[0], "default")
    server = load_settings(backend="server")
    with open_stores(server) as stores:
        stores.graph.reset()
        stores.series.reset()
        ingest_folder(folder, stores)
    for inc in _truth(folder)["incidents"]:
        a, b = _ask(settings, inc), _ask(server, inc)
        assert a["value"]["delta"] == pytest.approx(b["value"]["delta"], rel=1e-6, abs=1e-9), inc["id"]
        ta, tb = a["findings"][0], b["findings"][0]
        assert (ta["dimension"], ta["value"]) == (tb["dimension"], tb["value"]), inc["id"]
        assert ta["confidence"] == tb["confidence"]
        assert sorted(ta["evidence"].get("customs_declarations", [])) == sorted(
            tb["evidence"].get("customs_declarations", [])
        )
