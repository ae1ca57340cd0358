"""The atom catalog: every runnable atom, its queue, argument schema, limits and retry policy."""

from __future__ import annotations

from atomfleet.catalog.registry import CATALOG, Catalog, SchemaProblem, atom
from atomfleet.catalog.shutdown import ShutdownBudget, check_grace_period
from atomfleet.catalog.spec import AtomSpec, RetryPolicy, task_name_for

__all__ = [
    "CATALOG",
    "AtomSpec",
    "Catalog",
    "RetryPolicy",
    "SchemaProblem",
    "ShutdownBudget",
    "atom",
    "check_grace_period",
    "load_catalog",
    "task_name_for",
]


def load_catalog(declared_queues: tuple[str, ...], visibility_timeout: int) -> Catalog:
    """Import the shipped atoms and check them against the fleet's declaration."""
    import atomfleet_demo  # noqa: F401  (registers the shipped atoms)

    CATALOG.check_queues(declared_queues)
    CATALOG.check_visibility_timeout(visibility_timeout)
    return CATALOG
