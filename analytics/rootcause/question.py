"""The question the drill-down answers, checked before any store is read: which metric, for
which slice (order attributes and / or one node), between which two periods."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from orderscope.domain.lifecycle import Catalog
from orderscope.domain.periods import Period
from orderscope.views.metrics import ORDER_SLICE_COLUMNS, Window

__all__ = ["METRICS", "UNITS", "Question", "RootCauseError", "ask"]

METRICS = ("cycle_time", "node_dwell", "stall_rate")
UNITS = {"cycle_time": "h", "node_dwell": "h", "stall_rate": ""}
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


class RootCauseError(ValueError):
    """The question cannot be answered as asked; the message says why."""


@dataclass(frozen=True)
class Question:
    """A checked question. `slice` is the order slice with typed values (cross_border a bool),
    `node` the node slice (node_dwell and stall_rate only)."""

    metric: str
    slice: dict[str, Any]
    node: str | None
    window: Window
    catalog: Catalog
    top: int

    @property
    def limit(self) -> int:
        """How many single segments are shaped: what can be shown, and a few more to rank."""
        return self.top + 5


def ask(
    catalog: Catalog,
    metric: str,
    slice_: Mapping[str, Any],
    period: Period,
    baseline: Period,
    read_clock: Callable[[], datetime | None],
    top: int = 10,
) -> Question:
    """The question, or RootCauseError saying what is wrong with it (in the order a person
    would fix it: metric, periods, slice, then whether the store holds anything: the data
    clock, newest event time, is read last)."""
    if metric not in METRICS:
        raise RootCauseError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    if period.start < baseline.end and baseline.start < period.end:
        raise RootCauseError(f"period {period.label} and baseline {baseline.label} overlap")
    order_slice, node = parse_slice(slice_, catalog)
    if node is not None and metric == "cycle_time":
        raise RootCauseError("a node slice applies to node_dwell and stall_rate, not cycle_time")
    clock = read_clock()
    if clock is None:
        raise RootCauseError("the store holds no events yet: ingest data first")
    window = Window(period=period, baseline=baseline, clock=clock)
    return Question(metric, order_slice, node, window, catalog, max(0, int(top)))


def parse_slice(slice_: Mapping[str, Any], catalog: Catalog) -> tuple[dict[str, Any], str | None]:
    """(order slice, node): `node` must be a catalog node, every other key an order column."""
    order_slice: dict[str, Any] = {}
    node = None
    for k, v in slice_.items():
        if k == "node":
            if v not in catalog.nodes:
                raise RootCauseError(f"unknown node {v!r}; known: {', '.join(catalog.nodes)}")
            node = v
        elif k in ORDER_SLICE_COLUMNS:
            if k == "cross_border":
                low = str(v).strip().lower()
                if low not in (*_TRUE, *_FALSE):
                    raise RootCauseError(f"cross_border must be true or false, not {v!r}")
                order_slice[k] = low in _TRUE
            else:
                order_slice[k] = str(v)
        else:
            raise RootCauseError(
                f"cannot slice by {k!r}; use node or an order dimension: {', '.join(ORDER_SLICE_COLUMNS)}"
            )
    return order_slice, node
