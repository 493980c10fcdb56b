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
from typing import Any

from orderscope.generator import world as W
from orderscope.generator.ground_truth import ground_truth
from orderscope.generator.lifecycle import simulate
from orderscope.generator.output import write_all
from orderscope.generator.simulation import Incidents

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


def generate(
    out_dir: Path,
    orders: int,
    seed: int,
    scenario: str = "default",
    start: datetime | None = None,
    weeks: int = 4,
    progress: Callable[[str, float], None] | None = None,
) -> dict[str, Any]:
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
    if progress:
        progress("simulate", 0.0)
    sim = simulate(seed=seed, n=orders, start=t0, end=t1, inc=inc)
    if progress:
        progress("simulate", 1.0)
    counts, rank, found = write_all(sim, out_dir, progress)
    truth = ground_truth(sim, scenario, rank, found)
    gt = out_dir / "ground_truth.json"
    gt.write_text(json.dumps(truth, indent=2) + "\n")
    return {**counts, "ground_truth": str(gt)}
