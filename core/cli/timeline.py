"""A readable terminal timeline of an order snapshot, for people at a console.

Every value is printed verbatim (no markup, control characters escaped) and cut at
orderscope.cli.display.MAX_VALUE characters; `snapshot --json` has them whole."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from orderscope.cli.display import MAX_VALUE, esc
from orderscope.views.snapshot import iso


def _v(value: Any) -> str:
    return esc(value, MAX_VALUE)


def _hours(ms: int | None) -> str:
    return "" if ms is None else f"{ms / 3_600_000:.1f} h"


def print_timeline(console: Console, snap: dict[str, Any]) -> None:
    order = snap["order"]
    console.print(
        f"[bold]order {_v(snap['order_id'])}[/]  "
        + " · ".join(_v(str(order.get(k))) for k in ("channel", "region", "warehouse_id", "sku_category"))
        + " · "
        f"{'cross-border' if order.get('cross_border') else 'domestic'}  "
        f"(as of {iso(snap['as_of'])})"
    )
    stall = snap["stall"]
    if stall:
        console.print(
            f"[bold red]stalled[/] in {_v(stall['node'])} for {_hours(stall['dwell_ms'])} "
            f"(threshold {_hours(stall['threshold_ms'])}, {_v(stall['threshold_basis'])})"
        )
    table = Table(show_lines=False)
    for col in ("when (UTC)", "who", "from → to", "why", "evidence", "what changed", "impact"):
        table.add_column(col)
    for e in snap["events"]:
        diff = ", ".join(
            f"{k}: {v[0]} → {v[1]}"
            for k, v in (e["diff"] or {}).items()
            if isinstance(v, list) and len(v) == 2
        )
        impact = ", ".join(
            f"{i.get('kind')}:{i.get('id')}" if isinstance(i, dict) else str(i) for i in e["impact"] or []
        )
        table.add_row(
            iso(e["at"]),
            f"{_v(e['actor']['id'])} ({_v(e['actor']['role'])})",
            f"{_v(e['from_state'] or '·')} → {_v(e['to_state'])}",
            _v(e["reason_code"]),
            _v(e["evidence"]),
            _v(diff),
            _v(impact),
        )
    console.print(table)
    dwell = Table(title="dwell per node")
    for col in ("node", "entered", "left", "dwell", "SLA"):
        dwell.add_column(col)
    for v in snap["dwell"]:
        dwell.add_row(
            _v(v["node"]),
            iso(v["entered_at"]),
            iso(v["left_at"]) or ("open" if v["open"] else ""),
            _hours(v["dwell_ms"]),
            _hours(v["sla_ms"]),
        )
    console.print(dwell)
    linked = {k: len(v) for k, v in snap["linked"].items() if v}
    console.print("linked records: " + esc(", ".join(f"{k} {n}" for k, n in linked.items())))
