"""``atomfleet.client`` is for other services: it needs httpx and nothing of the orchestrator,
Django, Celery or the atoms' dependencies; ``import atomfleet`` itself stays cheap."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("django", "rest_framework", "celery", "kombu", "redis", "atomfleet_orchestrator", "atomfleet_demo",
         "numpy", "boto3", "psycopg", "jsonschema", "prometheus_client")


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys; {statement}; print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(done.stdout))


def test_the_client_imports_no_orchestrator_framework_or_atom_dependency() -> None:
    loaded = _modules_after("from atomfleet.client import AsyncClient, Client")
    assert "httpx" in loaded
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))


def test_importing_atomfleet_loads_no_http_stack_or_framework() -> None:
    # Atom authors' ``from atomfleet import atom`` may need the catalog (jsonschema), never these.
    frameworks = {"httpx", "django", "rest_framework", "celery", "kombu", "atomfleet_orchestrator", "numpy", "boto3"}
    loaded = _modules_after("import atomfleet")
    assert loaded.isdisjoint(frameworks), sorted(loaded & frameworks)
