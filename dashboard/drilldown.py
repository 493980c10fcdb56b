"""Drill-down: a metric change between two weeks for a slice, explained by ranked findings with
evidence (orderscope.analytics.rootcause.explain). The question lives in the URL
(/drilldown?metric=cycle_time&region=North&period=2026-W47&baseline=2026-W46), so a finding's
"drill in" link and the browser's back button work."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from orderscope.dashboard import ui
from orderscope.dashboard.data import LINKABLE_KINDS, SLICE_DIMENSIONS, DashboardData

if TYPE_CHECKING:
    from orderscope.analytics.rootcause import Explanation, Finding

log = logging.getLogger("orderscope.dashboard")

METRICS = {
    "cycle_time": "Fulfilment cycle time (h)",
    "node_dwell": "Node dwell (h)",
    "stall_rate": "Stall rate",
}
DIM_LABELS = {
    "region": "Region",
    "warehouse_id": "Warehouse",
    "channel": "Channel",
    "sku_category": "SKU category",
}
EVIDENCE_SHOWN = 6  # ids shown per evidence kind; the rest are counted
CONF_COLOR = {"high": "success", "medium": "warning", "low": "secondary"}
CONTROLS = ["dd-metric", *[f"dd-{d}" for d in SLICE_DIMENSIONS], "dd-node", "dd-period", "dd-baseline"]


def layout(data: DashboardData, query: dict[str, str]) -> html.Div:
    weeks = data.weeks()
    period, baseline = data.default_weeks()
    period = query.get("period") if query.get("period") in weeks else period
    baseline = query.get("baseline") if query.get("baseline") in weeks else baseline
    if baseline == period:
        baseline = None
    metric = query["metric"] if query.get("metric") in METRICS else "cycle_time"
    week_opts = [{"label": w, "value": w} for w in reversed(weeks)]
    return html.Div(
        [
            ui.page_title(
                "Drill-down", "why did a metric change between two weeks, and where is the evidence"
            ),
            _controls(data, query, metric, week_opts, period, baseline),
            dcc.Loading(html.Div(id="dd-result"), type="default", delay_show=300),
        ]
    )


def _dropdown(
    id_: str, label: str, options: list, value: Any, clearable: bool = True, placeholder: str = "all"
) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(label, html_for=id_, className="small text-muted mb-1"),
            dcc.Dropdown(
                id=id_,
                options=options,
                value=value,
                clearable=clearable,
                placeholder=placeholder,
                className="dd",
            ),
        ],
        xs=6,
        md=3,
        xl=True,
    )


def _controls(
    data: DashboardData,
    query: dict[str, str],
    metric: str,
    week_opts: list[dict[str, str]],
    period: str | None,
    baseline: str | None,
) -> dbc.Card:
    """The question: metric, slice (order dimensions, node), period and baseline week."""
    values = data.dimension_values()
    nodes = list(data.catalog.nodes)
    what = [
        _dropdown(
            "dd-metric",
            "Metric",
            [{"label": v, "value": k} for k, v in METRICS.items()],
            metric,
            clearable=False,
        ),
        *[
            _dropdown(
                f"dd-{d}",
                DIM_LABELS[d],
                values.get(d, []),
                query.get(d) if query.get(d) in values.get(d, []) else None,
            )
            for d in SLICE_DIMENSIONS
        ],
        _dropdown("dd-node", "Node", nodes, query.get("node") if query.get("node") in nodes else None),
    ]
    when = [
        _dropdown("dd-period", "Period (ISO week)", week_opts, period, clearable=False, placeholder="week"),
        _dropdown("dd-baseline", "Baseline", week_opts, baseline, clearable=False, placeholder="week"),
        dbc.Col(
            html.Div(
                "Pick what to explain; findings are ranked by contribution to the change "
                "and by how surprising it is against each segment's own baseline.",
                className="small text-muted",
            ),
            md=6,
            className="d-flex align-items-end",
        ),
    ]
    return dbc.Card(
        dbc.CardBody([dbc.Row(what, className="g-2 mb-2"), dbc.Row(when, className="g-2")]),
        className="mb-3",
    )


def register(app: Any, data: DashboardData) -> None:
    @app.callback(Output("dd-result", "children"), [Input(c, "value") for c in CONTROLS])
    def explain(metric, region, warehouse, channel, sku, node, period, baseline):  # type: ignore[no-untyped-def]
        slice_ = {k: v for k, v in zip(SLICE_DIMENSIONS, (region, warehouse, channel, sku), strict=True) if v}
        if node:
            slice_["node"] = node
        return result(data, metric, slice_, period, baseline)


def result(
    data: DashboardData, metric: str, slice_: dict[str, str], period: str | None, baseline: str | None
) -> Any:
    if not period or not baseline:
        return ui.note("Pick a period and a baseline week.", "secondary", "dd-message")
    if period == baseline:
        return ui.note(
            "The period and the baseline are the same week: pick two different weeks.",
            "warning",
            "dd-message",
        )
    try:
        res = data.explain(metric, slice_, period, baseline)
    except ImportError as e:
        return ui.note(
            f"Root-cause analysis is not available in this installation yet ({e}).",
            "secondary",
            "dd-unavailable",
        )
    except ValueError as e:  # RootCauseError: the question cannot be answered as asked
        return ui.note(str(e), "warning", "dd-message")
    return _render(res, slice_)


def _fmt(metric: str, x: float | None) -> str:
    if x is None:
        return "n/a"
    return f"{100 * x:.2f} %" if metric == "stall_rate" else f"{x:.2f} h"


def _render(res: Explanation, slice_: dict[str, str]) -> Any:
    metric = res.metric
    delta = res.delta
    period, baseline = res.period.label, res.baseline.label
    sl = ", ".join(f"{k}={val}" for k, val in slice_.items()) or "all orders"
    summary = dbc.Row(
        [
            ui.kpi_card(f"{period}", _fmt(metric, res.value_period), f"{res.units_period:,} units"),
            ui.kpi_card(f"{baseline}", _fmt(metric, res.value_baseline), f"{res.units_baseline:,} units"),
            ui.kpi_card(
                "Change",
                ("+" if (delta or 0) > 0 else "") + _fmt(metric, delta) if delta is not None else "n/a",
                html.Span(f"{METRICS[metric]} · {sl}"),
                "dd-delta",
            ),
        ],
        className="g-3 mb-3",
    )
    body: list[Any] = [summary]
    if res.note:
        body.append(ui.note(res.note, "secondary", "dd-note"))
    findings = res.findings
    if not findings:
        body.append(
            ui.note(
                "No finding explains this change: nothing stands out against its own baseline.",
                "light",
                "dd-none",
            )
        )
        return html.Div(body)
    rows = []
    for i, fd in enumerate(findings, 1):
        rows.append(
            [
                html.Span(str(i), className="fw-semibold"),
                _finding_cell(fd, res, slice_),
                html.Div(
                    [
                        html.Div(f"{100 * fd.contribution:.0f} %", className="fw-semibold"),
                        dbc.Progress(
                            value=max(0, min(100, 100 * fd.contribution)),
                            style={"height": "4px"},
                            className="mt-1",
                        ),
                    ]
                ),
                f"{fd.surprise:.1f}",
                dbc.Badge(
                    f"{fd.confidence} {fd.confidence_value:.2f}",
                    color=CONF_COLOR.get(fd.confidence, "secondary"),
                    className="confidence",
                ),
                _evidence_cell(fd),
            ]
        )
    body.append(
        ui.section(
            "Ranked findings",
            ui.table(
                ["#", "Finding", "Contribution", "Surprise (z)", "Confidence", "Evidence"],
                rows,
                "findings-table",
            ),
            extra=f"{len(findings)} findings · {period} vs {baseline}",
        )
    )
    return html.Div(body)


def _finding_cell(fd: Finding, res: Explanation, slice_: dict[str, str]) -> Any:
    seg = ", ".join(f"{k}={v}" for k, v in fd.segment.items())
    parts: list[Any] = [html.Div(seg, className="fw-semibold finding-segment")]
    if fd.conditions:
        parts.append(
            html.Div(
                [
                    dbc.Badge(f"{c.dimension}={c.value}", color="info", className="me-1")
                    for c in fd.conditions
                ],
                className="mb-1",
            )
        )
    if fd.explanation:
        parts.append(html.Div(fd.explanation, className="small text-muted"))
    drill = {k: str(v) for k, v in fd.segment.items() if k in SLICE_DIMENSIONS or k == "node"}
    if drill and any(slice_.get(k) != v for k, v in drill.items()):
        q = {
            "metric": res.metric,
            **slice_,
            **drill,
            "period": res.period.label,
            "baseline": res.baseline.label,
        }
        if res.metric == "cycle_time":
            q.pop("node", None)
        parts.append(dcc.Link("drill in →", href="/drilldown?" + urlencode(q), className="small drill-link"))
    return html.Div(parts)


def _evidence_cell(fd: Finding) -> Any:
    ev = fd.evidence.records
    if not ev:
        return html.Span("–", className="text-muted")
    out = []
    for kind, ids in ev.items():
        links: list[Any] = []
        for rid in ids[:EVIDENCE_SHOWN]:
            rid = str(rid)
            if kind == "orders":
                links.append(ui.order_link(rid, className="evidence-link evidence-order me-1"))
            elif kind in LINKABLE_KINDS:
                links.append(dcc.Link(rid, href=ui.record_href(kind, rid), className="evidence-link me-1"))
            else:
                links.append(html.Code(rid, className="me-1"))
        more = len(ids) - min(len(ids), EVIDENCE_SHOWN)
        if more > 0:
            links.append(html.Span(f"+{more} more", className="text-muted small"))
        out.append(
            html.Div([html.Span(f"{kind} ", className="evidence-kind"), *links], className="evidence-row")
        )
    return html.Div(out, className="evidence")
