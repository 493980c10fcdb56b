"""`orderscope forecast`: ETA and SLA-breach probability for open orders."""

from __future__ import annotations

from typing import Annotated, Any, Optional

import polars as pl
import typer

from orderscope.analytics.forecast import Model, answer, forecast, train
from orderscope.cli.shared import BackendOpt, DataDir, JsonOpt


def register(app: Any) -> None:
    """Add `orderscope forecast` to the typer app."""
    from orderscope.cli.shared import print_json, settings_for, stores_for

    @app.command("forecast")
    def forecast_command(
        as_json: JsonOpt = False,
        limit: Annotated[Optional[int], typer.Option("--limit", help="Show the N riskiest orders.")] = 20,
        data_dir: DataDir = None,
        backend: BackendOpt = None,
    ) -> None:
        """ETA and SLA-breach probability for open orders (trained on history, backtested on a
        held-out window; the backtest figures are printed with the model)."""
        with stores_for(settings_for(data_dir, backend), errors=(ValueError,)) as stores:
            model = train(stores)
            rows = forecast(stores, model, limit=limit)
        if as_json:
            print_json(answer(model, rows))
            return
        print_backtest(model)
        print_orders(rows, limit)


def print_backtest(model: Model) -> None:
    """The held-out figures next to their baselines, and the window they come from."""
    from rich.table import Table

    from orderscope.cli.display import esc  # every value printed verbatim, never as markup
    from orderscope.cli.shared import out

    bt = model.backtest
    t = Table(title="forecast backtest (held-out window)")
    t.add_column("metric")
    t.add_column("model", justify="right")
    t.add_column("baseline", justify="right")
    if bt is not None and bt.scores is not None:
        s = bt.scores
        t.add_row("SLA-breach Brier", f"{s.brier:.5f}", f"{s.brier_base_rate:.5f} (base rate)")
        t.add_row("log loss", f"{s.log_loss:.4f}", f"{s.log_loss_base_rate:.4f}")
        t.add_row("ETA MAE (h)", f"{s.eta_mae_h:.2f}", f"{s.naive_mae_h:.2f} (per-node median)")
        t.add_row("test examples / orders", f"{bt.test_examples:,}", f"{bt.test_orders:,}")
    else:
        t.add_row("backtest", esc((bt.skipped if bt is not None else None) or "-"), "")
    out.print(t)
    if bt is not None:
        w = bt.test_window
        out.print(
            f"window {w[0]:%Y-%m-%d %H:%M} .. {w[1]:%Y-%m-%d %H:%M} UTC, "
            f"trained on {model.train_rows:,} examples up to {model.trained_as_of:%Y-%m-%d %H:%M}"
        )


def print_orders(rows: pl.DataFrame, limit: int | None) -> None:
    """The open orders, riskiest first."""
    from rich.table import Table

    from orderscope.cli.display import esc
    from orderscope.cli.shared import out

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
