"""Ranking: every segment of the membership decomposed and tested, the candidates that explain
a real part of the change merged into stories, the rest kept as single findings, stage time
(cycle time by node) and the node picked by node_dwell added, the slice set against its parent
population, all sorted by score.

p-values are Bonferroni-adjusted over every segment tested (twice for a continuous metric: the
mean and its robust twin), so noise across hundreds of segments does not look like a cause.
"""

from __future__ import annotations

import math

import numpy as np

from orderscope.analytics.rootcause.candidates import Candidate, kind_of
from orderscope.analytics.rootcause.contrast import place_slice_finding, slice_finding
from orderscope.analytics.rootcause.decomposition import Dual, SliceStats, Sums, segment_sums
from orderscope.analytics.rootcause.membership import HUMIDITY_BANDS, Membership, Records
from orderscope.analytics.rootcause.merging import SAME_STORY, group_finding, merge
from orderscope.analytics.rootcause.population import Population
from orderscope.analytics.rootcause.scoring import bonferroni, norm_sf, share_of
from orderscope.analytics.rootcause.shaping import Context, Shaped, single
from orderscope.analytics.rootcause.wording import Change
from orderscope.ports import Stores
from orderscope.views.drilldown import cycle_stages

__all__ = ["rank"]

MIN_UNITS = 5
POPULATION = 0.7  # a segment holding more than this share of units in both periods is the slice
# Values that describe things as they should be: they cannot explain a deterioration.
NORMAL_VALUES = {
    "calibration": ("in date",),
    "qc_result": ("pass",),
    "broker_login_rate": ("normal",),
    "humidity_band": (HUMIDITY_BANDS[1][1],),
}
STAGE_WEIGHT = 0.35  # stage time (cycle_time by node) says where, never who: ranks below causes
STAGE_TESTS = 4  # stage p-values are adjusted over 4 x the stages tested
MIN_POWER, MIN_SURPRISE = 0.15, 2.0  # a candidate for merging explains a real part of the delta
MAX_CANDIDATES = 16
LOOP_SURPRISE = 3.0


def rank(stores: Stores, pop: Population, members: Membership, records: Records) -> list[Shaped]:
    """The findings of the population, best first."""
    dual = _dual(pop)
    ctx = Context(pop, members, records, dual, Change(pop.question.metric, pop.focus_node, dual.m.delta))
    rows = _segment_candidates(ctx)
    ctx.by_key = {c.key: c for c in rows}
    stages = _stage_candidates(stores, pop, dual.m) if pop.question.metric == "cycle_time" else []
    ctx.tests = max(1, (len(rows) + len(pop.node_candidates)) * dual.tests + len(stages))
    _share_and_score(rows, dual, ctx.tests)
    cands = sorted(
        (c for c in rows if c.power() >= MIN_POWER and c.surprise >= MIN_SURPRISE),
        key=lambda c: (-c.score, *c.tie()),
    )[:MAX_CANDIDATES]
    masks = {c.key: members.mask(c.dimension, c.value) for c in cands}
    groups = merge(cands, masks, dual)
    out = [group_finding(ctx, g, masks) for g in groups]
    used = {c.key for g in groups for c in g} | ctx.hosted
    singles = sorted((c for c in rows if c.key not in used and c.power() > 0), key=Candidate.ranked)
    out += [single(ctx, c) for c in singles[: pop.question.limit]]  # only what can be shown is shaped
    out += [single(ctx, c) for c in stages + pop.node_candidates]
    sf = slice_finding(stores, ctx)
    if sf is not None:
        out = place_slice_finding(ctx, sf, out)
    out.sort(
        key=lambda s: (-s.finding.score, -s.finding.surprise, str(s.finding.dimension), str(s.finding.value))
    )
    return out


def _dual(pop: Population) -> Dual:
    """The decomposition of the population with its twin: rework / cancel loops before the
    handover or a visit past its SLA flag continuous units; flow loops are the twin of the
    order stall rate when there are any."""
    f = pop.units
    y = f["y"].to_numpy().astype(np.float64)
    per = f["per"].to_numpy()
    catalog, node = pop.question.catalog, pop.focus_node
    flags = None
    if "reentered" in f.columns:
        flags = f["reentered"].to_numpy() == 1
    elif (
        pop.question.metric == "node_dwell" and node is not None and (sla := catalog.sla_ms(node)) is not None
    ):
        flags = y * 3_600_000.0 > sla
    twin = f["looped"].to_numpy() == 1 if "looped" in f.columns and (f["looped"] == 1).any() else None
    return Dual(y, per, binary=pop.question.metric == "stall_rate", flags=flags, twin=twin)


def _segment_candidates(ctx: Context) -> list[Candidate]:
    """Every segment with enough units, present in the period, not describing things as they
    should be and not (nearly) the whole slice, decomposed on the metric and on its twin."""
    dual, st = ctx.dual, ctx.dual.m
    table = segment_sums(ctx.members.table, ctx.pop.units, dual.e)
    cols = ("dim", "value", "n0", "s0", "ss0", "n1", "s1", "ss1", "e0", "e1")
    rows = []
    for d, val, n0, s0, ss0, n1, s1, ss1, e0, e1 in table.select(cols).iter_rows():
        if n0 + n1 < MIN_UNITS or n1 == 0 or val in NORMAL_VALUES.get(d, ()):
            continue
        if min(n0 / st.N0, n1 / st.N1) > POPULATION:
            continue  # (nearly) the whole slice: not a segment that can explain a change
        c, zm, m0, m1 = st.of_sums(Sums(n0, s0, ss0, n1, s1, ss1))
        ct, zt, _, _ = dual.t.of_sums(Sums(n0, e0, e0, n1, e1, e1))
        rows.append(
            Candidate(
                dimension=d,
                value=val,
                contribution=c,
                surprise=max(zm, zt),
                surprise_mean=zm,
                surprise_tail=zt,
                tail_contribution=ct,
                baseline_mean=m0,
                period_mean=m1,
                baseline_units=int(n0),
                period_units=int(n1),
            )
        )
    if dual.has_twin and _loops_explain(rows, dual):
        # flow loops explain the change: a segment explains it only as far as it
        # concentrates the loops (stall rates near their ceiling would mislead otherwise)
        for cand in rows:
            cand.surprise = cand.surprise_tail
    return rows


def _loops_explain(rows: list[Candidate], dual: Dual) -> bool:
    return any(
        c.dimension == "flow"
        and share_of(c.tail_contribution, dual.t.delta) >= SAME_STORY
        and c.surprise_tail >= LOOP_SURPRISE
        for c in rows
    )


def _share_and_score(rows: list[Candidate], dual: Dual, tests: int) -> None:
    """Shares of the delta (of the gross rise of the segment's dimension when the metric did
    not rise), adjusted p-values, kinds and scores, in place."""
    st = dual.m
    gross: dict[str, list[float]] = {}
    for c in rows:
        g = gross.setdefault(c.dimension, [0.0, 0.0])
        g[0] += max(c.contribution, 0.0)
        g[1] += max(c.tail_contribution, 0.0)
    floor = [
        max((g[0] for g in gross.values()), default=0.0),
        max((g[1] for g in gross.values()), default=0.0),
    ]
    if st.delta <= 0:
        dual.D = min((g[0] for g in gross.values() if g[0] > 0), default=floor[0]) or 1e-12
    if dual.t.delta <= 0:
        dual.Dt = min((g[1] for g in gross.values() if g[1] > 0), default=floor[1]) or 1e-12
    for c in rows:
        g = gross[c.dimension]
        c.share = share_of(c.contribution, st.delta if st.delta > 0 else g[0])
        c.tail_share = share_of(c.tail_contribution, dual.t.delta if dual.t.delta > 0 else g[1])
        c.p_adjusted = bonferroni(norm_sf(c.surprise), tests)
        c.kind = kind_of(c.dimension)
        c.rescore()


def _stage_candidates(stores: Stores, pop: Population, st: SliceStats) -> list[Candidate]:
    """Cycle time by stage: per node, the change in mean hours per order spent in it before
    the handover (its contribution: the stages sum to the change)."""
    q = pop.question
    agg = stores.series.query(*cycle_stages(q.catalog, q.window, q.slice))
    t: dict[str, list[float]] = {}
    for r in agg.iter_rows(named=True):
        v = t.setdefault(r["node"], [0.0] * 4)
        o = 2 * int(r["per"])
        v[o], v[o + 1] = float(r["s"] or 0), float(r["ss"] or 0)
    rows = []
    for node, (s0, ss0, s1, ss1) in t.items():
        a0, a1 = s0 / st.N0, s1 / st.N1
        v0 = max(ss0 / st.N0 - a0 * a0, 0.0)
        v1 = max(ss1 / st.N1 - a1 * a1, 0.0)
        c = a1 - a0
        se = math.sqrt(v0 / st.N0 + v1 / st.N1) or 1e-12
        rows.append(
            Candidate(
                dimension="node",
                value=node,
                contribution=c,
                surprise=st.sign * c / se,
                baseline_mean=a0,
                period_mean=a1,
                baseline_units=int(st.N0),
                period_units=int(st.N1),
                kind="mechanism",
                stage=True,
                slice_weight=STAGE_WEIGHT,
            )
        )
    gross = sum(max(x.contribution, 0.0) for x in rows)
    for cand in rows:
        cand.share = share_of(cand.contribution, st.delta if st.delta > 0 else gross)
        cand.p_adjusted = bonferroni(norm_sf(cand.surprise), max(1, len(rows)) * STAGE_TESTS)
    return [cand for cand in rows if cand.share > 0]
