"""Which order to show someone first: the demo prints one to look up."""

from __future__ import annotations

from orderscope.ports import Stores

# The first order (by ID) that visited every node of a phase.
_FIRST_THROUGH_PHASE = """
SELECT "order_id" AS order_id FROM "stage_dwell"
WHERE "node" = ANY($1)
GROUP BY "order_id" HAVING count(DISTINCT "node") = $2
ORDER BY "order_id" LIMIT 1
"""


def example_order(stores: Stores, phase: str = "qc") -> str | None:
    """An order that went through every node of `phase` (at QC: one with a rich trail of
    events, tasks, a QC report and a shipment), or None on an empty store."""
    nodes = sorted(stores.catalog.phase(phase)) or [stores.catalog.roles.start]
    frame = stores.series.query(_FIRST_THROUGH_PHASE, [nodes, len(nodes)])
    return str(frame.item(0, 0)) if frame.height else None
