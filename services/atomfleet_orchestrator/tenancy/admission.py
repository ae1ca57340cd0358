"""Admission of a submit: the tenant's quota and submit rate (docs/tenancy.md).

A submit that would create runs (a single run, a batch's new items, a workflow's steps) goes
through one :class:`Admission`:

1. :meth:`Admission.admit` (before any work): the quota, counted without a lock (a tenant at
   its quota is refused at once, without spending tokens), then the rate bucket in Redis.
2. :meth:`Admission.settle` (inside the submit's transaction, after its inserts): the quota again,
   under the tenant's advisory lock, the request's own rows included. That one is exact: two
   concurrent submits of a tenant, on any pods, cannot together go over the quota.

An idempotent replay creates nothing, so it never comes here: limits never refuse a replay.
Refusals are 429 with the shared error body; the rate limit's also carry ``Retry-After`` and the
RateLimit header fields, which admitted submits carry too (:meth:`Admission.headers`).
"""

from __future__ import annotations

from typing import Any

from atomfleet_orchestrator.http.errors import ApiError
from atomfleet_orchestrator.observability.metrics import record_submission_rejected
from atomfleet_orchestrator.tenancy import limits as tenant_limits
from atomfleet_orchestrator.tenancy import ratelimit
from atomfleet_orchestrator.tenancy.models import Tenant

__all__ = ["Admission", "QuotaExceeded", "RateLimited"]


class QuotaExceeded(ApiError):
    """429 ``quota_exceeded`` (details: ``limit``, ``in_use``, ``requested``)."""

    def __init__(self, limit: int, in_use: int, requested: int) -> None:
        super().__init__(
            429, "quota_exceeded",
            f"this tenant may have {limit} accepted runs not yet finished; {in_use} are, and this "
            f"request adds {requested}: wait for runs to finish, or ask for a larger quota",
            {"limit": limit, "in_use": in_use, "requested": requested},
        )


class RateLimited(ApiError):
    """429 ``rate_limited`` with ``Retry-After`` (details: ``rate``, ``burst``, ``requested``, ``retry_after``)."""

    def __init__(self, bucket: ratelimit.Bucket) -> None:
        super().__init__(
            429, "rate_limited",
            f"this tenant may submit {bucket.rate:g} runs/s (bursts of {bucket.burst}); this request of "
            f"{bucket.wanted} runs is admitted in {bucket.retry_after}s",
            {"rate": bucket.rate, "burst": bucket.burst, "requested": bucket.wanted,
             "retry_after": bucket.retry_after},
        )
        self.headers = {"Retry-After": str(bucket.retry_after), **bucket.headers()}


class Admission:
    """One submit request's admission; ``headers()`` afterwards for the response."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.runs = 0
        self._limits: tenant_limits.Limits | None = None
        self._bucket: ratelimit.Bucket | None = None

    @property
    def limits(self) -> tenant_limits.Limits:
        if self._limits is None:
            self._limits = tenant_limits.limits_for(self.tenant)
        return self._limits

    def admit(self, runs: int) -> None:
        """Raise :class:`QuotaExceeded` or :class:`RateLimited` unless ``runs`` new runs may come."""
        if runs <= 0:
            return
        self._check_quota(runs, settled=False)
        bucket = ratelimit.take(self.tenant.pk, runs, self.limits.submit_rate, self.limits.submit_burst)
        if bucket is not None:
            self._bucket = bucket
            if not bucket.admitted:
                record_submission_rejected(self.tenant.slug, "rate_limited")
                raise RateLimited(bucket)
        self.runs = runs

    def settle(self, created: int | None = None) -> None:
        """The exact quota check, in the submit's transaction after its inserts (raising rolls
        them back); ``created``: the runs inserted, when not those admitted (a batch item that
        became a replay). The lock is held until that transaction ends."""
        if created is not None:
            self.runs = created
        if self.runs <= 0:
            return
        tenant_limits.lock_quota(self.tenant.pk)
        self._check_quota(self.runs, settled=True)

    def _check_quota(self, runs: int, *, settled: bool) -> None:
        if self._limits is None:  # the first check reads the limits with the count: one statement
            self._limits, in_use = tenant_limits.limits_and_in_use(self.tenant.pk)
        else:
            in_use = tenant_limits.runs_in_use(self.tenant.pk)
        # Settled: the count includes this request's own (uncommitted) rows.
        before = in_use - runs if settled else in_use
        limit = self.limits.quota_runs
        if before + runs > limit:
            record_submission_rejected(self.tenant.slug, "quota_exceeded")
            raise QuotaExceeded(limit, max(0, before), runs)

    def headers(self) -> dict[str, Any]:
        """RateLimit header fields of the bucket after this request (none when not asked)."""
        return self._bucket.headers() if self._bucket is not None else {}
