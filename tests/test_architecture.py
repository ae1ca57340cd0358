"""Architecture rules as tests: the execution side never depends on the orchestrator.

``workers/`` holds the execution side (import packages ``atomfleet`` and ``atomfleet_demo``);
``services/`` holds the orchestrator (``atomfleet_orchestrator``), which may import the former.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_WORKERS = ("atomfleet_orchestrator", "django", "rest_framework")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _sources(*folders: str) -> list[Path]:
    """The Python sources of ``folders``, without build output a local ``pip install`` leaves."""
    found = [p for folder in folders for p in (ROOT / folder).rglob("*.py")]
    return sorted(p for p in found if not {"build", "dist"} & set(p.relative_to(ROOT).parts))


@pytest.mark.parametrize(
    "path", _sources("workers", "examples"),
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_workers_never_import_the_orchestrator(path: Path) -> None:
    bad = _imports(path) & set(FORBIDDEN_IN_WORKERS)
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}: the execution side must not depend on the orchestrator or Django"


def test_every_import_package_is_named_after_the_product() -> None:
    """The installed distribution adds only ``atomfleet*`` names to a user's environment."""
    tops = {p.name for folder in ("workers", "services") for p in (ROOT / folder).iterdir() if (p / "__init__.py").exists()}
    assert tops == {"atomfleet", "atomfleet_demo", "atomfleet_orchestrator"}
    assert not any((ROOT / folder / "__init__.py").exists() for folder in ("workers", "services"))
