"""The drill-down's working unit: a segment under test with its statistics (`Candidate`), and
the vocabulary of dimensions (which are entities, conditions, mechanisms; how specific each is).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from orderscope.analytics.rootcause.scoring import power as power_of
from orderscope.analytics.rootcause.scoring import raw_power as raw_power_of
from orderscope.analytics.rootcause.scoring import score as score_of

__all__ = ["CONDITION", "ENTITY", "LABEL", "MECHANISM", "Candidate", "kind_of"]

# Dimension kinds: entities are where a cause can be acted on; conditions and mechanisms explain.
ENTITY = {
    "equipment_id": "equipment",
    "inspector_id": "inspector",
    "zone_id": "zone",
    "broker_id": "broker",
    "carrier_id": "carrier",
    "warehouse_id": "warehouse",
    "sku_category": "sku category",
    "channel": "channel",
    "destination_country": "destination",
    "cross_border": "cross-border",
    "region": "region",
}
CONDITION = {
    "calibration": "equipment calibration",
    "humidity_band": "zone humidity",
    "broker_login_rate": "broker login rate",
}
MECHANISM = {"qc_result": "QC result", "node": "node", "flow": "flow"}
LABEL = {**ENTITY, **CONDITION, **MECHANISM}

# Ties are broken by specificity (a device before its zone before its warehouse), then by name:
# the same question always gets the same answer, whatever order the store returned rows in.
_SPECIFICITY = {
    "equipment_id": 0,
    "inspector_id": 0,
    "operator_id": 0,
    "zone_id": 1,
    "warehouse_id": 2,
    "region": 3,
}


def kind_of(dimension: str) -> str:
    """entity, condition or mechanism."""
    if dimension in CONDITION:
        return "condition"
    if dimension in MECHANISM:
        return "mechanism"
    return "entity"


@dataclass(eq=False)  # candidates are told apart by identity (they carry arrays)
class Candidate:
    """A segment (dimension = value, or an intersection) with what the decomposition said of it.

    contribution is in the metric's units (its share of the delta is `share`); the tail fields
    belong to the robust twin of a continuous metric (None / 0 where there is none). `mask`
    marks the segment's units in the population when it is known; `segment` is what the
    finding names (dimension -> value)."""

    dimension: str
    value: str
    contribution: float
    surprise: float
    baseline_mean: float
    period_mean: float
    baseline_units: int
    period_units: int
    kind: str = "entity"
    surprise_mean: float = 0.0
    surprise_tail: float = 0.0
    tail_contribution: float = 0.0
    share: float = 0.0
    tail_share: float | None = None
    p_adjusted: float = 1.0
    score: float = 0.0
    stage: bool = False  # time spent in a node (cycle time by stage): says where, never who
    slice_weight: float = 1.0
    segment: dict[str, str] = field(default_factory=dict)
    mask: np.ndarray | None = None
    rest_delta: float = 0.0  # the slice finding: how the rest of the parent population moved

    @property
    def key(self) -> tuple[str, str]:
        return self.dimension, self.value

    def power(self) -> float:
        return power_of(self.share, self.tail_share)

    def raw_power(self) -> float:
        return raw_power_of(self.share, self.tail_share)

    def rescore(self) -> Candidate:
        """Set `score` from the current share, tail share, p and kind; returns self."""
        self.score = score_of(self.power(), self.p_adjusted, self.kind, self.slice_weight)
        return self

    def tie(self) -> tuple[int, str, str]:
        """The tie-breaker after score: specificity, then names."""
        return _SPECIFICITY.get(self.dimension, 1), str(self.dimension), str(self.value)

    def ranked(self) -> tuple[float, float, int, str, str]:
        """Sort key: best score first, then the greater surprise, then the tie-breaker."""
        return (-self.score, -self.surprise, *self.tie())

    def copy(self) -> Candidate:
        return replace(self, segment=dict(self.segment))
