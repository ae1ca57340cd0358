"""``AtomDefinition``: one version of one atom's spec, as a worker (or a deploy hook) registered it."""

from __future__ import annotations

from django.db import models

__all__ = ["AtomDefinition"]


class AtomDefinition(models.Model):
    """Everything about an atom but its code. One row per (name, spec hash): a version."""

    name = models.CharField(max_length=200)
    spec_hash = models.CharField(max_length=64)
    queue = models.CharField(max_length=40)
    package = models.CharField(max_length=200, blank=True, default="")
    description = models.TextField(blank=True, default="")
    schema = models.JSONField()
    soft_time_limit = models.PositiveIntegerField()
    time_limit = models.PositiveIntegerField()
    idempotent = models.BooleanField()
    retry = models.JSONField()  # max_retries, backoff_base, backoff_max, transient (names)
    file_args = models.JSONField(default=list)
    # Newest registration wins: the version of a name registered last is the one the API uses.
    registered_at = models.DateTimeField()
    # Refreshed while a live worker serves this version (``GET /api/v1/atoms`` shows ``live``).
    served_at = models.DateTimeField(null=True, blank=True)
    # Set when a deploy registered its atoms and this one was no longer among them.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "spec_hash"], name="uniq_atom_version")]
        indexes = [models.Index(fields=["name", "-registered_at"], name="atom_current")]

    def __str__(self) -> str:
        return f"{self.name}@{self.spec_hash[:12]}"
