"""Record counts per source kind and per store: what `orderscope stats` reports."""

from __future__ import annotations

from typing import Any

from orderscope.sources import SOURCE_KINDS
from orderscope.stores import Stores


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
        "stage_dwell": series.get("stage_dwell", 0),
    }
