"""What the drill-down answers: an `Explanation` of a metric change with its ranked `Finding`s.

Each type has one JSON form, `to_dict()`: the keys, their order and their values are the CLI's
`--json` output (datetimes stay datetimes; the entrypoint's JSON writer renders them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orderscope.domain.periods import Period

__all__ = [
    "ClimateDetail",
    "Evidence",
    "Explanation",
    "Finding",
    "FindingStats",
    "SegmentRef",
    "SessionDetail",
]


@dataclass(frozen=True)
class SegmentRef:
    """A segment named alongside a finding: a condition that explains it, or a related entity."""

    dimension: str
    value: str
    contribution: float
    surprise: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "value": self.value,
            "contribution": self.contribution,
            "surprise": self.surprise,
        }


@dataclass(frozen=True)
class FindingStats:
    """The finding's segment in both periods. `note` marks a stage-time finding (cycle time by
    node); `rest_of_population_delta` and `interaction` belong to the slice-against-parent one."""

    baseline_mean: float | None
    period_mean: float | None
    baseline_units: int
    period_units: int
    p_adjusted: float
    note: str | None = None
    rest_of_population_delta: float | None = None
    interaction: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "baseline_mean": self.baseline_mean,
            "period_mean": self.period_mean,
            "baseline_units": self.baseline_units,
            "period_units": self.period_units,
            "p_adjusted": self.p_adjusted,
        }
        if self.note is not None:
            out["note"] = self.note
        if self.interaction is not None:
            out["rest_of_population_delta"] = self.rest_of_population_delta
            out["interaction"] = self.interaction
        return out


@dataclass(frozen=True)
class ClimateDetail:
    """The readings of the zone named by a finding, over the period."""

    zone_id: str
    start: datetime
    end: datetime
    readings: int
    avg_humidity_pct: float | None
    max_humidity_pct: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "zone_id": self.zone_id,
            "from": self.start,
            "to": self.end,
            "readings": self.readings,
            "avg_humidity_pct": self.avg_humidity_pct,
            "max_humidity_pct": self.max_humidity_pct,
        }


@dataclass(frozen=True)
class SessionDetail:
    """The login spike of the brokers named by a finding."""

    actor_ids: list[str]
    start: datetime
    end: datetime
    spike_logins: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "actor_ids": self.actor_ids,
            "from": self.start,
            "to": self.end,
            "spike_logins": self.spike_logins,
        }


@dataclass(frozen=True)
class Evidence:
    """Record ids per source kind. `looked_up` is False for findings no look-up was made for
    (below the top few, or with no units to follow): their JSON holds the empty ids only."""

    records: dict[str, list[str]] = field(default_factory=dict)
    looked_up: bool = False
    climate: ClimateDetail | None = None
    sessions: SessionDetail | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"evidence": self.records}
        if not self.looked_up:
            return out
        out["evidence_counts"] = {k: len(v) for k, v in self.records.items()}
        detail: dict[str, Any] = {}
        if self.climate is not None:
            detail["climate_readings"] = self.climate.to_dict()
        if self.sessions is not None:
            detail["operator_sessions"] = self.sessions.to_dict()
        if detail:
            out["evidence_detail"] = detail
        return out


@dataclass(frozen=True)
class Finding:
    """One ranked explanation: a segment (dimension = value, or an intersection a+b = x+y), how
    much of the change it accounts for, how surprising that is, and the records behind it.

    kind: entity (where a cause can be acted on), condition, mechanism, or slice (the slice
    itself against its parent population)."""

    dimension: str
    value: str
    segment: dict[str, str]
    contribution: float
    surprise: float
    score: float
    confidence: str
    confidence_value: float
    kind: str
    stats: FindingStats
    explanation: str
    context: dict[str, str] = field(default_factory=dict)
    conditions: list[SegmentRef] = field(default_factory=list)
    related: list[SegmentRef] = field(default_factory=list)
    evidence: Evidence = field(default_factory=Evidence)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "dimension": self.dimension,
            "value": self.value,
            "segment": self.segment,
            "contribution": self.contribution,
            "surprise": self.surprise,
            "score": self.score,
            "confidence": self.confidence,
            "confidence_value": self.confidence_value,
            "kind": self.kind,
            "stats": self.stats.to_dict(),
        }
        if self.context:
            out["context"] = self.context
        conditions = [c.to_dict() for c in self.conditions]
        # a slice finding's conditions are attached once the others are ranked: they follow
        # its explanation
        if conditions and self.kind != "slice":
            out["conditions"] = conditions
        out["explanation"] = self.explanation
        if self.related:
            out["related"] = [r.to_dict() for r in self.related]
        if conditions and self.kind == "slice":
            out["conditions"] = conditions
        out.update(self.evidence.to_dict())
        return out


@dataclass(frozen=True)
class Explanation:
    """The answer to "why did `metric` change for `slice` between `baseline` and `period`".

    `value` and `units` give the metric and the number of units in each period; `focus_node`
    the node a node_dwell question without a node drilled into; `note` why nothing could be
    decomposed (a period without units)."""

    metric: str
    slice: dict[str, Any]
    period: Period
    baseline: Period
    value_period: float | None
    value_baseline: float | None
    delta: float | None
    units_period: int
    units_baseline: int
    findings: list[Finding] = field(default_factory=list)
    focus_node: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "metric": self.metric,
            "slice": self.slice,
            "period": self.period.label,
            "baseline": self.baseline.label,
            "period_range": [self.period.start, self.period.end],
            "baseline_range": [self.baseline.start, self.baseline.end],
            "value": {"period": self.value_period, "baseline": self.value_baseline, "delta": self.delta},
            "units": {"period": self.units_period, "baseline": self.units_baseline},
        }
        if self.focus_node is not None:
            out["focus_node"] = self.focus_node
        out["findings"] = [f.to_dict() for f in self.findings]
        if self.note is not None:
            out["note"] = self.note
        return out
