"""`orderscope forecast`: ETA and SLA-breach probability for open orders."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from orderscope.analytics.forecast import forecast, train


def register(app: Any) -> None:
    """Add `orderscope forecast` to the typer app."""
    from rich.table import Table

    from orderscope.cli.display import esc  # every value printed verbatim, never as markup
    from orderscope.cli.shared import fail, out, print_json, settings_for

    @app.command("forecast")
    def forecast_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
        limit: Annotated[Optional[int], typer.Option("--limit", help="Show the N riskiest orders.")] = 20,
        data_dir: Annotated[
            Optional[Path],
            typer.Option("--data-dir", help="Where the embedded stores live (env ORDERSCOPE_DATA_DIR)."),
        ] = None,
        backend: Annotated[
            Optional[str],
            typer.Option("--backend", help="embedded (LadybugDB + DuckDB) or server (Neo4j + TimescaleDB)."),
        ] = None,
    ) -> None:
        """ETA and SLA-breach probability for open orders (trained on history, backtested on a
        held-out window; the backtest figures are printed with the model)."""
        from orderscope.stores import StoreUnavailable, open_stores

        try:
            with open_stores(settings_for(data_dir, backend), read_only=True) as stores:
                model = train(stores)
                rows = forecast(stores, model, limit=limit)
        except (StoreUnavailable, ValueError) as e:
            fail(str(e))
            return
        bt = model.backtest
        if as_json:
            print_json({"model": model.describe(), "backtest": bt, "orders": rows.to_dicts()})
            return
        t = Table(title="forecast backtest (held-out window)")
        t.add_column("metric")
        t.add_column("model", justify="right")
        t.add_column("baseline", justify="right")
        if "brier" in bt:
            t.add_row("SLA-breach Brier", f"{bt['brier']:.5f}", f"{bt['brier_base_rate']:.5f} (base rate)")
            t.add_row("log loss", f"{bt['log_loss']:.4f}", f"{bt['log_loss_base_rate']:.4f}")
            t.add_row("ETA MAE (h)", f"{bt['eta_mae_h']:.2f}", f"{bt['naive_mae_h']:.2f} (per-node median)")
            t.add_row("test examples / orders", f"{bt['test_examples']:,}", f"{bt['test_orders']:,}")
        else:
            t.add_row("backtest", esc(bt.get("skipped", "-")), "")
        out.print(t)
        if "test_window" in bt:
            w = bt["test_window"]
            out.print(
                f"window {w[0]:%Y-%m-%d %H:%M} .. {w[1]:%Y-%m-%d %H:%M} UTC, "
                f"trained on {model.train_rows:,} examples up to {model.trained_as_of:%Y-%m-%d %H:%M}"
            )
        o = Table(title=f"open orders by breach risk (top {limit})" if limit else "open orders")
        for c in ("order", "node", "in node since", "remaining h", "ETA", "P(breach)", "promised"):
            o.add_column(c, justify="right" if c in ("remaining h", "P(breach)") else "left")
        for r in rows.iter_rows(named=True):
            o.add_row(
                esc(r["order_id"]),
                esc(r["node"]),
                f"{r['entered_at']:%m-%d %H:%M}",
                f"{r['expected_remaining_h']:.1f}",
                f"{r['eta']:%m-%d %H:%M}",
                f"{r['breach_probability']:.3f}",
                f"{r['promised_at']:%m-%d %H:%M}",
            )
        out.print(o)
