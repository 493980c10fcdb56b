"""Record counts per source kind and per store: what `orderscope stats` reports."""

from __future__ import annotations

from typing import Any

from orderscope.domain.sources import SOURCE_KINDS
from orderscope.ports import Stores


def collect_stats(stores: Stores) -> dict[str, Any]:
    graph = stores.graph.counts()
    series = stores.series.counts()
    kinds = {}
    for k in SOURCE_KINDS:
        if k.store == "graph":
            kinds[k.name] = {"store": "graph", "count": graph.get(f"node:{k.label}", 0)}
        else:
            kinds[k.name] = {"store": "series", "count": series.get(k.name, 0)}
    return {
        "backend": stores.backend,
        "kinds": kinds,
        "graph": dict(sorted(graph.items())),
        "series": dict(sorted(series.items())),
        "quarantine": series.get("quarantine", 0),
        "quarantine_by_kind": _quarantine_by_kind(stores),
        "stage_dwell": series.get("stage_dwell", 0),
    }


def _quarantine_by_kind(stores: Stores) -> dict[str, dict[str, int]]:
    """{kind: {"rejected": n, "conflict": n}} for the kinds with quarantined rows."""
    out: dict[str, dict[str, int]] = {}
    for kind, outcome, rows in stores.series.quarantine_summary().iter_rows():
        out.setdefault(kind, {"rejected": 0, "conflict": 0})[outcome] = int(rows)
    return out
