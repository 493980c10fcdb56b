"""`orderscope rootcause`: explain a metric change, down to evidence records."""

from __future__ import annotations

from typing import Any

from orderscope.analytics.rootcause import UNITS, RootCauseError, explain


def register(app: Any) -> None:
    """Add `orderscope rootcause` to the typer app."""
    from typing import Annotated, Optional

    import typer

    from orderscope.cli.shared import BackendOpt, DataDir, JsonOpt, fail, out, print_json, settings_for

    def rootcause(
        metric: Annotated[str, typer.Option("--metric", help="cycle_time | node_dwell | stall_rate")],
        period: Annotated[str, typer.Option("--period", help="e.g. 2026-W47, 2026-11, 2026-11-18, A/B")],
        baseline: Annotated[
            Optional[str], typer.Option("--baseline", help="default: the period just before")
        ] = None,
        slice_: Annotated[
            Optional[str], typer.Option("--slice", help="KEY=VALUE[,KEY=VALUE...], e.g. region=North")
        ] = None,
        top: Annotated[int, typer.Option("--top", help="How many findings to show.")] = 10,
        as_json: JsonOpt = False,
        data_dir: DataDir = None,
        backend: BackendOpt = None,
    ) -> None:
        """Explain a metric change between two periods for a slice, down to evidence records."""
        from orderscope.domain.periods import parse_period
        from orderscope.stores import StoreUnavailable, open_stores

        try:
            p = parse_period(period)
            b = parse_period(baseline) if baseline else p.previous()
            sl = _parse_slice_text(slice_ or "")
        except ValueError as e:
            fail(str(e))
        try:
            with open_stores(settings_for(data_dir, backend), read_only=True) as stores:
                result = explain(stores, metric, sl, p, b, top=top)
        except (RootCauseError, StoreUnavailable) as e:
            fail(str(e))
        if as_json:
            print_json(result)
        else:
            print_result(out, result)

    # this module postpones annotations; typer needs them resolved, with register's names
    import typing

    rootcause.__annotations__ = typing.get_type_hints(rootcause, localns=locals(), include_extras=True)
    app.command()(rootcause)


def _parse_slice_text(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        k, sep, v = part.partition("=")
        if not sep or not k.strip() or not v.strip():
            raise ValueError(f"cannot read slice {part!r}: use KEY=VALUE[,KEY=VALUE...]")
        out[k.strip()] = v.strip()
    return out


def print_result(console: Any, result: dict) -> None:
    from rich.table import Table

    from orderscope.cli.display import esc  # every value printed verbatim, never as markup

    v = result.get("value", {})
    unit = UNITS[result["metric"]]

    def fmt(x: Any) -> str:
        if x is None:
            return "n/a"
        return f"{100 * x:.2f} %" if result["metric"] == "stall_rate" else f"{x:.2f} {unit}"

    sl = esc(", ".join(f"{k}={val}" for k, val in result["slice"].items()) or "all orders")
    console.print(
        f"[bold]{esc(result['metric'])}[/] for {sl}: {esc(result['period'])} {fmt(v.get('period'))} vs "
        f"{esc(result['baseline'])} {fmt(v.get('baseline'))} (delta {fmt(v.get('delta'))})"
    )
    if result.get("note"):
        console.print(esc(result["note"], multiline=True))
    table = Table(title="root-cause findings")
    for col in ("#", "finding", "contribution", "surprise", "confidence", "evidence"):
        table.add_column(col, justify="right" if col in ("#", "contribution", "surprise") else "left")
    for i, fd in enumerate(result.get("findings", []), 1):
        seg = esc(", ".join(f"{k}={val}" for k, val in fd["segment"].items()))
        conds = esc("; ".join(f"{c['dimension']}={c['value']}" for c in fd.get("conditions", [])))
        ev = esc(", ".join(f"{k} {len(ids)}" for k, ids in fd.get("evidence", {}).items()))
        table.add_row(
            str(i),
            seg + (f"\n[dim]{conds}[/]" if conds else ""),
            f"{100 * fd['contribution']:.0f} %",
            f"{fd['surprise']:.1f}",
            f"{esc(fd['confidence'])} ({fd['confidence_value']:.2f})",
            ev or "-",
        )
    console.print(table)
    for i, fd in enumerate(result.get("findings", [])[:3], 1):
        console.print(f"{i}. {esc(fd['explanation'], multiline=True)}")
