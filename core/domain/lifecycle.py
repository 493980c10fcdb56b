"""The order lifecycle catalog: 23 key nodes, SLA thresholds, legal transitions, reason codes.

The catalog is data (catalog/lifecycle.toml) so a deployment can swap it; this module only gives
it a typed shape and the lookups the state-change guard and the analytics need.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

LIFECYCLE_NODES: tuple[str, ...] = (
    "CREATED",
    "PAID",
    "RISK_CHECKED",
    "ALLOCATED",
    "WAVE_RELEASED",
    "PICKING",
    "PICKED",
    "QC_INSPECTING",
    "QC_PASSED",
    "PACKED",
    "SORTED",
    "LOADED",
    "HANDED_OVER",
    "DEPARTED_ORIGIN_HUB",
    "CUSTOMS_DECLARED",
    "CUSTOMS_CLEARED",
    "ARRIVED_DEST_HUB",
    "OUT_FOR_DELIVERY",
    "DELIVERED",
    "CANCELLED",
    "RETURN_REQUESTED",
    "RETURN_RECEIVED",
    "REFUNDED",
)


@dataclass(frozen=True)
class Transition:
    """One legal edge of the state machine. from_state None is an order's first event."""

    from_state: str | None
    to_state: str
    reason: str = "none"  # "required" | "optional" | "none"
    reasons: tuple[str, ...] = ()  # allowed codes; empty = any catalog code
    evidence: bool = False


@dataclass(frozen=True)
class Roles:
    """The nodes the metrics are defined by, named in the catalog's [roles] table.

    start: an order's first node (cycle time starts here); handover: the warehouse hands the
    parcel to the carrier (cycle time ends here); delivered: the customer has it (on-time is
    judged here); cancelled: the order was called off (it may be reinstated).
    """

    start: str = "CREATED"
    handover: str = "HANDED_OVER"
    delivered: str = "DELIVERED"
    cancelled: str = "CANCELLED"


@dataclass(frozen=True)
class Catalog:
    nodes: tuple[str, ...]
    sla_hours: dict[str, float]
    resting: frozenset[str]
    reasons: dict[str, str]
    transitions: tuple[Transition, ...] = field(repr=False)
    roles: Roles = Roles()
    # Named groups of nodes ([phases]): where an order is in the warehouse, at QC, in customs,
    # at the origin or destination hub. Root cause attaches a place's conditions to these.
    phases: dict[str, frozenset[str]] = field(default_factory=dict)

    def phase(self, name: str) -> frozenset[str]:
        """The nodes of phase `name` (empty when the catalog does not define it)."""
        return self.phases.get(name, frozenset())

    def before(self, node: str) -> tuple[str, ...]:
        """The nodes listed before `node` (all nodes when `node` is not in the catalog)."""
        return self.nodes[: self.nodes.index(node)] if node in self.nodes else self.nodes

    def sla_ms(self, node: str) -> int | None:
        hours = self.sla_hours.get(node)
        return None if hours is None else int(hours * 3_600_000)

    def transition(self, from_state: str | None, to_state: str) -> Transition | None:
        for t in self.transitions:
            if t.from_state == from_state and t.to_state == to_state:
                return t
        return None

    def transitions_frame(self) -> pl.DataFrame:
        """The legal edges as a frame, so the guard can validate a batch with one join."""
        return pl.DataFrame(
            {
                "from_state": [t.from_state for t in self.transitions],
                "to_state": [t.to_state for t in self.transitions],
                "reason_rule": [t.reason for t in self.transitions],
                "allowed_reasons": [list(t.reasons) for t in self.transitions],
                "evidence_required": [t.evidence for t in self.transitions],
            },
            schema={
                "from_state": pl.String,
                "to_state": pl.String,
                "reason_rule": pl.String,
                "allowed_reasons": pl.List(pl.String),
                "evidence_required": pl.Boolean,
            },
        )

    def sla_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            {"node": list(self.sla_hours), "sla_ms": [self.sla_ms(n) for n in self.sla_hours]},
            schema={"node": pl.String, "sla_ms": pl.Int64},
        )


def _parse(data: dict[str, Any]) -> Catalog:
    nodes_cfg: dict[str, dict[str, Any]] = data["nodes"]
    reasons: dict[str, str] = data["reasons"]
    transitions: list[Transition] = []
    for t in data.get("transitions", []):
        transitions.append(
            Transition(
                from_state=t["from"] or None,
                to_state=t["to"],
                reason=t.get("reason", "none"),
                reasons=tuple(t.get("reasons", ())),
                evidence=bool(t.get("evidence", False)),
            )
        )
    cancel = data.get("cancellable", {})
    for node in cancel.get("from", []):
        transitions.append(Transition(node, "CANCELLED", "required", tuple(cancel["reasons"])))
    amend = data.get("amend", {})
    for node in amend.get("nodes", []):
        transitions.append(Transition(node, node, "required", tuple(amend["reasons"])))
    unknown = {c for t in transitions for c in t.reasons} - set(reasons)
    if unknown:
        raise ValueError(f"catalog transitions name reason codes not in [reasons]: {sorted(unknown)}")
    states = {s for t in transitions for s in (t.from_state, t.to_state) if s}
    if states - set(nodes_cfg):
        raise ValueError(f"catalog transitions name unknown nodes: {sorted(states - set(nodes_cfg))}")
    roles = Roles(**data.get("roles", {}))
    phases = {name: frozenset(members) for name, members in data.get("phases", {}).items()}
    named = {*vars(roles).values(), *(n for members in phases.values() for n in members)}
    if named - set(nodes_cfg):
        raise ValueError(f"catalog [roles] or [phases] name unknown nodes: {sorted(named - set(nodes_cfg))}")
    return Catalog(
        nodes=tuple(nodes_cfg),
        sla_hours={n: float(c["sla_hours"]) for n, c in nodes_cfg.items() if "sla_hours" in c},
        resting=frozenset(n for n, c in nodes_cfg.items() if c.get("resting")),
        reasons=reasons,
        transitions=tuple(transitions),
        roles=roles,
        phases=phases,
    )


@cache
def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog at `path` (Settings.catalog, env ORDERSCOPE_CATALOG), or the shipped default."""
    if path:
        text = Path(path).read_text()
    else:
        text = resources.files("orderscope.domain").joinpath("catalog/lifecycle.toml").read_text()
    return _parse(tomllib.loads(text))
