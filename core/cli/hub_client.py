"""Talking to the hub that owns a data dir, for commands that go through it.

Standard library only (urllib): the CLI needs no HTTP client library of its own. The owner
file's token authenticates the command as the data dir's operator.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from datetime import datetime
from typing import Any

from orderscope.ownership import HubOwner

_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


class HubUnreachable(RuntimeError):
    pass


def call(
    owner: HubOwner, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 3600
) -> Any:
    """The JSON answer of the hub; HubUnreachable (with the hub's own message) otherwise."""
    data = None if body is None else json.dumps(body).encode()
    headers = {**owner.headers(), "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(owner.url.rstrip("/") + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as e:
        try:
            answer = json.loads(e.read())
            detail = answer.get("detail", answer)
        except ValueError:
            detail = e.reason
        if e.code in (404, 409, 422) and isinstance(detail, str):
            # the question's own answer (an unknown order, a bad folder): the same words as
            # the command gives without a hub
            raise HubUnreachable(detail) from None
        raise HubUnreachable(f"the hub at {owner.url} answered {e.code}: {detail}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise HubUnreachable(
            f"the hub at {owner.url} (pid {owner.pid}) owns the data dir but does not answer ({e}); "
            "wait for it, or stop it and run the command again"
        ) from None


def revive_times(value: Any) -> Any:
    """JSON from the hub with its ISO instants as datetimes again (for the text outputs)."""
    if isinstance(value, str) and _ISO.fullmatch(value):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, dict):
        return {k: revive_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [revive_times(v) for v in value]
    return value
