from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Q

from atomfleet_orchestrator.runs.lifecycle import ACTIVE, RunStatus
from atomfleet_orchestrator.runs.models import AtomRun
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
        f"weight     {limits.weight} ({source['weight']})",
        f"running    at most {limits.max_running} ({source['max_running']}), "
        f"{limits.max_running_per_queue} per queue ({source['max_running_per_queue']})",
        f"busy       {_busy(tenant)}",
    ])


def _busy(tenant: Tenant) -> str:
    """Per queue: runs running, published (their turn came) and waiting for their turn."""
    rows = (AtomRun.objects.filter(tenant=tenant, status__in=sorted(ACTIVE)).order_by("queue").values("queue")
            .annotate(running=Count("id", filter=Q(status=RunStatus.RUNNING)),
                      published=Count("id", filter=Q(turn_at__isnull=False) & ~Q(status=RunStatus.RUNNING)),
                      waiting=Count("id", filter=Q(turn_at__isnull=True) & ~Q(status=RunStatus.RUNNING))))
    return "; ".join(f"{r['queue']}: {r['running']} running, {r['published']} published, "
                     f"{r['waiting']} waiting for a turn" for r in rows) or "-"


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
