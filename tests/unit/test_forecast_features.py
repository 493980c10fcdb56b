"""The forecast's pure parts on hand-made frames: training examples on the time grid (features,
load, shipment attachment, labels), prediction rows, the feature matrix, the breach probability
read off the residuals, the backtest figures and their JSON form. Every expected value is worked
out by hand in the comments."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from orderscope.analytics.forecast import CATEGORICAL, FEATURES, Backtest, Model, examples, open_rows
from orderscope.analytics.forecast.backtest import log_loss, reliability
from orderscope.analytics.forecast.features import labelled, shipments
from orderscope.analytics.forecast.model import matrix
from orderscope.analytics.forecast.results import ReliabilityBin, Scores
from orderscope.views.history import SHIPMENT_SCHEMA

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, 00:00 UTC
END = T0 + timedelta(hours=2)
RESTING = frozenset({"DELIVERED"})
UTC_US = pl.Datetime("us", "UTC")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def ms(minutes: float) -> int:
    return int(at(minutes).timestamp() * 1000)


def visits_frame() -> pl.DataFrame:
    """Order A: created 00:00, promised 10:00; CREATED 00:00-00:30, PICKING 00:30-01:30,
    DELIVERED from 01:30. Order B: created 00:15, promised 02:00; PICKING from 00:15, still
    there at the end (02:00). Both in warehouse WH-1."""
    rows = [
        ("A", "CREATED", at(0), at(30)),
        ("A", "PICKING", at(30), at(90)),
        ("A", "DELIVERED", at(90), None),
        ("B", "PICKING", at(15), None),
    ]
    created = {"A": at(0), "B": at(15)}
    promised = {"A": at(600), "B": at(120)}
    delivered = {"A": at(90), "B": None}
    return pl.DataFrame(
        {
            "order_id": [r[0] for r in rows],
            "node": [r[1] for r in rows],
            "visit": [1] * len(rows),
            "entered_at": [r[2] for r in rows],
            "left_at": [r[3] for r in rows],
            "created_at": [created[r[0]] for r in rows],
            "promised_at": [promised[r[0]] for r in rows],
            "region": ["North"] * len(rows),
            "warehouse_id": ["WH-1"] * len(rows),
            "channel": ["web"] * len(rows),
            "sku_category": ["toys"] * len(rows),
            "cross_border": [False] * len(rows),
            "delivered_at": [delivered[r[0]] for r in rows],
        },
        schema_overrides=dict.fromkeys(
            ("entered_at", "left_at", "created_at", "promised_at", "delivered_at"), UTC_US
        ),
    )


def ships_frame() -> pl.DataFrame:
    """A's parcel is handed to carrier CR01 at 01:00; B has no shipment."""
    return pl.DataFrame(
        {"order_id": ["A"], "carrier_id": ["CR01"], "service_level": ["standard"], "shipped_at": [at(60)]},
        schema=SHIPMENT_SCHEMA,
    )


@pytest.fixture(scope="module")
def grid() -> tuple[pl.DataFrame, object]:
    return examples(visits_frame(), ships_frame(), END, every=1, resting=RESTING)


def row(frame: pl.DataFrame, order: str, minutes: float) -> dict:
    hit = frame.filter((pl.col("order_id") == order) & (pl.col("t_ms") == ms(minutes)))
    assert hit.height == 1, (order, minutes, hit)
    return hit.row(0, named=True)


def test_the_grid_samples_open_visits_every_step(grid):
    frame, info = grid
    # little open time, so the step is the 15-minute floor; the instants t with entered <= t < stop
    assert info.step_ms == 15 * 60_000 and info.every == 1 and info.end == END
    assert info.first_ms == ms(0)
    assert info.horizon_ms == 5 * 24 * 3_600_000  # fewer than 20 orders delivered: 5 days
    # A CREATED: 00:00, 00:15; A PICKING: 00:30 .. 01:15 (delivered 01:30); B PICKING: 00:15 .. 01:45
    pairs = sorted(zip(frame["order_id"], frame["node"], frame["t_ms"], strict=True))
    expected = (
        [("A", "CREATED", ms(m)) for m in (0, 15)]
        + [("A", "PICKING", ms(m)) for m in (30, 45, 60, 75)]
        + [("B", "PICKING", ms(m)) for m in (15, 30, 45, 60, 75, 90, 105)]
    )
    assert pairs == sorted(expected)
    assert frame.columns == [
        "order_id",
        "t_ms",
        *FEATURES,
        "promised_at",
        "delivered_at",
        "remaining_h",
        "breach",
    ]
    assert frame["t_ms"].is_sorted()


def test_features_and_labels_by_hand(grid):
    frame, _ = grid
    a = row(frame, "A", 45)  # in PICKING since 00:30, created 00:00, promised 10:00, delivered 01:30
    assert a["node"] == "PICKING" and a["step_no"] == 2.0 and a["visit"] == 1.0
    assert a["in_node_h"] == pytest.approx(0.25)
    assert a["elapsed_h"] == pytest.approx(0.75)
    assert a["to_promise_h"] == pytest.approx(9.25)
    assert a["promise_h"] == pytest.approx(10.0)
    assert a["hour_of_week"] == 0.0  # Monday 00:45
    assert a["cross_border"] == 0.0
    assert a["remaining_h"] == pytest.approx(0.75)  # 01:30 - 00:45
    assert a["breach"] == 0
    b = row(frame, "B", 105)  # in PICKING since 00:15, promised 02:00, not delivered by the end
    assert b["step_no"] == 1.0
    assert b["in_node_h"] == pytest.approx(1.5) and b["elapsed_h"] == pytest.approx(1.5)
    assert b["to_promise_h"] == pytest.approx(0.25) and b["promise_h"] == pytest.approx(1.75)
    assert b["remaining_h"] is None and b["breach"] is None and b["delivered_at"] is None


def test_load_counts_the_open_visits_of_the_node_and_warehouse(grid):
    frame, _ = grid
    # PICKING x WH-1: B alone at 00:15; A and B from 00:30 (entered counts at its instant);
    # A has left at 01:30 (a visit that left at t no longer counts)
    loads = {m: row(frame, "B", m)["load"] for m in (15, 30, 45, 60, 75, 90, 105)}
    assert loads == {15: 1.0, 30: 2.0, 45: 2.0, 60: 2.0, 75: 2.0, 90: 1.0, 105: 1.0}
    assert row(frame, "A", 0)["load"] == 1.0  # CREATED x WH-1: A alone


def test_load_is_scaled_by_the_order_sampling():
    frame, info = examples(visits_frame(), ships_frame(), END, every=3, resting=RESTING)
    assert info.every == 3
    assert row(frame, "B", 30)["load"] == 6.0  # two sampled visits stand for six


def test_the_carrier_is_known_from_the_shipment_on(grid):
    frame, _ = grid
    assert row(frame, "A", 45)["carrier_id"] is None  # shipped at 01:00
    assert row(frame, "A", 60)["carrier_id"] == "CR01"
    assert row(frame, "A", 75)["service_level"] == "standard"
    assert row(frame, "B", 75)["carrier_id"] is None


def test_labelled_keeps_the_outcomes_known_in_time(grid):
    frame, _ = grid
    # t < 01:00 and delivered by 01:30: A's rows at 00:00, 00:15, 00:30, 00:45 (B is never delivered)
    kept = labelled(frame, ms(60), at(90))
    assert sorted(kept["t_ms"].to_list()) == [ms(0), ms(15), ms(30), ms(45)]
    assert labelled(frame, ms(60), at(89)).height == 0  # A's delivery not known yet
    assert labelled(frame, ms(60), at(90), t_min_ms=ms(30))["t_ms"].to_list() == [ms(30), ms(45)]


def test_open_rows_at_a_moment():
    frame = pl.DataFrame(
        {
            "order_id": ["A", "B", "C"],
            "node": ["PICKING", "PICKING", "DELIVERED"],
            "visit": [1, 2, 1],
            "entered_at": [at(30), at(15), at(90)],
            "created_at": [at(0), at(15), at(0)],
            "promised_at": [at(600), at(120), at(600)],
            "region": ["North"] * 3,
            "warehouse_id": ["WH-1"] * 3,
            "channel": ["web"] * 3,
            "sku_category": ["toys"] * 3,
            "cross_border": [False, True, False],
            "step_no": [2, 1, 3],
        },
        schema_overrides=dict.fromkeys(("entered_at", "created_at", "promised_at"), UTC_US),
    )
    got = open_rows(frame, ships_frame(), at(60), RESTING)
    assert got.columns == ["order_id", "entered_at", "promised_at", "t_ms", *FEATURES]
    assert got["order_id"].to_list() == ["A", "B"]  # C rests in DELIVERED
    a, b = got.rows(named=True)
    assert a["t_ms"] == ms(60) and a["load"] == 2.0 and b["load"] == 2.0
    assert a["in_node_h"] == pytest.approx(0.5) and a["elapsed_h"] == pytest.approx(1.0)
    assert a["carrier_id"] == "CR01"  # shipped at 01:00, the moment itself
    assert b["visit"] == 2.0 and b["step_no"] == 1.0 and b["cross_border"] == 1.0
    assert b["to_promise_h"] == pytest.approx(1.0)


def test_shipments_never_fail_the_forecast():
    def broken(*_args: object) -> pl.DataFrame:
        raise RuntimeError("graph store down")

    stores = SimpleNamespace(graph=SimpleNamespace(query=broken))
    got = shipments(stores)  # type: ignore[arg-type]
    assert got.height == 0 and got.schema == pl.Schema(SHIPMENT_SCHEMA)


def features_frame(**columns: list) -> pl.DataFrame:
    """A frame of every feature (nulls unless given)."""
    n = len(next(iter(columns.values())))
    data = {c: columns.get(c, [None] * n) for c in FEATURES}
    schema = {c: pl.String if c in CATEGORICAL else pl.Float64 for c in FEATURES}
    return pl.DataFrame(data, schema=schema)


def test_matrix_codes_categories_in_sorted_order():
    frame = features_frame(node=["PICKING", "PACKED", "SORTED"], load=[3.0, None, 1.0])
    codes = {c: [] for c in CATEGORICAL} | {"node": ["PACKED", "PICKING"]}
    x = matrix(frame, codes)
    assert x.shape == (3, len(FEATURES))
    node = x[:, FEATURES.index("node")]
    assert node[0] == 1.0 and node[1] == 0.0 and math.isnan(node[2])  # SORTED was never seen
    load = x[:, FEATURES.index("load")]
    assert load[0] == 3.0 and math.isnan(load[1]) and load[2] == 1.0


class _Median:
    """A stand-in regressor: every order has 2 h to go (log1p(2) is the predicted log median)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(len(x), math.log1p(2.0))


def stub_model() -> Model:
    return Model(
        regressor=_Median(),
        residuals={"": np.array([-1.0, 0.0, 1.0, 2.0]), "PICKING": np.array([-0.5, 0.5])},
        categories={c: [] for c in CATEGORICAL},
        naive_h={"PICKING": 3.0},
        naive_default_h=7.0,
        trained_as_of=END,
        horizon_h=120.0,
        step_h=0.25,
        sample_every=1,
        train_rows=13,
        random_state=0,
    )


def test_breach_probability_from_the_residuals():
    frame = features_frame(node=["PICKING", "PACKED", "PACKED"], to_promise_h=[2.0, 0.0, 100.0])
    remaining, prob = stub_model().predict(frame)
    assert remaining == pytest.approx([2.0, 2.0, 2.0])
    # PICKING: z = log1p(2) - log1p(2) = 0; one of its two residuals lies above: (1 + .5) / 3
    # PACKED (all nodes' residuals), already at the promise: certain breach
    # PACKED, 100 h to go: z = log1p(100) - log1p(2) = 3.5, above every residual: .5 / 5
    assert prob == pytest.approx([0.5, 1.0, 0.1])
    assert stub_model().naive(frame) == pytest.approx([3.0, 7.0, 7.0])


def test_reliability_and_log_loss_by_hand():
    p, y = np.array([0.05, 0.15, 0.95]), np.array([0.0, 1.0, 1.0])
    assert reliability(p, y) == [
        ReliabilityBin("0.0-0.1", 1, 0.05, 0.0),
        ReliabilityBin("0.1-0.2", 1, 0.15, 1.0),
        ReliabilityBin("0.9-1.0", 1, 0.95, 1.0),
    ]
    assert log_loss(p, y) == pytest.approx(-(math.log(0.95) + math.log(0.15) + math.log(0.95)) / 3)


def test_backtest_json_keeps_its_keys_in_order():
    window = (at(0), at(60))
    skipped = Backtest(at(0), window, 10, 5, 2, skipped="not enough history before and after the cut-off")
    assert list(skipped.to_dict()) == [
        "cutoff",
        "test_window",
        "train_examples",
        "test_examples",
        "test_orders",
        "skipped",
    ]
    assert skipped.to_dict()["test_window"] == [at(0), at(60)]
    scores = Scores(
        0.01, 0.02, 0.1, 0.2, 0.5, 0.1, 0.2, 0.3, 0.4, [ReliabilityBin("0.0-0.1", 5, 0.05, 0.0)], 1, 2, 0.5, 1
    )
    scored = Backtest(at(0), window, 10, 5, 2, scores=scores).to_dict()
    assert list(scored)[5:] == [
        "breach_rate_train",
        "breach_rate_test",
        "brier",
        "brier_base_rate",
        "brier_skill",
        "brier_before_promise",
        "brier_base_rate_before_promise",
        "log_loss",
        "log_loss_base_rate",
        "reliability",
        "eta_mae_h",
        "naive_mae_h",
        "mae_ratio",
        "eta_median_ae_h",
    ]
    assert scored["reliability"] == [{"bin": "0.0-0.1", "n": 5, "mean_predicted": 0.05, "observed_rate": 0.0}]
