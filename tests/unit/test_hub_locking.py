"""The hub's store lock: the reads an adapter lists run side by side, everything else alone,
and a waiting write goes before reads that come after it."""

from __future__ import annotations

import threading
import time
from typing import Any

from orderscope.hub.locking import Serialized, SharedLock


class _Port:
    concurrent_reads = frozenset({"read"})

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.order: list[str] = []
        self._count = threading.Lock()

    def _enter(self, name: str, seconds: float) -> None:
        with self._count:
            self.inside += 1
            self.most = max(self.most, self.inside)
        time.sleep(seconds)
        with self._count:
            self.inside -= 1
            self.order.append(name)

    def read(self, seconds: float = 0.05, name: str = "read") -> None:
        self._enter(name, seconds)

    def write(self, seconds: float = 0.05, name: str = "write") -> None:
        self._enter(name, seconds)


def _run(*calls: Any) -> None:
    threads = [threading.Thread(target=c) for c in calls]
    for t in threads:
        t.start()
        time.sleep(0.005)  # in the order given
    for t in threads:
        t.join(5)


def test_listed_reads_share_the_lock() -> None:
    port = _Port()
    store: Any = Serialized(port, SharedLock())
    _run(*(store.read for _ in range(4)))
    assert port.most == 4


def test_other_calls_hold_it_alone() -> None:
    port = _Port()
    store: Any = Serialized(port, SharedLock())
    _run(store.write, store.read, store.write, store.write)
    assert port.most == 1


def test_a_waiting_write_goes_before_later_reads() -> None:
    port = _Port()
    store: Any = Serialized(port, SharedLock())
    _run(
        lambda: store.read(0.1, "first read"),
        lambda: store.write(0.01, "write"),
        lambda: store.read(0.01, "later read"),
    )
    assert port.order == ["first read", "write", "later read"]


def test_exclusive_is_reentrant_and_admits_its_own_reads() -> None:
    lock = SharedLock()
    with lock.exclusive(), lock.exclusive(), lock.shared():
        pass
    done = threading.Event()

    def other() -> None:
        with lock.exclusive():
            done.set()

    t = threading.Thread(target=other)
    t.start()
    t.join(2)
    assert done.is_set()  # released after the nested holds
