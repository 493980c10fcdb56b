"""The slice against its parent population (the slice's keys dropped): is the change specific
to the slice, or did everything move? A change specific to a combination of keys (marketplace x
electronics, but neither alone) is an interaction, and ranks in full as a compound finding."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from orderscope.analytics.rootcause.candidates import Candidate
from orderscope.analytics.rootcause.decomposition import SliceStats, Sums
from orderscope.analytics.rootcause.merging import SAME_STORY
from orderscope.analytics.rootcause.population import unit_query
from orderscope.analytics.rootcause.results import SegmentRef
from orderscope.analytics.rootcause.scoring import MEDIUM, bonferroni, norm_sf
from orderscope.analytics.rootcause.shaping import Context, Shaped, rounded, shape
from orderscope.analytics.rootcause.wording import slice_sentence
from orderscope.ports import Stores
from orderscope.views.drilldown import slice_contrast
from orderscope.views.metrics import Params

__all__ = ["SLICE_TESTS", "place_slice_finding", "slice_finding"]

SLICE_TESTS = 10  # the slice against its parent is one question; allow for a few asked in a row

Row = dict[str, Any]


def _text(v: Any) -> Any:
    """A slice value as the units' text columns hold it (cross_border is cast to text)."""
    return "true" if v is True else "false" if v is False else v


def _anything(r: Row) -> bool:
    return True


def _flag(i: int) -> Callable[[Row], bool]:
    """Rows of units matching the slice's i-th key."""
    return lambda r: int(r[f"f{i}"]) == 1


def _sums(rows: list[Row], pred: Callable[[Row], bool]) -> Sums:
    """Count, sum, sum of squares per period over the contrast's rows matching `pred`."""
    out: list[float] = []
    for pp in (0, 1):
        out += [sum(float(r[k]) for r in rows if int(r["per"]) == pp and pred(r)) for k in ("n", "s", "ss")]
    return Sums(*out)


def _twin_sums(rows: list[Row], pred: Callable[[Row], bool]) -> tuple[float, float]:
    """The twin indicator's sum per period over the rows matching `pred`."""
    s0, s1 = (sum(float(r["se"] or 0) for r in rows if int(r["per"]) == pp and pred(r)) for pp in (0, 1))
    return s0, s1


def _explains(parent: SliceStats, c: float, key: Sums) -> bool:
    """Within the parent, the slice explains most of one key's change (its contribution c
    keeps SAME_STORY of the key's): all keys explained is an interaction."""
    ck = parent.of_sums(key).contribution
    return ck * parent.sign > 0 and c * parent.sign >= SAME_STORY * ck * parent.sign


def slice_finding(stores: Stores, ctx: Context) -> Shaped | None:
    """The slice's own finding, or None when the question has no order slice (or the parent
    population is empty in a period)."""
    pop = ctx.pop
    keys = list(pop.question.slice)
    if not keys:
        return None
    p = Params()
    vals = [_text(v) for v in pop.question.slice.values()]
    cols = pop.units.columns
    twin = "looped" if "looped" in cols else "reentered" if "reentered" in cols else None
    sql = slice_contrast(unit_query(pop.question, pop.focus_node, {}, p), p, keys, vals, twin)
    agg = stores.series.query(sql, p.values)
    if agg.is_empty():
        return None
    a = agg.to_dicts()
    tot = _sums(a, _anything)
    if not tot.n0 or not tot.n1:
        return None
    parent = SliceStats(tot, sign=ctx.dual.m.sign)

    def in_slice(r: Row) -> bool:
        return all(int(r[f"f{i}"]) == 1 for i in range(len(keys)))

    full = _sums(a, in_slice)
    if full.n1 == 0:
        return None
    c, z, m0, m1 = parent.of_sums(full)
    if twin is not None:  # the same contrast on the twin indicator (0/1: ss = s)
        tw, fs = _twin_sums(a, _anything), _twin_sums(a, in_slice)
        pt = SliceStats(Sums(tot.n0, tw[0], tw[0], tot.n1, tw[1], tw[1]), sign=parent.sign)
        z = max(z, pt.of_sums(Sums(full.n0, fs[0], fs[0], full.n1, fs[1], fs[1])).surprise)
    specific = len(keys) > 1 and all(_explains(parent, c, _sums(a, _flag(i))) for i in range(len(keys)))
    # the rest of the parent population: did it change the same way?
    rest = [tot.n0 - full.n0, tot.s0 - full.s0, tot.n1 - full.n1, tot.s1 - full.s1]
    rest_delta = (rest[3] / rest[2] - rest[1] / rest[0]) if rest[0] and rest[2] else 0.0
    own_delta = ctx.dual.m.delta
    share = 1.0 - max(0.0, rest_delta) / own_delta if own_delta > 0 else 0.0
    cand = Candidate(
        dimension="+".join(keys),
        value="+".join(str(v) for v in vals),
        contribution=c,
        surprise=z,
        baseline_mean=m0,
        period_mean=m1,
        baseline_units=int(full.n0),
        period_units=int(full.n1),
        share=max(0.0, min(1.0, share)),
        p_adjusted=bonferroni(norm_sf(z), SLICE_TESTS * (2 if twin else 1)),
        segment={k: str(v) for k, v in zip(keys, vals, strict=False)},
        slice_weight=1.0 if specific else 0.5,
        rest_delta=rest_delta,
    ).rescore()
    shaped = shape(ctx, cand, cand.dimension, cand.value, cand.segment, {}, [])
    fd = shaped.finding
    stats = replace(fd.stats, rest_of_population_delta=rounded(rest_delta), interaction=specific)
    fd = replace(fd, kind="slice", stats=stats)
    fd = replace(fd, explanation=slice_sentence(fd, ctx.change, rest_delta))
    return Shaped(fd, np.ones(len(pop.units), bool))


def place_slice_finding(ctx: Context, sf: Shaped, out: list[Shaped]) -> list[Shaped]:
    """An entity finding inside the slice that explains most of its change is the more
    specific story: then the slice finding only ranks by its own score. Otherwise the
    conditions and mechanisms that explain most of the change are attached to it."""
    if any(s.finding.kind == "entity" and s.finding.confidence_value >= MEDIUM for s in out):
        return [*out, sf]
    conds: list[SegmentRef] = []
    rest: list[Shaped] = []
    masks: list[np.ndarray] = []
    for s in out:
        fd = s.finding
        if fd.kind in ("condition", "mechanism") and fd.contribution >= SAME_STORY and fd.stats.note is None:
            conds.append(SegmentRef(fd.dimension, fd.value, fd.contribution, fd.surprise))
            if s.mask is not None:
                masks.append(s.mask)
        else:
            rest.append(s)
    fd = sf.finding
    if conds:
        fd = replace(fd, conditions=conds)
    mask = np.logical_or.reduce(masks) if masks else sf.mask
    fd = replace(fd, explanation=slice_sentence(fd, ctx.change, fd.stats.rest_of_population_delta))
    return [Shaped(fd, mask), *rest]
