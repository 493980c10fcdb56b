"""Which hub owns an embedded data dir, so that other commands go through it.

The embedded engines let one process write a store. While a hub runs on a data dir it writes
`<data_dir>/hub.json` (mode 0600): its pid, its URL and a local token that the hub accepts as a
manager's. A CLI command that finds a live owner sends its request to the hub instead of opening
the store, or says in one line what to do; it never meets the engines' raw lock message.
The server backend has no owner file: any number of hubs and commands share the servers.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from orderscope.config import Settings

FILE_NAME = "hub.json"


@dataclass(frozen=True)
class HubOwner:
    pid: int
    url: str
    token: str  # accepted by that hub as a manager's; readable by the data dir's owner only
    started_at: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _path(settings: Settings) -> Path:
    return settings.data_dir / FILE_NAME


def claim(settings: Settings, url: str) -> HubOwner:
    """Record this process as the owner of the data dir (embedded backend)."""
    owner = HubOwner(
        os.getpid(), url, "osk_local_" + secrets.token_urlsafe(24), datetime.now(UTC).isoformat()
    )
    path = _path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(owner), f)
    os.replace(tmp, path)
    return owner


def release(settings: Settings, owner: HubOwner) -> None:
    """Remove the owner file if it is still ours."""
    current = read(settings)
    if current is not None and current.pid == owner.pid and current.token == owner.token:
        _path(settings).unlink(missing_ok=True)


def read(settings: Settings) -> HubOwner | None:
    try:
        data = json.loads(_path(settings).read_text())
        return HubOwner(int(data["pid"]), str(data["url"]), str(data["token"]), str(data["started_at"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def live_owner(settings: Settings) -> HubOwner | None:
    """The hub that owns the data dir now, or None (no hub, the server backend, or a hub that
    died without cleaning up: its pid is gone)."""
    if settings.backend != "embedded":
        return None
    owner = read(settings)
    if owner is None or owner.pid == os.getpid():
        return None
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    if _started_after(owner):  # the pid was reused by a process younger than the file
        return None
    return owner


def _started_after(owner: HubOwner) -> bool:
    """Whether the process now holding the owner's pid started after the hub wrote its file
    (so it is not that hub: the hub died without cleaning up and its pid was given again)."""
    try:
        import psutil

        started = psutil.Process(owner.pid).create_time()
        written = datetime.fromisoformat(owner.started_at).timestamp()
    except Exception:  # no such process any more, no permission, a hand-edited file: keep it
        return False
    return started > written + 1.0
