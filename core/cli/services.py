"""`orderscope services up|down|status`: the local Neo4j and PostgreSQL+TimescaleDB."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from orderscope.cli.display import esc, visible
from orderscope.cli.shared import (
    JsonOpt,
    console,
    fail,
    out,
    print_json,
    services_app,
)
from orderscope.config import load_settings


@services_app.command("up")
def services_up(as_json: JsonOpt = False) -> None:
    """Install (once) and start Neo4j and PostgreSQL+TimescaleDB on 127.0.0.1."""
    from orderscope.services import ServiceError, up

    try:
        with console.status("starting services") as status:
            result = up(load_settings(), progress=lambda msg: status.update(Text(visible(msg))))
    except ServiceError as e:
        fail(str(e))
    print_json(result) if as_json else _print_services(result)


@services_app.command("down")
def services_down(as_json: JsonOpt = False) -> None:
    """Stop the services that `services up` started."""
    from orderscope.services import down

    result = down(load_settings())
    print_json(result) if as_json else _print_services(result)


@services_app.command("status")
def services_status(as_json: JsonOpt = False) -> None:
    """Which services are up, and their versions."""
    from orderscope.services import status

    result = status(load_settings())
    print_json(result) if as_json else _print_services(result)


def _print_services(result: dict) -> None:
    table = Table()
    for col in ("service", "state", "version", "port", "started by orderscope", "seconds"):
        table.add_column(col)
    for name in ("postgres", "neo4j"):
        info = result.get(name)
        if not isinstance(info, dict):
            continue
        version = info.get("version", "")
        if info.get("timescaledb"):
            version = f"{version} + timescaledb {info['timescaledb']}"
        table.add_row(
            *(
                esc(v)
                for v in (
                    name,
                    info.get("state", ""),
                    version,
                    info.get("port", ""),
                    info.get("started_by_us", ""),
                    info.get("seconds", ""),
                )
            )
        )
    out.print(table)
