"""A lock around every store call of the hub's threads, one per store.

The hub answers API requests, dashboard callbacks and inbox ingests on several threads, over
one pair of embedded stores whose connections must not be used from two threads at once. Each
port method runs under its store's re-entrant lock; an ingest takes them call by call (a batch
at a time), so reads interleave with a long ingest instead of waiting for its end, and a graph
query of one request runs while a series query of another does (two engines, two connections).
Nothing holds a lock between two calls: a caller that needs several calls to agree (an ingest)
serializes itself (Hub.run_ingest).
"""

from __future__ import annotations

import threading
from typing import Any

from orderscope.ports import Stores


class Serialized:
    """A port whose every method call holds `lock`."""

    def __init__(self, inner: Any, lock: threading.RLock) -> None:
        self._inner = inner
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        lock = self._lock

        def call(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return attr(*args, **kwargs)

        call.__name__ = name
        setattr(self, name, call)  # looked up once per name, not per call
        return call


def serialized(stores: Stores) -> Stores:
    """`stores` with each port serialized by a lock of its own (the catalog and backend
    unchanged)."""
    graph: Any = Serialized(stores.graph, threading.RLock())
    series: Any = Serialized(stores.series, threading.RLock())
    return Stores(graph, series, stores.backend, stores.catalog)
