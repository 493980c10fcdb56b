"""The held-out evaluation: train as of a past cut-off, score on the window after it.

End E = the as-of moment; cut-off C = E - H - window. Train on examples t < C - H with delivery
<= C; test on examples t in [C, E - H) with delivery <= E (H: the frame's horizon, see
features.labelled). Reported: Brier score against the base-rate forecast (the training breach
rate), log loss, reliability bins, and the ETA mean absolute error against the naive baseline
(per-node median remaining time, from the training examples).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import polars as pl

from orderscope.analytics.forecast.features import DAY_MS, FrameInfo, labelled
from orderscope.analytics.forecast.model import MIN_TRAIN_EXAMPLES, Model, fit
from orderscope.analytics.forecast.results import Backtest, ReliabilityBin, Scores

MIN_TEST_EXAMPLES = 20


def backtest(frame: pl.DataFrame, info: FrameInfo, random_state: int, window_days: float) -> Backtest:
    """Fit on the history before the cut-off and score the test window (or say why not)."""
    end_ms = info.end_ms
    h = info.horizon_ms
    span = end_ms - info.first_ms
    # the test window, shrunk when the history is short (keep >= half the usable span to train)
    window = int(min(window_days * DAY_MS, max((span - 2 * h) // 3, DAY_MS)))
    cutoff_ms = end_ms - h - window
    cutoff = datetime.fromtimestamp(cutoff_ms / 1000, UTC)
    train = labelled(frame, cutoff_ms - h, cutoff)
    test = labelled(frame, end_ms - h, info.end, t_min_ms=cutoff_ms)
    result = Backtest(
        cutoff=cutoff,
        test_window=(cutoff, datetime.fromtimestamp((end_ms - h) / 1000, UTC)),
        train_examples=train.height,
        test_examples=test.height,
        test_orders=test["order_id"].n_unique(),
    )
    if train.height < MIN_TRAIN_EXAMPLES or test.height < MIN_TEST_EXAMPLES:
        return replace(result, skipped="not enough history before and after the cut-off")
    return replace(result, scores=score(fit(train, info, random_state), train, test))


def score(model: Model, train: pl.DataFrame, test: pl.DataFrame) -> Scores:
    """The model's figures on `test`, next to the base rate of `train` and the naive ETA."""
    remaining, prob = model.predict(test)
    y = test["breach"].to_numpy().astype(float)
    actual = test["remaining_h"].to_numpy()
    naive = model.naive(test)
    base_rate = float(train["breach"].mean())  # type: ignore[arg-type]
    live = test["to_promise_h"].to_numpy() > 0  # not yet past promised_at (no certain answer)
    brier = float(np.mean((prob - y) ** 2))
    brier_base = float(np.mean((base_rate - y) ** 2))
    mae = float(np.mean(np.abs(remaining - actual)))
    mae_naive = float(np.mean(np.abs(naive - actual)))
    return Scores(
        breach_rate_train=round(base_rate, 5),
        breach_rate_test=round(float(y.mean()), 5),
        brier=round(brier, 6),
        brier_base_rate=round(brier_base, 6),
        brier_skill=round(1 - brier / brier_base, 4) if brier_base > 0 else None,
        brier_before_promise=round(float(np.mean((prob[live] - y[live]) ** 2)), 6),
        brier_base_rate_before_promise=round(float(np.mean((base_rate - y[live]) ** 2)), 6),
        log_loss=round(log_loss(prob, y), 5),
        log_loss_base_rate=round(log_loss(np.full_like(y, base_rate), y), 5),
        reliability=reliability(prob, y),
        eta_mae_h=round(mae, 3),
        naive_mae_h=round(mae_naive, 3),
        mae_ratio=round(mae / mae_naive, 4) if mae_naive > 0 else None,
        eta_median_ae_h=round(float(np.median(np.abs(remaining - actual))), 3),
    )


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[ReliabilityBin]:
    """Predicted against observed breach rate per probability bin (empty bins left out)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        if m.any():
            out.append(
                ReliabilityBin(
                    bin=f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                    n=int(m.sum()),
                    mean_predicted=round(float(p[m].mean()), 4),
                    observed_rate=round(float(y[m].mean()), 4),
                )
            )
    return out


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log likelihood of outcomes `y` (0/1) under probabilities `p` (clipped)."""
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))
