"""CLI commands of the analytics: `stalls`, `flows`, `health`. Each turns its flags into one
use-case call (orderscope.analytics.stalls / flows / health) and its result into text or JSON.

Attached to the main app by `orderscope.cli` (`register(app)`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from orderscope.cli.display import esc  # every value printed verbatim, never as markup
from orderscope.cli.shared import (
    BackendOpt,
    DataDir,
    JsonOpt,
    fail,
    out,
    print_json,
    settings_for,
    stores_for,
)

if TYPE_CHECKING:
    import polars as pl

    from orderscope.analytics.flows import FlowReport
    from orderscope.analytics.health import OrderHealth


def _hours(ms: Any) -> str:
    return "" if ms is None else f"{ms / 3_600_000:.1f} h"


# --- stalls -------------------------------------------------------------------------------------


def stalls(
    open_only: Annotated[
        bool, typer.Option("--open", help="Only visits still open at the data clock.")
    ] = False,
    since: Annotated[
        Optional[str],
        typer.Option(
            help="Visits in progress at/after this moment or period start "
            "(2026-11-16, 2026-W47, 2026-11-16T08:00Z); baselines learn from the 28 days before."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(help="How many stalls to show (largest excess first).")] = 50,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Stalled orders: dwell past max(catalog SLA, median + 3 x 1.4826 x MAD of the
    node x warehouse x hour-of-week baseline), closed or still open."""
    from orderscope.analytics.answers import stall_report
    from orderscope.domain.periods import parse_moment

    try:
        start = parse_moment(since)
    except ValueError as e:
        fail(str(e))
    with stores_for(settings_for(data_dir, backend)) as stores:
        report = stall_report(stores, start, open_only, limit)
    if as_json:
        print_json(report.to_dict())
        return
    _print_stalls(report.stalls, report.as_of, report.total)


def _print_stalls(rows: list[dict[str, Any]], as_of: datetime | None, total: int) -> None:
    from rich.table import Table

    table = Table(title=f"stalls as of {esc(as_of)} ({total:,} in all)")
    for col in ("order", "node", "warehouse", "entered", "dwell", "threshold", "excess", "baseline", ""):
        table.add_column(col)
    for r in rows:
        table.add_row(
            esc(r["order_id"]),
            esc(r["node"]),
            esc(r["warehouse_id"]),
            str(r["entered_at"])[:19],
            _hours(r["dwell_ms"]),
            _hours(r["threshold_ms"]),
            _hours(r["excess_ms"]),
            esc(r["baseline_level"]),
            "open" if r["open"] else "",
        )
    out.print(table)


# --- flows --------------------------------------------------------------------------------------


def flows(
    period: Annotated[str, typer.Option(help="Period: 2026-W47, 2026-11, 2026-11-18 or a range.")],
    baseline: Annotated[
        Optional[str], typer.Option(help="Baseline window (default: the period just before).")
    ] = None,
    top: Annotated[int, typer.Option(help="How many loops / variants to list.")] = 10,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Process variants and loops (a state revisited) of the period against a baseline,
    with significance and where the loops concentrate."""
    from orderscope.analytics.flows import flow_anomalies
    from orderscope.domain.periods import parse_period

    try:
        p = parse_period(period)
        b = parse_period(baseline) if baseline else None
    except ValueError as e:
        fail(str(e))
    with stores_for(settings_for(data_dir, backend)) as stores:
        result = flow_anomalies(stores, p, b, top=top)
    if as_json:
        print_json(result.to_dict())
        return
    _print_flows(result)


def _print_flows(result: FlowReport) -> None:
    out.print(
        f"[bold]{esc(result.period.label)}[/] ({result.orders:,} orders) vs "
        f"{esc(result.baseline.label)} ({result.baseline_orders:,} orders)"
    )
    out.print("[bold]loops[/]")
    for r in result.loops:
        flag = "[red]significant[/]" if r.significant else ""
        where = esc(", ".join(f"{k}={v}" for k, v in r.where.items()))
        out.print(
            f"  {esc(' → '.join(r.loop))}: {r.orders} orders ({r.rate:.2%}) vs "
            f"{r.baseline_orders} ({r.baseline_rate:.2%}), p_adj={r.p_adjusted:.2g} "
            f"{flag}{'  where ' + where if where else ''}"
        )
    out.print("[bold]variants[/]")
    for v in result.variants:
        flag = "[red]significant[/]" if v.significant else ""
        out.print(
            f"  {v.orders:>6} vs {v.baseline_orders:>6}  p_adj={v.p_adjusted:.2g} {flag}"
            f"  {esc('>'.join(v.variant))}",
            highlight=False,
        )


# --- health -------------------------------------------------------------------------------------


def health(
    order_id: Annotated[Optional[str], typer.Argument(help="One order's health (else slices).")] = None,
    by: Annotated[
        Optional[str], typer.Option(help="Slice dimensions, comma-separated (region,channel).")
    ] = None,
    period: Annotated[
        Optional[str], typer.Option(help="Orders created in this period (default: last 7 days).")
    ] = None,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Order health score (0-100): on-time delivery, proactive communication before delays,
    ticket response and resolution; for one order or per slice."""
    from orderscope.analytics.answers import slice_health_report
    from orderscope.analytics.health import order_health
    from orderscope.domain.periods import parse_period
    from orderscope.views.snapshot import UnknownOrder

    dims = [d.strip() for d in (by or "").split(",") if d.strip()]
    try:
        p = parse_period(period) if period else None
    except ValueError as e:
        fail(str(e))
    with stores_for(settings_for(data_dir, backend), errors=(UnknownOrder, ValueError)) as stores:
        if order_id:
            one = order_health(stores, order_id)
        else:
            report = slice_health_report(stores, dims, p)
    if order_id:
        if as_json:
            print_json(one.to_dict())
        else:
            _print_order_health(one)
        return
    if as_json:
        print_json(report.to_dict())
        return
    _print_slice_health(report.slices, dims, report.period.label)


def _print_order_health(h: OrderHealth) -> None:
    out.print(f"[bold]{esc(h.order_id)}[/] health {h.score:.1f} / 100  (delivery {esc(h.status)})")
    for k, v in h.components.items():
        out.print(f"  {esc(f'{k:<11}')} {'n/a' if v is None else f'{v:.2f}'}")
    for d in h.delays:
        out.print(
            f"  delay: {esc(d.kind)} {esc(d.node)} {esc(d.start)} → {esc(d.end)} "
            f"{'notified' if d.notified else 'not notified'}"
        )


def _print_slice_health(frame: pl.DataFrame, dims: list[str], label: str) -> None:
    from rich.table import Table

    table = Table(title=f"order health, orders created in {esc(label)}")
    cols = [
        *dims,
        "orders",
        "on_time_rate",
        "proactive_rate",
        "response_score",
        "resolution_score",
        "health_score",
    ]
    for col in cols:
        table.add_column(esc(col))
    for r in frame.to_dicts():
        table.add_row(
            *("" if r[c] is None else (f"{r[c]:.3g}" if isinstance(r[c], float) else esc(r[c])) for c in cols)
        )
    out.print(table)


def register(app: typer.Typer) -> None:
    """Add `stalls`, `flows` and `health` to the orderscope CLI app."""
    for command in (stalls, flows, health):
        app.command()(command)


__all__ = ["register"]
