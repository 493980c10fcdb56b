"""Commands over the data: generate, ingest, snapshot, stats, quarantine, reset, demo and
dashboard."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.table import Table

from orderscope.cli.display import MAX_RAW, MAX_VALUE, esc, visible
from orderscope.cli.shared import (
    BackendOpt,
    DataDir,
    JsonOpt,
    app,
    console,
    fail,
    out,
    print_json,
    progress_bar,
    settings_for,
    stores_for,
)
from orderscope.config import Settings
from orderscope.ownership import HubOwner, live_owner


@app.command()
def generate(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the source files to.")],
    orders: Annotated[int, typer.Option(help="How many orders.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 7,
    scenario: Annotated[
        str, typer.Option(help="default (all incidents), clean, qc, customs or loop.")
    ] = "default",
) -> None:
    """Write realistic demo data for all 17 source kinds, with planted incidents and their
    ground truth (ground_truth.json)."""
    from orderscope.generator import check
    from orderscope.generator import generate as run

    try:
        check(orders, seed, scenario)
    except ValueError as e:  # before the progress bar: one line, no traceback
        fail(str(e))
    try:
        with progress_bar() as bar:
            task = bar.add_task("generating", total=100)

            def step(message: str, fraction: float) -> None:
                bar.update(task, description=message, completed=fraction * 100)

            summary = run(out_dir, orders=orders, seed=seed, scenario=scenario, progress=step)
            bar.update(task, description="generated", completed=100)
    except OSError as e:
        fail(f"cannot write to {out_dir}: {e.strerror or e}; pass --out a writable folder")
    console.print(f"wrote {sum(v for v in summary.values() if isinstance(v, int)):,} rows to {esc(out_dir)}")


def _run_ingest(settings: Settings, folder: Path, reprocess: bool, as_json: bool) -> dict:
    from orderscope.ingest.pipeline import IngestError, ingest_folder
    from orderscope.ingest.readers import discover
    from orderscope.ingest.validate import TimeWindow
    from orderscope.stores import StoreUnavailable, is_store_error, open_stores

    files, _ = discover(folder) if folder.is_dir() else ([], [])
    total = sum(f.path.stat().st_size for f in files)
    hub = live_owner(settings)
    if hub is not None:  # the hub holds the stores: it runs the ingest
        console.print(f"a hub owns {esc(settings.data_dir)}: ingesting through {esc(hub.url)}")
        data = _through_hub(
            hub, "POST", "/api/v1/ingest/folder", {"path": str(folder.resolve()), "reprocess": reprocess}
        )
        return _report(dict(data, bytes=total), as_json)
    try:
        with open_stores(settings) as stores, progress_bar() as bar:
            task = bar.add_task("ingesting", total=max(len(files), 1))
            report = ingest_folder(
                folder,
                stores,
                progress=lambda msg, done: bar.update(task, advance=done, description=visible(msg)),
                reprocess=reprocess,
                batch_rows=settings.ingest_batch_rows,
                window=TimeWindow.from_settings(settings),
            )
            bar.update(task, description="ingested")
    except (IngestError, StoreUnavailable) as e:
        fail(str(e))
    except Exception as e:  # a store that went away mid-run: say so, and that a rerun is safe
        if not is_store_error(e):
            raise
        fail(
            f"a store failed during ingest ({type(e).__name__}: {esc(e, MAX_VALUE)}). Nothing is "
            "lost: once it is reachable again, run the same command and it completes exactly"
        )
    return _report(dict(report.to_dict(), bytes=total), as_json)


def _report(data: dict, as_json: bool) -> dict:
    if as_json:
        print_json(data)
    else:
        _print_ingest(data)
    return data


def _through_hub(hub: HubOwner, method: str, path: str, body: dict | None = None) -> Any:
    from orderscope.cli.hub_client import HubUnreachable, call, revive_times

    try:
        return revive_times(call(hub, method, path, body))
    except HubUnreachable as e:
        fail(str(e))


def _print_ingest(data: dict) -> None:
    from rich import box

    # Borderless and unwrapped: 80 columns hold every kind name and count uncut.
    table = Table(title="ingest summary", box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 0, 0, 1))
    names = ("rows_read", "accepted", "rejected", "duplicate", "conflict", "failed_files")
    t = data["totals"]
    table.add_column("kind", no_wrap=True)
    for col, name in zip(
        ("read", "accepted", "rejected", "duplicate", "conflict", "failed"), names, strict=False
    ):
        table.add_column(col, justify="right", no_wrap=True, min_width=len(f"{t[name]:,}"))
    for name, c in data["kinds"].items():
        if c["files"]:
            table.add_row(name, *(f"{c[k]:,}" for k in names))
    table.add_row("[bold]total", *(f"[bold]{t[k]:,}" for k in names))
    out.print(table)
    skipped = f", {t['skipped_files']:,} already ingested" if t["skipped_files"] else ""
    out.print(f"{t['files']:,} files{skipped}; {data['seconds']:.1f} s, {data['rows_per_s'] or 0:,} rows/s")
    if data["rejections_sample"]:
        out.print(
            "[yellow]rejected and conflicting rows (first few; all are in quarantine: "
            "`orderscope quarantine`):"
        )
        for r in data["rejections_sample"][:10]:
            out.print(f"  {esc(r['file'])} row {r['row']}: {esc(r['reason'], MAX_VALUE)}")
    for f in data["failed_files"]:
        out.print(f"[bold red]file not ingested:[/] {esc(f['error'], MAX_VALUE)}")
    for name, columns in data["ignored_columns"].items():
        out.print(
            f"[yellow]{esc(name)}: columns not in the {esc(name.split('.')[0])} schema, ignored:[/] "
            f"{esc(', '.join(columns), MAX_VALUE)}"
        )
    if data["unknown_files"]:
        out.print(f"not recognised as a source kind, left alone: {esc(', '.join(data['unknown_files']))}")


@app.command()
def ingest(
    folder: Annotated[Path, typer.Argument(help="Folder holding the source files.")],
    reprocess: Annotated[
        bool, typer.Option(help="Re-run files the ledger has seen (row-level de-duplication).")
    ] = False,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Validate, link and load every recognised source file in FOLDER; bad rows and conflicts
    go to quarantine with their reason; files already ingested are skipped. Exits 3 when a file
    could not be read (the others are ingested; the summary says why)."""
    data = _run_ingest(settings_for(data_dir, backend), folder, reprocess, as_json)
    if data["failed_files"]:
        raise typer.Exit(3)


@app.command()
def snapshot(
    order_id: Annotated[str, typer.Argument(help="The order ID, e.g. O0000042.")],
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """The whole digital archive of one order: status changes, dwell, linked records, stall."""
    from orderscope.views.snapshot import UnknownOrder, build_snapshot

    settings = settings_for(data_dir, backend)
    hub = live_owner(settings)
    if hub is not None:
        snap = _through_hub(hub, "GET", f"/api/v1/orders/{quote(order_id, safe='')}")
    else:
        with stores_for(settings, errors=(UnknownOrder,)) as stores:
            snap = build_snapshot(stores, order_id)
    if as_json:
        print_json(snap)
    else:
        from orderscope.cli.timeline import print_timeline

        print_timeline(out, snap)


@app.command()
def stats(as_json: JsonOpt = False, data_dir: DataDir = None, backend: BackendOpt = None) -> None:
    """Record counts per source kind and per store, and the quarantine count."""
    from orderscope.views.stats import collect_stats

    settings = settings_for(data_dir, backend)
    hub = live_owner(settings)
    if hub is not None:
        data = _through_hub(hub, "GET", "/api/v1/stats")
    else:
        with stores_for(settings) as stores:
            data = collect_stats(stores)
    if as_json:
        print_json(data)
        return
    table = Table(title=f"orderscope store ({data['backend']})")
    table.add_column("source kind")
    table.add_column("store")
    table.add_column("records", justify="right")
    for name, info in data["kinds"].items():
        table.add_row(name, info["store"], f"{info['count']:,}")
    out.print(table)
    out.print(f"quarantined rows: {data['quarantine']:,}   stage dwell rows: {data['stage_dwell']:,}")


@app.command()
def quarantine(
    limit: Annotated[int, typer.Option(help="How many rows to show.")] = 20,
    as_json: JsonOpt = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Show quarantined rows (rejected, or in conflict with a stored record) with the reason,
    newest first."""
    with stores_for(settings_for(data_dir, backend)) as stores:
        rows = stores.series.quarantine_rows(limit).to_dicts()
    if as_json:
        print_json(rows)
        return
    for r in rows:  # values cut at MAX_VALUE (the raw row at MAX_RAW); --json prints them whole
        label = "[magenta]conflict[/]" if r.get("outcome") == "conflict" else "[red]rejected[/]"
        out.print(
            f"{label} [bold]{esc(r['kind'])}[/] {esc(r['source_file'], MAX_VALUE)} row {esc(r['row_number'])}: "
            f"{esc(r['reason'], MAX_VALUE)}"
        )
        out.print(f"   {esc(r['raw'], MAX_RAW)}", highlight=False)


@app.command()
def reset(
    yes: Annotated[bool, typer.Option("--yes", help="Really delete everything in the stores.")] = False,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Empty this backend's stores (graph, series, ledger, quarantine)."""
    settings = settings_for(data_dir, backend)
    if not yes:
        fail(f"this deletes all orderscope data of the {settings.backend} backend; add --yes")
    with stores_for(settings, read_only=False) as stores:
        stores.graph.reset()
        stores.series.reset()
    console.print(f"emptied the {settings.backend} stores")


@app.command()
def demo(
    orders: Annotated[int, typer.Option(help="How many orders to generate.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the demo source files go.")] = Path(
        "demo-data"
    ),
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the dashboard after ingest.")
    ] = True,
    port: Annotated[int, typer.Option(help="Dashboard port (127.0.0.1).")] = 8050,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Generate demo data, ingest it, and serve the dashboard: the whole loop in one go."""
    settings = settings_for(data_dir, backend)
    generate(out_dir=out_dir, orders=orders, seed=seed, scenario="default")
    data = _run_ingest(settings, out_dir, reprocess=False, as_json=False)
    truth = out_dir / "ground_truth.json"
    example = _example_order(settings)
    out.print()
    out.print(
        f"[green]ready:[/] {data['totals']['accepted']:,} records in the {settings.backend} stores "
        f"({esc(settings.data_dir.resolve()) if settings.backend == 'embedded' else 'servers'})"
    )
    if example:
        out.print(f"  look up an order:      orderscope snapshot {esc(example)}")
    out.print("  counts per kind:       orderscope stats")
    out.print("  stalled open orders:   orderscope stalls --open")
    out.print("  ETA and breach risk:   orderscope forecast")
    for incident in _incidents(truth):
        slice_ = ",".join(f"{k}={v}" for k, v in incident["slice"].items())
        out.print(
            esc(
                f"  why ({incident['kind']}): orderscope rootcause --metric {incident['metric']} "
                f"--slice {slice_} --period {incident['period']} --baseline {incident['baseline']}"
            )
        )
    out.print(f"  planted incidents:     {esc(truth)}")
    if not serve:
        return
    running = live_owner(settings)
    if running is not None:  # the data went in through it; it serves the dashboard already
        out.print(f"the hub at {esc(running.url)} serves it: open the dashboard there")
        return
    from orderscope.cli.hub import run_hub

    run_hub(settings, "127.0.0.1", port)


def _incidents(truth: Path) -> list[dict]:
    try:
        return json.loads(truth.read_text())["incidents"]
    except (OSError, ValueError, KeyError):
        return []


def _example_order(settings: Settings) -> str | None:
    from orderscope.stores import StoreUnavailable, open_stores
    from orderscope.views.orders import example_order

    try:
        with open_stores(settings, read_only=True) as stores:
            return example_order(stores)
    except StoreUnavailable:  # a hub owns the data dir: the demo still prints the rest
        return None
