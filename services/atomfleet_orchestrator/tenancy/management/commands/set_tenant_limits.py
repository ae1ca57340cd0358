from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atomfleet_orchestrator.tenancy.models import Tenant, TenantLimits


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Set a tenant's own admission limits (docs/tenancy.md); the others keep their value, and "
        "--reset first returns every limit to the fleet default. The API applies them on the next submit."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("--quota", type=_positive_int, help="accepted runs not yet finished (429 quota_exceeded above)")
        parser.add_argument("--rate", type=_positive_float, help="submitted runs per second, sustained")
        parser.add_argument("--burst", type=_positive_int, help="submitted runs at once (the bucket's size)")
        parser.add_argument("--reset", action="store_true", help="back to the fleet defaults (before the values given)")

    def handle(self, *args: Any, tenant: str, quota: int | None, rate: float | None, burst: int | None,
               reset: bool, **options: Any) -> None:
        owner = Tenant.objects.filter(slug=tenant).first()
        if owner is None:
            raise CommandError(f"no tenant {tenant!r}: create it first with create_tenant")
        if not reset and quota is None and rate is None and burst is None:
            raise CommandError("nothing to set: give --quota, --rate, --burst and/or --reset")
        limits, _ = TenantLimits.objects.get_or_create(tenant=owner)
        if reset:
            limits.quota_runs = limits.submit_rate = limits.submit_burst = None
        for field, value in (("quota_runs", quota), ("submit_rate", rate), ("submit_burst", burst)):
            if value is not None:
                setattr(limits, field, value)
        if limits.quota_runs is None and limits.submit_rate is None and limits.submit_burst is None:
            limits.delete()
        else:
            limits.save()
        from atomfleet_orchestrator.tenancy.management.commands.show_tenant import describe_limits

        self.stdout.write(describe_limits(owner))
