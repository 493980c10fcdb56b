"""The orderscope dashboard (Dash + Bootstrap): overview, drill-down, order lookup, stalls & flows.

    from orderscope.dashboard.app import create_app
    app = create_app(settings)          # a Dash app; `orderscope serve` mounts it in the hub

Pages: /  (overview), /drilldown, /order?order=ID (or ?record=KIND:ID), /stalls.
The stores are opened once, read-only, when the app is created; every store call is serialized
by one lock and heavy answers are cached per data clock (see orderscope.dashboard.data).
Everything the browser needs is served by the app itself (no CDN): it works offline.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html
from dash.exceptions import PreventUpdate

from orderscope.config import Settings
from orderscope.dashboard import drilldown, lookup, overview, stalls
from orderscope.dashboard.data import DashboardData
from orderscope.dashboard.viewer import PAGE_NEEDS, may_open, viewer

log = logging.getLogger("orderscope.dashboard")

ASSETS = Path(__file__).with_name("assets")
PAGES = [
    ("/", "Overview", "nav-overview"),
    ("/drilldown", "Drill-down", "nav-drilldown"),
    ("/order", "Order lookup", "nav-order"),
    ("/stalls", "Stalls & flows", "nav-stalls"),
]


def create_app(settings: Settings, data: DashboardData | None = None) -> dash.Dash:
    """The Dash app over the configured stores (opened read-only now, closed at exit).
    The DashboardData is reachable as `app.orderscope_data`."""
    data = data or DashboardData(settings)
    app = dash.Dash(
        __name__,
        title="orderscope",
        assets_folder=str(ASSETS),
        serve_locally=True,
        suppress_callback_exceptions=True,
        update_title=None,  # type: ignore[arg-type]  # dash documents None (no "Updating..." title); its stub says str
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
    )
    app.orderscope_data = data  # type: ignore[attr-defined]
    app.layout = _shell(settings)
    _register(app, data)
    drilldown.register(app, data)
    stalls.register(app, data)
    lookup.register(app, data)
    return app


def _shell(settings: Settings) -> html.Div:
    where = str(settings.data_dir) if settings.backend == "embedded" else "Neo4j + TimescaleDB"
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dcc.Link(
                    html.Span(
                        [html.Span("order", className="brand-a"), html.Span("scope", className="brand-b")]
                    ),
                    href="/",
                    className="navbar-brand",
                ),
                dbc.Nav(
                    [
                        dbc.NavItem(dcc.Link(label, href=href, className="nav-link", id=id_))
                        for href, label, id_ in PAGES
                    ],
                    navbar=True,
                    className="me-auto",
                ),
                html.Span(
                    f"{settings.backend} · {where}",
                    className="navbar-text small text-white-50 d-none d-lg-inline",
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-3 py-2",
    )
    return html.Div(
        [
            dcc.Location(id="url", refresh=False),
            navbar,
            dbc.Container(html.Div(id="page"), fluid=True, className="pb-4 page-container"),
        ]
    )


def _query(search: str | None) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items() if v}


def render(data: DashboardData, pathname: str | None, search: str | None) -> Any:
    path = (pathname or "/").rstrip("/") or "/"
    q = _query(search)
    who = viewer()
    if path in PAGE_NEEDS and not may_open(path, who):
        return dbc.Alert(
            [
                html.H5("Not for your role", className="alert-heading"),
                f"The {who.role} role cannot open this page. ",
                dcc.Link("Look an order up", href="/order"),
            ],
            color="warning",
            id="not-allowed",
        )
    if path == "/":
        return overview.layout(data)
    if path == "/drilldown":
        return drilldown.layout(data, q)
    if path == "/order":
        return lookup.layout(data, q.get("order"), q.get("record"))
    if path == "/stalls":
        return stalls.layout(data, q)
    return dbc.Alert(
        [
            html.H5("Page not found", className="alert-heading"),
            f"There is no page at {pathname}. ",
            dcc.Link("Back to the overview", href="/"),
        ],
        color="warning",
        id="not-found",
    )


def _register(app: dash.Dash, data: DashboardData) -> None:
    @app.callback(
        Output("page", "children"),
        *[Output(id_, "className") for _, _, id_ in PAGES],
        Input("url", "pathname"),
        Input("url", "search"),
    )
    def route(pathname: str | None, search: str | None):  # type: ignore[no-untyped-def]
        try:
            page = render(data, pathname, search)
        except Exception as e:  # show what went wrong instead of a blank page
            log.exception("rendering %s%s", pathname, search or "")
            page = dbc.Alert(
                [
                    html.H5("This page could not be built", className="alert-heading"),
                    html.Code(f"{type(e).__name__}: {e}"),
                ],
                color="danger",
                id="page-error",
            )
        path = (pathname or "/").rstrip("/") or "/"
        classes = ["nav-link active" if path == href else "nav-link" for href, _, _ in PAGES]
        return (page, *classes)

    @app.callback(
        Output("url", "search"),
        Input("lookup-go", "n_clicks"),
        Input("lookup-input", "n_submit"),
        State("lookup-input", "value"),
        prevent_initial_call=True,
    )
    def look_up(_clicks: int | None, _submits: int | None, value: str | None):  # type: ignore[no-untyped-def]
        value = (value or "").strip()
        if not value:
            raise PreventUpdate
        from urllib.parse import urlencode

        return "?" + urlencode({"order": value})
