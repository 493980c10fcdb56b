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

from orderscope.hub.requests import Analyst, ApiError, Writer, answer, hub_of

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


def _moment(text: str | None, name: str) -> Any:
    from orderscope.domain.periods import parse_moment

    try:
        return parse_moment(text)
    except ValueError as e:
        raise ApiError(422, "bad_parameters", f"{name}: {e}") from None


@router.get("/stalls", summary="Stalled visits (as `orderscope stalls --json`)")
def stalls(
    request: Request,
    who: Analyst,
    open: Annotated[bool, Query(description="only visits still open at the data clock")] = False,
    since: Annotated[str | None, Query(description="2026-11-16, 2026-W47 or 2026-11-16T08:00Z")] = None,
    limit: Annotated[int, Query(ge=0, le=100_000, description="largest excess first; 0 = all")] = 50,
) -> JSONResponse:
    from orderscope.analytics.answers import stall_report

    start = _moment(since, "since")
    return answer(
        hub_of(request).read(lambda stores: stall_report(stores, start, open, limit)).to_dict(), who
    )


@router.get("/flows", summary="Variants and loops against a baseline (as `orderscope flows --json`)")
def flows(
    request: Request,
    who: Analyst,
    period: Annotated[str, Query(description="2026-W47, 2026-11, 2026-11-18 or a range")],
    baseline: Annotated[str | None, Query(description="default: the period just before")] = None,
    top: Annotated[int, Query(ge=0, le=1000)] = 10,
) -> JSONResponse:
    from orderscope.analytics.flows import flow_anomalies

    p = _period(period, "period")
    b = _period(baseline, "baseline") if baseline else None
    return answer(hub_of(request).read(lambda stores: flow_anomalies(stores, p, b, top=top)).to_dict(), who)


@router.get("/health", summary="Order health per slice (as `orderscope health --by … --json`)")
def health_by_slice(
    request: Request,
    who: Analyst,
    by: Annotated[str | None, Query(description="slice dimensions, comma-separated (region,channel)")] = None,
    period: Annotated[str | None, Query(description="orders created then (default: the last 7 days)")] = None,
) -> JSONResponse:
    from orderscope.analytics.answers import slice_health_report

    dims = [d.strip() for d in (by or "").split(",") if d.strip()]
    p = _period(period, "period") if period else None
    try:
        report = hub_of(request).read(lambda stores: slice_health_report(stores, dims, p))
    except ValueError as e:
        raise ApiError(422, "bad_parameters", str(e)) from None
    return answer(report.to_dict(), who)


@router.get("/orders/{order_id}/health", summary="One order's health (as `orderscope health ID --json`)")
def order_health(order_id: str, request: Request, who: Analyst) -> JSONResponse:
    from orderscope.analytics.health import order_health as health_of

    return answer(hub_of(request).read(lambda stores: health_of(stores, order_id)).to_dict(), who)


@router.get("/patterns", summary="The stall-pattern library (as `orderscope patterns list --json`)")
def patterns(
    request: Request,
    who: Analyst,
    weeks: Annotated[int, Query(ge=1, le=520, description="weeks of hit trend")] = 4,
) -> JSONResponse:
    from orderscope.analytics.patterns import library_report

    rows = hub_of(request).read(lambda stores: library_report(stores, weeks))
    return answer({"patterns": [r.to_dict() for r in rows]}, who)


@router.get(
    "/patterns/mined",
    summary="Mine stall patterns without recording hits (as `patterns mine --no-record --json`)",
)
def mined_patterns(
    request: Request,
    who: Analyst,
    since: Annotated[str | None, Query(description="window start (default: 28 days before until)")] = None,
    until: Annotated[str | None, Query(description="window end (default: the data clock)")] = None,
    top: Annotated[int, Query(ge=0, le=1000)] = 15,
    min_support: Annotated[float, Query(gt=0, le=1)] = 0.05,
) -> JSONResponse:
    from orderscope.analytics.patterns import run_mining

    s, u = _moment(since, "since"), _moment(until, "until")
    run = hub_of(request).read(lambda stores: run_mining(stores, s, u, min_support, record=False))
    return answer(run.to_dict(top), who)


@router.post(
    "/patterns/runs", summary="Mine and record hits of the kept patterns (as `patterns mine --json`)"
)
def record_patterns(
    request: Request,
    who: Writer,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
    top: Annotated[int, Query(ge=0, le=1000)] = 15,
    min_support: Annotated[float, Query(gt=0, le=1)] = 0.05,
) -> JSONResponse:
    from orderscope.analytics.patterns import run_mining

    s, u = _moment(since, "since"), _moment(until, "until")
    run = hub_of(request).run_ingest(lambda stores: run_mining(stores, s, u, min_support, record=True))
    return answer(run.to_dict(top), who)


@router.post("/patterns/library", summary="Keep a pattern under a name (as `patterns keep --json`)")
def keep_pattern(
    request: Request,
    who: Writer,
    pattern: Annotated[str, Query(description="a mined pattern id (P1a2b3c4d) or items 'node=PICKING,…'")],
    name: Annotated[str, Query(min_length=1, max_length=200)],
    note: Annotated[str | None, Query(max_length=2000)] = None,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
) -> JSONResponse:
    from orderscope.analytics.patterns import keep

    s, u = _moment(since, "since"), _moment(until, "until")
    try:
        entry = hub_of(request).run_ingest(
            lambda stores: keep(stores, pattern, name, since=s, until=u, note=note)
        )
    except (KeyError, ValueError) as e:
        raise ApiError(422, "cannot_keep", str(e.args[0]) if isinstance(e, KeyError) else str(e)) from None
    return answer(entry.to_dict(), who)
