"""`orderscope users hash-password | new-token` print entries that orderscope.toml reads back
as they are: the hub then accepts exactly that password and that token."""

from __future__ import annotations

import re
import tomllib

from typer.testing import CliRunner

from orderscope.cli import app
from orderscope.config import HubToken, HubUser
from orderscope.hub.access import Access


def test_printed_entries_load_and_authenticate() -> None:
    runner = CliRunner()
    password = 'a "quoted" pass\\word'
    made = runner.invoke(
        app, ["users", "hash-password", "al ice", "--role", "analyst"], input=f"{password}\n{password}\n"
    )
    assert made.exit_code == 0, made.output
    issued = runner.invoke(app, ["users", "new-token", "oms", "--role", "agent"])
    assert issued.exit_code == 0, issued.output
    token = re.search(r"osk_\S+", issued.stderr).group(0)
    config = tomllib.loads(made.stdout + issued.stdout)  # only the entries on stdout
    access = Access([HubUser(**u) for u in config["users"]], [HubToken(**t) for t in config["tokens"]])
    assert access.password("al ice", password).role == "analyst"
    assert access.password("al ice", "wrong") is None
    assert access.token(token).role == "agent"
    assert token not in issued.stdout  # the token itself is shown once, beside the entry


def test_a_short_password_or_an_unknown_role_is_one_error_line() -> None:
    runner = CliRunner()
    short = runner.invoke(app, ["users", "hash-password", "bob"], input="short\nshort\n")
    assert short.exit_code == 1 and "at least 10 characters" in short.stderr
    role = runner.invoke(app, ["users", "new-token", "x", "--role", "root"])
    assert role.exit_code == 1 and "manager, analyst or agent" in role.stderr
    assert "Traceback" not in short.output + role.output
