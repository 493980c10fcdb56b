"""The import-linter contracts of pyproject.toml hold.

lint-imports cannot see the package through the editable install's path mapping (top-level
folders mapped into one namespace), so the test lays the namespace out as links in a temporary
folder and points PYTHONPATH at it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUBPACKAGES = ("ingest", "graph", "series", "analytics", "dashboard", "services", "generator")


def test_import_contracts_are_kept(tmp_path):
    package = tmp_path / "orderscope"
    package.mkdir()
    for entry in (ROOT / "core").iterdir():
        (package / entry.name).symlink_to(entry)
    for name in SUBPACKAGES:
        (package / name).symlink_to(ROOT / name)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
