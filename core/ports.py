"""The two store ports side by side, with the lifecycle catalog: what every use case takes.

`Stores` pairs a service graph (orderscope.graph.port.GraphStore) with a series store
(orderscope.series.port.SeriesStore). Which adapters serve them is decided in one place,
orderscope.stores (the composition point); use cases import this module, never that one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orderscope.domain.lifecycle import Catalog, load_catalog
from orderscope.graph.port import GraphStore
from orderscope.series.port import SeriesStore


@dataclass
class Stores:
    graph: GraphStore
    series: SeriesStore
    backend: str
    # The lifecycle catalog the stores' data follows (Settings.catalog; the shipped default).
    catalog: Catalog = field(default_factory=load_catalog)

    def close(self) -> None:
        self.graph.close()
        self.series.close()


__all__ = ["GraphStore", "SeriesStore", "Stores"]
