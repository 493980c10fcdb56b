"""The hub's HTTP API (FastAPI): push ingest, order lookup and search, the analytics, health.

Every route is a thin translation of a request into a use-case call of the application layer
and of its typed result into the same JSON as the CLI's `--json`; the roles of
orderscope.domain.access decide who may call it and personal fields are masked on the way out.
Bad input is a 4xx with a JSON body `{"error": ..., "detail": ...}`, never a 5xx.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from orderscope.domain.access import Permission, Principal, mask
from orderscope.hub.context import Hub
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
    return JSONResponse(mask(jsonable(value), who))


router = APIRouter(prefix=PREFIX)


@router.post("/records/{kind}", summary="Push a batch of records of one source kind")
async def push_records(
    kind: str,
    request: Request,
    who: Writer,
    format: Annotated[
        str | None, Query(description="json | ndjson | csv | parquet (default: from Content-Type)")
    ] = None,
    idempotency_key: Annotated[
        str | None, Header(description="A retried batch with the same key adds nothing")
    ] = None,
) -> JSONResponse:
    """The batch as a JSON array, NDJSON, CSV or Parquet body (or a multipart upload with one
    file). Answers accepted / rejected / duplicate / conflict and, per row not accepted, its
    number and reason. The same validation, guard, quarantine and idempotency as file ingest."""
    hub = hub_of(request)
    body, fmt = await _read_body(request, format, hub.settings.max_request_mb)
    try:
        result = hub.run_ingest(
            lambda stores: ingest_batch(stores, kind, body, fmt, idempotency_key, hub.window())
        )
    except KeyReused as e:
        raise ApiError(409, "idempotency_key_reused", str(e)) from None
    except BatchError as e:
        raise ApiError(422, "bad_batch", str(e)) from None
    hub.telemetry.count({result.kind: result.to_dict()})
    return answer(result.to_dict(), who)


async def _read_body(request: Request, fmt: str | None, limit_mb: float) -> tuple[bytes, str]:
    limit = int(limit_mb * 2**20)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"the body is larger than {limit_mb:g} MB; send smaller batches")
    media = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media == "multipart/form-data":
        return await _upload(request, fmt, limit, limit_mb)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "too_large", f"the body is larger than {limit_mb:g} MB; send smaller batches")
    fmt = fmt or _MEDIA.get(media)
    if fmt not in FORMATS:
        raise ApiError(
            415 if fmt is None else 422,
            "unknown_format",
            f"say the format with ?format= ({', '.join(FORMATS)}) or a Content-Type of "
            f"{', '.join(sorted(_MEDIA))}",
        )
    return bytes(body), fmt


async def _upload(request: Request, fmt: str | None, limit: int, limit_mb: float) -> tuple[bytes, str]:
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ApiError(422, "no_file", "a multipart upload needs one part named `file`")
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, "too_large", f"the file is larger than {limit_mb:g} MB; send smaller batches")
    name = (upload.filename or "").lower()
    fmt = fmt or next((f for ext, f in _SUFFIXES.items() if name.endswith(ext)), None)
    if fmt not in FORMATS:
        raise ApiError(
            422,
            "unknown_format",
            f"name the file .csv/.parquet/.jsonl/.json or pass ?format= ({', '.join(FORMATS)})",
        )
    return data, fmt


class FolderRequest(BaseModel):
    path: str = Field(description="A folder on the hub's machine holding source files")
    reprocess: bool = False


@router.post("/ingest/folder", summary="Ingest a folder on the hub's machine (as `orderscope ingest`)")
def ingest_folder_route(body: FolderRequest, request: Request, who: Writer) -> JSONResponse:
    """What `orderscope ingest DIR` sends when a hub owns the data dir: the same pipeline and
    report, run by the process that holds the stores."""
    hub = hub_of(request)
    folder = Path(body.path)
    try:
        report = hub.run_ingest(
            lambda stores: ingest_folder(
                folder,
                stores,
                reprocess=body.reprocess,
                batch_rows=hub.settings.ingest_batch_rows,
                window=hub.window(),
            )
        )
    except IngestError as e:
        raise ApiError(422, "bad_folder", str(e)) from None
    hub.telemetry.count_report(report)
    return answer(report.to_dict(), who)


@router.get("/orders/{order_id}", summary="An order's snapshot (as `orderscope snapshot --json`)")
def get_order(order_id: str, request: Request, who: Reader) -> JSONResponse:
    hub = hub_of(request)
    try:
        return answer(hub.read(lambda stores: build_snapshot(stores, order_id)), who)
    except UnknownOrder as e:
        raise ApiError(404, "unknown_order", str(e)) from None


@router.get("/orders/{order_id}/graph", summary="An order's neighbourhood: nodes and edges")
def get_order_graph(order_id: str, request: Request, who: Reader) -> JSONResponse:
    hub = hub_of(request)
    try:
        return answer(hub.read(lambda stores: order_graph(stores, order_id)), who)
    except UnknownOrder as e:
        raise ApiError(404, "unknown_order", str(e)) from None


@router.get("/orders", summary="Find orders by a piece of their ID (any case)")
def find_orders(
    request: Request,
    who: Reader,
    q: Annotated[str, Query(min_length=1, max_length=200, description="part of an order ID")],
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
) -> JSONResponse:
    hub = hub_of(request)
    return answer({"orders": hub.read(lambda stores: search_orders(stores, q, limit))}, who)


@router.get("/stats", summary="Counts per kind, quarantine, data clock (as `orderscope stats --json`)")
def get_stats(request: Request, who: Analyst) -> JSONResponse:
    return answer(hub_of(request).read(collect_stats), who)


def install(app: FastAPI) -> None:
    """Add the API routes, the health endpoints and the JSON error handlers to `app`."""
    app.include_router(router)
    from orderscope.hub import analytics_routes

    app.include_router(analytics_routes.router)

    @app.get("/healthz", include_in_schema=True, summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The stores answer")
    def readyz(request: Request) -> JSONResponse:
        try:
            clock = hub_of(request).read(lambda stores: stores.series.data_clock())
        except Exception as e:  # a store that does not answer: not ready, say why
            return JSONResponse({"status": "unavailable", "detail": str(e)}, status_code=503)
        return JSONResponse({"status": "ready", "data_clock": jsonable(clock)})

    @app.get("/metrics", summary="Prometheus metrics")
    def metrics(request: Request) -> Response:
        from orderscope.hub.telemetry import CONTENT_TYPE

        return Response(
            hub_of(request).read(lambda stores: hub_of(request).telemetry.text()), media_type=CONTENT_TYPE
        )

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def bad_parameters(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"where": ".".join(str(p) for p in e.get("loc", ())), "problem": e.get("msg", "")}
            for e in exc.errors()
        ]
        return JSONResponse({"error": "bad_parameters", "detail": problems}, status_code=422)

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[..., Any]) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        template = getattr(route, "path", None) or (
            "dashboard" if not request.url.path.startswith(PREFIX) else "unmatched"
        )
        hub_of(request).telemetry.observe(
            request.method, template, response.status_code, time.perf_counter() - started
        )
        return response
