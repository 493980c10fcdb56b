"""Order lookup: an order's whole archive by ID (also from ?order=ID or ?record=KIND:ID)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import ALL, Input, Output, State, ctx, html, no_update

from orderscope.dashboard import ui
from orderscope.dashboard.data import DashboardData
from orderscope.domain.sources import BY_NAME, SOURCE_KINDS

if TYPE_CHECKING:
    from orderscope.analytics.health import OrderHealth

MAX_ROWS = 200  # rows shown per linked kind (the count in the title is the full count)
TITLES = {
    "orders": "Order master",
    "order_events": "Status changes",
    "payments": "Payments",
    "inventory_allocations": "Inventory allocations",
    "warehouse_tasks": "Warehouse tasks",
    "qc_reports": "QC reports",
    "equipment_calibrations": "Equipment calibrations",
    "climate_readings": "Climate readings",
    "shipments": "Shipments",
    "logistics_tracks": "Logistics tracks",
    "carrier_capacity": "Carrier capacity",
    "customs_declarations": "Customs declarations",
    "operator_sessions": "Operator sessions",
    "service_tickets": "Service tickets",
    "approvals": "Approvals",
    "notifications": "Notifications",
    "returns": "Returns",
}


def layout(data: DashboardData, order_id: str | None, record: str | None = None) -> html.Div:
    order_id = (order_id or "").strip() or None
    focus_kind = None
    message = None
    if record and not order_id:
        kind, _, rid = record.partition(":")
        focus_kind = kind if kind in BY_NAME else None
        found = data.order_of_record(kind, rid.strip()) if focus_kind and rid.strip() else None
        if found:
            order_id = found
            message = ui.note(
                [f"{TITLES.get(kind, kind)} record ", html.B(rid), " belongs to order ", html.B(found), "."],
                "info",
                "lookup-record-note",
            )
        else:
            message = ui.note(
                f"Record {rid!r} of kind {kind!r} cannot be followed to one order.",
                "warning",
                "lookup-record-note",
            )
    form = dbc.Row(
        [
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText("Order ID"),
                        dbc.Input(
                            id="lookup-input",
                            value=order_id or "",
                            placeholder="e.g. O0000032",
                            type="text",
                            debounce=False,
                            autoComplete="off",
                        ),
                        dbc.Button("Look up", id="lookup-go", color="primary", n_clicks=0),
                    ]
                ),
                md=6,
            )
        ],
        className="mb-3",
    )
    body: list[Any] = [
        ui.page_title("Order lookup", "every status change, linked record, dwell and stall of one order"),
        form,
    ]
    if message is not None:
        body.append(message)
    if order_id:
        body.append(_order(data, order_id, focus_kind))
    elif not record:
        body.append(ui.note("Type an order ID and press Enter.", "light"))
    return html.Div(body)


def _order(data: DashboardData, order_id: str, focus_kind: str | None) -> Any:
    snap = data.snapshot(order_id)
    if snap is None:
        return dbc.Alert(
            [
                html.H5("Order not found", className="alert-heading"),
                html.Div(
                    f"Order {order_id!r} is not in the store. Check the ID (IDs are case-sensitive) "
                    "or ingest the data that holds it."
                ),
            ],
            color="warning",
            id="lookup-unknown",
        )
    health = data.order_health(order_id)
    return html.Div(
        [
            _header(snap, health),
            _stall_banner(snap),
            ui.section(
                "Dwell per node vs SLA",
                ui.graph(_dwell_figure(snap), "fig-order-dwell"),
                extra="bar = time in the node (open visits to the data clock), red – = SLA",
            ),
            ui.section(
                "Status timeline",
                _timeline(snap),
                "lookup-timeline",
                extra=f"{len(snap['events'])} status changes: when, who, from → to, why, diff, impact",
            ),
            ui.section(
                "Linked records",
                _linked(snap, focus_kind),
                "lookup-linked",
                extra=f"{sum(1 for v in snap['linked'].values() if v)} of {len(SOURCE_KINDS)} "
                "source kinds hold records of this order",
            ),
        ],
        id="lookup-result",
    )


def _header(snap: dict[str, Any], health: OrderHealth | None) -> Any:
    o = snap["order"]
    facts = [
        ("Channel", o.get("channel")),
        ("Region", o.get("region")),
        ("Warehouse", o.get("warehouse_id")),
        ("SKU", f"{o.get('sku')} ({o.get('sku_category')})"),
        ("Quantity", o.get("quantity")),
        ("Amount", f"{o.get('amount'):,.2f} {o.get('currency')}" if o.get("amount") is not None else None),
        (
            "Destination",
            f"{o.get('destination_country')} · {'cross-border' if o.get('cross_border') else 'domestic'}",
        ),
        ("Created", ui.when(o.get("created_at"))),
        ("Promised", ui.when(o.get("promised_at"))),
    ]
    state = snap["events"][-1]["to_state"] if snap["events"] else "–"
    badges = [dbc.Badge(state, color="primary", className="me-2 fs-6", id="lookup-state")]
    if health is not None:
        score = health.score
        tone = "success" if score >= 80 else ("warning" if score >= 50 else "danger")
        badges.append(dbc.Badge(f"health {score:.0f}", color=tone, className="fs-6"))
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    [html.H4(snap["order_id"], className="mb-0 me-3", id="lookup-order-id"), *badges],
                    className="d-flex align-items-center mb-2",
                ),
                html.Div(
                    [
                        html.Div(
                            [html.Span(k, className="fact-key"), html.Span(ui.num(v), className="fact-val")],
                            className="fact",
                        )
                        for k, v in facts
                    ],
                    className="facts",
                ),
                html.Div(f"as of {ui.when(snap['as_of'])}", className="text-muted small mt-1"),
            ]
        ),
        className="mb-3",
    )


def _stall_banner(snap: dict[str, Any]) -> Any:
    stall = snap["stall"]
    if stall:
        return dbc.Alert(
            [
                html.B(f"Stalled in {stall['node']} "),
                f"for {ui.hours(stall['dwell_ms'])} since {ui.when(stall['since'])}: "
                f"{ui.hours(stall['excess_ms'])} past its threshold of {ui.hours(stall['threshold_ms'])} "
                f"({stall['threshold_basis']}).",
            ],
            color="danger",
            id="lookup-stall",
        )
    current = next((v for v in reversed(snap["dwell"]) if v["open"]), None)
    if current is not None:
        sla = f" of its {ui.hours(current['sla_ms'])} SLA" if current["sla_ms"] else ""
        return dbc.Alert(
            [html.B(f"In {current['node']} "), f"for {ui.hours(current['dwell_ms'])}, within{sla}."],
            color="info",
            id="lookup-stall",
        )
    state = snap["events"][-1]["to_state"] if snap["events"] else None
    return dbc.Alert(
        [html.B("Not stalled: "), f"the order rests in {state}." if state else "no events yet."],
        color="success",
        id="lookup-stall",
    )


def _dwell_figure(snap: dict[str, Any]) -> go.Figure:
    visits = [v for v in snap["dwell"] if v["dwell_ms"] is not None]
    if not visits:
        return ui.empty_figure("no dwell yet", 260)
    labels = [v["node"] + (f" #{v['visit']}" if v["visit"] > 1 else "") for v in visits]
    # unique categories in visit order (a rework loop revisits a node)
    hours = [v["dwell_ms"] / ui.H for v in visits]
    sla = [None if v["sla_ms"] is None else v["sla_ms"] / ui.H for v in visits]
    colors = []
    for v in visits:
        over = v["sla_ms"] is not None and v["dwell_ms"] > v["sla_ms"]
        colors.append("#dc2626" if over else ("#f59e0b" if v["open"] else "#2563eb"))
    text = [ui.hours(v["dwell_ms"]) + (" (open)" if v["open"] else "") for v in visits]
    fig = go.Figure(
        go.Bar(
            x=hours,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=text,
            textposition="outside",
            cliponaxis=False,
            name="dwell",
            hovertemplate="%{y}: %{text}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=sla,
            y=labels,
            mode="markers",
            name="SLA",
            marker={"symbol": "line-ns", "size": 16, "line": {"width": 3, "color": "#dc2626"}},
            hovertemplate="SLA %{x:.1f} h<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    fig.update_xaxes(title_text="hours", rangemode="tozero")
    fig = ui.style(fig, max(240, 22 * len(visits) + 70), legend=False)
    fig.update_layout(margin={"l": 10, "r": 70})
    return fig


def _diff(diff: dict[str, Any]) -> Any:
    if not diff:
        return html.Span("–", className="text-muted")
    items = []
    for field, change in diff.items():
        if isinstance(change, (list, tuple)) and len(change) == 2:
            old, new = change
            items.append(html.Div([html.Code(field), f": {_short(old)} → {_short(new)}"]))
        else:
            items.append(html.Div([html.Code(field), f": {_short(change)}"]))
    return html.Div(items, className="diff")


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


def _impact(impact: list[Any]) -> Any:
    if not impact:
        return html.Span("–", className="text-muted")
    out = []
    for item in impact:
        if isinstance(item, dict):
            kind, rid = item.get("kind"), item.get("id")
            label = f"{kind}: {rid}" if kind else str(rid)
            out.append(dbc.Badge(label, color="light", text_color="dark", className="me-1 border"))
        else:
            out.append(dbc.Badge(str(item), color="light", text_color="dark", className="me-1 border"))
    return html.Div(out)


def _timeline(snap: dict[str, Any]) -> Any:
    rows = []
    for e in snap["events"]:
        why: list[Any] = []
        if e["reason_code"]:
            why.append(dbc.Badge(e["reason_code"], color="warning", text_color="dark", className="me-1"))
        if e["evidence"]:
            why.append(html.Span(e["evidence"], className="small text-break"))
        arrow: list[Any] = [
            html.Span(e["from_state"] or "∅", className="state-from"),
            " → ",
            html.Span(e["to_state"], className="state-to fw-semibold"),
        ]
        rows.append(
            [
                html.Span(ui.when(e["at"]), className="text-nowrap"),
                html.Span(
                    [e["actor"]["id"], html.Span(f" {e['actor']['role']}", className="text-muted small")]
                ),
                html.Span(arrow, className="text-nowrap"),
                why or html.Span("–", className="text-muted"),
                _diff(e["diff"]),
                _impact(e["impact"]),
            ]
        )
    if not rows:
        return ui.note("No status changes recorded.")
    return ui.table(
        ["When (UTC)", "Who", "From → to", "Why / evidence", "Diff", "Impact"], rows, "timeline-table"
    )


def _cell(value: Any) -> str:
    from datetime import datetime

    if isinstance(value, datetime):
        return ui.when(value)
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, (dict, list)):
        return _short(value)
    return "" if value is None else str(value)


def _linked(snap: dict[str, Any], focus_kind: str | None) -> Any:
    """One accordion item per source kind, its count in the title. A kind's records are drawn
    only when its item is opened (callback below): an order can hold hundreds of readings."""
    items = []
    for kind in SOURCE_KINDS:
        rows = snap["linked"].get(kind.name, [])
        title = f"{TITLES.get(kind.name, kind.name)} ({len(rows)})"
        body = html.Div(
            records(snap, kind.name) if kind.name == focus_kind else None,
            id={"type": "linked-body", "kind": kind.name},
        )
        items.append(
            dbc.AccordionItem(
                body,
                title=title,
                item_id=kind.name,
                class_name="linked-kind" + (" linked-empty" if not rows else ""),
            )
        )
    return dbc.Accordion(
        items,
        id="linked-accordion",
        always_open=True,
        start_collapsed=focus_kind is None,
        active_item=[focus_kind] if focus_kind else [],
    )


def records(snap: dict[str, Any], name: str) -> Any:
    """The table of one kind's records linked to the order."""
    rows = snap["linked"].get(name, [])
    kind = BY_NAME[name]
    if not rows:
        return html.Div(f"No {name} records linked to this order.", className="text-muted small")
    if name == "order_events":
        cols = ["event_id", "at", "actor", "from_state", "to_state", "reason_code", "evidence"]
        shown = [{**r, "actor": f"{r['actor']['id']} ({r['actor']['role']})"} for r in rows[:MAX_ROWS]]
    else:
        cols = list(rows[0].keys())
        shown = rows[:MAX_ROWS]
    content: list[Any] = [ui.table(cols, [[_cell(r.get(c)) for c in cols] for r in shown])]
    if len(rows) > MAX_ROWS:
        content.append(
            html.Div(f"showing the first {MAX_ROWS} of {len(rows):,}", className="text-muted small mt-1")
        )
    content.append(html.Div(f"linked through {kind.links_via}", className="text-muted small mt-1"))
    return html.Div(content, className="linked-records")


def register(app: Any, data: DashboardData) -> None:
    @app.callback(
        Output({"type": "linked-body", "kind": ALL}, "children"),
        Input("linked-accordion", "active_item"),
        State("lookup-order-id", "children"),
        prevent_initial_call=True,
    )
    def open_kinds(active: list[str] | str | None, order_id: str | None):  # type: ignore[no-untyped-def]
        active = [active] if isinstance(active, str) else list(active or [])
        snap = data.snapshot(order_id) if order_id else None
        out = []
        for spec in ctx.outputs_list:
            name = spec["id"]["kind"]
            out.append(records(snap, name) if snap is not None and name in active else no_update)
        return out
