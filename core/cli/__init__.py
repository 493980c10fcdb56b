"""The `orderscope` command line: a thin layer that turns flags into use-case calls and their
results into text or JSON.

    shared.py     the typer app, shared options (--data-dir, --backend, --json), consoles, errors
    data.py       generate, ingest, snapshot, stats, quarantine, reset, demo
    services.py   services up | down | status
    hub.py        serve (the hub: API, dashboard, inbox), dashboard, users hash-password | new-token
    hub_client.py commands that go through a running hub
    analytics.py  stalls, flows, health
    rootcause.py  rootcause
    patterns.py   patterns mine | keep | list
    forecast.py   forecast
    display.py    values printed verbatim (no markup, control characters escaped)
    timeline.py   the text form of an order snapshot

Importing this package registers every command on `app` (the console script's entry point).
"""

from orderscope.cli import analytics, data, forecast, hub, patterns, rootcause, services  # noqa: F401  (their commands register on import)
from orderscope.cli.shared import app

analytics.register(app)
rootcause.register(app)
patterns.register(app)
forecast.register(app)

__all__ = ["app"]
