"""`orderscope serve` (the hub) and `orderscope users` (credentials for it)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from orderscope.cli.shared import BackendOpt, DataDir, app, console, fail, settings_for
from orderscope.config import Settings

users_app = typer.Typer(
    help="Make password hashes and API tokens for the hub's `users` and `tokens` settings."
)
app.add_typer(users_app, name="users")

Host = Annotated[
    str, typer.Option(help="Interface to listen on; other than 127.0.0.1 needs users or tokens.")
]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


def run_hub(settings: Settings, host: str, port: int) -> None:
    """Serve the hub until Ctrl+C; a refusal or an unavailable store is one clear line."""
    from orderscope.hub.server import HubError, serve

    try:
        serve(settings, host=host, port=port)
    except HubError as e:
        fail(str(e))


@app.command()
def serve(
    host: Host = "127.0.0.1",
    port: Port = 8050,
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Run the hub: HTTP API (/api/v1, OpenAPI at /openapi.json), the dashboard, and live
    ingest from an inbox folder, in one process that owns the stores. While it runs, `ingest`,
    `snapshot` and `stats` on the same data dir go through it."""
    run_hub(settings_for(data_dir, backend), host, port)


@app.command()
def dashboard(
    port: Port = 8050,
    host: Host = "127.0.0.1",
    data_dir: DataDir = None,
    backend: BackendOpt = None,
) -> None:
    """Serve the dashboard (overview, drill-down, order lookup, stalls & flows) on an existing
    store, until Ctrl+C. It is the hub (`orderscope serve`): API and inbox come with it."""
    run_hub(settings_for(data_dir, backend), host, port)


@users_app.command("hash-password")
def hash_password_command(
    name: Annotated[str, typer.Argument(help="The user's name.")],
    role: Annotated[str, typer.Option(help="manager, analyst or agent.")] = "analyst",
) -> None:
    """Ask for a password (twice, not echoed) and print the `[[users]]` entry for orderscope.toml."""
    from orderscope.hub.access import hash_password

    if role not in ("manager", "analyst", "agent"):
        fail(f"--role must be manager, analyst or agent, not {role!r}")
    password = typer.prompt("password", hide_input=True, confirmation_prompt=True, err=True)
    if len(password) < 10:
        fail("use a password of at least 10 characters")
    _toml("users", name=name, role=role, password_hash=hash_password(password))


@users_app.command("new-token")
def new_token_command(
    name: Annotated[str, typer.Argument(help="Who the token is for, e.g. oms or service-desk.")],
    role: Annotated[str, typer.Option(help="manager, analyst or agent.")] = "agent",
) -> None:
    """Print a new API token (shown once: give it to the system that calls the API) and the
    `[[tokens]]` entry for orderscope.toml (which keeps its digest only)."""
    from orderscope.hub.access import new_token

    if role not in ("manager", "analyst", "agent"):
        fail(f"--role must be manager, analyst or agent, not {role!r}")
    token, digest = new_token()
    console.print(f"token (shown once): {token}")
    _toml("tokens", name=name, role=role, digest=digest)


def _toml(table: str, **values: str) -> None:
    """One `[[table]]` entry for orderscope.toml, as plain text (no markup, no wrapping), each
    value a TOML basic string (quotes, backslashes and control characters escaped)."""
    import json

    lines = [f"[[{table}]]", *(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items())]
    sys.stdout.write("\n".join(lines) + "\n")
