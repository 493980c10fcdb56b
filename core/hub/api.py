"""The hub's HTTP API (FastAPI): push ingest, order lookup and search, the analytics, health.

Every route is a thin translation of a request into a use-case call of the application layer
and of its typed result into the same JSON as the CLI's `--json`; the roles of
orderscope.domain.access decide who may call it and personal fields are masked on the way out.
Bad input is a 4xx with a JSON body `{"error": ..., "detail": ...}`, never a 5xx.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi import Path as Path_
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException

from orderscope.domain.access import Permission, Principal, mask
from orderscope.domain.sources import SOURCE_KINDS
from orderscope.hub import models
from orderscope.hub.context import Hub
from orderscope.hub.models import errors
from orderscope.ingest.batches import FORMATS, BatchError, KeyReused, ingest_batch
from orderscope.ingest.pipeline import IngestError, ingest_folder
from orderscope.views.neighbourhood import order_graph
from orderscope.views.search import search_orders
from orderscope.views.snapshot import UnknownOrder, build_snapshot, jsonable
from orderscope.views.stats import collect_stats

PREFIX = "/api/v1"
_MEDIA = {
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/ndjson": "ndjson",
    "text/csv": "csv",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "ndjson", ".ndjson": "ndjson", ".json": "json"}
# The source kinds as a closed set: the OpenAPI document lists them, an unknown one is a 422.
KindName = StrEnum("KindName", {k.name: k.name for k in SOURCE_KINDS})  # type: ignore[misc]
Format = Literal["json", "ndjson", "csv", "parquet"]
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CATCH_ALL = PREFIX + "/{rest:path}"


class ApiError(HTTPException):
    """A 4xx whose JSON body says what went wrong and what to do."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(status_code=status, detail=detail)
        self.error = error


def hub_of(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def principal(request: Request) -> Principal:
    """Who is asking (Authorization header, or the dashboard's session cookie); 401 if no one."""
    hub = hub_of(request)
    who = hub.authenticate(request)
    if who is None:
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>` or HTTP Basic credentials")
    return who


def needs(permission: Permission) -> Callable[..., Principal]:
    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.can(permission):
            raise ApiError(403, "forbidden", f"role {who.role!r} may not use {permission.value} endpoints")
        return who

    return check


Reader = Annotated[Principal, Depends(needs(Permission.ORDERS))]
Analyst = Annotated[Principal, Depends(needs(Permission.ANALYTICS))]
Writer = Annotated[Principal, Depends(needs(Permission.INGEST))]


def answer(value: Any, who: Principal) -> JSONResponse:
    """`value` as JSON for `who`: instants as ISO strings, personal fields masked, and NaN or
    infinite figures (an undefined mean, a zero-variance z) as null, which JSON can carry."""
    return JSONResponse(mask(finite(jsonable(value)), who))


def finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


router = APIRouter(prefix=PREFIX)

_BATCH_BODY = {
    "required": True,
    "description": "The records: a JSON array of objects, NDJSON (one object per line), CSV with "
    "a header row, Parquet, or a multipart upload with one part named `file`.",
    "content": {
        "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
        "application/x-ndjson": {"schema": {"type": "string"}},
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
    },
}


@router.post(
    "/records/{kind}",
    summary="Push a batch of records of one source kind",
    response_model=models.BatchAnswer,
    responses=errors(401, 403, 409, 413, 415, 422),
    openapi_extra={"requestBody": _BATCH_BODY},
)
async def push_records(
    kind: KindName,
    request: Request,
    who: Writer,
    format: Annotated[
        Format | None, Query(description="The body's format (default: from Content-Type)")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="A retried batch with the same key adds nothing and gets the first answer",
            pattern=r"^[A-Za-z0-9._:-]{1,128}$",
        ),
    ] = None,
) -> JSONResponse:
    """The batch as a JSON array, NDJSON, CSV or Parquet body (or a multipart upload with one
    file). Answers accepted / rejected / duplicate / conflict and, per row not accepted, its
    number and reason. The same validation, guard, quarantine and idempotency as file ingest."""
    hub = hub_of(request)
    body, fmt = await _read_body(request, format, hub.settings.max_request_mb)
    name = str(kind.value)
    try:
        result = await run_in_threadpool(
            hub.run_ingest,
            lambda stores: ingest_batch(stores, name, body, fmt, idempotency_key, hub.window()),
        )
    except KeyReused as e:
        raise ApiError(409, "idempotency_key_reused", str(e)) from None
    except BatchError as e:
        raise ApiError(422, "bad_batch", str(e)) from None
    if not (result.replayed and idempotency_key):  # a retry's answer repeats the first counts
        hub.telemetry.count({result.kind: result.to_dict()})
    return answer(result.to_dict(), who)


def _too_large(limit_mb: float) -> ApiError:
    return ApiError(413, "too_large", f"the body is larger than {limit_mb:g} MB; send smaller batches")


async def _read_body(request: Request, fmt: str | None, limit_mb: float) -> tuple[bytes, str]:
    """The body (at most `limit_mb`, however it is sent: a declared length or chunks) and its
    format."""
    limit = int(limit_mb * 2**20)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit_mb)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit_mb)
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _upload(request, bytes(body), fmt)
    fmt = fmt or _MEDIA.get(media)
    if fmt not in FORMATS:
        raise ApiError(
            415,
            "unknown_format",
            f"say the format with ?format= ({', '.join(FORMATS)}) or a Content-Type of "
            f"{', '.join(sorted(_MEDIA))}",
        )
    return bytes(body), fmt


async def _upload(request: Request, body: bytes, fmt: str | None) -> tuple[bytes, str]:
    """The one file of a multipart upload (the body is already read, within the limit)."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=1, max_fields=10)
    except (MultiPartException, ValueError, KeyError) as e:  # a broken multipart body
        raise ApiError(422, "bad_upload", f"the multipart body could not be read ({e})") from None
    try:
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ApiError(422, "no_file", "a multipart upload needs one part named `file`")
        data = await upload.read()
        name = (upload.filename or "").lower()
    finally:
        await form.close()
    fmt = fmt or next((f for ext, f in _SUFFIXES.items() if name.endswith(ext)), None)
    if fmt not in FORMATS:
        raise ApiError(
            422,
            "unknown_format",
            f"name the file .csv/.parquet/.jsonl/.json or pass ?format= ({', '.join(FORMATS)})",
        )
    return data, fmt


class FolderRequest(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="A folder on the hub's machine")
    reprocess: bool = False


@router.post(
    "/ingest/folder",
    summary="Ingest a folder on the hub's machine (as `orderscope ingest`)",
    response_model=models.IngestReport,
    responses=errors(401, 403, 422),
)
def ingest_folder_route(body: FolderRequest, request: Request, who: Writer) -> JSONResponse:
    """What `orderscope ingest DIR` sends when a hub owns the data dir: the same pipeline and
    report, run by the process that holds the stores."""
    hub = hub_of(request)
    try:
        folder = Path(body.path)
        if not folder.is_absolute():
            raise IngestError(f"{body.path} is not an absolute path; give the folder's full path")
        report = hub.run_ingest(
            lambda stores: ingest_folder(
                folder,
                stores,
                reprocess=body.reprocess,
                batch_rows=hub.settings.ingest_batch_rows,
                window=hub.window(),
            )
        )
    except (IngestError, OSError, ValueError) as e:  # ValueError: a path with a NUL byte
        raise ApiError(422, "bad_folder", str(e)) from None
    hub.telemetry.count_report(report)
    return answer(report.to_dict(), who)


OrderId = Annotated[str, Path_(min_length=1, max_length=200, description="The order ID, e.g. O0000042")]


@router.get(
    "/orders/{order_id}",
    summary="An order's snapshot (as `orderscope snapshot --json`)",
    response_model=models.Snapshot,
    responses=errors(401, 403, 404, 422),
)
def get_order(order_id: OrderId, request: Request, who: Reader) -> JSONResponse:
    hub = hub_of(request)
    try:
        return answer(hub.read(lambda stores: build_snapshot(stores, order_id)), who)
    except UnknownOrder as e:
        raise ApiError(404, "unknown_order", str(e)) from None


@router.get(
    "/orders/{order_id}/graph",
    summary="An order's neighbourhood: nodes and edges",
    response_model=models.OrderGraph,
    responses=errors(401, 403, 404, 422),
)
def get_order_graph(order_id: OrderId, request: Request, who: Reader) -> JSONResponse:
    hub = hub_of(request)
    try:
        return answer(hub.read(lambda stores: order_graph(stores, order_id)), who)
    except UnknownOrder as e:
        raise ApiError(404, "unknown_order", str(e)) from None


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
