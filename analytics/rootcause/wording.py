"""The English sentence of a finding: what it names, how much of the change it accounts for,
the two periods' values, the conditions that explain it, how confident the drill-down is."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from orderscope.analytics.rootcause.candidates import LABEL
from orderscope.analytics.rootcause.results import Finding, SegmentRef

__all__ = ["Change", "describe", "finding_sentence", "slice_sentence"]

# The order a segment's parts are named in: the most specific entity first.
_NAMING_ORDER = (
    "equipment_id",
    "inspector_id",
    "zone_id",
    "warehouse_id",
    "broker_id",
    "carrier_id",
    "channel",
    "sku_category",
    "region",
    "destination_country",
    "cross_border",
    "node",
)
_CONDITIONS_NAMED = 3


@dataclass(frozen=True)
class Change:
    """What changed: the metric (at `focus_node` for a node metric) and by how much."""

    metric: str
    focus_node: str | None
    delta: float

    def metric_words(self) -> str:
        if self.metric == "cycle_time":
            return "average fulfilment cycle time (created to handed over)"
        if self.metric == "node_dwell":
            return f"average dwell in {self.focus_node}"
        return "stall rate" + (f" at {self.focus_node}" if self.focus_node else "")

    def fmt(self, x: float | None) -> str:
        """A value of the metric: a percentage for a rate, hours otherwise."""
        if x is None:
            return "n/a"
        return f"{100 * x:.1f} %" if self.metric == "stall_rate" else f"{x:.2f} h"

    def delta_words(self) -> str:
        d = self.delta
        if self.metric == "stall_rate":
            return f"{'rise' if d >= 0 else 'fall'} of {abs(100 * d):.1f} points"
        return f"{'rise' if d >= 0 else 'fall'} of {abs(d):.2f} h"


def describe(segment: Mapping[str, str]) -> str:
    """'Equipment EQ-1 (zone Z-2, warehouse WH-N1)': the most specific part first."""
    order = _NAMING_ORDER
    keys = sorted(segment, key=lambda k: order.index(k) if k in order else len(order))
    parts = [f"{LABEL.get(k, k)} {segment[k]}" for k in keys]
    if not parts:
        return "The slice"
    text = parts[0] + (f" ({', '.join(parts[1:])})" if len(parts) > 1 else "")
    return text[0].upper() + text[1:]


def _named(conditions: list[SegmentRef]) -> str:
    return ", ".join(
        f"{LABEL.get(c.dimension, c.dimension)} {c.value}" for c in conditions[:_CONDITIONS_NAMED]
    )


def finding_sentence(fd: Finding, change: Change) -> str:
    """The sentence of a segment finding. When the metric fell overall, a finding worsened
    against the trend: its share is then one of all the increases seen."""
    seg = describe(fd.segment)
    st = fd.stats
    share = fd.contribution
    what = change.metric_words()
    if change.delta > 0:
        s = (
            f"{seg} accounts for {100 * max(share, 0):.0f} % of the {change.delta_words()} in {what}: "
            f"{change.fmt(st.period_mean)} against {change.fmt(st.baseline_mean)} in the baseline"
        )
    else:
        s = (
            f"{seg} worsened against the trend ({change.delta_words()} in {what} overall): "
            f"{change.fmt(st.period_mean)} against {change.fmt(st.baseline_mean)} in the baseline, "
            f"{100 * max(share, 0):.0f} % of all the increases seen"
        )
    if st.note:
        s = (
            f"Time spent in {fd.value} accounts for {100 * max(share, 0):.0f} % of the "
            f"{change.delta_words()} in {what} ({st.period_mean:.2f} h per order against "
            f"{st.baseline_mean:.2f} h)"
        )
    if fd.conditions:
        s += "; " + _named(fd.conditions)
    return s + f" ({fd.confidence} confidence)."


def slice_sentence(fd: Finding, change: Change, rest_delta: float | None) -> str:
    """The sentence of the slice against its parent population, whose rest moved by
    `rest_delta`."""
    st = fd.stats
    s = (
        f"The change is specific to {describe(fd.segment)}: {change.metric_words()} went from "
        f"{change.fmt(st.baseline_mean)} to {change.fmt(st.period_mean)} while the rest moved by "
        f"{change.fmt(rest_delta)}"
    )
    if st.interaction:
        s += ", and neither part of the combination alone explains it"
    if fd.conditions:
        s += "; driven by " + _named(fd.conditions)
    return s + f" ({fd.confidence} confidence)."
