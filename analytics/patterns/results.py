"""What the stall-pattern miner and library return: typed results, each with its one JSON form
(`to_dict`), the form `orderscope patterns ... --json` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class Pattern:
    """A mined itemset and its figures within the window."""

    id: str
    items: tuple[str, ...]  # "attribute=value", node first, then ATTRIBUTES order
    name: str
    stalls: int  # stalled visits matching all items
    visits: int  # visits matching all items
    support: float  # stalls / all stalls of the window
    confidence: float  # stalls / visits: P(stall | items)
    risk_ratio: float  # P(stall | items) / P(stall | not items), within nodes
    expected: float  # stalls expected from the node stall rates alone
    p_value: float
    p_adjusted: float
    significant: bool
    top_node: str
    dwell_band: dict[str, int] = field(default_factory=dict)
    related: list[str] = field(default_factory=list)  # items of equivalent itemsets

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["items"] = list(self.items)
        return d


@dataclass
class MiningRun:
    """One mining of a window: its patterns and, when recorded, the new hits of kept ones."""

    since: datetime
    until: datetime
    transactions: int
    stalls: int
    tested: int
    patterns: list[Pattern]  # ranked, non-redundant; significant first
    run_id: str | None = None
    new_hits: dict[str, int] = field(default_factory=dict)  # library name -> hits added

    @property
    def significant(self) -> int:
        return sum(p.significant for p in self.patterns)

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        pats = self.patterns[:top] if top else self.patterns
        return {
            "since": self.since,
            "until": self.until,
            "transactions": self.transactions,
            "stalls": self.stalls,
            "tested": self.tested,
            "significant": self.significant,
            "patterns": [p.to_dict() for p in pats],
            "run_id": self.run_id,
            "new_hits": self.new_hits,
        }


@dataclass
class LibraryEntry:
    """One version of a kept pattern (a pattern_library row) and whether `keep` just added it."""

    name: str
    version: int
    pattern_id: str
    items: str  # JSON list of "attribute=value", canonical order
    created_at: datetime
    support: float | None
    risk_ratio: float | None
    p_adjusted: float | None
    stalls: int | None
    note: str | None
    created: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any], created: bool) -> LibraryEntry:
        return cls(**{k: row[k] for k in _ROW}, created=created)

    def row(self) -> dict[str, Any]:
        """The pattern_library row (what the series port stores)."""
        return {k: getattr(self, k) for k in _ROW}

    def to_dict(self) -> dict[str, Any]:
        return {**self.row(), "created": self.created}


_ROW = (
    "name",
    "version",
    "pattern_id",
    "items",
    "created_at",
    "support",
    "risk_ratio",
    "p_adjusted",
    "stalls",
    "note",
)


@dataclass
class TrackedPattern:
    """A library entry with its hits: in all, per mining run and per ISO week, and the trend."""

    name: str
    version: int
    pattern_id: str
    created_at: datetime
    support: float | None
    risk_ratio: float | None
    p_adjusted: float | None
    stalls: int | None
    note: str | None
    items: list[str]
    label: str
    hits: int
    hits_per_run: list[dict[str, Any]]  # run_id, hits, at (first recorded)
    hits_per_week: list[dict[str, Any]]  # week ("2026-W47"), hits
    trend: str  # rising | falling | steady | none

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["LibraryEntry", "MiningRun", "Pattern", "TrackedPattern"]
