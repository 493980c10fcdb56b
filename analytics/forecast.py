"""Forward projection: remaining time to DELIVERED (ETA) and SLA-breach probability for open orders.

Open order (as of a moment T): its visit that covers T is in a non-resting node and it has not
been delivered by T (an order in the return flow after delivery is not projected).

Training examples replay history on a regular time grid: at every grid instant t (a multiple of
`step` since the epoch) each order that was open at t gives one example, with the features known
at t and the labels of what happened next (remaining time to its first DELIVERED entry, and
whether that was after promised_at). Sampling on a time grid reproduces the situation a forecast
is made in (open orders caught mid-dwell, long dwells seen more often). The visits are read with
one SQL query pushed down to the series store (every k-th order by creation time when the
history is large, so the frame stays bounded), the grid expansion and features run in polars.

Censoring: an order not delivered by a cut-off has an unknown outcome, and the examples just
before a cut-off only see the orders that were delivered quickly. So an example at t is used for
training against cut-off C only when t < C - H, H being the 99th percentile of creation-to-
delivery time (nearly every such outcome is known at C), and only with its outcome known by C.
Orders never delivered (cancelled) give no label.

Backtest: end E = the as-of moment; cut-off C = E - H - window. Train on examples t < C - H with
delivery <= C; test on examples t in [C, E - H) with delivery <= E. Reported: Brier score against
the base-rate forecast (the training breach rate), log loss, reliability bins, and the ETA mean
absolute error against the naive baseline (per-node median remaining time, from the training
examples).

Model: scikit-learn HistGradientBoostingRegressor with absolute error on log1p(remaining hours),
i.e. the conditional median (the ETA). Breach probability comes from the same model's predictive
distribution: breach <=> remaining > time to promised_at <=> log residual > log1p(to_promise) -
predicted log median, and the residual distribution (per node, from a twin regressor fitted on the
older 70 % of the training examples and scored on the newest 30 %, i.e. out of time) gives that
probability, calibrated by construction (a split-conformal predictive distribution). A
gradient-boosted classifier + CalibratedClassifierCV was tried and measured worse: breaches are
rare (~1-2 % of examples, from few orders) and it overfits them, while the residual route learns
from every example. An order already past promised_at gets probability 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

UTC = UTC
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

CATEGORICAL = ("node", "region", "warehouse_id", "channel", "sku_category", "carrier_id", "service_level")
NUMERIC = (
    "visit",
    "step_no",
    "in_node_h",
    "elapsed_h",
    "to_promise_h",
    "promise_h",
    "hour_of_week",
    "cross_border",
    "load",
)
FEATURES = CATEGORICAL + NUMERIC

# Visits of the sampled orders, up to the end moment, with the order dimension and the order's
# first delivery (when it happened by the end). Every k-th order by (created_at, order_id).
_VISITS_SQL = """
WITH o AS (
    SELECT "order_id", "created_at", "promised_at", "region", "warehouse_id", "channel",
           "sku_category", "cross_border",
           ROW_NUMBER() OVER (ORDER BY "created_at", "order_id") AS rn
    FROM "orders"
    WHERE "created_at" <= $1
), s AS (
    SELECT * FROM o WHERE MOD(rn, $2) = 0
), dl AS (
    SELECT d."order_id", MIN(d."entered_at") AS delivered_at
    FROM "stage_dwell" d JOIN s ON s."order_id" = d."order_id"
    WHERE d."node" = $3 AND d."entered_at" <= $1
    GROUP BY d."order_id"
)
SELECT d."order_id", d."node", d."visit", d."entered_at",
       CASE WHEN d."left_at" <= $1 THEN d."left_at" END AS left_at,
       s."created_at", s."promised_at", s."region", s."warehouse_id", s."channel",
       s."sku_category", s."cross_border", dl.delivered_at
FROM "stage_dwell" d
JOIN s ON s."order_id" = d."order_id"
LEFT JOIN dl ON dl."order_id" = d."order_id"
WHERE d."entered_at" <= $1
ORDER BY d."order_id", d."entered_at", d."node", d."visit"
"""

_ORDER_COUNT_SQL = 'SELECT COUNT(*) AS n FROM "orders" WHERE "created_at" <= $1'

# Every order's visit that covers the moment, unless it was delivered by then.
_OPEN_SQL = """
SELECT d."order_id", d."node", d."visit", d."entered_at",
       o."created_at", o."promised_at", o."region", o."warehouse_id", o."channel",
       o."sku_category", o."cross_border",
       (SELECT COUNT(*) FROM "stage_dwell" p
        WHERE p."order_id" = d."order_id" AND p."entered_at" <= d."entered_at") AS step_no
FROM "stage_dwell" d
JOIN "orders" o ON o."order_id" = d."order_id"
WHERE d."entered_at" <= $1 AND (d."left_at" IS NULL OR d."left_at" > $1)
  AND NOT EXISTS (SELECT 1 FROM "stage_dwell" x
                  WHERE x."order_id" = d."order_id" AND x."node" = $2 AND x."entered_at" <= $1)
ORDER BY d."order_id"
"""

_SHIPMENTS_CYPHER = (
    "MATCH (s:`Shipment`) RETURN s.order_id AS order_id, s.carrier_id AS carrier_id, "
    "s.service_level AS service_level, s.created_at AS shipped_at"
)


# --------------------------------------------------------------------------------------------
# frames


def _ms(col: str) -> pl.Expr:
    return pl.col(col).dt.epoch("ms")


def _clock(stores: Any, as_of: datetime | None) -> datetime:
    as_of = as_of or stores.series.data_clock()
    if as_of is None:
        raise ValueError("the series store holds no events: nothing to train on or forecast")
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=UTC)
    return as_of.astimezone(UTC)


def _shipments(stores: Any) -> pl.DataFrame:
    schema = {
        "order_id": pl.String,
        "carrier_id": pl.String,
        "service_level": pl.String,
        "shipped_at": pl.Datetime("us", "UTC"),
    }
    try:
        frame = stores.graph.query(_SHIPMENTS_CYPHER)
    except Exception:  # carrier is a nice-to-have feature; never fail the forecast for it
        return pl.DataFrame(schema=schema)
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    frame = frame.with_columns(
        pl.col("shipped_at").cast(pl.Datetime("us", "UTC")),
        pl.col("order_id").cast(pl.String),
        pl.col("carrier_id").cast(pl.String),
        pl.col("service_level").cast(pl.String),
    )
    # one shipment per order: the first one
    return (
        frame.sort("shipped_at", "carrier_id")
        .unique("order_id", keep="first", maintain_order=True)
        .select(list(schema))
    )


def _attach_shipments(frame: pl.DataFrame, ships: pl.DataFrame, t: str) -> pl.DataFrame:
    """carrier_id / service_level of the order's shipment, when it existed at time `t`."""
    frame = frame.join(ships, on="order_id", how="left")
    known = pl.col("shipped_at").is_not_null() & (_ms("shipped_at") <= pl.col(t))
    return frame.with_columns(
        pl.when(known).then(pl.col("carrier_id")).alias("carrier_id"),
        pl.when(known).then(pl.col("service_level")).alias("service_level"),
    ).drop("shipped_at")


def _load_counts(visits: pl.DataFrame, queries: pl.DataFrame, end_ms: int) -> np.ndarray:
    """For each query row (node, warehouse_id, t_ms): how many visits of `visits` (node,
    warehouse_id, in_ms, out_ms with null = still open) are open at t_ms."""
    if queries.height == 0:
        return np.zeros(0, dtype=np.int64)
    keys = (
        pl.concat([visits.select("node", "warehouse_id"), queries.select("node", "warehouse_id")])
        .unique()
        .sort("node", "warehouse_id")
        .with_row_index("g")
    )
    v = visits.join(keys, on=["node", "warehouse_id"], how="left")
    q = queries.join(keys, on=["node", "warehouse_id"], how="left", maintain_order="left")
    base = int(min(v["in_ms"].min() or end_ms, q["t_ms"].min()))
    span = end_ms - base + 2
    g_v = v["g"].to_numpy().astype(np.int64) * span
    ins = np.sort(g_v + (v["in_ms"].to_numpy() - base))
    outs = np.sort(g_v + (v["out_ms"].fill_null(end_ms + 1).to_numpy() - base))
    g_q = q["g"].to_numpy().astype(np.int64) * span
    key = g_q + (q["t_ms"].to_numpy() - base)
    entered = np.searchsorted(ins, key, "right") - np.searchsorted(ins, g_q, "left")
    left = np.searchsorted(outs, key, "right") - np.searchsorted(outs, g_q, "left")
    return (entered - left).astype(np.int64)


def _features(frame: pl.DataFrame) -> pl.DataFrame:
    """Derived numeric features from t_ms, entered_at, created_at, promised_at."""
    t = pl.from_epoch(pl.col("t_ms"), "ms").dt.replace_time_zone("UTC")
    return frame.with_columns(
        in_node_h=(pl.col("t_ms") - _ms("entered_at")) / HOUR_MS,
        elapsed_h=(pl.col("t_ms") - _ms("created_at")) / HOUR_MS,
        to_promise_h=(_ms("promised_at") - pl.col("t_ms")) / HOUR_MS,
        promise_h=(_ms("promised_at") - _ms("created_at")) / HOUR_MS,
        hour_of_week=((t.dt.weekday().cast(pl.Int32) - 1) * 24 + t.dt.hour().cast(pl.Int32)).cast(
            pl.Float64
        ),  # Int8 parts would overflow
        cross_border=pl.col("cross_border").cast(pl.Float64),
        visit=pl.col("visit").cast(pl.Float64),
        step_no=pl.col("step_no").cast(pl.Float64),
    )


@dataclass
class FrameInfo:
    end: datetime
    step_ms: int
    every: int
    horizon_ms: int
    first_ms: int


def training_frame(
    stores: Any, as_of: datetime | None = None, max_rows: int = 120_000, max_orders: int = 60_000
) -> tuple[pl.DataFrame, FrameInfo]:
    """Examples (one per open order per grid instant up to as_of) with features and labels.

    Columns: order_id, t_ms, features (FEATURES), promised_at, delivered_at (null: not delivered
    by as_of), remaining_h, breach (null when not delivered by as_of). Sorted by t_ms, order_id.
    Deterministic for a given store content and as_of."""
    end = _clock(stores, as_of)
    end_ms = int(end.timestamp() * 1000)
    resting = stores.catalog.resting
    n_orders = int(stores.series.query(_ORDER_COUNT_SQL, [end])["n"][0])
    every = max(1, math.ceil(n_orders / max_orders))
    visits = stores.series.query(_VISITS_SQL, [end, every, stores.catalog.roles.delivered])
    visits = visits.with_columns(
        pl.col("visit").cast(pl.Int64),
        pl.col("cross_border").cast(pl.Boolean),
        *(
            pl.col(c).cast(pl.Datetime("us", "UTC"))
            for c in ("entered_at", "left_at", "created_at", "promised_at", "delivered_at")
        ),
    )
    # step number of each visit within its order (1 = the first visit)
    visits = visits.with_columns(
        step_no=pl.int_range(1, pl.len() + 1).over("order_id", order_by=["entered_at", "node", "visit"])
    )
    delivered = visits.filter(pl.col("delivered_at").is_not_null()).unique("order_id", maintain_order=True)
    lead = (delivered["delivered_at"] - delivered["created_at"]).dt.total_milliseconds()
    horizon_ms = int(lead.quantile(0.99) or 5 * DAY_MS) if lead.len() >= 20 else 5 * DAY_MS
    first_ms = int(visits["entered_at"].min().timestamp() * 1000) if visits.height else end_ms

    # the time an order spends open before delivery (or to the end), per visit
    v = (
        visits.filter(~pl.col("node").is_in(list(resting)))
        .with_columns(
            in_ms=_ms("entered_at"),
            stop_ms=pl.min_horizontal(
                pl.col("left_at").dt.epoch("ms").fill_null(end_ms),
                pl.col("delivered_at").dt.epoch("ms").fill_null(end_ms),
                pl.lit(end_ms),
            ),
        )
        .filter(pl.col("stop_ms") > pl.col("in_ms"))
    )
    open_ms = int((v["stop_ms"] - v["in_ms"]).sum() or 0)
    step_ms = max(15 * 60_000, math.ceil(open_ms / max(max_rows, 1) / 60_000) * 60_000)
    info = FrameInfo(end, step_ms, every, horizon_ms, first_ms)

    grid = (
        v.with_columns(
            k=pl.int_ranges(
                (pl.col("in_ms") + step_ms - 1) // step_ms, (pl.col("stop_ms") + step_ms - 1) // step_ms
            )
        )
        .explode("k")
        .drop_nulls("k")
        .with_columns(t_ms=pl.col("k") * step_ms)
        .drop("k", "in_ms", "stop_ms")
    )
    # node x warehouse load at t: open visits of the sampled orders, scaled to all orders
    occupancy = visits.select("node", "warehouse_id", in_ms=_ms("entered_at"), out_ms=_ms("left_at"))
    load = _load_counts(occupancy, grid.select("node", "warehouse_id", "t_ms"), end_ms) * every
    grid = grid.with_columns(load=pl.Series(load, dtype=pl.Float64))
    grid = _attach_shipments(grid, _shipments(stores), "t_ms")
    grid = _features(grid).with_columns(
        remaining_h=(_ms("delivered_at") - pl.col("t_ms")) / HOUR_MS,
        breach=(pl.col("delivered_at") > pl.col("promised_at")).cast(pl.Int8),
    )
    cols = ["order_id", "t_ms", *FEATURES, "promised_at", "delivered_at", "remaining_h", "breach"]
    return grid.select(cols).sort("t_ms", "order_id"), info


def open_orders(stores: Any, as_of: datetime | None = None) -> pl.DataFrame:
    """Every open order at as_of with its features (order_id, entered_at, promised_at, t_ms,
    FEATURES)."""
    end = _clock(stores, as_of)
    end_ms = int(end.timestamp() * 1000)
    resting = stores.catalog.resting
    frame = stores.series.query(_OPEN_SQL, [end, stores.catalog.roles.delivered])
    frame = frame.with_columns(
        pl.col("visit").cast(pl.Int64),
        pl.col("step_no").cast(pl.Int64),
        pl.col("cross_border").cast(pl.Boolean),
        *(pl.col(c).cast(pl.Datetime("us", "UTC")) for c in ("entered_at", "created_at", "promised_at")),
    ).filter(~pl.col("node").is_in(list(resting)))
    frame = frame.with_columns(t_ms=pl.lit(end_ms, dtype=pl.Int64))
    frame = frame.with_columns(load=pl.len().over("node", "warehouse_id").cast(pl.Float64))
    frame = _attach_shipments(frame, _shipments(stores), "t_ms")
    frame = _features(frame)
    return frame.select("order_id", "entered_at", "promised_at", "t_ms", *FEATURES)


# --------------------------------------------------------------------------------------------
# model


@dataclass
class Model:
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
    backtest: dict[str, Any] = field(default_factory=dict)

    def matrix(self, frame: pl.DataFrame) -> np.ndarray:
        return _matrix(frame, self.categories)

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
        for node in np.unique(nodes):
            res = self.residuals.get(node, self.residuals[""])
            k = nodes == node
            above = len(res) - np.searchsorted(res, z[k], "right")
            prob[k] = (above + 0.5) / (len(res) + 1.0)
        prob = np.where(to_promise <= 0, 1.0, np.clip(prob, 0.0, 1.0))
        return remaining, prob

    def naive(self, frame: pl.DataFrame) -> np.ndarray:
        return np.array(
            [self.naive_h.get(n, self.naive_default_h) for n in frame["node"].to_list()], dtype=float
        )

    def describe(self) -> dict[str, Any]:
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


def _categories(frame: pl.DataFrame) -> dict[str, list[str]]:
    return {c: sorted(v for v in frame[c].unique().to_list() if v is not None) for c in CATEGORICAL}


def _matrix(frame: pl.DataFrame, categories: dict[str, list[str]]) -> np.ndarray:
    cols = []
    for c in CATEGORICAL:
        lookup = {v: i for i, v in enumerate(categories[c])}
        codes = frame[c].replace_strict(lookup, default=None, return_dtype=pl.Float64)
        cols.append(codes.fill_null(np.nan).to_numpy())
    for c in NUMERIC:
        cols.append(frame[c].cast(pl.Float64).fill_null(np.nan).to_numpy())
    return np.column_stack(cols) if cols else np.zeros((frame.height, 0))


def _fit(train: pl.DataFrame, info: FrameInfo, random_state: int) -> Model:
    """The median regressor on all of `train` (time-ordered), and the residual distributions
    of a twin fitted on its older 70 % and scored on the newest 30 % (out of time, so they are
    as wide as a forecast's errors are)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_limits

    if train.height < 50:
        raise ValueError(f"too little history to train a forecast ({train.height} examples)")
    categories = _categories(train)
    x = _matrix(train, categories)
    y = np.log1p(train["remaining_h"].to_numpy())
    cat_mask = [True] * len(CATEGORICAL) + [False] * len(NUMERIC)

    def regressor() -> Any:
        return HistGradientBoostingRegressor(
            loss="absolute_error",
            max_iter=80,
            learning_rate=0.1,
            max_leaf_nodes=31,
            min_samples_leaf=100,
            l2_regularization=1.0,
            categorical_features=cat_mask,
            early_stopping=False,
            random_state=random_state,
        )

    split = int(len(y) * 0.7)
    with threadpool_limits(1, "openmp"):  # OpenMP threads only slow it down on a busy host
        twin = regressor().fit(x[:split], y[:split])
        res = y[split:] - twin.predict(x[split:])
        reg = regressor().fit(x, y)
    nodes = train["node"].to_numpy()[split:]
    residuals = {"": _thin(np.sort(res))}
    for node in np.unique(nodes):
        k = nodes == node
        if k.sum() >= MIN_NODE_RESIDUALS:
            residuals[str(node)] = _thin(np.sort(res[k]))

    med = train.group_by("node", maintain_order=True).agg(pl.col("remaining_h").median())
    return Model(
        regressor=reg,
        residuals=residuals,
        categories=categories,
        naive_h=dict(zip(med["node"].to_list(), med["remaining_h"].to_list(), strict=False)),
        naive_default_h=float(train["remaining_h"].median()),
        trained_as_of=info.end,
        horizon_h=info.horizon_ms / HOUR_MS,
        step_h=info.step_ms / HOUR_MS,
        sample_every=info.every,
        train_rows=train.height,
        random_state=random_state,
    )


MIN_NODE_RESIDUALS = 200


def _thin(sorted_values: np.ndarray, keep: int = 4001) -> np.ndarray:
    """At most `keep` evenly spaced order statistics (the distribution, in bounded size)."""
    if len(sorted_values) <= keep:
        return sorted_values
    return sorted_values[np.linspace(0, len(sorted_values) - 1, keep).round().astype(int)]


def _labelled(frame: pl.DataFrame, t_max_ms: int, known_by: datetime, t_min_ms: int | None = None):
    cond = (
        (pl.col("t_ms") < t_max_ms)
        & pl.col("delivered_at").is_not_null()
        & (pl.col("delivered_at") <= known_by)
    )
    if t_min_ms is not None:
        cond = cond & (pl.col("t_ms") >= t_min_ms)
    return frame.filter(cond)


def _reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> list[dict[str, Any]]:
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    out = []
    for b in range(bins):
        m = idx == b
        if m.any():
            out.append(
                {
                    "bin": f"{edges[b]:.1f}-{edges[b + 1]:.1f}",
                    "n": int(m.sum()),
                    "mean_predicted": round(float(p[m].mean()), 4),
                    "observed_rate": round(float(y[m].mean()), 4),
                }
            )
    return out


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(q) + (1 - y) * np.log(1 - q)))


def _backtest(frame: pl.DataFrame, info: FrameInfo, random_state: int, window_days: float) -> dict[str, Any]:
    end_ms = int(info.end.timestamp() * 1000)
    h = info.horizon_ms
    span = end_ms - info.first_ms
    # the test window, shrunk when the history is short (keep >= half the usable span to train)
    window = int(min(window_days * DAY_MS, max((span - 2 * h) // 3, DAY_MS)))
    cutoff_ms = end_ms - h - window
    cutoff = datetime.fromtimestamp(cutoff_ms / 1000, UTC)
    train = _labelled(frame, cutoff_ms - h, cutoff)
    test = _labelled(frame, end_ms - h, info.end, t_min_ms=cutoff_ms)
    result: dict[str, Any] = {
        "cutoff": cutoff,
        "test_window": [cutoff, datetime.fromtimestamp((end_ms - h) / 1000, UTC)],
        "train_examples": train.height,
        "test_examples": test.height,
        "test_orders": test["order_id"].n_unique(),
    }
    if train.height < 50 or test.height < 20:
        result["skipped"] = "not enough history before and after the cut-off"
        return result
    model = _fit(train, info, random_state)
    remaining, prob = model.predict(test)
    y = test["breach"].to_numpy().astype(float)
    actual = test["remaining_h"].to_numpy()
    naive = model.naive(test)
    base_rate = float(train["breach"].mean())
    live = test["to_promise_h"].to_numpy() > 0  # not yet past promised_at (no certain answer)
    brier = float(np.mean((prob - y) ** 2))
    brier_base = float(np.mean((base_rate - y) ** 2))
    mae = float(np.mean(np.abs(remaining - actual)))
    mae_naive = float(np.mean(np.abs(naive - actual)))
    result.update(
        {
            "breach_rate_train": round(base_rate, 5),
            "breach_rate_test": round(float(y.mean()), 5),
            "brier": round(brier, 6),
            "brier_base_rate": round(brier_base, 6),
            "brier_skill": round(1 - brier / brier_base, 4) if brier_base > 0 else None,
            "brier_before_promise": round(float(np.mean((prob[live] - y[live]) ** 2)), 6),
            "brier_base_rate_before_promise": round(float(np.mean((base_rate - y[live]) ** 2)), 6),
            "log_loss": round(_log_loss(prob, y), 5),
            "log_loss_base_rate": round(_log_loss(np.full_like(y, base_rate), y), 5),
            "reliability": _reliability(prob, y),
            "eta_mae_h": round(mae, 3),
            "naive_mae_h": round(mae_naive, 3),
            "mae_ratio": round(mae / mae_naive, 4) if mae_naive > 0 else None,
            "eta_median_ae_h": round(float(np.median(np.abs(remaining - actual))), 3),
        }
    )
    return result


def train(
    stores: Any,
    as_of: datetime | None = None,
    *,
    random_state: int = 0,
    max_rows: int = 120_000,
    backtest_days: float = 7.0,
    backtest: bool = True,
) -> Model:
    """Train on the history up to as_of (default: the data clock) and backtest on a held-out
    window before it (Model.backtest)."""
    frame, info = training_frame(stores, as_of, max_rows=max_rows)
    end_ms = int(info.end.timestamp() * 1000)
    result = _backtest(frame, info, random_state, backtest_days) if backtest else {}
    model = _fit(_labelled(frame, end_ms - info.horizon_ms, info.end), info, random_state)
    model.backtest = result
    return model


def forecast(
    stores: Any, model: Model | None = None, as_of: datetime | None = None, limit: int | None = None
) -> pl.DataFrame:
    """Open orders at as_of with expected remaining hours to delivery (the predicted median),
    ETA and breach probability, highest breach probability first."""
    as_of = _clock(stores, as_of)
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
    out = out.select(
        "order_id",
        "node",
        "entered_at",
        "expected_remaining_h",
        "eta",
        "breach_probability",
        "promised_at",
    ).sort(["breach_probability", "eta", "order_id"], descending=[True, True, False])
    return out.head(limit) if limit is not None else out
