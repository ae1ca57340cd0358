"""Workflows: DAGs of atom runs whose state the database owns (docs/workflows.md)."""
