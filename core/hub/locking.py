"""One lock around every store call of the hub's threads.

The hub answers API requests, dashboard callbacks and inbox ingests on several threads, over
one pair of embedded stores whose connections must not be used from two threads at once. Each
port method runs under one re-entrant lock; an ingest takes it call by call (a batch at a
time), so reads interleave with a long ingest instead of waiting for its end.
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
        return call


def serialized(stores: Stores, lock: threading.RLock) -> Stores:
    """`stores` with both ports serialized by `lock` (the catalog and backend unchanged)."""
    graph: Any = Serialized(stores.graph, lock)
    series: Any = Serialized(stores.series, lock)
    return Stores(graph, series, stores.backend, stores.catalog)
