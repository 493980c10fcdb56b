"""Small process, port and apt helpers shared by the service modules.

Kept dependency-free (stdlib only) so that installing services works before anything else does.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

Progress = Callable[[str], None]

# apt/dpkg allow one user at a time; both services may ask for packages concurrently.
_APT_LOCK = threading.Lock()
_apt_updated = False

LOOPBACK = {"127.0.0.1", "localhost", "::1"}

# Settings' secrets reach the children's environment when given as ORDERSCOPE_* variables; no
# child needs them there (each gets its secret another way), so they are left out.
_SECRET_ENV = ("ORDERSCOPE_NEO4J_PASSWORD", "ORDERSCOPE_PG_PASSWORD")
REDACTED = "**********"


class ServiceError(RuntimeError):
    """A service could not be installed, started or reached; the message says what to do."""


def noop(_: str) -> None:
    """Progress sink used when the caller gives none."""


def is_root() -> bool:
    return os.geteuid() == 0


def tail(path: Path, lines: int = 25) -> str:
    """Last lines of a log, for error messages that explain themselves."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child process: ours without orderscope's secrets, plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in _SECRET_ENV}, **(extra or {})}


def private_dir(path: Path) -> Path:
    """Create `path` (and parents) and make it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def open_private_log(log: Path) -> BinaryIO:
    """`log` opened for appending, in a private folder, mode 0600 (also when it existed)."""
    private_dir(log.parent)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "ab")


def secure_logs(services_dir: Path, secrets: Sequence[str] = ()) -> list[str]:
    """Make every log under services_dir private (folders 0700, files 0600) and redact any of
    `secrets` from the setup logs (written by earlier releases, which logged the Neo4j initial
    password inside a command line). Returns the files changed."""
    root = Path(services_dir).expanduser()
    changed: list[str] = []
    if not root.is_dir():
        return changed
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("data", "lib", "build")]  # no logs in there
        here = Path(dirpath)
        if here.name == "logs":
            _chmod(here, 0o700, changed)
        for name in filenames:
            if name.endswith(".log"):
                _chmod(here / name, 0o600, changed)
    needles = [s.encode() for s in secrets if len(s) >= 4]
    for log in sorted((root / "logs").glob("*.log")) if needles else []:
        try:
            data = log.read_bytes()
        except OSError:
            continue
        clean = data
        for needle in needles:
            clean = clean.replace(needle, REDACTED.encode())
        if clean != data:
            tmp = log.with_name(log.name + ".redacting")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(clean)
            os.replace(tmp, log)
            changed.append(f"redacted {log}")
    return changed


def _chmod(path: Path, mode: int, changed: list[str]) -> None:
    try:
        if path.is_symlink() or (path.stat().st_mode & 0o777) == mode:
            return
        os.chmod(path, mode)
        changed.append(f"chmod {mode:o} {path}")
    except OSError:
        pass


def run(
    cmd: Sequence[str | os.PathLike[str]],
    log: Path,
    *,
    cwd: Path | None = None,
    user: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 900,
    stdin: bytes | None = None,
) -> None:
    """Run a command with output appended to `log`; raise ServiceError with the log tail on failure.

    `user` runs it through runuser, because PostgreSQL refuses to run as root. `stdin` is fed to
    the command's standard input (else it reads nothing): the way to hand it a secret, which
    must never be in `cmd`, since the command line is logged and visible in the process list.
    The log is private (0600 in a 0700 folder).
    """
    argv = [str(c) for c in cmd]
    if user is not None and is_root() and user != "root":
        argv = ["runuser", "-u", user, "--", *argv]
    full_env = child_env({"LC_ALL": "C.UTF-8", **(env or {})})
    with open_private_log(log) as fh:
        fh.write(f"\n$ {' '.join(argv)}\n".encode())
        fh.flush()
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=full_env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL if stdin is None else None,
                input=stdin,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"timed out after {timeout:.0f}s: {' '.join(argv)} (log: {log})") from exc
        except FileNotFoundError as exc:
            raise ServiceError(f"command not found: {argv[0]}") from exc
    if proc.returncode != 0:
        raise ServiceError(
            f"command failed ({proc.returncode}): {' '.join(argv)}\n--- {log} ---\n{tail(log)}"
        )


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def cmdline(pid: int) -> str:
    """The process's command line, to avoid signalling a recycled pid."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def dpkg_installed(package: str) -> bool:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.returncode == 0 and "install ok installed" in out.stdout


def apt_update(log: Path, progress: Progress, *, force: bool = False) -> None:
    """`apt-get update` once per process unless forced (e.g. after adding a source list)."""
    global _apt_updated
    if _apt_updated and not force:
        return
    progress("apt-get update")
    run(
        ["apt-get", "-o", "DPkg::Lock::Timeout=300", "update"],
        log,
        env={"DEBIAN_FRONTEND": "noninteractive"},
        timeout=300,
    )
    _apt_updated = True


def apt_install(packages: Sequence[str], log: Path, progress: Progress) -> list[str]:
    """Install the Debian packages that are missing; return the ones installed."""
    with _APT_LOCK:
        missing = [p for p in packages if not dpkg_installed(p)]
        if not missing:
            return []
        if not is_root():
            raise ServiceError(
                "missing Debian packages: "
                + " ".join(missing)
                + "\nrun as root, or: sudo apt-get install -y "
                + " ".join(missing)
            )
        if shutil.which("apt-get") is None:
            raise ServiceError("apt-get not found; install these packages yourself: " + " ".join(missing))
        apt_update(log, progress)
        progress("apt-get install " + " ".join(missing))
        run(
            [
                "apt-get",
                "-o",
                "DPkg::Lock::Timeout=300",
                "install",
                "-y",
                "--no-install-recommends",
                *missing,
            ],
            log,
            env={"DEBIAN_FRONTEND": "noninteractive"},
            timeout=900,
        )
        return missing


def apt_locked() -> threading.Lock:
    """The lock to hold for any other apt/dpkg call (source downloads, updates)."""
    return _APT_LOCK


def user_ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def chown_tree(path: Path, user: str) -> None:
    """Hand a directory tree to a service user (only meaningful as root)."""
    if not is_root():
        return
    uid, gid = user_ids(name=user)
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def grant_traverse(path: Path, user: str, progress: Progress, log: Path) -> list[str]:
    """Let `user` reach `path` (e.g. postgres into /root/...), granting search (x) permission only.

    Uses a POSIX ACL for just that user (installing Debian's `acl` if needed), else o+x.
    Returns what changed.
    """
    if not is_root():
        return []
    probe = subprocess.run(
        ["runuser", "-u", user, "--", "test", "-x", str(path)], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return []
    if shutil.which("setfacl") is None:
        try:
            apt_install(["acl"], log, progress)
        except ServiceError:
            pass
    uid, _ = user_ids(user)
    user_gids = set(os.getgrouplist(user, pwd.getpwnam(user).pw_gid))
    changed: list[str] = []
    for parent in reversed(path.resolve().parents):
        st = parent.stat()
        if st.st_uid == uid:
            ok = bool(st.st_mode & 0o100)
        elif st.st_gid in user_gids:
            ok = bool(st.st_mode & 0o010)
        else:
            ok = bool(st.st_mode & 0o001)
        if ok:
            continue
        if (
            shutil.which("setfacl")
            and subprocess.run(
                ["setfacl", "-m", f"u:{user}:x", str(parent)], capture_output=True, check=False
            ).returncode
            == 0
        ):
            changed.append(f"setfacl u:{user}:x {parent}")
        else:
            os.chmod(parent, st.st_mode | 0o001)
            changed.append(f"chmod o+x {parent}")
    for change in changed:
        progress(f"granted traverse permission so {user} can reach its data: {change}")
    return changed


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return check()
