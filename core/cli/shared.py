"""The CLI's shared pieces: the typer app, the options every command takes, the consoles, and
the helpers that turn a failure into a clear message and a result into JSON."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from orderscope.cli.display import esc
from orderscope.config import Settings, load_settings

if TYPE_CHECKING:
    from orderscope.stores import Stores

app = typer.Typer(
    help="orderscope: every order traceable, every delay explainable.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
services_app = typer.Typer(help="Install, start and stop the local Neo4j and PostgreSQL+TimescaleDB.")
app.add_typer(services_app, name="services")
# Everything printed through these is rich markup: values from data, files or the user go
# through orderscope.display.esc (no markup, control characters shown escaped). No :emoji: codes.
# The pool reports each lost connection on its own logger; the command says it once, clearly.
logging.getLogger("psycopg.pool").setLevel(logging.CRITICAL)
console = Console(stderr=True, emoji=False)
out = Console(emoji=False)

DataDir = Annotated[
    Optional[Path],
    typer.Option("--data-dir", help="Where the embedded stores live (env ORDERSCOPE_DATA_DIR)."),
]
BackendOpt = Annotated[
    Optional[str],
    typer.Option("--backend", help="embedded (LadybugDB + DuckDB) or server (Neo4j + TimescaleDB)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def settings_for(data_dir: Path | None, backend: str | None) -> Settings:
    if backend not in (None, "embedded", "server"):
        fail(f"--backend must be 'embedded' or 'server', not {backend!r}")
    return load_settings(data_dir=data_dir, backend=backend)


def fail(message: str, code: int = 1) -> None:
    # soft wrap: the message stays one line however narrow (or absent) the terminal is
    console.print(f"[bold red]error:[/] {esc(message, multiline=True)}", soft_wrap=True)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    from orderscope.views.snapshot import jsonable

    sys.stdout.write(json.dumps(jsonable(data), indent=2, ensure_ascii=False) + "\n")


@contextmanager
def stores_for(
    settings: Settings, read_only: bool = True, errors: tuple[type[Exception], ...] = ()
) -> Iterator[Stores]:
    """The stores for a command; an unreachable store, or one of `errors` raised by the work,
    ends the command with its message and a non-zero exit instead of a traceback."""
    from orderscope.stores import StoreUnavailable, open_stores

    caught: tuple[type[Exception], ...] = (StoreUnavailable, *errors)
    try:
        with open_stores(settings, read_only=read_only) as stores:
            yield stores
    except caught as e:
        fail(str(e))


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}", style="bold", markup=False),
        BarColumn(),
        TextColumn("{task.completed:,.0f}/{task.total:,.0f}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
