"""Metric definitions shared by every surface (analytics, dashboard, reports), defined once.

A metric here is what a number means: which orders or visits it counts, which node starts and
ends it (from the catalog's roles), which order attributes it may be sliced by. The SQL that
computes each is built here too, accepted as written by both series dialects; values always
travel as parameters (`Params`), and only schema identifiers are formatted in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The filters every surface offers (dashboard controls, flow segments, report breakdowns).
SLICE_DIMENSIONS: tuple[str, ...] = ("region", "warehouse_id", "channel", "sku_category")

# Order attributes root cause decomposes a change over.
ORDER_DIMENSIONS: tuple[str, ...] = (
    *SLICE_DIMENSIONS,
    "cross_border",
    "destination_country",
)

# Order-master columns a slice (a filter on the population) may name.
ORDER_SLICE_COLUMNS: tuple[str, ...] = (*ORDER_DIMENSIONS, "customer_id", "sku", "currency")


@dataclass
class Params:
    """Collects positional parameters and hands out their `$n` placeholders."""

    values: list[Any] = field(default_factory=list)

    def __call__(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"
