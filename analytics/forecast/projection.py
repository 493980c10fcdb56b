"""The forecast use case: train on the history up to a moment, project the orders open at it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.forecast.backtest import backtest as run_backtest
from orderscope.analytics.forecast.features import HOUR_MS, clock, labelled, open_orders, training_frame
from orderscope.analytics.forecast.model import Model, fit
from orderscope.ports import Stores

# The columns of a forecast, in order.
FORECAST_COLUMNS = (
    "order_id",
    "node",
    "entered_at",
    "expected_remaining_h",
    "eta",
    "breach_probability",
    "promised_at",
)


def train(
    stores: Stores,
    as_of: datetime | None = None,
    *,
    random_state: int = 0,
    max_rows: int = 120_000,
    backtest_days: float = 7.0,
    backtest: bool = True,
) -> Model:
    """Train on the history up to as_of (default: the data clock) and backtest on a held-out
    window before it (Model.backtest; None with backtest=False)."""
    frame, info = training_frame(stores, as_of, max_rows=max_rows)
    result = run_backtest(frame, info, random_state, backtest_days) if backtest else None
    model = fit(labelled(frame, info.end_ms - info.horizon_ms, info.end), info, random_state)
    model.backtest = result
    return model


def forecast(
    stores: Stores, model: Model | None = None, as_of: datetime | None = None, limit: int | None = None
) -> pl.DataFrame:
    """Open orders at as_of with expected remaining hours to delivery (the predicted median),
    ETA and breach probability, highest breach probability first (FORECAST_COLUMNS)."""
    as_of = clock(stores, as_of)
    model = model or train(stores, as_of, backtest=False)
    frame = open_orders(stores, as_of)
    remaining, prob = model.predict(frame)
    out = frame.select("order_id", "node", "entered_at", "promised_at").with_columns(
        expected_remaining_h=pl.Series(np.round(remaining, 3), dtype=pl.Float64),
        breach_probability=pl.Series(np.round(prob, 5), dtype=pl.Float64),
    )
    out = out.with_columns(
        eta=pl.lit(as_of).cast(pl.Datetime("us", "UTC"))
        + pl.duration(milliseconds=(pl.col("expected_remaining_h") * HOUR_MS).round().cast(pl.Int64))
    )
    out = out.select(FORECAST_COLUMNS).sort(
        ["breach_probability", "eta", "order_id"], descending=[True, True, False]
    )
    return out.head(limit) if limit is not None else out


def answer(model: Model, rows: pl.DataFrame) -> dict[str, Any]:
    """The forecast's one JSON form (CLI `--json`, API): the model, its backtest, the orders."""
    from orderscope.analytics.forecast.results import backtest_dict

    return {"model": model.describe(), "backtest": backtest_dict(model.backtest), "orders": rows.to_dicts()}
