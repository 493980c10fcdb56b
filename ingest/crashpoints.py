"""Named points where the durability tests kill an ingest with SIGKILL.

`ORDERSCOPE_CRASH_AT=point[:n]` makes the n-th pass (default 1st) through `point` send SIGKILL
to the process itself: no cleanup, no atexit, no flush — exactly what `kill -9` or a power cut
does. Unset (always, outside tests) a pass costs one comparison. The points, in the order an
ingest passes them, are listed in POINTS; tests/e2e/test_crash.py kills at each of them.
"""

from __future__ import annotations

import os
import signal

POINTS: tuple[str, ...] = (
    "file-started",  # ledger says 'started', nothing of the file written
    "chunk-read",  # a batch parsed and validated, nothing of it written
    "series-written",  # the batch's series rows committed, graph rows not yet
    "graph-written",  # the batch's graph records committed, its quarantine rows not yet
    "quarantined",  # the batch's rejects stored, the file not yet marked done
    "file-done",  # the file is 'done' in the ledger; later files and dwell not yet
    "derive-started",  # every file done, stage_dwell not yet rebuilt
)

_ENV = "ORDERSCOPE_CRASH_AT"
_passes: dict[str, int] = {}


def _target() -> tuple[str, int] | None:
    spec = os.environ.get(_ENV)
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    return name, int(nth or 1)


def reached(point: str) -> None:
    """Die here if the environment asks for it (the n-th time this point is reached)."""
    target = _target()
    if target is None or target[0] != point:
        return
    _passes[point] = _passes.get(point, 0) + 1
    if _passes[point] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
