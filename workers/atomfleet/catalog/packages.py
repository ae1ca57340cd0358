"""Which atom packages a worker loads.

Atoms live in ordinary Python packages that declare themselves with an entry point of the group
``atomfleet.atoms`` (name → module); importing the module registers its atoms (``@atom``). A worker
loads every installed one, or only those ``ATOMFLEET_ATOM_PACKAGES`` lists (a JSON list of entry
point names or module paths) — the way a deployment turns the demo atoms off. The orchestrator's API
never imports atom packages: it knows atoms from what workers registered.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Mapping
from importlib.metadata import entry_points

from atomfleet.errors import ConfigurationError

__all__ = ["ENTRY_POINT_GROUP", "PACKAGES_ENV", "configured_packages", "import_atom_packages", "installed_packages"]

ENTRY_POINT_GROUP = "atomfleet.atoms"
PACKAGES_ENV = "ATOMFLEET_ATOM_PACKAGES"


def installed_packages() -> dict[str, str]:
    """Entry point name → module of every installed atom package."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def configured_packages(environ: Mapping[str, str] | None = None) -> list[str] | None:
    """The packages ``ATOMFLEET_ATOM_PACKAGES`` names; None means every installed one."""
    raw = (os.environ if environ is None else environ).get(PACKAGES_ENV, "").strip()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"{PACKAGES_ENV} is not valid JSON: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigurationError(f"{PACKAGES_ENV} must be a JSON list of package names, got {raw!r}")
    return list(value)


def import_atom_packages(names: list[str] | None = None) -> list[str]:
    """Import the atom packages (all installed ones when ``names`` is None); returns their modules."""
    available = installed_packages()
    modules = list(available.values()) if names is None else [available.get(n, n) for n in names]
    for module in modules:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module.startswith(exc.name):
                raise ConfigurationError(
                    f"atom package {module!r} ({PACKAGES_ENV}) is not installed; installed: "
                    f"{', '.join(f'{k} ({v})' for k, v in sorted(available.items())) or 'none'}"
                ) from None
            raise
    return modules
