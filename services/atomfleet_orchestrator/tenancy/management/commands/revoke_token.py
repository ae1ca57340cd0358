from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from atomfleet_orchestrator.tenancy.models import ApiToken


class Command(BaseCommand):
    help = (
        "Revoke an API token: the API refuses it within ATOMFLEET_TOKEN_CACHE_SECONDS. "
        "The row stays, so runs keep naming their creator."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("name", help="the token's name")

    def handle(self, *args: Any, tenant: str, name: str, **options: Any) -> None:
        token = ApiToken.objects.filter(tenant__slug=tenant, name=name).first()
        if token is None:
            raise CommandError(f"tenant {tenant!r} has no token named {name!r}")
        already = token.revoked_at is not None
        token.revoke()
        self.stdout.write(f"token {tenant}/{name} {'was already revoked' if already else 'revoked'}")
