"""The use case: a question in, an `Explanation` out, through the store ports only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from orderscope.analytics.rootcause.evidence import EVIDENCE_FINDINGS, look_up
from orderscope.analytics.rootcause.findings import rank
from orderscope.analytics.rootcause.membership import load_membership
from orderscope.analytics.rootcause.population import load_population
from orderscope.analytics.rootcause.question import ask
from orderscope.analytics.rootcause.results import Explanation
from orderscope.domain.periods import Period
from orderscope.ports import Stores

__all__ = ["explain"]


def explain(
    stores: Stores,
    metric: str,
    slice: Mapping[str, Any],
    period: Period,
    baseline: Period,
    top: int = 10,
) -> Explanation:
    """Why `metric` changed for `slice` (order attributes, and / or node=...) between
    `baseline` and `period`: ranked findings, the top ones with evidence records.
    Raises RootCauseError when the question cannot be answered as asked."""
    question = ask(stores.catalog, metric, slice or {}, period, baseline, stores.series.data_clock, top)
    pop = load_population(stores, question)
    n1, n0 = pop.count(1), pop.count(0)
    answer = Explanation(
        metric=metric,
        slice=dict(slice or {}),
        period=period,
        baseline=baseline,
        value_period=pop.mean(1),
        value_baseline=pop.mean(0),
        delta=None,
        units_period=n1,
        units_baseline=n0,
    )
    if n0 == 0 or n1 == 0:
        return replace(answer, note="no units in " + ("the period" if n1 == 0 else "the baseline"))
    members, records = load_membership(stores, pop)
    ranked = rank(stores, pop, members, records)[: question.top]
    findings = [
        replace(s.finding, evidence=look_up(stores, pop, records, s)) if i < EVIDENCE_FINDINGS else s.finding
        for i, s in enumerate(ranked)
    ]
    assert answer.value_period is not None and answer.value_baseline is not None
    return replace(
        answer,
        delta=answer.value_period - answer.value_baseline,
        focus_node=pop.focus_node,
        findings=findings,
    )
