"""Neo4j 5.26 LTS community from Maven Central, run as a plain Java process on loopback.

No tarball or Docker needed: Maven resolves org.neo4j:neo4j (+ neo4j-server) into a lib/ folder
once; we start org.neo4j.server.CommunityEntryPoint with our own home/conf/data under
services_dir, after setting the initial password with the admin tool (as neo4j-admin would).

The password never appears on a command line (logged, and visible in the process list): the admin
tool reads it from standard input as a picocli argument file, `@/dev/stdin`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ._util import (
    LOOPBACK,
    Progress,
    ServiceError,
    apt_install,
    child_env,
    cmdline,
    open_private_log,
    pid_alive,
    port_open,
    private_dir,
    read_pid,
    run,
    tail,
)

# Newest 5.26 LTS patch release on Maven Central at install time; recorded in lib/.complete.
VERSION_RANGE = "[5.26.0,5.27.0)"
ARTIFACTS = [("org.neo4j", "neo4j"), ("org.neo4j.app", "neo4j-server")]
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1"
MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
# Enough heap that bulk loads do not pause for GC; override for small machines.
HEAP = os.environ.get("ORDERSCOPE_NEO4J_HEAP", "2g")
PAGECACHE = os.environ.get("ORDERSCOPE_NEO4J_PAGECACHE", "1g")
JVM_FLAGS = [
    f"-Xms{HEAP}",
    f"-Xmx{HEAP}",
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--enable-native-access=ALL-UNNAMED",
]


def _paths(settings: Any) -> dict[str, Path]:
    home = Path(settings.services_dir).expanduser() / "neo4j"
    return {
        "home": home,
        "lib": home / "lib",
        "conf": home / "conf",
        "data": home / "data",
        "logs": home / "logs",
        "pid": home / "neo4j.pid",
        "console": home / "logs" / "console.log",
        "setup_log": Path(settings.services_dir).expanduser() / "logs" / "neo4j-setup.log",
    }


def _bolt(settings: Any) -> tuple[str, int]:
    url = urlparse(settings.neo4j_uri)
    host, port = url.hostname or "127.0.0.1", url.port or 7687
    if host not in LOOPBACK:
        raise ServiceError(f"neo4j_uri is {settings.neo4j_uri}: the local services only run on 127.0.0.1")
    return ("127.0.0.1" if host == "localhost" else host), port


def _env(p: dict[str, Path]) -> dict[str, str]:
    return child_env({"NEO4J_HOME": str(p["home"]), "NEO4J_CONF": str(p["conf"])})


def initial_password_command(java: str, lib: Path, password: str) -> tuple[list[str], bytes]:
    """The admin tool's `dbms set-initial-password` as (argv, stdin): the password is handed over
    on standard input, as a picocli argument file (`@/dev/stdin`) holding `--` and the password
    in double quotes (backslash and quote escaped), so any character but a line break goes
    through unchanged, a leading `-` or `@` included; argv holds no secret."""
    if any(c in password for c in "\r\n\0"):
        raise ServiceError("the Neo4j password must not contain line breaks or NUL characters")
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    argv = [
        java,
        "-Dfile.encoding=UTF-8",
        "-cp",
        f"{lib}/*",
        ADMIN_CLASS,
        "dbms",
        "set-initial-password",
        "@/dev/stdin",
    ]
    return argv, f'--\n"{quoted}"\n'.encode()


def probe(settings: Any) -> dict[str, Any]:
    """Version via CALL dbms.components() when Bolt answers with our credentials."""
    from neo4j import GraphDatabase
    from neo4j.exceptions import DriverError, Neo4jError

    p = _paths(settings)
    host, port = _bolt(settings)
    pid = read_pid(p["pid"])
    ours = pid is not None and pid_alive(pid) and MAIN_CLASS in cmdline(pid)
    if not port_open(host, port):
        return {"state": "down", "port": port, "started_by_us": False}
    try:
        auth = (settings.neo4j_user, settings.neo4j_password.get_secret_value())
        with GraphDatabase.driver(settings.neo4j_uri, auth=auth, connection_timeout=3) as driver:
            driver.verify_connectivity()
            records, _, _ = driver.execute_query(
                "CALL dbms.components() YIELD name, versions, edition RETURN versions[0] AS version, edition"
            )
    except (Neo4jError, DriverError, OSError) as exc:
        return {"state": "unreachable", "port": port, "error": str(exc), "started_by_us": ours}
    return {
        "state": "up",
        "version": records[0]["version"],
        "edition": records[0]["edition"],
        "port": port,
        "started_by_us": ours,
    }


def _java(progress: Progress, log: Path) -> str:
    """A Java 17 or 21 runtime (Neo4j 5.26 supports those), installing openjdk-17 when absent."""
    java = shutil.which("java")
    if java is None:
        apt_install(["openjdk-17-jre-headless"], log, progress)
        java = shutil.which("java") or "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if not match or int(match.group(1)) not in (17, 21):
        raise ServiceError(f"Neo4j 5.26 needs Java 17 or 21; {java} reports: {out.strip()[:200]}")
    return java


def install(settings: Any, progress: Progress) -> dict[str, Any]:
    """Resolve the jars with Maven once; the set is cached in lib/ (and Maven's ~/.m2)."""
    p = _paths(settings)
    done = p["lib"] / ".complete"
    if done.exists():
        return {"maven": False, "neo4j_jars": done.read_text().strip()}
    t0 = time.monotonic()
    if shutil.which("mvn") is None:
        apt_install(["maven"], p["setup_log"], progress)
    _java(progress, p["setup_log"])
    p["home"].mkdir(parents=True, exist_ok=True)
    progress(f"resolving the newest Neo4j {VERSION_RANGE} on Maven Central")
    # ORDERSCOPE_NEO4J_VERSION pins an exact release (reproducible builds, or a known-good one).
    version = os.environ.get("ORDERSCOPE_NEO4J_VERSION") or _newest_version(p)
    progress(f"downloading Neo4j {version} community jars from Maven Central")
    _write_pom(
        p["home"] / "pom.xml",
        [
            f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
            f"<version>{version}</version></dependency>"
            for g, a in ARTIFACTS
        ],
    )
    shutil.rmtree(p["lib"], ignore_errors=True)
    _mvn(p, "copy-dependencies", f"-DoutputDirectory={p['lib']}", "-DincludeScope=runtime")
    if not (p["lib"] / f"neo4j-{version}.jar").exists():
        raise ServiceError(f"Maven finished but no neo4j-{version}.jar in {p['lib']} (log: {p['setup_log']})")
    done.write_text(version + "\n")
    progress(f"Neo4j {version} jars ready")
    return {"maven": True, "neo4j_jars": version, "maven_seconds": round(time.monotonic() - t0, 1)}


def _write_pom(path: Path, dependencies: list[str]) -> None:
    path.write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>orderscope.local</groupId><artifactId>neo4j-runtime</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{''.join(dependencies)}</dependencies></project>\n"
    )


def _mvn(p: dict[str, Path], goal: str, *args: str) -> None:
    run(
        ["mvn", "-B", "-q", "-f", p["home"] / "pom.xml", f"{DEPENDENCY_PLUGIN}:{goal}", *args],
        p["setup_log"],
        cwd=p["home"],
        timeout=900,
    )


def _newest_version(p: dict[str, Path]) -> str:
    """Resolve the range alone (no transitive graph): Maven would otherwise collect the full
    dependency graph of every release in the range, which takes ~20 s even offline."""
    _write_pom(
        p["home"] / "pom.xml",
        [
            f"<dependency><groupId>org.neo4j</groupId><artifactId>neo4j</artifactId>"
            f"<version>{VERSION_RANGE}</version><type>pom</type><exclusions><exclusion>"
            "<groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>"
        ],
    )
    listing = p["home"] / "resolved.txt"
    _mvn(p, "list", f"-DoutputFile={listing}", "-DexcludeTransitive=true")
    match = re.search(r"org\.neo4j:neo4j:pom:(5\.26\.[0-9]+):", listing.read_text())
    if not match:
        raise ServiceError(f"could not resolve Neo4j {VERSION_RANGE} from Maven: {listing.read_text()[:300]}")
    return match.group(1)


def configure(settings: Any, progress: Progress) -> bool:
    """Write neo4j.conf; set the initial password before the very first start. True if first time."""
    p = _paths(settings)
    host, port = _bolt(settings)
    for key in ("conf", "data"):
        p[key].mkdir(parents=True, exist_ok=True)
    private_dir(p["logs"])
    (p["conf"] / "neo4j.conf").write_text(
        "# written by orderscope services; regenerated on every `up`\n"
        f"server.default_listen_address={host}\n"
        f"server.default_advertised_address={host}\n"
        "server.bolt.enabled=true\n"
        f"server.bolt.listen_address={host}:{port}\n"
        "server.http.enabled=false\n"
        "server.https.enabled=false\n"
        "dbms.security.auth_enabled=true\n"
        f"server.directories.data={p['data']}\n"
        f"server.directories.logs={p['logs']}\n"
        f"server.directories.run={p['home'] / 'run'}\n"
        f"server.directories.import={p['home'] / 'import'}\n"
        f"server.directories.plugins={p['home'] / 'plugins'}\n"
        f"server.memory.heap.initial_size={HEAP}\n"
        f"server.memory.heap.max_size={HEAP}\n"
        f"server.memory.pagecache.size={PAGECACHE}\n"
        "dbms.usage_report.enabled=false\n"
    )
    if (p["data"] / "databases").exists() or (p["data"] / "dbms" / "auth.ini").exists():
        return False
    progress("setting the initial Neo4j password")
    java = _java(progress, p["setup_log"])
    argv, stdin = initial_password_command(java, p["lib"], settings.neo4j_password.get_secret_value())
    run(argv, p["setup_log"], cwd=p["home"], env=_env(p), timeout=120, stdin=stdin)
    return True


def start(settings: Any, progress: Progress) -> int:
    """Launch the server detached (own session), record its pid."""
    p = _paths(settings)
    java = _java(progress, p["setup_log"])
    host, port = _bolt(settings)
    progress(f"starting Neo4j on bolt://{host}:{port}")
    with open_private_log(p["console"]) as out:
        # umask 077: the logs and data Neo4j writes are its owner's only
        proc = subprocess.Popen(
            [
                java,
                *JVM_FLAGS,
                "-cp",
                f"{p['lib']}/*",
                MAIN_CLASS,
                f"--home-dir={p['home']}",
                f"--config-dir={p['conf']}",
            ],
            cwd=p["home"],
            env=_env(p),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o077,
        )
    p["pid"].write_text(f"{proc.pid}\n")
    return proc.pid


def wait_ready(settings: Any, pid: int, timeout: float = 180) -> dict[str, Any]:
    """Poll until Bolt accepts our credentials; fail fast if the JVM died."""
    p = _paths(settings)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            finished, _ = os.waitpid(pid, os.WNOHANG)  # reap if it is our child and exited
        except ChildProcessError:
            finished = 0
        if finished or not pid_alive(pid):
            raise ServiceError(
                f"Neo4j exited during startup\n--- {p['console']} ---\n{tail(p['console'])}\n"
                f"--- {p['logs'] / 'neo4j.log'} ---\n{tail(p['logs'] / 'neo4j.log')}"
            )
        state = probe(settings)
        if state["state"] == "up":
            return state
        time.sleep(0.5)
    raise ServiceError(f"Neo4j did not answer on Bolt within {timeout:.0f}s (logs: {p['logs']})")


def up(settings: Any, progress: Progress) -> dict[str, Any]:
    """Install (once), configure, start unless running; block until Bolt auth works."""
    t0 = time.monotonic()
    current = probe(settings)
    if current["state"] == "up":
        current.update(already_up=True, seconds=round(time.monotonic() - t0, 2))
        return current
    host, port = _bolt(settings)
    pid = read_pid(_paths(settings)["pid"])
    ours_running = pid is not None and pid_alive(pid) and MAIN_CLASS in cmdline(pid)
    if current["state"] == "unreachable" and not ours_running:
        raise ServiceError(
            f"port {port} is taken by a server that rejects our credentials ({current['error']}); "
            "stop it or change ORDERSCOPE_NEO4J_URI"
        )
    steps = install(settings, progress)
    t1 = time.monotonic()
    if not ours_running:
        steps["first_start"] = configure(settings, progress)
        pid = start(settings, progress)
    else:
        assert pid is not None  # ours_running implies a pid
        progress("Neo4j is starting; waiting for Bolt")
    result = wait_ready(settings, pid)
    steps["start_seconds"] = round(time.monotonic() - t1, 1)
    result.update(already_up=False, steps=steps, seconds=round(time.monotonic() - t0, 2))
    return result


def down(settings: Any, timeout: float = 60) -> dict[str, Any]:
    """Stop the JVM only if our pid file names a live Neo4j process we launched."""
    p = _paths(settings)
    pid = read_pid(p["pid"])
    if pid is None or not pid_alive(pid) or MAIN_CLASS not in cmdline(pid):
        p["pid"].unlink(missing_ok=True)
        return {"state": probe(settings)["state"], "stopped": False, "reason": "not started by orderscope"}
    os.kill(pid, signal.SIGTERM)  # Neo4j shuts down cleanly on TERM
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.3)
    forced = pid_alive(pid)
    if forced:
        os.kill(pid, signal.SIGKILL)
    p["pid"].unlink(missing_ok=True)
    return {"state": "down", "stopped": True, "forced": forced}
