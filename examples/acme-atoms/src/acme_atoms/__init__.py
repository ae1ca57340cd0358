"""Acme's atoms: importing this package registers them (workers do it through the entry point)."""

from acme_atoms import reports

__all__ = ["reports"]
