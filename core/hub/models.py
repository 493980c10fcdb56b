"""The shapes of the hub's JSON answers, for the OpenAPI document (and so for the clients and
schemathesis that read it).

The routes answer with the same JSON as the CLI's `--json` (built by the read side and the use
cases, then masked for the caller's role); these models describe that JSON, they do not build
it. Masking replaces a personal value by a string wherever it occurs, so a field that may be
masked is typed loosely (`Any`). Every error is `ErrorBody`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """An object that may carry more fields than documented (records of any source kind)."""

    model_config = ConfigDict(extra="allow")


class Problem(BaseModel):
    where: str = Field(description="The parameter: location and name, e.g. query.limit")
    problem: str


class ErrorBody(BaseModel):
    error: str = Field(description="A stable code: unauthorized, forbidden, unknown_order, too_large, …")
    detail: str | list[Problem] = Field(description="What went wrong and what to send instead")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status with the error body."""
    text = {
        401: "No or wrong credentials",
        403: "The caller's role may not use this endpoint",
        404: "Not found",
        409: "Conflict with an earlier request",
        413: "The request body is too large",
        415: "The body's format could not be told",
        422: "Bad parameters or an unreadable body",
        503: "A store does not answer",
    }
    return {s: {"model": ErrorBody, "description": text.get(s, "Error")} for s in statuses}


# --- push ingest --------------------------------------------------------------------------


class RowOutcome(BaseModel):
    row_number: int = Field(description="The row's number in the batch, 1 = the first record")
    outcome: str = Field(description="rejected | conflict")
    reason: str


class BatchAnswer(BaseModel):
    kind: str
    batch: str = Field(description="The name the ledger knows the batch by")
    replayed: bool = Field(description="The batch was ingested before: nothing was added now")
    rows_read: int
    accepted: int
    rejected: int
    duplicate: int
    conflict: int
    rows: list[RowOutcome] = Field(description="Every row not accepted (rejected or conflict)")
    seconds: float


class KindCounts(BaseModel):
    files: int
    rows_read: int
    accepted: int
    rejected: int
    duplicate: int
    conflict: int
    skipped_files: int
    failed_files: int


class IngestReport(BaseModel):
    kinds: dict[str, KindCounts]
    totals: KindCounts
    unknown_files: list[str]
    failed_files: list[dict[str, Any]]
    ignored_columns: dict[str, list[str]]
    rejections_sample: list[dict[str, Any]]
    seconds: float
    rows_per_s: int | None


# --- orders -------------------------------------------------------------------------------


class Actor(_Open):
    id: Any = None
    role: Any = None


class Event(_Open):
    event_id: str
    at: str | None
    actor: Any
    from_state: str | None
    to_state: str | None
    reason_code: str | None
    evidence: str | None
    diff: Any = Field(description="{field: [old, new]}; masked for roles without personal data")
    impact: Any


class Visit(_Open):
    node: str
    visit: int | None
    entered_at: str | None
    left_at: str | None
    dwell_ms: int | None
    open: bool
    sla_ms: int | None


class Stall(_Open):
    node: str
    since: str | None
    dwell_ms: int
    threshold_ms: int
    excess_ms: int
    threshold_basis: str


class Snapshot(BaseModel):
    order_id: str
    order: dict[str, Any]
    as_of: str | None = Field(description="The data clock: the newest event time in the stores")
    events: list[Event]
    dwell: list[Visit]
    linked: dict[str, list[dict[str, Any]]] = Field(description="Records of each source kind")
    stall: Stall | None


class GraphNode(BaseModel):
    id: str = Field(description="<label>:<key>")
    label: str
    kind: str | None = Field(description="The source kind of a record node; null for an entity")
    properties: dict[str, Any]


class GraphEdge(BaseModel):
    source: str
    target: str
    type: str


class OrderGraph(BaseModel):
    order_id: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]


class FoundOrder(_Open):
    order_id: str
    created_at: str | None
    region: str | None
    warehouse_id: str | None
    channel: str | None


class Found(BaseModel):
    orders: list[FoundOrder]


# --- stats and health ---------------------------------------------------------------------


class KindCount(BaseModel):
    store: str
    count: int


class Stats(BaseModel):
    backend: str
    kinds: dict[str, KindCount]
    graph: dict[str, int]
    series: dict[str, int]
    quarantine: int
    quarantine_by_kind: dict[str, dict[str, int]]
    stage_dwell: int


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    status: str = Field(description="ready | unavailable")
    data_clock: str | None = None
    detail: str | None = None
