"""A lock around every store call of the hub's threads, one per store.

The hub answers API requests, dashboard callbacks and inbox ingests on several threads, over
one pair of stores. Each port method runs under its store's lock: the methods an adapter lists
in `concurrent_reads` (it gives every thread a connection of its own for them) share it, so
lookups run side by side; every other call (a write, a reset, a read the adapter does not
list) holds it alone, as before. A waiting exclusive call goes first: new shared calls wait
behind it, so a stream of lookups cannot starve an ingest. An ingest takes the lock call by
call (a batch at a time), so reads interleave with a long ingest instead of waiting for its
end, and a graph query of one request runs while a series query of another does (two
engines). Nothing holds a lock between two calls: a caller that needs several calls to agree
(an ingest) serializes itself (Hub.run_ingest).

On the embedded backend the hub is the only writer, so the data clock (the newest event time,
which every snapshot reads) is remembered between ingests instead of being queried per request;
while an ingest runs it is read afresh each time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from orderscope.ports import Stores


class SharedLock:
    """Shared (reads) or exclusive (everything else); exclusive is re-entrant on its thread
    and is served before shared calls that come after it."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._owner: int | None = None  # the thread holding it exclusively
        self._depth = 0
        self._waiting = 0  # exclusive callers waiting

    @contextmanager
    def shared(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._owner == me:  # inside this thread's exclusive call
            yield
            return
        with self._cond:
            while self._owner is not None or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._owner != me:
                self._waiting += 1
                try:
                    while self._owner is not None or self._readers:
                        self._cond.wait()
                finally:
                    self._waiting -= 1
                self._owner = me
            self._depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if not self._depth:
                    self._owner = None
                    self._cond.notify_all()


class Serialized:
    """A port whose every method call holds `lock`: shared for the inner port's
    `concurrent_reads`, exclusive otherwise."""

    def __init__(self, inner: Any, lock: SharedLock) -> None:
        self._inner = inner
        self._lock = lock
        self._shared: frozenset[str] = frozenset(getattr(inner, "concurrent_reads", ()))

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr
        hold = self._lock.shared if name in self._shared else self._lock.exclusive

        def call(*args: Any, **kwargs: Any) -> Any:
            with hold():
                return attr(*args, **kwargs)

        call.__name__ = name
        setattr(self, name, call)  # looked up once per name, not per call
        return call


class SeriesWithClock(Serialized):
    """The series port, serialized, remembering its data clock between writes."""

    def __init__(self, inner: Any, lock: SharedLock) -> None:
        super().__init__(inner, lock)
        self._clock: tuple[int, Any] | None = None  # (generation, clock)
        self._generation = 0
        self._writing = 0

    def data_clock(self) -> Any:
        known, generation = self._clock, self._generation
        if known is not None and known[0] == generation and not self._writing:
            return known[1]
        with (self._lock.shared if "data_clock" in self._shared else self._lock.exclusive)():
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
    graph: Any = Serialized(stores.graph, SharedLock())
    series: Any = (SeriesWithClock if only_writer else Serialized)(stores.series, SharedLock())
    return Stores(graph, series, stores.backend, stores.catalog)
