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


# option -> (field, parse, help)
_OPTIONS = {
    "quota": ("quota_runs", _positive_int, "accepted runs not yet finished (429 quota_exceeded above)"),
    "rate": ("submit_rate", _positive_float, "submitted runs per second, sustained"),
    "burst": ("submit_burst", _positive_int, "submitted runs at once (the bucket's size)"),
    "weight": ("weight", _positive_int, "share of a busy queue against other tenants' (fair dispatch)"),
    "max_running": ("max_running", _positive_int, "runs running or published at once, every queue"),
    "max_running_per_queue": ("max_running_per_queue", _positive_int, "the same, on any one queue"),
}


class Command(BaseCommand):
    help = (
        "Set a tenant's own limits (docs/tenancy.md); the others keep their value, and --reset first "
        "returns every limit to the fleet default. Admission limits apply on the next submit, fair "
        "dispatch's at the next turn."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        for option, (_, parse, help) in _OPTIONS.items():
            parser.add_argument(f"--{option.replace('_', '-')}", dest=option, type=parse, help=help)
        parser.add_argument("--reset", action="store_true", help="back to the fleet defaults (before the values given)")

    def handle(self, *args: Any, tenant: str, reset: bool, **options: Any) -> None:
        owner = Tenant.objects.filter(slug=tenant).first()
        if owner is None:
            raise CommandError(f"no tenant {tenant!r}: create it first with create_tenant")
        given = {field: options[option] for option, (field, _, _) in _OPTIONS.items() if options[option] is not None}
        if not reset and not given:
            flags = ", ".join(f"--{o.replace('_', '-')}" for o in _OPTIONS)
            raise CommandError(f"nothing to set: give {flags} and/or --reset")
        limits, _ = TenantLimits.objects.get_or_create(tenant=owner)
        fields = [field for field, _, _ in _OPTIONS.values()]
        if reset:
            for field in fields:
                setattr(limits, field, None)
        for field, value in given.items():
            setattr(limits, field, value)
        if all(getattr(limits, field) is None for field in fields):
            limits.delete()
        else:
            limits.save()
        from atomfleet_orchestrator.tenancy.management.commands.show_tenant import describe_limits

        self.stdout.write(describe_limits(owner))
