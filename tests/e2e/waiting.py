"""Waiting for something a child process or a browser brings about, with a deadline: the
test then fails saying what did not happen (a wait, not a measurement: speed is bench/'s)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


def wait_until(done: Callable[[], bool], what: str, timeout: float = 30, every: float = 0.2) -> None:
    """Poll `done()` until it is true; fail with `what` when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} (waited {timeout:.0f} s)")
        time.sleep(every)
