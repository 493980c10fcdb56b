"""ground_truth.json: each planted incident's metric, slice, periods, cause entities, evidence
record ids and affected orders, named with the ids the files carry."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from orderscope.generator import world as W
from orderscope.generator.output import PREFIX
from orderscope.generator.simulation import Sim


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _week(ms: int) -> str:
    y, w, _ = datetime.fromtimestamp(ms / 1000, tz=UTC).isocalendar()
    return f"{y}-W{w:02d}"


def _id(kind: str, ranks: np.ndarray) -> list[str]:
    """The file ids of the records at chronological `ranks`, sorted."""
    p, w = PREFIX[kind]
    return [f"{p}{int(r) + 1:0{w}d}" for r in np.sort(np.asarray(ranks))]


def _orders(oi: np.ndarray) -> list[str]:
    return _id("orders", np.unique(oi))


def ground_truth(
    sim: Sim, scenario: str, rank: dict[str, np.ndarray], found: dict[str, Any]
) -> dict[str, Any]:
    """The truth of one run; `rank` and `found` come from output.write_all."""
    inc = sim.inc
    common = {
        "period": _week(inc.period[0]),
        "baseline": _week(inc.baseline[0]),
        "period_range": [iso(inc.period[0]), iso(inc.period[1])],
        "baseline_range": [iso(inc.baseline[0]), iso(inc.baseline[1])],
    }
    candidates = []
    if inc.qc:
        candidates.append(_qc_rework(sim, common, rank, found))
    if inc.customs:
        candidates.append(_customs_stall(sim, common, found))
    if inc.loop:
        candidates.append(_flow_loop(sim, common, rank))
    incidents = [i for i in candidates if _planted(i)]
    truth = {
        "seed": sim.seed,
        "scenario": scenario,
        "orders": sim.n,
        "start": iso(sim.start),
        "end": iso(sim.end),
        "incidents": incidents,
    }
    skipped = [
        {"id": i["id"], "reason": f"not planted with orders={sim.n}: {MISSED[i['id']]}"}
        for i in candidates
        if not _planted(i)
    ]
    if skipped:  # only small runs have any (and the key): larger runs keep their bytes
        truth["skipped"] = skipped
    return truth


# why an incident has nothing to show (too few orders reached its slice in the incident week)
MISSED = {
    "qc_rework_spike": "no inspection on the faulty equipment failed in the incident week",
    "customs_stall": "no declaration was filed by the broker during its stall window",
    "flow_loop": "no order of the looping channel and category was reinstated in the incident week",
}


def _planted(incident: dict[str, Any]) -> bool:
    """An incident is in the truth only if it reached orders and left every kind of evidence."""
    return bool(incident["affected_orders"]) and all(incident["evidence"].values())


def _cat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _qc_rework(
    sim: Sim, common: dict[str, Any], rank: dict[str, np.ndarray], found: dict[str, Any]
) -> dict[str, Any]:
    inc = sim.inc
    reps, tasks, oi = [], [], []
    for rep, tk, faulty, f_oi in sim.qc_incident_reports:
        reps.append(rep[faulty])
        tasks.append(tk[faulty])
        oi.append(f_oi[faulty])
    rep_r = rank["qc_reports"][_cat(reps)]
    task_r = rank["warehouse_tasks"][_cat(tasks)]
    return {
        "id": "qc_rework_spike",
        "kind": "qc_rework_spike",
        "metric": "cycle_time",
        "slice": {"region": W.REGIONS[W.WH_REGION[inc.qc_wh]]},
        **common,
        "cause": {
            "warehouse_id": W.WAREHOUSES[inc.qc_wh],
            "zone_id": W.ZONES[inc.qc_zone],
            "equipment_id": W.EQUIPMENT[inc.qc_eq],
        },
        "evidence": {
            "qc_reports": _id("qc_reports", rep_r[rep_r >= 0]),
            "equipment_calibrations": _id("equipment_calibrations", found["calibration_overdue_rank"]),
            "climate_readings": [W.SENSORS[inc.qc_zone]],
            "warehouse_tasks": _id("warehouse_tasks", task_r[task_r >= 0]),
        },
        "affected_orders": _orders(_cat(oi)),
    }


def _customs_stall(sim: Sim, common: dict[str, Any], found: dict[str, Any]) -> dict[str, Any]:
    inc = sim.inc
    return {
        "id": "customs_stall",
        "kind": "customs_stall",
        "metric": "node_dwell",
        "slice": {"node": "CUSTOMS_DECLARED"},
        **common,
        "cause": {"broker_id": W.BROKERS[inc.broker]},
        "window": [iso(inc.broker_window[0]), iso(inc.broker_window[1])],
        "evidence": {
            "operator_sessions": _id("operator_sessions", found["spike_session_rank"]),
            "customs_declarations": _id("customs_declarations", found["customs_stall_rank"]),
        },
        "affected_orders": _orders(sim.customs_stall),
    }


def _flow_loop(sim: Sim, common: dict[str, Any], rank: dict[str, np.ndarray]) -> dict[str, Any]:
    inc = sim.inc
    apr, oi = [], []
    for c, a in sim.loop_apr:
        m = sim.planted_loop[c]
        apr.append(a[m])
        oi.append(c[m])
    apr_r = rank["approvals"][_cat(apr)]
    oi_all = _cat(oi)
    return {
        "id": "flow_loop",
        "kind": "flow_loop",
        "metric": "stall_rate",
        "slice": {
            "channel": W.CHANNELS[inc.loop_channel],
            "sku_category": W.CATEGORIES[inc.loop_category],
        },
        **common,
        "cause": {
            "channel": W.CHANNELS[inc.loop_channel],
            "sku_category": W.CATEGORIES[inc.loop_category],
        },
        "pattern": ["PAID", "PICKING", "CANCELLED", "PAID", "PICKING"],
        "evidence": {"approvals": _id("approvals", apr_r[apr_r >= 0])},
        "affected_orders": _orders(oi_all[apr_r >= 0]),
    }
