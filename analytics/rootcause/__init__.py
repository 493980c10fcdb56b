"""Root-cause drill-down: explain a metric change between two periods for a slice.

    from orderscope.analytics.rootcause import explain
    answer = explain(stores, "cycle_time", {"region": "North"}, parse_period("2026-W47"),
                     parse_period("2026-W46"))
    answer.findings[0].explanation, answer.to_dict()  # the CLI's --json

Metrics (defined in orderscope.views.metrics; all in the store's own time, UTC):
  cycle_time  -- hours from an order's first roles.start to its first roles.handover, the order
                 in the period in which it was handed over.
  node_dwell  -- hours of a visit to a node (closed visits by left_at, open ones by entered_at,
                 dwelling up to the data clock). Without a node slice: the node that moved most.
  stall_rate  -- sliced by `node`: visits of that node past its SLA. Otherwise: orders created
                 in the period that stalled anywhere, or were reinstated after roles.cancelled.

Method, one module per step:
  question       the question checked (metric, slice, periods) before a store is read;
  population     one SQL query yields the slice's units of both periods with their metric value
                 and order dimensions;
  membership     graph hops (QC reports, shipments, customs declarations, calibrations) and
                 series conditions (zone humidity, broker login rate) joined in polars into a
                 unit -> (dimension, value) table;
  decomposition  every segment's mix + rate contribution to the delta and its surprise z
                 (pure: usable on any frame of dimensions, a metric and a period flag);
  scoring        Bonferroni-adjusted p, explanatory power, score, confidence and its level;
  merging        segments telling the same story become one finding (their intersection);
  contrast       the slice against its parent population (a change specific to a combination);
  findings       the ranking that strings these together; shaping / wording make each finding
                 and its sentence;
  evidence       from the top findings through the graph and the series to record ids;
  analysis       `explain`, the use case; results: the typed answer and its one JSON form.
"""

from orderscope.analytics.rootcause.analysis import explain
from orderscope.analytics.rootcause.question import METRICS, UNITS, RootCauseError
from orderscope.analytics.rootcause.results import (
    ClimateDetail,
    Evidence,
    Explanation,
    Finding,
    FindingStats,
    SegmentRef,
    SessionDetail,
)

__all__ = [
    "METRICS",
    "UNITS",
    "ClimateDetail",
    "Evidence",
    "Explanation",
    "Finding",
    "FindingStats",
    "RootCauseError",
    "SegmentRef",
    "SessionDetail",
    "explain",
]
