"""What every route of the hub shares: who is asking, the role a route needs, the error body,
and the one way an answer is turned into JSON (instants as ISO strings, personal fields masked,
NaN as null)."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from orderscope.domain.access import Permission, Principal, mask
from orderscope.hub.context import Hub
from orderscope.views.snapshot import iso

PREFIX = "/api/v1"


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
    return JSONResponse(mask(plain(value), who))


def plain(value: Any) -> Any:
    """Plain JSON values in one walk: instants as ISO strings (as
    orderscope.views.snapshot.jsonable), tuples as lists, NaN and infinities as None."""
    kind = type(value)
    if kind is str or kind is int or value is None or kind is bool:  # most leaves: as they are
        return value
    if kind is dict:
        return {k: plain(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [plain(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value
