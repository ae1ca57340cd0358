from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atomfleet_orchestrator.tenancy.limits import limits_for, runs_in_use
from atomfleet_orchestrator.tenancy.models import Tenant


def describe_limits(tenant: Tenant) -> str:
    """The limits in force, where each comes from, and the quota's use (one line each)."""
    limits = limits_for(tenant)
    in_use = runs_in_use(tenant.pk)
    source = limits.sources
    return "\n".join([
        f"quota      {limits.quota_runs} accepted runs not yet finished ({source['quota_runs']})",
        f"rate       {limits.submit_rate:g} runs/s ({source['submit_rate']})",
        f"burst      {limits.submit_burst} runs ({source['submit_burst']})",
        f"in use     {in_use} of {limits.quota_runs} ({100 * in_use / limits.quota_runs:.1f} %)",
    ])


class Command(BaseCommand):
    help = "Show a tenant: its tokens, its limits in force (its own or the fleet default) and their use."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")

    def handle(self, *args: Any, tenant: str, **options: Any) -> None:
        owner = Tenant.objects.filter(slug=tenant).first()
        if owner is None:
            raise CommandError(f"no tenant {tenant!r}")
        tokens = [f"{t.name}{' (revoked)' if t.revoked_at else ''}" for t in owner.tokens.order_by("name")]
        self.stdout.write("\n".join([
            f"tenant     {owner.slug}{f' ({owner.name})' if owner.name else ''}",
            f"tokens     {', '.join(tokens) or '-'}",
            describe_limits(owner),
        ]))
