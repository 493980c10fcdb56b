"""The analytics over HTTP: the same parameters and the same JSON as the CLI commands.

Each route parses its query parameters exactly as the CLI parses its flags (periods, slices,
limits), calls the same use case, and answers the result's one JSON form. A question the use
case cannot answer (an unknown metric, overlapping periods, an empty store) is a 422 that says
why, never a 5xx.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from orderscope.hub.api import Analyst, ApiError, answer, hub_of

router = APIRouter(prefix="/api/v1")


def _period(text: str, name: str) -> Any:
    from orderscope.domain.periods import parse_period

    try:
        return parse_period(text)
    except ValueError as e:
        raise ApiError(422, "bad_parameters", f"{name}: {e}") from None


@router.get("/rootcause", summary="Explain a metric change (as `orderscope rootcause --json`)")
def rootcause(
    request: Request,
    who: Analyst,
    metric: Annotated[str, Query(description="cycle_time | node_dwell | stall_rate")],
    period: Annotated[str, Query(description="e.g. 2026-W47, 2026-11, 2026-11-18, A/B")],
    baseline: Annotated[str | None, Query(description="default: the period just before")] = None,
    slice: Annotated[str | None, Query(description="KEY=VALUE[,KEY=VALUE...], e.g. region=North")] = None,
    top: Annotated[int, Query(ge=0, le=100)] = 10,
) -> JSONResponse:
    from orderscope.analytics.rootcause import RootCauseError, explain
    from orderscope.views.metrics import parse_slice_text

    p = _period(period, "period")
    b = _period(baseline, "baseline") if baseline else p.previous()
    try:
        where = parse_slice_text(slice or "")
    except ValueError as e:
        raise ApiError(422, "bad_parameters", f"slice: {e}") from None
    try:
        result = hub_of(request).read(lambda stores: explain(stores, metric, where, p, b, top=top))
    except RootCauseError as e:
        raise ApiError(422, "cannot_explain", str(e)) from None
    return answer(result.to_dict(), who)


@router.get("/forecast", summary="ETA and SLA-breach risk of open orders (as `orderscope forecast --json`)")
def forecast(
    request: Request,
    who: Analyst,
    limit: Annotated[int | None, Query(ge=1, le=100_000, description="the N riskiest orders")] = 20,
) -> JSONResponse:
    from orderscope.analytics import forecast as fc

    def run(stores: Any) -> dict[str, Any]:
        model = fc.train(stores)
        return fc.answer(model, fc.forecast(stores, model, limit=limit))

    try:
        return answer(hub_of(request).read(run), who)
    except ValueError as e:
        raise ApiError(422, "cannot_forecast", str(e)) from None
