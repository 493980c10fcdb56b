"""A readable terminal timeline of an order snapshot, for people at a console."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from orderscope.snapshot import iso


def _hours(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 3_600_000:.1f} h"


def print_timeline(console: Console, snap: dict[str, Any]) -> None:
    order = snap["order"]
    console.print(
        f"[bold]order {snap['order_id']}[/]  {order.get('channel')} · {order.get('region')} · "
        f"{order.get('warehouse_id')} · {order.get('sku_category')} · "
        f"{'cross-border' if order.get('cross_border') else 'domestic'}  "
        f"(as of {iso(snap['as_of'])})"
    )
    stall = snap["stall"]
    if stall:
        console.print(
            f"[bold red]stalled[/] in {stall['node']} for {_hours(stall['dwell_ms'])} "
            f"(threshold {_hours(stall['threshold_ms'])}, {stall['threshold_basis']})"
        )
    table = Table(show_lines=False)
    for col in ("when (UTC)", "who", "from → to", "why", "evidence", "what changed", "impact"):
        table.add_column(col)
    for e in snap["events"]:
        diff = ", ".join(f"{k}: {v[0]} → {v[1]}" for k, v in (e["diff"] or {}).items()
                         if isinstance(v, list) and len(v) == 2)
        impact = ", ".join(f"{i.get('kind')}:{i.get('id')}" if isinstance(i, dict) else str(i)
                           for i in e["impact"] or [])
        table.add_row(
            iso(e["at"]),
            f"{e['actor']['id']} ({e['actor']['role']})",
            f"{e['from_state'] or '·'} → {e['to_state']}",
            e["reason_code"] or "",
            e["evidence"] or "",
            diff,
            impact,
        )
    console.print(table)
    dwell = Table(title="dwell per node")
    for col in ("node", "entered", "left", "dwell", "SLA"):
        dwell.add_column(col)
    for v in snap["dwell"]:
        dwell.add_row(
            v["node"], iso(v["entered_at"]), iso(v["left_at"]) or ("open" if v["open"] else ""),
            _hours(v["dwell_ms"]), _hours(v["sla_ms"]),
        )
    console.print(dwell)
    linked = {k: len(v) for k, v in snap["linked"].items() if v}
    console.print("linked records: " + ", ".join(f"{k} {n}" for k, n in linked.items()))
