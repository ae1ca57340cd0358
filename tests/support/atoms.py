"""Registering the shipped atoms in a test database, as the chart's deploy hook does
(``atomfleet manage register_atoms``): the API validates against registrations."""

from __future__ import annotations

from django.conf import settings


def register_shipped_atoms() -> None:
    from atomfleet.catalog import load_catalog
    from atomfleet_orchestrator.atoms import registry

    registry.register(load_catalog(settings.ATOMFLEET_QUEUES, settings.ATOMFLEET_VISIBILITY_TIMEOUT))
