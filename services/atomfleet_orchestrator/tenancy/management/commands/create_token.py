from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant


class Command(BaseCommand):
    help = "Issue an API token for a tenant and print it (it is shown only this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("name", help="who will use the token (recorded as the creator of runs)")
        parser.add_argument(
            "--rotate", action="store_true", help="replace an existing token of that name (it stops working)"
        )

    def handle(self, *args: Any, tenant: str, name: str, rotate: bool, **options: Any) -> None:
        owner = Tenant.objects.filter(slug=tenant).first()
        if owner is None:
            raise CommandError(f"no tenant {tenant!r}: create it first with create_tenant")
        if rotate:
            ApiToken.objects.filter(tenant=owner, name=name).delete()
        if ApiToken.objects.filter(tenant=owner, name=name).exists():
            raise CommandError(f"tenant {tenant} already has a token named {name!r} (use --rotate to replace it)")
        _, raw = ApiToken.issue(owner, name)
        self.stdout.write(raw)
