"""No secret in any log, process argument or repr (issue 7, item 7)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest

from orderscope.config import load_settings
from orderscope.services import ServiceError
from orderscope.services._util import REDACTED, child_env, run, secure_logs
from orderscope.services.neo4j import ADMIN_CLASS, initial_password_command

SECRET = "Tr1cky pass\"word' \\ -@#x"
# What a password may hold: quotes, backslashes, spaces, a leading dash or at sign, a comment
# sign, non-ASCII letters (Neo4j wants at least 8 characters).
PASSWORDS = [
    SECRET,
    "-starts-with-dash",
    "@looks-like-a-file",
    "#comment-sign",
    "pässwörd-€ ñ",
    "trailing-backslash\\",
    ' "quoted" ',
]


def test_settings_repr_str_and_dump_show_no_password(monkeypatch) -> None:
    monkeypatch.setenv("ORDERSCOPE_PG_PASSWORD", "pg-" + SECRET)
    settings = load_settings(neo4j_password="neo-" + SECRET)
    for text in (repr(settings), str(settings), str(settings.model_dump()), settings.model_dump_json()):
        assert SECRET not in text and "**********" in text
    assert settings.neo4j_password.get_secret_value() == "neo-" + SECRET
    # The DSN handed to the driver still carries it, quoted as libpq wants.
    from psycopg.conninfo import conninfo_to_dict

    assert conninfo_to_dict(settings.pg_dsn)["password"] == "pg-" + SECRET
    assert load_settings().neo4j_password.get_secret_value() == "orderscope-dev"


def test_timescale_error_text_leaves_the_password_out() -> None:
    from orderscope.series.timescale import _safe_dsn

    shown = _safe_dsn(load_settings(pg_password=SECRET).pg_dsn)
    assert "dbname=orderscope" in shown and "password" not in shown and "pass" not in shown


@pytest.mark.parametrize("password", PASSWORDS)
def test_initial_password_goes_in_on_stdin_not_on_the_command_line(password: str) -> None:
    argv, stdin = initial_password_command("/usr/bin/java", Path("/x/lib"), password)
    assert ADMIN_CLASS in argv and argv[-2:] == ["set-initial-password", "@/dev/stdin"]
    assert not any(password in a or password.strip() in a for a in argv)
    assert password.encode() not in b" ".join(a.encode() for a in argv)
    assert stdin.startswith(b'--\n"') and stdin.endswith(b'"\n')


def test_initial_password_with_a_line_break_is_refused() -> None:
    for bad in ("two\nlines-password", "carriage\rreturn-pw", "nul\0password"):
        with pytest.raises(ServiceError, match="line breaks"):
            initial_password_command("java", Path("lib"), bad)


def _admin_jars() -> Path | None:
    lib = Path(load_settings().services_dir).expanduser() / "neo4j" / "lib"
    return lib if (lib / ".complete").exists() and shutil.which("java") else None


def _stored_password_matches(auth_ini: Path, password: str) -> bool:
    """Neo4j's auth file: user:SHA-256,hash,salt,iterations: with hash = SHA-256 of salt +
    password, re-hashed iterations - 1 times."""
    credential = auth_ini.read_text().strip().split(":")[1]
    algorithm, expected, salt, iterations = credential.split(",")
    assert algorithm == "SHA-256"
    digest = hashlib.sha256(bytes.fromhex(salt) + password.encode()).digest()
    for _ in range(int(iterations) - 1):
        digest = hashlib.sha256(digest).digest()
    return digest.hex() == expected


@pytest.mark.skipif(
    _admin_jars() is None, reason="needs Java and the Neo4j jars (`services up` installs them)"
)
def test_admin_tool_sets_exactly_the_password_it_reads_from_stdin(tmp_path: Path) -> None:
    """The real Neo4j 5.26 admin tool, in a scratch home (no server involved)."""
    java = shutil.which("java")
    assert java is not None
    for i, password in enumerate(PASSWORDS):
        home = tmp_path / f"home{i}"
        (home / "conf").mkdir(parents=True)
        (home / "conf" / "neo4j.conf").write_text(f"server.directories.data={home / 'data'}\n")
        argv, stdin = initial_password_command(java, _admin_jars(), password)
        log = tmp_path / "logs" / f"setup{i}.log"
        run(
            argv,
            log,
            cwd=home,
            env={"NEO4J_HOME": str(home), "NEO4J_CONF": str(home / "conf")},
            timeout=120,
            stdin=stdin,
        )
        assert _stored_password_matches(home / "data" / "dbms" / "auth.ini", password), password
        assert password.encode() not in log.read_bytes()
        assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_run_logs_privately_feeds_stdin_and_keeps_secrets_out_of_the_environment(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("ORDERSCOPE_NEO4J_PASSWORD", SECRET)
    monkeypatch.setenv("ORDERSCOPE_PG_PASSWORD", SECRET)
    log = tmp_path / "logs" / "x.log"
    script = 'read -r line; printf %s "$line" > got; printf %s "$ORDERSCOPE_NEO4J_PASSWORD$ORDERSCOPE_PG_PASSWORD" > env'
    run(["sh", "-c", script], log, cwd=tmp_path, stdin=b"the-secret\n")
    assert (tmp_path / "got").read_text() == "the-secret" and (tmp_path / "env").read_text() == ""
    assert b"the-secret" not in log.read_bytes() and b"read -r line" in log.read_bytes()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    assert "ORDERSCOPE_NEO4J_PASSWORD" not in child_env()
    with pytest.raises(ServiceError):
        run(["sh", "-c", "exit 3"], log)


def test_secure_logs_redacts_earlier_logs_and_makes_them_private(tmp_path) -> None:
    """What an earlier release left: the initial password inside a logged command line, in a
    world-readable file."""
    root = tmp_path / "services"
    (root / "logs").mkdir(parents=True)
    (root / "neo4j" / "logs").mkdir(parents=True)
    old = root / "logs" / "neo4j-setup.log"
    old.write_text(f"$ java -cp lib/* {ADMIN_CLASS} dbms set-initial-password {SECRET}\nChanged password\n")
    (root / "neo4j" / "logs" / "neo4j.log").write_text("started\n")
    for path in (old, root / "neo4j" / "logs" / "neo4j.log"):
        os.chmod(path, 0o644)
    changed = secure_logs(root, [SECRET, "abc"])  # too short a secret is not redacted
    assert f"redacted {old}" in changed
    assert SECRET not in old.read_text() and f"set-initial-password {REDACTED}" in old.read_text()
    assert "abc" not in REDACTED and old.read_text().count(REDACTED) == 1
    for path in (old, root / "neo4j" / "logs" / "neo4j.log"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for folder in (root / "logs", root / "neo4j" / "logs"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert secure_logs(root, [SECRET]) == []  # nothing left to do


@pytest.mark.server
def test_set_up_services_leave_no_secret_in_logs_or_process_arguments() -> None:
    """After `services up` (the session fixture runs it): no log under services_dir holds a
    password or is readable by others, and no process on the machine has one in its argv."""
    settings = load_settings()
    secrets = [settings.neo4j_password.get_secret_value(), settings.pg_password.get_secret_value()]
    root = Path(settings.services_dir).expanduser()
    if not (root / "logs").is_dir():
        pytest.skip("servers from containers: no local services dir")
    logs = [p for p in root.rglob("*.log") if p.is_file() and "data" not in p.relative_to(root).parts]
    assert logs
    for path in logs:
        data = path.read_bytes()
        assert not any(s.encode() in data for s in secrets), path
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes()
        except OSError:
            continue
        assert not any(s.encode() in argv for s in secrets), cmdline
