"""The import-linter contracts of pyproject.toml hold (`lint-imports`, run as a developer would).

lint-imports reads the package from the filesystem below `core/` (where the editable install
puts `orderscope`); the subpackages that live in their own top-level folders are linked there
(`core/series -> ../series`, ...), so it sees the whole namespace.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_every_subpackage_folder_is_linked_under_core() -> None:
    """A new top-level subpackage must be linked too, or lint-imports would not see it."""
    import tomllib

    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    for name, folder in mapping.items():
        if name == "orderscope":
            continue
        link = ROOT / "core" / name.split(".", 1)[1]
        assert link.is_symlink() and link.resolve() == (ROOT / folder).resolve(), f"ln -s ../{folder} {link}"
