"""Small shared pieces of the dashboard's pages: formatting, cards, tables, figure styling."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import dcc, html

from orderscope.views.snapshot import iso

H = 3_600_000.0
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"]
GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False,
    "responsive": True,
    "displayModeBar": False,  # drag zooms, double-click resets: the bar only cluttered the cards
}


def hours(ms: float | None, digits: int = 1) -> str:
    if ms is None:
        return "–"
    h = ms / H
    if abs(h) < 1:
        return f"{ms / 60_000:.0f} min"
    if abs(h) >= 48:
        return f"{h / 24:.1f} d"
    return f"{h:.{digits}f} h"


def when(value: datetime | str | None) -> str:
    """A timestamp as people read it: UTC, milliseconds kept."""
    if value is None:
        return "–"
    text = iso(value) if isinstance(value, datetime) else str(value)
    return text.replace("T", " ").replace("Z", " UTC")


def num(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def order_href(order_id: str) -> str:
    return "/order?" + urlencode({"order": order_id})


def record_href(kind: str, record_id: str) -> str:
    return "/order?" + urlencode({"record": f"{kind}:{record_id}"})


def order_link(order_id: str, className: str = "", **kw: Any) -> dcc.Link:
    return dcc.Link(order_id, href=order_href(order_id), className=f"order-link {className}".strip(), **kw)


def page_title(title: str, subtitle: str | None = None) -> html.Div:
    return html.Div(
        [html.H3(title, className="mb-0"), html.Div(subtitle, className="text-muted small")]
        if subtitle
        else [html.H3(title, className="mb-0")],
        className="page-title mb-3",
    )


def kpi_card(title: str, value: str, sub: Any = None, id_: str | None = None, tone: str = "") -> dbc.Col:
    value_id: dict[str, Any] = {"id": id_} if id_ else {}
    body = [
        html.Div(title, className="kpi-title"),
        html.Div(value, className="kpi-value", **value_id),
    ]
    if sub is not None:
        body.append(html.Div(sub, className="kpi-sub"))
    return dbc.Col(dbc.Card(dbc.CardBody(body), className=f"kpi-card h-100 {tone}"), xs=6, md=4, xl=True)


def section(title: str, body: Any, id_: str | None = None, extra: Any = None) -> dbc.Card:
    header = [html.Span(title, className="fw-semibold")]
    if extra is not None:
        header.append(html.Span(extra, className="ms-2 text-muted small"))
    return dbc.Card(
        [dbc.CardHeader(header), dbc.CardBody(body)],
        className="section-card mb-3",
        **({"id": id_} if id_ else {}),
    )


def table(
    columns: list[str], rows: list[list[Any]], id_: str | None = None, small: bool = True, **kw: Any
) -> Any:
    head = html.Thead(html.Tr([html.Th(c) for c in columns]))
    body = html.Tbody([html.Tr([html.Td(c) for c in r]) for r in rows])
    return dbc.Table(
        [head, body],
        bordered=False,
        hover=True,
        striped=True,
        size="sm" if small else None,
        responsive=True,
        className="data-table mb-0",
        **({"id": id_} if id_ else {}),
        **kw,
    )


def note(text: Any, color: str = "secondary", id_: str | None = None) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-2", **({"id": id_} if id_ else {}))


def style(fig: go.Figure, height: int = 320, legend: bool = True) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 50, "r": 16, "t": 16, "b": 40},
        font={"family": FONT, "size": 12, "color": "#334155"},
        colorway=PALETTE,
        showlegend=legend,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "left", "x": 0},
        hoverlabel={"font_family": FONT},
    )
    return fig


def graph(fig: go.Figure, id_: str) -> dcc.Graph:
    return dcc.Graph(id=id_, figure=fig, config=GRAPH_CONFIG)


def empty_figure(message: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#64748b"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, height, legend=False)
