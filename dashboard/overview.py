"""Overview: KPI cards, weekly fulfilment cycle by region, open orders per node, dwell per node."""

from __future__ import annotations

from datetime import timedelta

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from orderscope.dashboard import ui
from orderscope.dashboard.data import DashboardData, week_start

DWELL_WEEKS = 4  # the dwell distribution covers the visits closed in the last four weeks


def layout(data: DashboardData) -> html.Div:
    k = data.overview()
    cp, cb = k["cycle_period"], k["cycle_baseline"]
    cyc_value = "–" if not cp or cp["hours"] is None else f"{cp['hours']:.2f} h"
    cyc_sub: list = []
    if cp and cb and cp["hours"] is not None and cb["hours"] is not None:
        delta = cp["hours"] - cb["hours"]
        arrow, tone = ("▲", "text-danger") if delta > 0 else ("▼", "text-success")
        cyc_sub = [
            html.Span(f"{arrow} {delta:+.2f} h ", className=f"fw-semibold {tone}", id="kpi-cycle-delta"),
            html.Span(f"vs {cb['hours']:.2f} h in {k['baseline']}"),
        ]
    elif k["period"]:
        cyc_sub = [html.Span("no baseline week")]
    stalled_tone = "kpi-alert" if k["stalled"] else ""
    kpis = dbc.Row(
        [
            ui.kpi_card("Orders", f"{k['orders']:,}", "in the store", "kpi-orders"),
            ui.kpi_card("Open", f"{k['open']:,}", "not yet in a resting node", "kpi-open"),
            ui.kpi_card(
                "Currently stalled",
                f"{k['stalled']:,}",
                f"{k['stalled_visits']:,} open visits past threshold",
                "kpi-stalled",
                stalled_tone,
            ),
            ui.kpi_card(
                f"Avg cycle {k['period'] or ''}".strip(),
                cyc_value,
                cyc_sub,
                "kpi-cycle",
            ),
            ui.kpi_card(
                "Quarantine",
                f"{k['quarantine']:,}",
                "rejected rows",
                "kpi-quarantine",
                "kpi-warn" if k["quarantine"] else "",
            ),
        ],
        className="g-3 mb-3",
    )
    clock = k["clock"]
    return html.Div(
        [
            ui.page_title(
                "Overview",
                f"as of {ui.when(clock)} (newest event) · last full week {k['period'] or '–'}",
            ),
            kpis,
            dbc.Row(
                [
                    dbc.Col(
                        ui.section(
                            "Fulfilment cycle by region, per week",
                            ui.graph(_trend_figure(data), "fig-cycle-trend"),
                            extra="created → handed over, by week of handover",
                        ),
                        lg=7,
                    ),
                    dbc.Col(
                        ui.section(
                            "Open orders per lifecycle node",
                            ui.graph(_open_figure(data), "fig-open-nodes"),
                        ),
                        lg=5,
                    ),
                ],
                className="g-3",
            ),
            ui.section(
                "Dwell per node",
                ui.graph(_dwell_figure(data), "fig-dwell"),
                extra=f"closed visits of the last {DWELL_WEEKS} weeks: box = quartiles, "
                "whiskers = 5th–95th percentile, dashed = mean, red – = SLA (log scale)",
            ),
        ]
    )


def _trend_figure(data: DashboardData) -> go.Figure:
    f = data.cycle_trend()
    if f.height == 0:
        return ui.empty_figure("no order handed over yet")
    fig = go.Figure()
    for region in sorted(set(f["region"].to_list())):
        r = f.filter(f["region"] == region)
        weeks = r["week"].to_list()
        fig.add_trace(
            go.Scatter(
                x=weeks,
                y=r["hours"].to_list(),
                mode="lines+markers",
                name=region,
                customdata=r["orders"].to_list(),
                hovertemplate=f"{region}<br>week of %{{x|%Y-%m-%d}}<br>%{{y:.2f}} h"
                "<br>%{customdata} orders<extra></extra>",
            )
        )
    fig.update_yaxes(title_text="hours")
    fig.update_xaxes(tickformat="%d %b", dtick=7 * 86_400_000)
    return ui.style(fig, 320)


def _open_figure(data: DashboardData) -> go.Figure:
    f = data.open_by_node()
    if f.height == 0:
        return ui.empty_figure("no open orders")
    fig = go.Figure(
        go.Bar(
            x=f["orders"].to_list(),
            y=f["node"].to_list(),
            orientation="h",
            marker_color=ui.PALETTE[0],
            text=f["orders"].to_list(),
            textposition="outside",
            textangle=0,
            cliponaxis=False,
            hovertemplate="%{y}: %{x} open orders<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", automargin=True)
    fig.update_xaxes(title_text="open orders")
    fig = ui.style(fig, 320, legend=False)
    fig.update_layout(margin={"l": 10})
    return fig


def _dwell_figure(data: DashboardData) -> go.Figure:
    clock = data.clock()
    if clock is None:
        return ui.empty_figure("no events yet")
    end = clock + timedelta(microseconds=1)
    weeks = data.weeks()
    start = week_start(weeks[max(0, len(weeks) - DWELL_WEEKS)]) if weeks else clock - timedelta(days=28)
    f = data.dwell_distribution(start, end)
    if f.height == 0:
        return ui.empty_figure("no closed visits in the window")
    nodes = f["node"].to_list()
    floor = 1 / 60  # one minute: keeps the log axis readable
    clip = lambda col: [max(v, floor) for v in f[col].to_list()]  # noqa: E731
    fig = go.Figure(
        go.Box(
            x=nodes,
            q1=clip("q1"),
            median=clip("med"),
            q3=clip("q3"),
            lowerfence=clip("p05"),
            upperfence=clip("p95"),
            mean=clip("mean_ms"),
            name="dwell",
            marker_color=ui.PALETTE[0],
            fillcolor="rgba(37,99,235,0.25)",
            customdata=f["n"].to_list(),
        )
    )
    sla = [data.catalog.sla_hours.get(n) for n in nodes]
    fig.add_trace(
        go.Scatter(
            x=nodes,
            y=sla,
            mode="markers",
            name="SLA",
            marker={"symbol": "line-ew", "size": 26, "line": {"width": 2, "color": "#dc2626"}},
            hovertemplate="%{x} SLA %{y} h<extra></extra>",
        )
    )
    ticks = [
        (1 / 60, "1 min"),
        (0.1, "6 min"),
        (0.5, "30 min"),
        (1, "1 h"),
        (2, "2 h"),
        (4, "4 h"),
        (8, "8 h"),
        (24, "1 d"),
        (48, "2 d"),
        (168, "7 d"),
    ]
    fig.update_yaxes(
        type="log",
        title_text="dwell (log scale)",
        tickvals=[t for t, _ in ticks],
        ticktext=[label for _, label in ticks],
    )
    fig.update_xaxes(tickangle=-35)
    fig = ui.style(fig, 380, legend=False)
    fig.update_layout(margin={"b": 110})
    return fig
