"""The hub's HTTP API (FastAPI): order lookup and search, stats, health, metrics, and the
handlers that make every error a JSON 4xx (push ingest: orderscope.hub.push; analytics:
orderscope.hub.analytics_routes).

Every route is a thin translation of a request into a use-case call of the application layer
and of its typed result into the same JSON as the CLI's `--json`; the roles of
orderscope.domain.access decide who may call it and personal fields are masked on the way out.
Bad input is a 4xx with a JSON body `{"error": ..., "detail": ...}`, never a 5xx.
"""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as Path_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from orderscope.hub import models
from orderscope.hub.context import Hub
from orderscope.hub.models import errors
from orderscope.hub.requests import (
    PREFIX,
    Analyst,
    ApiError,
    Reader,
    answer,
    hub_of,
)
from orderscope.views.neighbourhood import order_graph
from orderscope.views.search import search_orders
from orderscope.views.snapshot import UnknownOrder, build_snapshot, jsonable
from orderscope.views.stats import collect_stats

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CATCH_ALL = PREFIX + "/{rest:path}"


router = APIRouter(prefix=PREFIX)

OrderId = Annotated[str, Path_(min_length=1, max_length=200, description="The order ID, e.g. O0000042")]


@router.get(
    "/orders/{order_id}",
    summary="An order's snapshot (as `orderscope snapshot --json`)",
    response_model=models.Snapshot,
    responses=errors(401, 403, 404, 422),
)
def get_order(order_id: OrderId, request: Request, who: Reader) -> JSONResponse:
    return answer(hub_of(request).read(lambda stores: build_snapshot(stores, order_id)), who)


@router.get(
    "/orders/{order_id}/graph",
    summary="An order's neighbourhood: nodes and edges",
    response_model=models.OrderGraph,
    responses=errors(401, 403, 404, 422),
)
def get_order_graph(order_id: OrderId, request: Request, who: Reader) -> JSONResponse:
    return answer(hub_of(request).read(lambda stores: order_graph(stores, order_id)), who)


@router.get(
    "/orders",
    summary="Find orders by a piece of their ID (any case)",
    response_model=models.Found,
    responses=errors(401, 403, 422),
)
def find_orders(
    request: Request,
    who: Reader,
    q: Annotated[str, Query(min_length=1, max_length=200, description="part of an order ID")],
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> JSONResponse:
    hub = hub_of(request)
    return answer({"orders": hub.read(lambda stores: search_orders(stores, q, limit))}, who)


@router.get(
    "/stats",
    summary="Counts per kind, quarantine, data clock (as `orderscope stats --json`)",
    response_model=models.Stats,
    responses=errors(401, 403),
)
def get_stats(request: Request, who: Analyst) -> JSONResponse:
    return answer(hub_of(request).read(collect_stats), who)


def install(app: FastAPI) -> None:
    """Add the API routes, the health endpoints and the JSON error handlers to `app`."""
    app.include_router(router)
    _document_errors(app)

    @app.get("/healthz", summary="The process is up", response_model=models.Health)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="The stores answer",
        response_model=models.Ready,
        responses={503: {"model": models.Ready, "description": "A store does not answer"}},
    )
    def readyz(request: Request) -> JSONResponse:
        try:
            clock = hub_of(request).read(lambda stores: stores.series.data_clock())
        except Exception as e:  # a store that does not answer: not ready, say why
            return JSONResponse({"status": "unavailable", "detail": str(e)}, status_code=503)
        return JSONResponse({"status": "ready", "data_clock": jsonable(clock)})

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics(request: Request) -> Response:
        from orderscope.hub.telemetry import CONTENT_TYPE

        return Response(hub_of(request).telemetry.text(), media_type=CONTENT_TYPE)

    # Anything else under the API prefix is a JSON 404 (or 405), not the dashboard's page.
    @app.api_route(
        _CATCH_ALL,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
        include_in_schema=False,
    )
    def no_such_endpoint(rest: str, request: Request) -> JSONResponse:
        allowed = _methods_for(request)
        if allowed:
            return JSONResponse(
                {"error": "method_not_allowed", "detail": f"use {', '.join(sorted(allowed))}"},
                status_code=405,
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        return JSONResponse(
            {"error": "not_found", "detail": f"no endpoint {request.url.path}; see /openapi.json"},
            status_code=404,
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(UnknownOrder)
    async def unknown_order(request: Request, exc: UnknownOrder) -> JSONResponse:
        """Any route that looks an order up (snapshot, graph, health) answers 404 for one the
        store does not hold, in the CLI's words."""
        return JSONResponse({"error": "unknown_order", "detail": str(exc)}, status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # a body the framework could not parse: bad input, as documented
            return JSONResponse({"error": "bad_body", "detail": str(exc.detail)}, status_code=422)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "bad_parameters", "detail": problems}, status_code=422)

    app.add_middleware(_Observe)


class _Observe:
    """Counts and times every request by its route template, and refuses cross-site writes
    (`_cross_origin`) before they reach a route. Plain ASGI: no extra task or body copy per
    request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        refusal = _cross_origin(Request(scope))
        try:
            await (refusal or self.app)(scope, receive, sending)
        finally:
            route = scope.get("route")
            path = scope.get("path", "")
            template = getattr(route, "path", None) or (
                "unmatched" if path.startswith(PREFIX) else "dashboard"
            )
            if template == _CATCH_ALL:
                template = "unmatched"
            hub: Hub = scope["app"].state.hub
            hub.telemetry.observe(scope.get("method", ""), template, status, time.perf_counter() - started)


def _document_errors(app: FastAPI) -> None:
    """Every API operation, whoever wrote it, documents the errors every API operation may
    answer, in the body the handlers below give them: 401 and 403 (every route asks who is
    calling), 422 (bad parameters: the framework's own validation body is replaced) and, with
    a path parameter, 404."""
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (models.ErrorBody, models.Problem):
            schemas.setdefault(
                model.__name__, model.model_json_schema(ref_template="#/components/schemas/{model}")
            )
        body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        for path, operations in doc.get("paths", {}).items():
            if not path.startswith(PREFIX + "/"):
                continue
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                statuses = [
                    ("401", "No or wrong credentials"),
                    ("403", "The caller's role may not use this endpoint"),
                    ("422", "Bad parameters or an unreadable body"),
                ]
                if "{" in path:  # what the path names may not exist (an unknown order)
                    statuses.append(("404", "Not found"))
                for status, text in statuses:
                    responses[status] = {
                        "description": responses.get(status, {}).get("description", text),
                        "content": body,
                    }
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def _methods_for(request: Request) -> set[str]:
    """The methods the API's routes answer on the request's path (for a 405)."""
    from starlette.routing import Match, Mount

    routes = [
        r for r in request.app.routes if not isinstance(r, Mount) and getattr(r, "path", "") != _CATCH_ALL
    ]
    allowed = set()
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        scope = {**request.scope, "method": method}
        if any(r.matches(scope)[0] == Match.FULL for r in routes):
            allowed.add(method)
    return allowed


def _cross_origin(request: Request) -> JSONResponse | None:
    """A browser's request from another site that would change something (a form or upload
    posted by a foreign page to a hub on this machine): refused. Same-site pages, the CLI and
    other programs (which send no Origin) pass."""
    if request.method in _SAFE_METHODS:
        return None
    origin = request.headers.get("origin")
    if origin is None:
        return None
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")}
    if urlsplit(origin).netloc in hosts - {None}:
        return None
    return JSONResponse(
        {"error": "cross_origin", "detail": f"requests from {origin} may not change this hub"},
        status_code=403,
    )
