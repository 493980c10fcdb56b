"""The backtest's figures as typed results, with the one JSON form `orderscope forecast --json`
prints (`to_dict`: the keys and their order are part of the output)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class ReliabilityBin:
    """Test examples whose predicted breach probability fell in one tenth of [0, 1]."""

    bin: str  # "0.3-0.4"
    n: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True)
class Scores:
    """How the model did on the held-out window, next to its baselines (rounded figures).

    Breach: Brier score and log loss against the base-rate forecast (the training breach rate),
    also restricted to examples not yet past promised_at; ETA: mean absolute error in hours
    against the naive per-node median remaining time."""

    breach_rate_train: float
    breach_rate_test: float
    brier: float
    brier_base_rate: float
    brier_skill: float | None
    brier_before_promise: float
    brier_base_rate_before_promise: float
    log_loss: float
    log_loss_base_rate: float
    reliability: list[ReliabilityBin]
    eta_mae_h: float
    naive_mae_h: float
    mae_ratio: float | None
    eta_median_ae_h: float


@dataclass(frozen=True)
class Backtest:
    """The held-out evaluation: the cut-off, the test window, the example counts, and either the
    scores or why there are none (`skipped`)."""

    cutoff: datetime
    test_window: tuple[datetime, datetime]
    train_examples: int
    test_examples: int
    test_orders: int
    scores: Scores | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cutoff": self.cutoff,
            "test_window": list(self.test_window),
            "train_examples": self.train_examples,
            "test_examples": self.test_examples,
            "test_orders": self.test_orders,
        }
        if self.skipped is not None:
            out["skipped"] = self.skipped
        if self.scores is not None:
            out.update(asdict(self.scores))
        return out


def backtest_dict(backtest: Backtest | None) -> dict[str, Any]:
    """The JSON form of a model's backtest (an empty object when it was not run)."""
    return backtest.to_dict() if backtest is not None else {}
