"""The units a question is about, loaded through the series port with the metric definitions of
orderscope.views.metrics: one row per unit (an order, or a visit to a node) of both periods with
its metric value y, its period flag per (1 = period) and its order dimensions.

node_dwell without a node slice first decomposes the change over nodes in the store and drills
into the node that contributes most; the nodes' own contributions become mechanism candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.rootcause.candidates import Candidate
from orderscope.analytics.rootcause.decomposition import SliceStats, Sums
from orderscope.analytics.rootcause.question import Question, RootCauseError
from orderscope.analytics.rootcause.scoring import bonferroni, norm_sf
from orderscope.ports import Stores
from orderscope.views.drilldown import node_totals
from orderscope.views.metrics import (
    Params,
    cycle_time_units,
    node_dwell_visits,
    order_stall_units,
    visit_stall_units,
)

__all__ = ["Population", "load_population", "unit_query"]


@dataclass
class Population:
    """The units of a question. `units` has a row number `unit`, y, per, order_id and the order
    dimensions (plus reentered for cycle time; stalled_nodes and looped for the order stall
    rate). `focus_node` is the node the metric is about (None: all of them)."""

    question: Question
    units: pl.DataFrame
    focus_node: str | None
    node_candidates: list[Candidate] = field(default_factory=list)

    @property
    def y(self) -> np.ndarray:
        return self.units["y"].to_numpy()

    @property
    def per(self) -> np.ndarray:
        return self.units["per"].to_numpy()

    def count(self, per: int) -> int:
        return int((self.units["per"] == per).sum()) if len(self.units) else 0

    def mean(self, per: int) -> float | None:
        ys = self.units.filter(pl.col("per") == per)["y"]
        return float(ys.mean()) if len(ys) else None  # type: ignore[arg-type]


def unit_query(question: Question, focus_node: str | None, order_slice: dict[str, Any], p: Params) -> str:
    """The SQL of the question's units for `order_slice` (the question's own, or none: its
    parent population), parameters collected in `p`."""
    catalog, window = question.catalog, question.window
    if question.metric == "cycle_time":
        return f"WITH {cycle_time_units(p, catalog, window, order_slice)} SELECT * FROM u"
    if question.metric == "node_dwell":
        assert focus_node is not None
        return f"WITH {node_dwell_visits(p, window, [focus_node], order_slice)} SELECT * FROM u"
    if focus_node is not None:
        return visit_stall_units(p, window, focus_node, catalog.sla_ms(focus_node) or 0, order_slice)
    return order_stall_units(p, catalog, window, order_slice)


def load_population(stores: Stores, question: Question) -> Population:
    focus_node: str | None = question.node
    node_candidates: list[Candidate] = []
    if question.metric == "node_dwell" and focus_node is None:
        focus_node, node_candidates = _pick_node(stores, question)
    catalog = question.catalog
    if question.metric == "stall_rate" and focus_node is not None and catalog.sla_ms(focus_node) is None:
        raise RootCauseError(f"{focus_node} is a resting node: it has no SLA, so no stalls")
    p = Params()
    sql = unit_query(question, focus_node, question.slice, p)
    units = (
        stores.series.query(sql, p.values)
        .with_columns(pl.col("y").cast(pl.Float64), pl.col("per").cast(pl.Int8))
        .with_row_index("unit")
        .with_columns(pl.col("unit").cast(pl.Int64))
    )
    return Population(question, units, focus_node, node_candidates)


def _pick_node(stores: Stores, question: Question) -> tuple[str, list[Candidate]]:
    """node_dwell without a node slice: decompose over the nodes with an SLA in SQL and drill
    into the node that contributes most (its share, then its surprise)."""
    catalog = question.catalog
    nodes = [n for n in catalog.nodes if catalog.sla_ms(n) is not None]
    agg = stores.series.query(*node_totals(question.window, nodes, question.slice))
    if agg.is_empty():
        return nodes[0], []
    rows = {(int(r["per"]), r["node"]): r for r in agg.iter_rows(named=True)}
    totals = [
        sum(float(r[k]) for (pp, _), r in rows.items() if pp == per)
        for per in (0, 1)
        for k in ("k", "s", "ss")
    ]
    if not totals[0] or not totals[3]:
        return max(rows.values(), key=lambda r: float(r["s"]))["node"], []
    stats = SliceStats(Sums(*totals))
    found: list[Candidate] = []
    for node in dict.fromkeys(n for _, n in rows):
        a, b = rows.get((0, node)), rows.get((1, node))
        sums = Sums(*(float(x[k]) if x else 0.0 for x in (a, b) for k in ("k", "s", "ss")))
        c, z, m0, m1 = stats.of_sums(sums)
        found.append(
            Candidate(
                dimension="node",
                value=node,
                contribution=c,
                surprise=z,
                baseline_mean=m0,
                period_mean=m1,
                baseline_units=int(sums.n0),
                period_units=int(sums.n1),
                kind="mechanism",
                share=c / stats.delta if stats.delta else 0.0,
                segment={"node": node},
            )
        )
    best = None
    for cand in found:  # the first of equals wins
        if best is None or (cand.share, cand.surprise) > (best.share, best.surprise):
            best = cand
    for cand in found:
        cand.p_adjusted = bonferroni(norm_sf(cand.surprise), len(found))
    return (best.value if best else nodes[0]), found
