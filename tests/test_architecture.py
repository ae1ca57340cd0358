"""Architecture rules as tests: the execution side never depends on the orchestrator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_WORKERS = ("services", "django", "rest_framework")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "workers").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_workers_never_import_the_orchestrator(path: Path) -> None:
    bad = _imports(path) & set(FORBIDDEN_IN_WORKERS)
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: workers must not depend on services/Django"


def test_no_generic_top_level_packages() -> None:
    generic = {"utils", "common", "core", "helpers", "misc"}
    tops = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert not tops & generic
    assert {"services", "workers"} <= tops
