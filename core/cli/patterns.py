"""CLI of the stall-pattern library: `orderscope patterns mine | keep | list`. Each command turns
its flags into one call of orderscope.analytics.patterns and its typed result into text or JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Optional

import typer

from orderscope.analytics.patterns import (
    MIN_SUPPORT,
    MiningRun,
    TrackedPattern,
    display_name,
    keep,
    library_report,
    run_mining,
)
from orderscope.cli.display import esc  # every value printed verbatim, never as markup
from orderscope.cli.shared import BackendOpt, DataDir, JsonOpt, fail, out, print_json, settings_for
from orderscope.domain.periods import parse_moment

Since = Annotated[
    Optional[str],
    typer.Option(help="Window start: ISO moment or period (2026-W47); default: 7 days before --until."),
]
Until = Annotated[Optional[str], typer.Option(help="Window end (default: the data clock).")]


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    try:
        return parse_moment(since), parse_moment(until)
    except ValueError as e:
        fail(str(e))
        raise


def mine(
    since: Since = None,
    until: Until = None,
    top: Annotated[int, typer.Option(help="How many patterns to show.")] = 15,
    min_support: Annotated[
        float, typer.Option(help="Least share of the window's stalls a pattern covers.")
    ] = MIN_SUPPORT,
    record: Annotated[bool, typer.Option(help="Count and store new hits of the kept patterns.")] = True,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Mine condition sets co-occurring with stalls (risk ratio within nodes, Fisher / CMH
    test, Holm-corrected); counts new hits of the kept patterns."""
    from orderscope.stores import StoreUnavailable, open_stores

    s, u = _window(since, until)
    try:
        with open_stores(settings_for(data_dir, backend), read_only=not record) as stores:
            run = run_mining(stores, s, u, min_support, record=record)
    except StoreUnavailable as e:
        fail(str(e))
    if as_json:
        print_json(run.to_dict(top))
        return
    _print_run(run, top)


def _print_run(run: MiningRun, top: int) -> None:
    from rich.table import Table

    table = Table(
        title=f"stall patterns {run.since:%Y-%m-%d %H:%M} → {run.until:%Y-%m-%d %H:%M}: "
        f"{run.stalls:,} stalls in {run.transactions:,} visits, {run.tested} itemsets tested, "
        f"{run.significant} significant"
    )
    for col in ("id", "pattern", "stalls", "visits", "support", "conf", "risk ratio", "p adj", ""):
        table.add_column(col, no_wrap=col == "id")
    for p in run.patterns[:top]:
        table.add_row(
            esc(p.id),
            esc(p.name),
            str(p.stalls),
            str(p.visits),
            f"{p.support:.1%}",
            f"{p.confidence:.1%}",
            f"{p.risk_ratio:.1f}",
            f"{p.p_adjusted:.2g}",
            "[red]significant[/]" if p.significant else "",
        )
    out.print(table)
    for name, n in run.new_hits.items():
        out.print(f"  kept pattern [bold]{esc(name)}[/]: {n} new hits")


def keep_pattern(
    id_or_items: Annotated[
        str,
        typer.Argument(help="A mined pattern id (P1a2b3c4d) or items: 'node=PICKING,zone_humidity=high'."),
    ],
    name: Annotated[str, typer.Option(help="Library name (a new version when it exists with other items).")],
    note: Annotated[Optional[str], typer.Option(help="A note stored with the entry.")] = None,
    since: Since = None,
    until: Until = None,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Save a pattern into the library under a name."""
    from orderscope.stores import StoreUnavailable, open_stores

    s, u = _window(since, until)
    try:
        with open_stores(settings_for(data_dir, backend)) as stores:
            entry = keep(stores, id_or_items, name, since=s, until=u, note=note)
    except (StoreUnavailable, KeyError, ValueError) as e:
        fail(str(e.args[0]) if isinstance(e, KeyError) else str(e))
    if as_json:
        print_json(entry.to_dict())
        return
    what = "kept" if entry.created else "already kept"
    out.print(
        f"{what}: [bold]{esc(entry.name)}[/] v{esc(entry.version)} ({esc(entry.pattern_id)}) "
        f"{esc(display_name(json.loads(entry.items)))}"
    )


def list_patterns(
    weeks: Annotated[int, typer.Option(help="Weeks of hit trend.")] = 4,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """The pattern library: versions, hit counts per run and per week, trend."""
    from orderscope.stores import StoreUnavailable, open_stores

    try:
        with open_stores(settings_for(data_dir, backend), read_only=True) as stores:
            rows = library_report(stores, weeks)
    except StoreUnavailable as e:
        fail(str(e))
    if as_json:
        print_json({"patterns": [r.to_dict() for r in rows]})
        return
    _print_library(rows)


def _print_library(rows: list[TrackedPattern]) -> None:
    from rich.table import Table

    table = Table(title="stall-pattern library")
    for col in ("name", "v", "id", "pattern", "hits", "runs", "per week", "trend"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            esc(r.name),
            esc(r.version),
            esc(r.pattern_id),
            esc(r.label),
            str(r.hits),
            str(len(r.hits_per_run)),
            " ".join(str(w["hits"]) for w in r.hits_per_week),
            esc(r.trend),
        )
    out.print(table)


def register(app: Any) -> None:
    """Add the `patterns` command group (mine, keep, list) to the orderscope CLI app."""
    sub = typer.Typer(
        help="Stall-pattern library: mine condition sets that co-occur with stalls; keep and track them.",
        no_args_is_help=True,
    )
    app.add_typer(sub, name="patterns")
    sub.command("mine")(mine)
    sub.command("keep")(keep_pattern)
    sub.command("list")(list_patterns)


__all__ = ["register"]
