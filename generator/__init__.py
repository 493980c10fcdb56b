"""Realistic demo data for all 17 source kinds, with planted incidents and their ground truth.

    from orderscope.generator import generate
    summary = generate(Path("demo"), orders=100_000, seed=7)            # all three incidents
    generate(Path("clean"), orders=100_000, seed=7, scenario="clean")   # same noise, no incident

Scenarios: ``default`` (qc_rework_spike + customs_stall + flow_loop), ``clean`` (none), ``qc``,
``customs``, ``loop`` (one each). The incidents show in the last ISO week of the span; the week
before is their baseline. ``ground_truth.json`` names each incident's metric, slice, periods,
cause entities, evidence record ids and affected orders.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from orderscope.generator import _world as W
from orderscope.generator._output import PREFIX, write_all
from orderscope.generator._sim import Incidents, Sim

SCENARIOS: dict[str, tuple[str, ...]] = {
    "default": ("qc", "customs", "loop"),
    "clean": (),
    "qc": ("qc",),
    "customs": ("customs",),
    "loop": ("loop",),
}

__all__ = ["SCENARIOS", "generate"]


def _ms(d: datetime) -> int:
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return int(d.timestamp() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _week(ms: int) -> str:
    y, w, _ = datetime.fromtimestamp(ms / 1000, tz=UTC).isocalendar()
    return f"{y}-W{w:02d}"


def _id(kind: str, rank: np.ndarray | int) -> list[str] | str:
    p, w = PREFIX[kind]
    if np.isscalar(rank):
        return f"{p}{int(rank) + 1:0{w}d}"
    return [f"{p}{int(r) + 1:0{w}d}" for r in np.sort(np.asarray(rank))]


def generate(
    out_dir: Path,
    orders: int,
    seed: int,
    scenario: str = "default",
    start: datetime | None = None,
    weeks: int = 4,
    progress: Callable[[str, float], None] | None = None,
) -> dict:
    """Write one file per source kind plus ground_truth.json into out_dir; return row counts.

    Deterministic: the same arguments give byte-identical files."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    if orders < 1:
        raise ValueError("orders must be >= 1")
    planted = SCENARIOS[scenario]
    if planted and weeks < 2:
        raise ValueError("incidents need at least 2 weeks (baseline week + incident week)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    t0 = _ms(start or W.DEFAULT_START)
    t1 = t0 + weeks * W.WEEK
    period = (t1 - W.WEEK, t1)
    baseline = (t1 - 2 * W.WEEK, t1 - W.WEEK)
    inc = Incidents(
        qc="qc" in planted,
        customs="customs" in planted,
        loop="loop" in planted,
        period=period,
        baseline=baseline,
        broker_window=(period[0] + 2 * W.DAY + W.HOUR, period[0] + 3 * W.DAY + 10 * W.HOUR),
    )
    sim = Sim(seed=seed, n=orders, start=t0, end=t1, inc=inc)
    if progress:
        progress("simulate", 0.0)
    sim.run()
    if progress:
        progress("simulate", 1.0)
    counts, rank, found = write_all(sim, out_dir, progress)
    truth = _ground_truth(sim, scenario, rank, found)
    gt = out_dir / "ground_truth.json"
    gt.write_text(json.dumps(truth, indent=2) + "\n")
    return {**counts, "ground_truth": str(gt)}


def _ground_truth(sim: Sim, scenario: str, rank: dict, found: dict) -> dict:
    inc = sim.inc
    common = {
        "period": _week(inc.period[0]),
        "baseline": _week(inc.baseline[0]),
        "period_range": [_iso(inc.period[0]), _iso(inc.period[1])],
        "baseline_range": [_iso(inc.baseline[0]), _iso(inc.baseline[1])],
    }
    orders = lambda oi: _id("orders", np.unique(oi))  # noqa: E731
    incidents = []
    if inc.qc:
        reps, tasks, oi = [], [], []
        for rep, tk, faulty, f_oi in sim.qc_incident_reports:
            reps.append(rep[faulty])
            tasks.append(tk[faulty])
            oi.append(f_oi[faulty])
        rep_r = rank["qc_reports"][np.concatenate(reps)]
        task_r = rank["warehouse_tasks"][np.concatenate(tasks)]
        zone = W.ZONES[inc.qc_zone]
        incidents.append(
            {
                "id": "qc_rework_spike",
                "kind": "qc_rework_spike",
                "metric": "cycle_time",
                "slice": {"region": W.REGIONS[W.WH_REGION[inc.qc_wh]]},
                **common,
                "cause": {
                    "warehouse_id": W.WAREHOUSES[inc.qc_wh],
                    "zone_id": zone,
                    "equipment_id": W.EQUIPMENT[inc.qc_eq],
                },
                "evidence": {
                    "qc_reports": _id("qc_reports", rep_r[rep_r >= 0]),
                    "equipment_calibrations": _id(
                        "equipment_calibrations", found["calibration_overdue_rank"]
                    ),
                    "climate_readings": [W.SENSORS[inc.qc_zone]],
                    "warehouse_tasks": _id("warehouse_tasks", task_r[task_r >= 0]),
                },
                "affected_orders": orders(np.concatenate(oi)),
            }
        )
    if inc.customs:
        stall_oi = sim.customs_stall
        incidents.append(
            {
                "id": "customs_stall",
                "kind": "customs_stall",
                "metric": "node_dwell",
                "slice": {"node": "CUSTOMS_DECLARED"},
                **common,
                "cause": {"broker_id": W.BROKERS[inc.broker]},
                "window": [_iso(inc.broker_window[0]), _iso(inc.broker_window[1])],
                "evidence": {
                    "operator_sessions": _id("operator_sessions", found["spike_session_rank"]),
                    "customs_declarations": _id("customs_declarations", found["customs_stall_rank"]),
                },
                "affected_orders": orders(stall_oi),
            }
        )
    if inc.loop:
        apr, oi = [], []
        for c, a in sim.loop_apr:
            m = sim.planted_loop[c]
            apr.append(a[m])
            oi.append(c[m])
        apr_r = rank["approvals"][np.concatenate(apr)] if apr else np.zeros(0, np.int64)
        oi_all = np.concatenate(oi) if oi else np.zeros(0, np.int64)
        incidents.append(
            {
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
                "affected_orders": orders(oi_all[apr_r >= 0]),
            }
        )
    return {
        "seed": sim.seed,
        "scenario": scenario,
        "orders": sim.n,
        "start": _iso(sim.start),
        "end": _iso(sim.end),
        "incidents": incidents,
    }
