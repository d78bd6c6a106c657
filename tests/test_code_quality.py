"""The project's own rules, checked like any other test: ruff clean everywhere, mypy
strict on the layers that must stay pure (domain, services, store), and the layering of
DESIGN §6 (domain imports nothing of the project's outer layers; only ui imports Qt)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "leaddesk"


def _tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; it comes with the test extra: pip install '.[test]'")
    return found


def test_ruff_is_clean() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "leaddesk", "tests", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_domain_services_and_store() -> None:
    result = subprocess.run(
        [_tool("mypy"), "--no-incremental", "--cache-dir", "/dev/null"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "domain",
            (
                "sqlalchemy",
                "alembic",
                "PySide6",
                "leaddesk.store",
                "leaddesk.services",
                "leaddesk.ui",
                "leaddesk.cli",
            ),
        ),
        ("store", ("PySide6", "leaddesk.services", "leaddesk.ui", "leaddesk.cli")),
        ("services", ("PySide6", "leaddesk.ui", "leaddesk.cli")),
        ("cli", ("PySide6",)),
    ],
)
def test_layers_import_only_downwards(layer: str, forbidden: tuple[str, ...]) -> None:
    offenders = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for name in _imports(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_only_the_qt_module_imports_pyside() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((PACKAGE / "ui").rglob("*.py"))
        if path.name != "qt.py" and any(n.startswith("PySide6") for n in _imports(path))
    ]
    assert offenders == []


def test_ui_never_builds_sql() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for path in sorted((PACKAGE / "ui").rglob("*.py"))
        if any(n.startswith("sqlalchemy") for n in _imports(path))
    ]
    assert offenders == []
