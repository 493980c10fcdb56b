"""Realistic demo data for all 17 source kinds, with planted incidents and their ground truth.

    from orderscope.generator import generate
    summary = generate(Path("demo"), orders=100_000, seed=7)            # all three incidents
    generate(Path("clean"), orders=100_000, seed=7, scenario="clean")   # same noise, no incident

Scenarios: ``default`` (qc_rework_spike + customs_stall + flow_loop), ``clean`` (none), ``qc``,
``customs``, ``loop`` (one each). The incidents show in the last ISO week of the span; the week
before is their baseline. ``ground_truth.json`` names each incident's metric, slice, periods,
cause entities, evidence record ids and affected orders; an incident that a small run cannot
plant (no order reaches it) is left out of ``incidents`` and named, with the reason, under
``skipped`` (a key only such runs have).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from numbers import Integral
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

__all__ = ["SCENARIOS", "check", "generate"]


def _ms(d: datetime) -> int:
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return int(d.timestamp() * 1000)


def check(orders: int, seed: int = 0, scenario: str = "default", weeks: int = 4) -> None:
    """Raise a ValueError that says what to pass instead if the arguments make no data set."""
    if isinstance(seed, bool) or not isinstance(seed, Integral):
        raise ValueError(f"seed must be a whole number (got {seed!r})")
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; use {', '.join(SCENARIOS)}")
    if isinstance(orders, bool) or not isinstance(orders, Integral) or orders < 1:
        raise ValueError(f"orders must be a whole number >= 1 (got {orders!r})")
    if isinstance(weeks, bool) or not isinstance(weeks, Integral) or weeks < 1:
        raise ValueError(f"weeks must be a whole number >= 1 (got {weeks!r})")
    if SCENARIOS[scenario] and weeks < 2:
        raise ValueError(
            f"scenario {scenario!r} needs at least 2 weeks (baseline week + incident week); "
            "pass weeks >= 2 or scenario 'clean'"
        )


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

    Deterministic: the same arguments give byte-identical files. Any orders >= 1 works: a kind
    with no records gets a file with its header (or schema) and no rows, and an incident that
    too few orders reach is listed under "skipped" in ground_truth.json instead of "incidents".
    Raises ValueError (see `check`) for arguments that make no data set."""
    check(orders, seed, scenario, weeks)
    orders, seed, weeks = int(orders), int(seed), int(weeks)  # numpy integers too (JSON, ranges)
    planted = SCENARIOS[scenario]
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
