"""The hub's inbox: a folder where a file dropped by anyone is ingested once.

A file is taken when its size has not changed between two looks (a copy in progress is left
alone) and its name does not start with '.'. It is moved to `.processing/`, ingested with the
same pipeline as `orderscope ingest`, then moved to `done/` (or `failed/` when it could not be
read or its name is no source kind), with its report beside it as `<name>.report.json`. A hub
stopped mid-file finds it in `.processing/` on start and runs it again: the ledger makes the
rerun end exactly as one uninterrupted run.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from orderscope.ingest.pipeline import IngestError, IngestReport, ingest_folder
from orderscope.ingest.readers import discover
from orderscope.ingest.validate import TimeWindow
from orderscope.ports import Stores

log = logging.getLogger("orderscope.hub.inbox")

PROCESSING, DONE, FAILED = ".processing", "done", "failed"
T = TypeVar("T")


def _direct(use_case: Callable[[Stores], T], stores: Stores) -> T:
    return use_case(stores)


@dataclass
class Inbox:
    folder: Path
    stores: Stores
    on_report: Callable[[str, IngestReport], None] = lambda name, report: None
    window: Callable[[], TimeWindow] = TimeWindow.default
    # How an ingest is run: the hub passes its run_ingest (one ingest at a time, the dashboard
    # told of new data); alone, the inbox ingests into `stores` directly.
    run: Callable[[Callable[[Stores], Any]], Any] | None = None
    _sizes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for sub in (PROCESSING, DONE, FAILED):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)

    def poll(self) -> list[str]:
        """Take every file that is ready; returns their names. Files left in .processing by a
        stopped hub come first."""
        taken = []
        for path in sorted((self.folder / PROCESSING).iterdir()):
            if path.is_file() and not path.name.endswith(".report.json"):
                self._run(path)
                taken.append(path.name)
        sizes: dict[str, int] = {}
        for path in sorted(self.folder.iterdir()):
            if not path.is_file() or path.name.startswith("."):
                continue
            size = path.stat().st_size
            if self._sizes.get(path.name) == size:
                target = self.folder / PROCESSING / path.name
                path.replace(target)
                self._run(target)
                taken.append(path.name)
            else:
                sizes[path.name] = size
        self._sizes = sizes
        return taken

    def _run(self, path: Path) -> None:
        outcome, report = FAILED, None
        with tempfile.TemporaryDirectory(prefix="orderscope-inbox-") as tmp:
            link = Path(tmp) / path.name
            link.symlink_to(path.resolve())
            files, _ = discover(Path(tmp))
            if not files:
                answer: dict[str, Any] = {"error": f"{path.name} is not named after a source kind"}
            else:
                folder, window = Path(tmp), self.window()
                run = self.run or (lambda use_case: _direct(use_case, self.stores))
                try:
                    report = run(lambda stores: ingest_folder(folder, stores, window=window))
                    answer = report.to_dict()
                    outcome = FAILED if report.failed_files else DONE
                except IngestError as e:
                    answer = {"error": str(e)}
        target = move_aside(path, self.folder / outcome)
        (target.parent / f"{target.name}.report.json").write_text(json.dumps(answer, indent=2, default=str))
        log.info("inbox: %s -> %s", path.name, outcome)
        if report is not None:
            self.on_report(path.name, report)


class InboxWatcher(threading.Thread):
    """Polls the inbox every `every` seconds until stopped."""

    def __init__(self, inbox: Inbox, every: float) -> None:
        super().__init__(name="orderscope-inbox", daemon=True)
        self.inbox = inbox
        self.every = every
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.inbox.poll()
            except Exception:  # keep watching: one bad poll (a vanished file) must not end it
                log.exception("inbox poll failed")
            self.stopping.wait(self.every)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=30)


def move_aside(path: Path, folder: Path) -> Path:
    """Move `path` into `folder` without overwriting an earlier file of the same name."""
    target = folder / path.name
    n = 1
    while target.exists():
        target = folder / f"{path.stem}.{n}{path.suffix}"
        n += 1
    shutil.move(str(path), target)
    return target
