"""What one running hub holds: its settings, its stores, who may sign in, its telemetry.

Routes, the dashboard and the inbox reach the stores only through `read` and `run_ingest`, so
the one store lock, the cache invalidation after new data and the ingest counters are in one
place whatever the entrypoint. Ingests run one at a time (a pushed batch, an inbox file, a
folder from the CLI): the pipeline's de-duplication and an idempotency key's first-use check
read the stores before they write, which two ingests at once would race. Reads interleave with
an ingest call by call (the store lock), so a long ingest does not stop lookups.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import HTTPConnection

from orderscope.config import Settings
from orderscope.domain.access import Principal
from orderscope.hub.access import Access, token_digest
from orderscope.hub.telemetry import Telemetry
from orderscope.ingest.validate import TimeWindow
from orderscope.ports import Stores

T = TypeVar("T")
SESSION_COOKIE = "orderscope_session"
SESSION_SECONDS = 12 * 3600


@dataclass
class Hub:
    settings: Settings
    stores: Stores  # serialized: every port call holds its store's lock (orderscope.hub.locking)
    access: Access
    telemetry: Telemetry = field(init=False)
    # Called after anything new was ingested (the dashboard drops its cached answers).
    on_new_data: list[Callable[[], None]] = field(default_factory=list)
    session_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.telemetry = Telemetry(lambda: self.stores)

    def allow_local(self, token: str) -> None:
        """Accept `token` as a manager's (the owner file's token, for the local CLI)."""
        self.access.local.append(token_digest(token))

    def window(self) -> TimeWindow:
        """The accepted range of event times, fixed at the moment of each ingest."""
        return TimeWindow.from_settings(self.settings)

    def read(self, use_case: Callable[[Stores], T]) -> T:
        return use_case(self.stores)

    def run_ingest(self, use_case: Callable[[Stores], T]) -> T:
        """Run an ingest (one at a time); then tell the dashboard there may be new data."""
        series: Any = self.stores.series  # orderscope.hub.locking.SeriesWithClock, embedded
        with self.ingest_lock:
            marks = hasattr(series, "writing")
            if marks:
                series.writing()
            try:
                return use_case(self.stores)
            finally:
                if marks:
                    series.written()
                for callback in self.on_new_data:
                    callback()

    # --- who is asking ---------------------------------------------------------------------

    def authenticate(self, connection: HTTPConnection) -> Principal | None:
        who = self.access.authorization(connection.headers.get("authorization"))
        if who is not None:
            return who
        return self.session(connection.cookies.get(SESSION_COOKIE))

    def sign_in(self, who: Principal) -> str:
        from itsdangerous import URLSafeTimedSerializer

        return URLSafeTimedSerializer(self.session_secret, salt="session").dumps([who.name, who.role])

    def session(self, cookie: str | None) -> Principal | None:
        if not cookie:
            return None
        from itsdangerous import BadData, URLSafeTimedSerializer

        try:
            name, role = URLSafeTimedSerializer(self.session_secret, salt="session").loads(
                cookie, max_age=SESSION_SECONDS
            )
        except (BadData, ValueError, TypeError):
            return None
        # a user removed from the config since signing in is signed out
        user = self.access.users.get(str(name))
        if user is None or user.role != role:
            return None
        return Principal(str(name), str(role))
