"""Stalls & flows: stalled open orders now, the week's stalls by node and warehouse, and the loops
and variants of the week against its baseline with where they concentrate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
import polars as pl
from dash import Input, Output, dcc, html

from orderscope.dashboard import ui
from orderscope.dashboard.data import DashboardData

if TYPE_CHECKING:
    from orderscope.analytics.flows import FlowReport

MAX_STALLS = 100
ARROW = " → "


def layout(data: DashboardData, query: dict[str, str]) -> html.Div:
    weeks = data.weeks()
    period, baseline = data.default_weeks()
    period = query.get("period") if query.get("period") in weeks else period
    opts = [{"label": w, "value": w} for w in reversed(weeks)]
    return html.Div(
        [
            ui.page_title(
                "Stalls & flows", "orders stuck past their dwell threshold, and process loops on the rise"
            ),
            _open_stalls(data),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Label("Week", html_for="sf-period", className="mb-0 me-2 fw-semibold"),
                        width="auto",
                    ),
                    dbc.Col(
                        dcc.Dropdown(id="sf-period", options=opts, value=period, clearable=False), xs=6, md=3
                    ),
                    dbc.Col(html.Span(id="sf-baseline-label", className="text-muted small"), width="auto"),
                ],
                className="align-items-center g-2 mb-3",
            ),
            dcc.Loading(html.Div(id="sf-result"), type="default", delay_show=300),
        ]
    )


def register(app: Any, data: DashboardData) -> None:
    @app.callback(
        Output("sf-result", "children"), Output("sf-baseline-label", "children"), Input("sf-period", "value")
    )
    def week(period: str | None):  # type: ignore[no-untyped-def]
        if not period:
            return ui.note("No week to show: the store holds no orders yet."), ""
        weeks = data.weeks()
        i = weeks.index(period) if period in weeks else -1
        baseline = weeks[i - 1] if i > 0 else None
        label = f"baseline: {baseline}" if baseline else "no earlier week for a baseline"
        return _week(data, period, baseline), label


def _open_stalls(data: DashboardData) -> Any:
    f = data.open_stalls()
    if f.height == 0:
        body: Any = ui.note(
            "No open order is stalled right now: every open visit is within its dwell threshold.",
            "success",
            "sf-open-none",
        )
        return ui.section("Stalled open orders (0)", body, "sf-open")
    rows = [
        [
            ui.order_link(r["order_id"]),
            r["node"],
            r["warehouse_id"],
            r["region"] or "",
            r["channel"] or "",
            ui.when(r["entered_at"]),
            ui.hours(r["dwell_ms"]),
            ui.hours(r["threshold_ms"]),
            html.Span(ui.hours(r["excess_ms"]), className="text-danger fw-semibold"),
            r["baseline_level"],
        ]
        for r in f.head(MAX_STALLS).iter_rows(named=True)
    ]
    table = ui.table(
        [
            "Order",
            "Node",
            "Warehouse",
            "Region",
            "Channel",
            "Since",
            "Dwell",
            "Threshold",
            "Excess",
            "Threshold basis",
        ],
        rows,
        "sf-open-table",
    )
    by = f.group_by("node", "warehouse_id").agg(pl.len().alias("n")).sort("n", descending=True)
    where = ", ".join(
        f"{r['node']} @ {r['warehouse_id']} ({r['n']})" for r in by.head(5).iter_rows(named=True)
    )
    body = [html.Div(["Concentrated in: ", html.B(where)], className="mb-2 small"), table]
    if f.height > MAX_STALLS:
        body.append(html.Div(f"largest {MAX_STALLS} of {f.height:,} shown", className="text-muted small"))
    return ui.section(
        f"Stalled open orders ({f['order_id'].n_unique():,})", body, "sf-open", extra="largest excess first"
    )


def _week(data: DashboardData, period: str, baseline: str | None) -> Any:
    stalls = data.period_stalls(period)
    out: list[Any] = [
        dbc.Row(
            [
                dbc.Col(
                    ui.section(
                        f"Stalls in {period} by node and warehouse",
                        _heat(stalls),
                        "sf-heat",
                        extra=f"{stalls.height:,} stalled visits",
                    ),
                    lg=7,
                ),
                dbc.Col(ui.section("…and by channel / SKU category", _by_dims(stalls), "sf-dims"), lg=5),
            ],
            className="g-3",
        )
    ]
    if baseline is None:
        out.append(ui.note("Flow anomalies need a baseline week before this one."))
        return html.Div(out)
    flows = data.flows(period, baseline)
    out.append(_loops(flows))
    out.append(_variants(flows))
    return html.Div(out)


def _heat(stalls: pl.DataFrame) -> Any:
    if stalls.height == 0:
        return ui.graph(ui.empty_figure("no stalls in this week", 300), "fig-stall-heat")
    g = stalls.group_by("node", "warehouse_id").agg(pl.len().alias("n"))
    nodes = list(g.sort("n", descending=True)["node"].unique(maintain_order=True).to_list())
    whs = sorted(g["warehouse_id"].unique().to_list())
    look = {(r["node"], r["warehouse_id"]): r["n"] for r in g.iter_rows(named=True)}
    z = [[look.get((n, w)) for w in whs] for n in nodes]  # None: an empty cell, no "0" noise
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=whs,
            y=nodes,
            colorscale="Reds",
            hoverongaps=False,
            texttemplate="%{text}",
            text=[["" if v is None else str(v) for v in row] for row in z],
            hovertemplate="%{y} @ %{x}: %{z} stalled visits<extra></extra>",
            showscale=False,
            xgap=2,
            ygap=2,
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig = ui.style(fig, max(260, 24 * len(nodes) + 80), legend=False)
    fig.update_layout(margin={"l": 10, "t": 10})
    return ui.graph(fig, "fig-stall-heat")


def _by_dims(stalls: pl.DataFrame) -> Any:
    if stalls.height == 0:
        return ui.graph(ui.empty_figure("no stalls in this week", 300), "fig-stall-dims")
    g = (
        stalls.with_columns((pl.col("channel") + " · " + pl.col("sku_category")).alias("seg"))
        .group_by("seg")
        .agg(pl.len().alias("n"))
        .sort("n", descending=True)
        .head(12)
    )
    fig = go.Figure(
        go.Bar(
            x=g["n"].to_list(),
            y=g["seg"].to_list(),
            orientation="h",
            marker_color=ui.PALETTE[3],
            text=g["n"].to_list(),
            textposition="outside",
            textangle=0,
            cliponaxis=False,
            hovertemplate="%{y}: %{x}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig = ui.style(fig, 300, legend=False)
    fig.update_layout(margin={"l": 10, "t": 10, "r": 30})
    return ui.graph(fig, "fig-stall-dims")


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _loops(flows: FlowReport) -> Any:
    loops = flows.loops
    title = f"Loops: {flows.period.label} vs {flows.baseline.label}"
    extra = (
        f"{flows.orders:,} vs {flows.baseline_orders:,} orders created · "
        f"significant at adjusted p < {flows.alpha}"
    )
    if not loops:
        return ui.section(
            title,
            ui.note("No order looped back to an earlier node in either week.", "light"),
            "sf-loops",
            extra,
        )
    rows = []
    for r in loops:
        rows.append(
            [
                html.Span(ARROW.join(r.loop), className="fw-semibold"),
                f"{r.orders:,} ({_pct(r.rate)})",
                f"{r.baseline_orders:,} ({_pct(r.baseline_rate)})",
                "new"
                if r.rate_ratio is None and r.orders
                else ("–" if r.rate_ratio is None else f"×{r.rate_ratio:.1f}"),
                f"{r.p_adjusted:.2g}",
                dbc.Badge("significant", color="danger")
                if r.significant
                else html.Span("–", className="text-muted"),
                html.Div([dbc.Badge(f"{k}={v}", color="info", className="me-1") for k, v in r.where.items()])
                if r.where
                else html.Span("–", className="text-muted"),
            ]
        )
    return ui.section(
        title,
        ui.table(
            ["Loop", "Orders (rate)", "Baseline", "Ratio", "p (adj.)", "", "Concentrated in"],
            rows,
            "sf-loops-table",
        ),
        "sf-loops",
        extra,
    )


def _variants(flows: FlowReport) -> Any:
    variants = flows.variants[:12]
    if not variants:
        return ui.section("Variants", ui.note("No variants.", "light"), "sf-variants")
    rows = []
    for r in variants:
        rows.append(
            [
                html.Span(ARROW.join(r.variant), className="small variant"),
                f"{r.orders:,} ({_pct(r.share)})",
                f"{r.baseline_orders:,} ({_pct(r.baseline_share)})",
                {"up": "▲", "down": "▼"}.get(r.direction, "="),
                "loop" if r.has_loop else "",
                f"{r.p_adjusted:.2g}",
            ]
        )
    return ui.section(
        "Process variants, most changed first",
        ui.table(["Variant", "Orders (share)", "Baseline", "", "", "p (adj.)"], rows, "sf-variants-table"),
        "sf-variants",
        f"{flows.variants_seen:,} variants this week",
    )
