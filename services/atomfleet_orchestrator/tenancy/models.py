"""A tenant owns runs and uploads; API tokens authenticate one named caller of one tenant."""

from __future__ import annotations

import hashlib
import secrets

from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "af_"


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class Tenant(models.Model):
    slug = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", "lowercase letters, digits, '-'")],
        help_text="stable identifier, also the storage prefix of the tenant's files",
    )
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class ApiToken(models.Model):
    """Only a SHA-256 of the token is stored; the token itself is shown once, at creation."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="tokens")
    name = models.CharField(max_length=150, help_text="who uses it; recorded as a run's creator")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="uniq_token_name_per_tenant")]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"

    @classmethod
    def issue(cls, tenant: Tenant, name: str) -> tuple[ApiToken, str]:
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        return cls.objects.create(tenant=tenant, name=name, key_hash=hash_token(raw)), raw

    def revoke(self) -> None:
        """Stop accepting this token (API processes honour it within the token cache's TTL)."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class TenantLimits(models.Model):
    """A tenant's own limits (admission and fair dispatch); a NULL field means "the fleet default" (settings).

    Read on every submit (:mod:`atomfleet_orchestrator.tenancy.limits`); written by
    ``atomfleet manage set_tenant_limits``. A tenant without a row has every default.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="limits")
    # Accepted runs not yet finished (queued, running, retrying, and workflow steps not yet released).
    quota_runs = models.PositiveIntegerField(null=True, blank=True)
    # Token bucket of submitted runs: refilled at ``submit_rate`` runs/s, holding at most ``submit_burst``.
    submit_rate = models.FloatField(null=True, blank=True)
    submit_burst = models.PositiveIntegerField(null=True, blank=True)
    # Fair dispatch (runs.fairness): the tenant's share of a busy queue against the others', and
    # its runs running or published at once, over every queue and on any one queue.
    weight = models.PositiveSmallIntegerField(null=True, blank=True)
    max_running = models.PositiveIntegerField(null=True, blank=True)
    max_running_per_queue = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"limits of {self.tenant_id}"
