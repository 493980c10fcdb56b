"""Build and install TimescaleDB 2.19 (Apache-2 edition) for PostgreSQL 15 from Debian's source.

Debian bookworm has no timescaledb package; trixie ships 2.19.3 as a source package, which builds
against bookworm's postgresql-server-dev-15 in well under a minute. Built only once per machine:
skipped when timescaledb.control is already in the server's extension directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from ._util import Progress, ServiceError, apt_install, apt_locked, apt_update, is_root, run

SUITE = "trixie"
SOURCE_LIST = Path("/etc/apt/sources.list.d/orderscope-trixie-src.list")
BUILD_PACKAGES = [
    "postgresql-server-dev-15",
    "dpkg-dev",
    "xz-utils",
    "cmake",
    "gcc",
    "make",
    "libssl-dev",
    "libkrb5-dev",
]


def installed_version(pg_config: Path) -> str | None:
    """default_version from the installed control file, or None when not installed."""
    sharedir = subprocess.run(
        [str(pg_config), "--sharedir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    control = Path(sharedir) / "extension" / "timescaledb.control"
    if not control.exists():
        return None
    match = re.search(r"default_version\s*=\s*'([^']+)'", control.read_text())
    return match.group(1) if match else "unknown"


def debian_mirror() -> str:
    """The Debian mirror this machine already uses, so the deb-src line goes to the same host."""
    candidates: list[str] = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path == SOURCE_LIST or path.suffix not in {".list", ".sources"}:
            continue
        try:
            text = path.read_text()
        except OSError:
            continue
        candidates += re.findall(r"(https?://\S+/debian)/?(?=\s|$)", text, flags=re.M)
    return candidates[0] if candidates else "http://deb.debian.org/debian"


def ensure_installed(pg_config: Path, work: Path, log: Path, progress: Progress) -> dict[str, object]:
    """Build + install the extension when missing; returns timings for the report."""
    version = installed_version(pg_config)
    if version is not None:
        return {"timescaledb_built": False, "timescaledb_installed": version}
    if not is_root():
        raise ServiceError(
            "TimescaleDB is not installed for PostgreSQL 15 and building it needs root "
            "(it installs into /usr/lib/postgresql/15); rerun `python -m orderscope.services up` as root"
        )
    timings: dict[str, object] = {"timescaledb_built": True}
    t0 = time.monotonic()
    apt_install(BUILD_PACKAGES, log, progress)

    src_root = work / "timescaledb-src"
    shutil.rmtree(src_root, ignore_errors=True)
    src_root.mkdir(parents=True)
    progress(f"fetching Debian source package timescaledb from {SUITE}")
    with apt_locked():
        SOURCE_LIST.write_text(
            f"# added by orderscope services (TimescaleDB source); safe to delete\n"
            f"deb-src {debian_mirror()} {SUITE} main\n"
        )
        try:
            apt_update(log, progress, force=True)
            run(["apt-get", "source", f"timescaledb/{SUITE}"], log, cwd=src_root, timeout=300)
        finally:
            # Keep apt's configuration as we found it: later `apt-get update`s need not fetch trixie.
            SOURCE_LIST.unlink(missing_ok=True)
    timings["apt_seconds"] = round(time.monotonic() - t0, 1)

    t1 = time.monotonic()
    trees = [p for p in src_root.iterdir() if p.is_dir() and p.name.startswith("timescaledb-")]
    if not trees:
        raise ServiceError(f"apt-get source produced no timescaledb-* directory in {src_root}")
    tree = trees[0]
    progress(f"building {tree.name} (Apache-2 only) against PostgreSQL 15")
    run(
        [
            "./bootstrap",
            "-DAPACHE_ONLY=1",
            "-DREGRESS_CHECKS=OFF",
            "-DTAP_CHECKS=OFF",
            "-DWARNINGS_AS_ERRORS=OFF",
            "-DCMAKE_BUILD_TYPE=Release",
            f"-DPG_CONFIG={pg_config}",
        ],
        log,
        cwd=tree,
    )
    run(
        ["make", "-C", "build", f"-j{max(2, len(os.sched_getaffinity(0)))}", "install"],
        log,
        cwd=tree,
        timeout=1200,
    )
    timings["build_seconds"] = round(time.monotonic() - t1, 1)
    shutil.rmtree(src_root, ignore_errors=True)
    version = installed_version(pg_config)
    if version is None:
        raise ServiceError(f"TimescaleDB build finished but timescaledb.control is missing (log: {log})")
    timings["timescaledb_installed"] = version
    progress(f"TimescaleDB {version} installed")
    return timings
