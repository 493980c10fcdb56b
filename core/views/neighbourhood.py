"""An order's neighbourhood as nodes and edges: the order, every record linked to it (directly
or through entities, as in its snapshot) and the entities those records name.

Built from the snapshot, so the graph and the snapshot never disagree about what is linked; the
link rules (which column names which entity, by which relationship) come from the source
catalog, so a new kind or entity link appears here with no code change.
"""

from __future__ import annotations

from typing import Any

from orderscope.domain.sources import BY_NAME
from orderscope.ports import Stores
from orderscope.views.snapshot import build_snapshot, jsonable


def order_graph(stores: Stores, order_id: str) -> dict[str, Any]:
    """{"order_id", "nodes": [{id, label, kind, properties}], "edges": [{source, target, type}]}.
    Node ids are "<label>:<key>" so equal entities reached twice are one node."""
    snapshot = jsonable(build_snapshot(stores, order_id))
    return graph_of(snapshot)


def graph_of(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The neighbourhood of a (JSON) snapshot; pure, for tests and any surface."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: set[tuple[str, str, str]] = set()
    root = f"Order:{snapshot['order_id']}"
    nodes[root] = {"id": root, "label": "Order", "kind": "orders", "properties": snapshot["order"]}
    for kind_name, records in snapshot["linked"].items():
        kind = BY_NAME[kind_name]
        for record in records:
            node = root if kind_name == "orders" else _record_node(kind_name, record, nodes)
            if node != root:
                edges.add((root, node, kind.order_rel or f"LINKED_{kind_name.upper()}"))
            for link in kind.entity_links:
                value = record.get(link.column)
                if value is None:
                    continue
                entity = f"{link.label}:{value}"
                nodes.setdefault(entity, {"id": entity, "label": link.label, "kind": None, "properties": {}})
                edges.add((node, entity, link.rel))
    return {
        "order_id": snapshot["order_id"],
        "nodes": sorted(nodes.values(), key=lambda n: n["id"]),
        "edges": [{"source": s, "target": t, "type": r} for s, t, r in sorted(edges)],
    }


def _record_node(kind_name: str, record: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> str:
    kind = BY_NAME[kind_name]
    key = "|".join(str(record.get(c)) for c in kind.identity)
    label = kind.label or "".join(part.title() for part in kind_name.split("_"))
    node = f"{label}:{key}"
    nodes.setdefault(node, {"id": node, "label": label, "kind": kind_name, "properties": record})
    return node
