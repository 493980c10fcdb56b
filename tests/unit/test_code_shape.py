"""The package stays readable: no module over 500 lines, no function over 80 lines unless a
comment right above it says why it stays whole (`# whole: <reason>`)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _package_files() -> list[Path]:
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    # core/ links the other top-level folders (for lint-imports): count each file once
    return sorted({p.resolve() for folder in dirs.values() for p in (ROOT / folder).rglob("*.py")})


def _reasoned(lines: list[str], node: ast.AST) -> bool:
    first = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return first >= 2 and lines[first - 2].strip().startswith("# whole:")


def test_no_module_over_the_limit() -> None:
    big = {
        str(p.relative_to(ROOT.resolve())): n
        for p in _package_files()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not big, f"modules over {MAX_MODULE_LINES} lines: split them along a seam: {big}"


def test_no_long_function_without_a_reason() -> None:
    long = []
    for path in _package_files():
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and not _reasoned(lines, node):
                    long.append(
                        f"{path.relative_to(ROOT.resolve())}:{node.lineno} {node.name} ({length} lines)"
                    )
    assert not long, "functions over 80 lines without a `# whole:` reason above them:\n" + "\n".join(long)
