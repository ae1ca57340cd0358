"""The atom catalog: every runnable atom, its queue, argument schema, limits and retry policy."""

from __future__ import annotations

from atomfleet.catalog.packages import (
    ENTRY_POINT_GROUP,
    PACKAGES_ENV,
    configured_packages,
    import_atom_packages,
    installed_packages,
)
from atomfleet.catalog.registry import CATALOG, Catalog, SchemaProblem, atom, schema_problems
from atomfleet.catalog.shutdown import ShutdownBudget, check_grace_period
from atomfleet.catalog.spec import AtomSpec, RetryPolicy, task_name_for

__all__ = [
    "CATALOG",
    "ENTRY_POINT_GROUP",
    "PACKAGES_ENV",
    "AtomSpec",
    "Catalog",
    "RetryPolicy",
    "SchemaProblem",
    "ShutdownBudget",
    "atom",
    "check_grace_period",
    "configured_packages",
    "import_atom_packages",
    "installed_packages",
    "load_catalog",
    "schema_problems",
    "task_name_for",
]


def load_catalog(
    declared_queues: tuple[str, ...], visibility_timeout: int, packages: list[str] | None = None
) -> Catalog:
    """Import the atom packages (``packages``, else ``ATOMFLEET_ATOM_PACKAGES``, else every installed
    one) and check their atoms against the fleet's declaration. Workers call it; the API never does."""
    import_atom_packages(packages if packages is not None else configured_packages())
    CATALOG.check_queues(declared_queues)
    CATALOG.check_visibility_timeout(visibility_timeout)
    return CATALOG
