"""Start the hub: one process that owns the stores and serves the API, the dashboard and the
inbox, until interrupted.

    from orderscope.hub.server import create_app, serve
    serve(settings, host="127.0.0.1", port=8050)

Binding rules: with no users and no tokens configured the hub is open to whoever reaches it, so
it binds to a loopback address only and says so; any other address without users is refused.
On the embedded backend the hub is the only process that opens the data dir (it records itself
in `<data_dir>/hub.json`; other commands go through it). On the server backend any number of
hubs may run side by side: they hold no state of their own.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from fastapi import FastAPI

from orderscope import ownership as owner
from orderscope.config import Settings
from orderscope.hub import analytics_routes, api, pages, push
from orderscope.hub.access import Access
from orderscope.hub.context import Hub
from orderscope.hub.inbox import Inbox, InboxWatcher
from orderscope.hub.locking import serialized
from orderscope.ports import Stores

log = logging.getLogger("orderscope.hub")


class HubError(RuntimeError):
    """The hub cannot start as asked; the message says what to do."""


def create_app(settings: Settings, stores: Stores, dashboard: bool = True) -> FastAPI:
    """The hub's ASGI app over `stores` (which the caller opened and will close)."""
    hub = Hub(
        settings,
        serialized(stores, only_writer=settings.backend == "embedded"),
        Access.from_settings(settings),
    )
    app = FastAPI(
        title="orderscope",
        version="1",
        summary="Order traceability: push records, look orders up, ask the analytics.",
        openapi_url="/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.hub = hub
    app.include_router(push.router)
    app.include_router(analytics_routes.router)  # before install(): its catch-all answers the rest
    api.install(app)
    pages.install(app)
    if dashboard:
        from a2wsgi import WSGIMiddleware

        from orderscope.dashboard.app import create_app as create_dashboard
        from orderscope.dashboard.data import DashboardData

        # Its own lock for its cache: a page computing its figures must not hold up the API
        # (the store calls themselves are serialized by hub.stores).
        data = DashboardData(settings, stores=hub.stores, lock=threading.RLock())
        hub.on_new_data.append(data.invalidate)
        dash_app = create_dashboard(settings, data)
        app.mount("/", pages.DashboardGate(WSGIMiddleware(dash_app.server), hub))  # type: ignore[arg-type]
    return app


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(settings: Settings, host: str) -> str | None:
    """None when `host` may be served; otherwise why not. Also the one-line notice of an open hub."""
    if Access.from_settings(settings).open and not is_loopback(host):
        return (
            f"refusing to serve {host} without users: anyone who reaches it could read and change "
            "everything. Add users or tokens (`orderscope users --help`), or serve 127.0.0.1"
        )
    return None


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Run the hub until Ctrl+C (blocking)."""
    import uvicorn

    from orderscope.stores import StoreUnavailable, open_stores

    refusal = check_binding(settings, host)
    if refusal:
        raise HubError(refusal)
    running = owner.live_owner(settings)
    if running is not None:
        raise HubError(f"a hub (pid {running.pid}) already serves {settings.data_dir} at {running.url}")
    listener = _listen(host, port)
    url = f"http://{_url_host(host)}:{listener.getsockname()[1]}/"
    with ExitStack() as stack:
        stack.callback(listener.close)
        if settings.backend == "embedded":
            # Claimed before the stores are opened and given up after they are closed, so a
            # command never finds the files locked without finding the hub that holds them.
            me = owner.claim(settings, url)
            stack.callback(owner.release, settings, me)
        try:
            stores = stack.enter_context(open_stores(settings))
        except StoreUnavailable as e:
            raise HubError(str(e)) from None
        app = create_app(settings, stores)
        hub: Hub = app.state.hub
        if settings.backend == "embedded":
            hub.allow_local(me.token)
        inbox = Inbox(
            settings.inbox or settings.data_dir / "inbox", hub.stores, window=hub.window, run=hub.run_ingest
        )
        inbox.on_report = lambda name, report: hub.telemetry.count_report(report)
        watcher = InboxWatcher(inbox, settings.inbox_poll_seconds)
        watcher.start()
        stack.callback(watcher.stop)
        _announce(settings, url, inbox.folder, hub)
        config = uvicorn.Config(app, log_level="warning", access_log=False)
        with _stopped_by_signals():
            uvicorn.Server(config).run(sockets=[listener])
        print("orderscope hub stopped", file=sys.stdout, flush=True)


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """Ctrl+C and SIGTERM stop the server gracefully and then return here, so the owner file
    is removed and the stores are closed (uvicorn re-raises the signal it stopped on to the
    handler it found: by default a SIGTERM would end the process before any clean-up)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a port in use is one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on connections whose socket
    # says TCP, and without it every response whose headers and body go out in two writes
    # waits for the client's delayed ACK (about 40 ms a request on Linux loopback).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # inherited by accepted sockets
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise HubError(
            f"cannot listen on {host}:{port} ({e.strerror or e}); is another hub or program using "
            "it? Choose another with --port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url_host(host: str) -> str:
    """Where this machine's commands reach a hub listening on `host`."""
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _announce(settings: Settings, url: str, inbox: Any, hub: Hub) -> None:
    where = str(settings.data_dir) if settings.backend == "embedded" else "Neo4j + TimescaleDB"
    lines = [
        f"orderscope hub: {url}  (Ctrl+C to stop)",
        f"  dashboard {url}   API {url}api/v1   OpenAPI {url}openapi.json   metrics {url}metrics",
        f"  stores    {settings.backend} · {where}",
        f"  inbox     {inbox}  (drop source files here)",
    ]
    if hub.access.open:
        lines.append("  access    open: no users configured, so serving this machine (loopback) only")
    else:
        lines.append(f"  access    {len(hub.access.users)} users, {len(hub.access.tokens)} tokens")
    print("\n".join(lines), file=sys.stdout, flush=True)
