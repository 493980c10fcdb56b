"""A lock around every store call of the hub's threads, one per store.

The hub answers API requests, dashboard callbacks and inbox ingests on several threads, over
one pair of embedded stores whose connections must not be used from two threads at once. Each
port method runs under its store's re-entrant lock; an ingest takes them call by call (a batch
at a time), so reads interleave with a long ingest instead of waiting for its end, and a graph
query of one request runs while a series query of another does (two engines, two connections).
Nothing holds a lock between two calls: a caller that needs several calls to agree (an ingest)
serializes itself (Hub.run_ingest).

On the embedded backend the hub is the only writer, so the data clock (the newest event time,
which every snapshot reads) is remembered between ingests instead of being queried per request;
while an ingest runs it is read afresh each time.
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


class SeriesWithClock(Serialized):
    """The series port, serialized, remembering its data clock between writes."""

    def __init__(self, inner: Any, lock: threading.RLock) -> None:
        super().__init__(inner, lock)
        self._clock: tuple[int, Any] | None = None  # (generation, clock)
        self._generation = 0
        self._writing = 0

    def data_clock(self) -> Any:
        known, generation = self._clock, self._generation
        if known is not None and known[0] == generation and not self._writing:
            return known[1]
        with self._lock:
            clock = self._inner.data_clock()
        if generation == self._generation and not self._writing:
            self._clock = (generation, clock)
        return clock

    def writing(self) -> None:
        """A write begins: the clock is read from the store until `written`."""
        self._writing += 1
        self._generation += 1

    def written(self) -> None:
        self._writing -= 1
        self._generation += 1


def serialized(stores: Stores, only_writer: bool = False) -> Stores:
    """`stores` with each port serialized by a lock of its own (the catalog and backend
    unchanged). `only_writer`: nothing but this process writes the stores (the embedded
    backend under a hub), so the series port may remember its data clock between writes."""
    graph: Any = Serialized(stores.graph, threading.RLock())
    series: Any = (SeriesWithClock if only_writer else Serialized)(stores.series, threading.RLock())
    return Stores(graph, series, stores.backend, stores.catalog)
