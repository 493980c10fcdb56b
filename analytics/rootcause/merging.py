"""Segments telling the same story become one finding.

Two candidates of different dimensions tell the same story when their intersection keeps at
least SAME_STORY of the smaller one's contribution (on the tail indicator for a continuous
metric: robust to outliers). A group's finding is the narrowest intersection of its entity
segments that keeps NARROW of the strongest one's explanatory power, named by the fewest
segments that pin it down; the group's other entities are context (they contain it) or related;
its conditions and mechanisms are attached. A condition on its own is pinned to the narrowest
entity that holds its story (the broker of a login spike, the zone of a humidity excursion).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl

from orderscope.analytics.rootcause.candidates import ENTITY, Candidate
from orderscope.analytics.rootcause.decomposition import Dual
from orderscope.analytics.rootcause.results import SegmentRef
from orderscope.analytics.rootcause.scoring import bonferroni, norm_sf
from orderscope.analytics.rootcause.shaping import Context, Shaped, shape

__all__ = ["HOST_MAX", "NARROW", "SAME_STORY", "group_finding", "merge"]

SAME_STORY = 0.75
NARROW = 0.9  # a narrower intersection must keep this share of the story's explanatory power
HOST_MAX = 0.5  # a host holding more of the period's units than this pins nothing down
HOST_COVER = 0.8  # a host holds this share of a condition's period units
NAMED_WITHIN = 1.05  # the naming segments' intersection may exceed the finding by 5 %

Masks = dict[tuple[str, str], np.ndarray]


def merge(cands: list[Candidate], masks: Masks, dual: Dual) -> list[list[Candidate]]:
    """Groups of candidates telling the same story (union-find), in the order of their first
    member."""
    parent = list(range(len(cands)))
    st = dual.t

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def tail(c: Candidate) -> float:
        return (c.contribution if dual.binary else c.tail_contribution) * st.sign

    for i in range(len(cands)):
        for j in range(i + 1, len(cands)):
            a, b = cands[i], cands[j]
            if a.dimension == b.dimension:
                continue
            ca, cb = tail(a), tail(b)
            if ca <= 0 or cb <= 0:
                continue
            (ci, _, _, _), _ = st.of_mask(masks[a.key] & masks[b.key])
            if ci * st.sign >= SAME_STORY * min(ca, cb):  # the smaller story lies mostly inside the larger
                parent[find(j)] = find(i)
    groups: dict[int, list[Candidate]] = {}
    for i, c in enumerate(cands):
        groups.setdefault(find(i), []).append(c)
    return list(groups.values())


def _keeps(dual: Dual, cur: np.ndarray, narrowed: np.ndarray) -> bool:
    """Narrowing a finding to `narrowed` is accepted when it keeps >= NARROW of its (unclipped)
    explanatory power and the part left out shows no change of its own (surprise < 1)."""
    if narrowed.sum() == cur.sum():
        return True
    if dual.of_mask(narrowed).raw_power() < NARROW * dual.of_mask(cur).raw_power():
        return False
    return dual.of_mask(cur & ~narrowed).surprise < 1.0


def _ref(c: Candidate) -> SegmentRef:
    return SegmentRef(c.dimension, c.value, round(c.share, 3), round(c.surprise, 2))


def group_finding(ctx: Context, group: list[Candidate], masks: Masks) -> Shaped:
    """One finding for a group telling the same story (see the module doc). Segments pinned
    to a condition are added to `ctx.hosted`."""
    dual = ctx.dual
    conds = [c for c in group if c.kind != "entity"]
    lead = min(group, key=Candidate.ranked)
    cur = masks[lead.key].copy()
    goal = NARROW * dual.of_mask(cur).power()
    related: list[Candidate] = []
    included = [lead]
    for c in sorted(
        (c for c in group if c.kind == "entity"), key=lambda c: (-c.power(), -c.surprise, *c.tie())
    ):
        if c is lead:
            continue
        if _keeps(dual, cur, cur & masks[c.key]):
            cur = cur & masks[c.key]
            included.append(c)
        else:
            related.append(c)
    if lead.kind != "entity" and len(included) == 1:
        host = _host(ctx, cur, goal, {c.key for c in group})
        if host is not None:
            c, m = host
            cur = cur & m
            masks[c.key] = m
            ctx.hosted.add(c.key)
            included.append(c)
    if lead.kind != "entity" and len(included) > 1:
        included.remove(lead)  # an entity pins the story down; the condition explains it
    else:
        conds = [c for c in conds if c is not lead]
    core, context = _naming(included, masks, max(int(cur.sum()), 1))
    s = dual.of_mask(cur)
    stat = Candidate(
        dimension="+".join(c.dimension for c in core),
        value="+".join(c.value for c in core),
        contribution=s.contribution,
        surprise=s.surprise,
        baseline_mean=s.baseline_mean,
        period_mean=s.period_mean,
        baseline_units=s.baseline_units,
        period_units=s.period_units,
        share=s.share,
        tail_share=s.tail_share,
        kind=core[0].kind if len(core) == 1 else "entity",
        mask=cur,
    )
    stat.p_adjusted = bonferroni(norm_sf(stat.surprise), ctx.tests)
    stat.rescore()
    conditions = [_ref(c) for c in sorted(conds, key=lambda c: (-c.score, *c.tie()))]
    segment = {c.dimension: c.value for c in core}
    shaped = shape(
        ctx, stat, stat.dimension, stat.value, segment, {c.dimension: c.value for c in context}, conditions
    )
    if related:
        shaped.finding = replace(shaped.finding, related=[_ref(c) for c in related])
    return shaped


def _naming(included: list[Candidate], masks: Masks, size: int) -> tuple[list[Candidate], list[Candidate]]:
    """(core, context): the fewest included segments, smallest first, whose intersection is
    (about) the finding's `size` units; the others contain it."""
    included = sorted(included, key=lambda c: (masks[c.key].sum(), *c.tie()))
    core: list[Candidate] = []
    inter: np.ndarray | None = None
    for c in included:
        nxt = masks[c.key] if inter is None else inter & masks[c.key]
        if inter is None or nxt.sum() < inter.sum():
            core.append(c)
            inter = nxt
        if inter.sum() <= NAMED_WITHIN * size:
            break
    return core, [c for c in included if all(c is not k for k in core)]


def _host(
    ctx: Context, cur: np.ndarray, goal: float, skip: set[tuple[str, str]]
) -> tuple[Candidate, np.ndarray] | None:
    """The narrowest entity segment holding a condition's story (>= HOST_COVER of its period
    units, and `goal` of its explanatory power)."""
    per = ctx.pop.per
    units = np.flatnonzero(cur & (per == 1))
    if len(units) == 0:
        return None
    table = ctx.members.table
    cover = (
        table.filter(pl.col("unit").is_in(units) & pl.col("dim").is_in(list(ENTITY)))
        .group_by("dim", "value", maintain_order=True)
        .agg(pl.len().alias("k"))
        .filter(pl.col("k") >= HOST_COVER * len(units))
    )
    best: tuple[int, Candidate] | None = None
    for d, v, _ in cover.iter_rows():
        c = ctx.by_key.get((d, v))
        if c is None or (d, v) in skip or c.period_units > HOST_MAX * ctx.dual.m.N1:
            continue
        size = c.baseline_units + c.period_units
        if best is None or size < best[0]:
            best = (size, c)
    if best is None:
        return None
    c = best[1]
    m = ctx.members.mask(c.dimension, c.value)
    if ctx.dual.of_mask(cur & m).power() < goal:
        return None
    return c, m
