"""From a candidate segment to a `Finding`: rounded figures, confidence, where the segment
sits (the zone and warehouse of a device, the device behind a place's failed inspections), its
sentence; and the state the ranking steps share (`Context`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from orderscope.analytics.rootcause.candidates import LABEL, Candidate
from orderscope.analytics.rootcause.decomposition import Dual
from orderscope.analytics.rootcause.membership import Membership, Records
from orderscope.analytics.rootcause.population import Population
from orderscope.analytics.rootcause.results import Finding, FindingStats, SegmentRef
from orderscope.analytics.rootcause.scoring import confidence, level
from orderscope.analytics.rootcause.wording import Change, finding_sentence

__all__ = ["STAGE_NOTE", "Context", "Shaped", "rounded", "shape", "single"]

STAGE_NOTE = "mean hours per order spent in the node before handover"
_DEVICE_SHARE = 0.7  # one device holding this share of a place's failed inspections is named
_DEVICE_MIN_REPORTS = 5


@dataclass
class Context:
    """What the ranking steps share: the population, its segments and records, the
    decomposition, the change in words, every segment tested by key, and the test count."""

    pop: Population
    members: Membership
    records: Records
    dual: Dual
    change: Change
    by_key: dict[tuple[str, str], Candidate] = field(default_factory=dict)
    tests: int = 1
    hosted: set[tuple[str, str]] = field(default_factory=set)  # segments a condition was pinned to


@dataclass
class Shaped:
    """A finding with the units it is about (None: not a set of units, e.g. stage time)."""

    finding: Finding
    mask: np.ndarray | None


def rounded(x: Any) -> float | None:
    return None if x is None else round(float(x), 4)


def shape(
    ctx: Context,
    cand: Candidate,
    dimension: str,
    value: str,
    segment: Mapping[str, str],
    context: Mapping[str, str],
    conditions: list[SegmentRef],
) -> Shaped:
    """The finding of `cand`, named dimension = value, about `segment` within `context`."""
    conf = confidence(cand.power(), cand.p_adjusted)
    where = dict(context)
    where.update(_derived_context(ctx, segment, where))
    fd = Finding(
        dimension=dimension,
        value=value,
        segment={**segment, **where},
        contribution=round(cand.share, 4),
        surprise=round(cand.surprise, 3),
        score=round(cand.score, 4),
        confidence=level(conf),
        confidence_value=round(conf, 3),
        kind=cand.kind,
        stats=FindingStats(
            baseline_mean=rounded(cand.baseline_mean),
            period_mean=rounded(cand.period_mean),
            baseline_units=int(cand.baseline_units),
            period_units=int(cand.period_units),
            p_adjusted=float(f"{cand.p_adjusted:.3g}"),
            note=STAGE_NOTE if cand.stage else None,
        ),
        explanation="",
        context=where,
        conditions=conditions,
    )
    mask = cand.mask
    if mask is None and not cand.stage and dimension in LABEL:
        mask = ctx.members.mask(dimension, value)
    return Shaped(_with_sentence(fd, ctx.change), mask)


def _with_sentence(fd: Finding, change: Change) -> Finding:
    return replace(fd, explanation=finding_sentence(fd, change))


def single(ctx: Context, cand: Candidate) -> Shaped:
    """The finding of one segment on its own."""
    c = cand.copy()
    if not c.segment:
        c.segment = {c.dimension: c.value}
    c.rescore()
    return shape(ctx, c, c.dimension, c.value, c.segment, {}, [])


def _derived_context(ctx: Context, segment: Mapping[str, str], known: Mapping[str, str]) -> dict[str, str]:
    """Where an equipment / inspector / zone sits (from its QC reports), so a finding names the
    warehouse and zone along with the device; the device that holds most failed inspections of
    a place; the node a node metric drilled into."""
    out: dict[str, str] = {}
    qc, qc_all = ctx.records.qc, ctx.records.qc_all
    if qc is None:
        return out
    for key in ("equipment_id", "inspector_id", "zone_id"):
        v = segment.get(key)
        if v is None:
            continue
        rows = qc.filter(pl.col(key) == v)
        for col, name in (("zone_id", "zone_id"), ("qc_warehouse_id", "warehouse_id")):
            if name in segment or name in known or name in out or rows.is_empty():
                continue
            out[name] = rows[col].mode().sort()[0]
    if (
        qc_all is not None
        and "equipment_id" not in segment
        and "equipment_id" not in known
        and ({"zone_id", "warehouse_id"} & (set(segment) | set(out)))
    ):
        out.update(_device_of_place(ctx, qc_all, segment, out))
    pop = ctx.pop
    if pop.focus_node is not None and pop.question.node is None and "node" not in segment:
        out["node"] = pop.focus_node
    return out


def _device_of_place(
    ctx: Context, qc_all: pl.DataFrame, segment: Mapping[str, str], found: Mapping[str, str]
) -> dict[str, str]:
    """Follow the QC reports: does one device hold the failed inspections of this place?"""
    period = ctx.pop.question.window.period
    rep = qc_all.filter(
        (pl.col("result") != "pass")
        & (pl.col("inspected_at") >= period.start)
        & (pl.col("inspected_at") < period.end)
    )
    zone = segment.get("zone_id") or found.get("zone_id")
    if zone:
        rep = rep.filter(pl.col("zone_id") == zone)
    else:
        rep = rep.filter(
            pl.col("qc_warehouse_id") == (segment.get("warehouse_id") or found.get("warehouse_id"))
        )
    out: dict[str, str] = {}
    if len(rep) < _DEVICE_MIN_REPORTS:
        return out
    top = (
        rep.group_by("equipment_id", maintain_order=True)
        .len()
        .sort(["len", "equipment_id"], descending=[True, False])
    )
    eq, k = top.row(0)
    if k >= _DEVICE_SHARE * len(rep):
        out["equipment_id"] = eq
        if not zone:
            out["zone_id"] = rep.filter(pl.col("equipment_id") == eq)["zone_id"].mode().sort()[0]
    return out
