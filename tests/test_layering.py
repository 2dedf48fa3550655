"""Dependencies point one way: app -> graph -> blocks; only app imports Qt.

Reads every module's import statements with ``ast`` (so imports inside functions count
too) and, separately, imports the headless packages in a fresh interpreter to check
that no Qt module gets loaded behind our back.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT = {"PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2", "pyqtgraph"}
FORBIDDEN = {
    "blocks": QT | {"graph", "app"},
    "graph": QT | {"app"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_only_lower_layers(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in files
        if imported_roots(path) & FORBIDDEN[package]
    }
    assert offenders == {}


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from PySide6 import QtCore\n    import graph.model\n")
    assert imported_roots(bad) >= {"PySide6", "graph"}


def test_headless_packages_load_no_qt() -> None:
    code = (
        "import sys, blocks, graph, app.cli\n"
        "import graph.model\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        + repr(sorted(QT))
        + ")\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
