"""The forecast model: a median regressor of the remaining time and, from its out-of-time
residuals, the SLA-breach probability.

scikit-learn HistGradientBoostingRegressor with absolute error on log1p(remaining hours), i.e.
the conditional median (the ETA). Breach probability comes from the same model's predictive
distribution: breach <=> remaining > time to promised_at <=> log residual > log1p(to_promise) -
predicted log median, and the residual distribution (per node, from a twin regressor fitted on
the older 70 % of the training examples and scored on the newest 30 %, i.e. out of time) gives
that probability, calibrated by construction (a split-conformal predictive distribution). A
gradient-boosted classifier + CalibratedClassifierCV was tried and measured worse: breaches are
rare (~1-2 % of examples, from few orders) and it overfits them, while the residual route learns
from every example. An order already past promised_at gets probability 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.forecast.features import CATEGORICAL, FEATURES, HOUR_MS, NUMERIC, FrameInfo
from orderscope.analytics.forecast.results import Backtest

MIN_TRAIN_EXAMPLES = 50
MIN_NODE_RESIDUALS = 200  # a node with fewer out-of-time residuals uses all nodes' ("")


@dataclass
class Model:
    """A trained forecast: the regressor, the residual distributions, the category codes, the
    naive baseline, and how (and on what) it was trained."""

    regressor: Any  # log1p(remaining hours) -> conditional median
    residuals: dict[str, np.ndarray]  # node -> sorted out-of-time log residuals ("" = all nodes)
    categories: dict[str, list[str]]
    naive_h: dict[str, float]
    naive_default_h: float
    trained_as_of: datetime
    horizon_h: float
    step_h: float
    sample_every: int
    train_rows: int
    random_state: int
    backtest: Backtest | None = None

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        return matrix(frame, self.categories)

    def predict(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(remaining hours, breach probability) for feature rows.

        Breach = remaining > time to promised_at, i.e. log residual > log1p(to_promise) - the
        predicted log median; its probability is read off the node's out-of-time residuals."""
        if frame.height == 0:
            return np.zeros(0), np.zeros(0)
        from threadpoolctl import threadpool_limits

        x = self.matrix(frame)
        with threadpool_limits(1, "openmp"):
            log_median = self.regressor.predict(x)
        remaining = np.clip(np.expm1(log_median), 0.0, None)
        to_promise = frame["to_promise_h"].to_numpy()
        z = np.log1p(np.clip(to_promise, 0.0, None)) - log_median
        nodes = frame["node"].to_numpy()
        prob = np.empty(frame.height)
        for node in np.unique(nodes):  # one vectorised search per node
            res = self.residuals.get(node, self.residuals[""])
            k = nodes == node
            above = len(res) - np.searchsorted(res, z[k], "right")
            prob[k] = (above + 0.5) / (len(res) + 1.0)
        prob = np.where(to_promise <= 0, 1.0, np.clip(prob, 0.0, 1.0))
        return remaining, prob

    def naive(self, frame: pl.DataFrame) -> np.ndarray:
        """The naive ETA baseline: the node's median remaining hours in the training examples."""
        return (
            frame["node"]
            .replace_strict(self.naive_h, default=self.naive_default_h, return_dtype=pl.Float64)
            .to_numpy()
        )

    def describe(self) -> dict[str, Any]:
        """The model's JSON form (`orderscope forecast --json`, key "model")."""
        return {
            "trained_as_of": self.trained_as_of,
            "train_rows": self.train_rows,
            "horizon_h": round(self.horizon_h, 2),
            "grid_step_h": round(self.step_h, 3),
            "sample_every_kth_order": self.sample_every,
            "features": list(FEATURES),
            "regressor": "HistGradientBoostingRegressor(absolute_error on log1p remaining hours)",
            "breach": "P(remaining > time to promise) from per-node out-of-time residuals",
            "residual_nodes": sorted(k for k in self.residuals if k),
        }


def categories(frame: pl.DataFrame) -> dict[str, list[str]]:
    """The values of each categorical feature seen in `frame`, sorted (their codes)."""
    return {c: sorted(v for v in frame[c].unique().to_list() if v is not None) for c in CATEGORICAL}


def matrix(frame: pl.DataFrame, categories: dict[str, list[str]]) -> np.ndarray:
    """The feature matrix: CATEGORICAL as codes (index in `categories`, NaN for a null or an
    unseen value), then NUMERIC as floats (NaN for null)."""
    cols = []
    for c in CATEGORICAL:
        lookup = {v: i for i, v in enumerate(categories[c])}
        codes = frame[c].replace_strict(lookup, default=None, return_dtype=pl.Float64)
        cols.append(codes.fill_null(np.nan).to_numpy())
    for c in NUMERIC:
        cols.append(frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy())
    return np.column_stack(cols) if cols else np.zeros((frame.height, 0))


def _regressor(random_state: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        loss="absolute_error",
        max_iter=80,
        learning_rate=0.1,
        max_leaf_nodes=31,
        min_samples_leaf=100,
        l2_regularization=1.0,
        categorical_features=[True] * len(CATEGORICAL) + [False] * len(NUMERIC),
        early_stopping=False,
        random_state=random_state,
    )


def fit(train: pl.DataFrame, info: FrameInfo, random_state: int) -> Model:
    """The median regressor on all of `train` (time-ordered), and the residual distributions
    of a twin fitted on its older 70 % and scored on the newest 30 % (out of time, so they are
    as wide as a forecast's errors are)."""
    from threadpoolctl import threadpool_limits

    if train.height < MIN_TRAIN_EXAMPLES:
        raise ValueError(f"too little history to train a forecast ({train.height} examples)")
    codes = categories(train)
    x = matrix(train, codes)
    y = np.log1p(train["remaining_h"].to_numpy())
    split = int(len(y) * 0.7)
    with threadpool_limits(1, "openmp"):  # OpenMP threads only slow it down on a busy host
        twin = _regressor(random_state).fit(x[:split], y[:split])
        res = y[split:] - twin.predict(x[split:])
        reg = _regressor(random_state).fit(x, y)
    nodes = train["node"].to_numpy()[split:]
    residuals = {"": thin(np.sort(res))}
    for node in np.unique(nodes):
        k = nodes == node
        if k.sum() >= MIN_NODE_RESIDUALS:
            residuals[str(node)] = thin(np.sort(res[k]))

    med = train.group_by("node", maintain_order=True).agg(pl.col("remaining_h").median())
    return Model(
        regressor=reg,
        residuals=residuals,
        categories=codes,
        naive_h=dict(zip(med["node"].to_list(), med["remaining_h"].to_list(), strict=False)),
        naive_default_h=float(train["remaining_h"].median()),  # type: ignore[arg-type]
        trained_as_of=info.end,
        horizon_h=info.horizon_ms / HOUR_MS,
        step_h=info.step_ms / HOUR_MS,
        sample_every=info.every,
        train_rows=train.height,
        random_state=random_state,
    )


def thin(sorted_values: np.ndarray, keep: int = 4001) -> np.ndarray:
    """At most `keep` evenly spaced order statistics (the distribution, in bounded size)."""
    if len(sorted_values) <= keep:
        return sorted_values
    kept: np.ndarray = sorted_values[np.linspace(0, len(sorted_values) - 1, keep).round().astype(int)]
    return kept
