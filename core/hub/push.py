"""Push ingest over HTTP: a batch of records of one kind (JSON array, NDJSON, CSV, Parquet or
a multipart upload), and a folder on the hub's machine (what `orderscope ingest` sends when a hub
owns the data dir). The same pipeline as file ingest, one ingest at a time."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.formparsers import MultiPartException

from orderscope.domain.sources import SOURCE_KINDS
from orderscope.hub import models
from orderscope.hub.models import errors
from orderscope.hub.requests import PREFIX, ApiError, Writer, answer, hub_of
from orderscope.ingest.batches import FORMATS, BatchError, KeyReused, ingest_batch
from orderscope.ingest.pipeline import IngestError, ingest_folder

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
