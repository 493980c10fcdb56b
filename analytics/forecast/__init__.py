"""Forward projection: remaining time to delivery (ETA) and SLA-breach probability for the
orders open at a moment.

    model = train(stores)                 # history up to the data clock, backtested
    rows = forecast(stores, model)        # open orders, riskiest first
    model.describe(), model.backtest      # the model and its held-out figures (JSON forms)

Modules: `features` (training examples on a time grid and prediction rows, from the reads of
orderscope.views.history), `model` (the median regressor and its residual-based breach
probability), `backtest` (the held-out evaluation), `results` (its typed figures),
`projection` (train and forecast).
"""

from __future__ import annotations

from orderscope.analytics.forecast.features import (
    CATEGORICAL,
    FEATURES,
    NUMERIC,
    FrameInfo,
    examples,
    open_orders,
    open_rows,
    training_frame,
)
from orderscope.analytics.forecast.model import Model
from orderscope.analytics.forecast.projection import FORECAST_COLUMNS, answer, forecast, train
from orderscope.analytics.forecast.results import Backtest, ReliabilityBin, Scores, backtest_dict

__all__ = [
    "answer",
    "CATEGORICAL",
    "FEATURES",
    "FORECAST_COLUMNS",
    "NUMERIC",
    "Backtest",
    "FrameInfo",
    "Model",
    "ReliabilityBin",
    "Scores",
    "backtest_dict",
    "examples",
    "forecast",
    "open_orders",
    "open_rows",
    "train",
    "training_frame",
]
