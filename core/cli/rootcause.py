"""`orderscope rootcause`: explain a metric change, down to evidence records.

No `from __future__ import annotations` here: typer reads the option annotations at runtime.
"""

from typing import Annotated, Any, Optional

import typer

from orderscope.analytics.rootcause import UNITS, Explanation, RootCauseError, explain
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
from orderscope.views.metrics import parse_slice_text

MetricOpt = Annotated[str, typer.Option("--metric", help="cycle_time | node_dwell | stall_rate")]
PeriodOpt = Annotated[str, typer.Option("--period", help="e.g. 2026-W47, 2026-11, 2026-11-18, A/B")]
BaselineOpt = Annotated[Optional[str], typer.Option("--baseline", help="default: the period just before")]
SliceOpt = Annotated[
    Optional[str], typer.Option("--slice", help="KEY=VALUE[,KEY=VALUE...], e.g. region=North")
]
TopOpt = Annotated[int, typer.Option("--top", help="How many findings to show.")]
EXPLAINED = 3  # findings whose sentence follows the table


def rootcause(
    metric: MetricOpt,
    period: PeriodOpt,
    baseline: BaselineOpt = None,
    slice_: SliceOpt = None,
    top: TopOpt = 10,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Explain a metric change between two periods for a slice, down to evidence records."""
    from orderscope.domain.periods import parse_period

    try:
        p = parse_period(period)
        b = parse_period(baseline) if baseline else p.previous()
        sl = parse_slice_text(slice_ or "")
    except ValueError as e:
        fail(str(e))
    with stores_for(settings_for(data_dir, backend), errors=(RootCauseError,)) as stores:
        result = explain(stores, metric, sl, p, b, top=top)
    if as_json:
        print_json(result.to_dict())
    else:
        print_result(out, result)


def register(app: typer.Typer) -> None:
    """Add `orderscope rootcause` to the typer app."""
    app.command()(rootcause)


def print_result(console: Any, result: Explanation) -> None:
    """The change, the ranked findings as a table, and the top findings' sentences."""
    from rich.table import Table

    unit = UNITS[result.metric]

    def fmt(x: float | None) -> str:
        if x is None:
            return "n/a"
        return f"{100 * x:.2f} %" if result.metric == "stall_rate" else f"{x:.2f} {unit}"

    sl = esc(", ".join(f"{k}={val}" for k, val in result.slice.items()) or "all orders")
    console.print(
        f"[bold]{esc(result.metric)}[/] for {sl}: {esc(result.period.label)} {fmt(result.value_period)} vs "
        f"{esc(result.baseline.label)} {fmt(result.value_baseline)} (delta {fmt(result.delta)})"
    )
    if result.note:
        console.print(esc(result.note, multiline=True))
    table = Table(title="root-cause findings")
    for col in ("#", "finding", "contribution", "surprise", "confidence", "evidence"):
        table.add_column(col, justify="right" if col in ("#", "contribution", "surprise") else "left")
    for i, fd in enumerate(result.findings, 1):
        seg = esc(", ".join(f"{k}={val}" for k, val in fd.segment.items()))
        conds = esc("; ".join(f"{c.dimension}={c.value}" for c in fd.conditions))
        ev = esc(", ".join(f"{k} {len(ids)}" for k, ids in fd.evidence.records.items()))
        table.add_row(
            str(i),
            seg + (f"\n[dim]{conds}[/]" if conds else ""),
            f"{100 * fd.contribution:.0f} %",
            f"{fd.surprise:.1f}",
            f"{esc(fd.confidence)} ({fd.confidence_value:.2f})",
            ev or "-",
        )
    console.print(table)
    for i, fd in enumerate(result.findings[:EXPLAINED], 1):
        console.print(f"{i}. {esc(fd.explanation, multiline=True)}")
