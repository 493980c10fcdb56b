"""Turn the simulation into the 17 source files: readable chronological ids, formats, time zones.

One writer per source kind, grouped by side: `commerce` (orders, payments, allocations, tickets,
approvals, notifications, returns), `operations` (tasks, QC, calibrations, climate, sessions),
`logistics` (shipments, tracks, capacity, customs) and `events` (order events, last). Shared
formatting is in `formats`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from orderscope.generator import auxiliary
from orderscope.generator.output import commerce, events, logistics, operations
from orderscope.generator.output.formats import PREFIX, Output, Progress, Writer
from orderscope.generator.simulation import Sim

__all__ = ["PREFIX", "write_all"]


def write_all(
    sim: Sim, out: Path, progress: Progress | None = None
) -> tuple[dict[str, int], dict[str, np.ndarray], dict[str, Any]]:
    """Write every kind; returns row counts, rid->rank maps, and evidence collected for ground truth.

    The records not caused by a status change are drawn here, just before their file is
    written (each from its own stream, so the place does not change the data)."""
    o = Output(sim, Writer(out, progress))
    commerce.write_orders(o)
    commerce.write_payments(o)
    commerce.write_allocations(o)
    operations.write_tasks(o)
    operations.write_qc_reports(o)
    auxiliary.calibrations(sim)
    operations.write_calibrations(o)
    operations.write_climate(o, auxiliary.climate(sim))
    logistics.write_shipments(o)
    scans = logistics.write_tracks(o)
    logistics.write_capacity(o, auxiliary.capacity(sim, scans))
    logistics.write_customs(o)
    auxiliary.sessions(sim)
    operations.write_sessions(o)
    auxiliary.tickets(sim)
    commerce.write_tickets(o)
    commerce.write_approvals(o)
    commerce.write_notifications(o)
    commerce.write_returns(o)
    o.found["events"] = events.write_events(o)
    return o.writer.counts, o.rank, o.found
