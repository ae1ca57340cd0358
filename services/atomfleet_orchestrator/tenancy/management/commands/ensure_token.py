from __future__ import annotations

import os
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from atomfleet_orchestrator.tenancy.models import ApiToken, Tenant, hash_token


class Command(BaseCommand):
    help = (
        "Make a given token the tenant's token NAME (idempotent; the tenant is created when missing). "
        "The token is read from an environment variable, never from the command line: the Helm "
        "chart's `helm test` registers the token of its Secret this way."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("name", help="token name (recorded as the creator of runs)")
        parser.add_argument("--token-env", default="ATOMFLEET_TOKEN", help="variable holding the token")

    def handle(self, *args: Any, tenant: str, name: str, token_env: str, **options: Any) -> None:
        raw = os.environ.get(token_env, "")
        if len(raw) < 20:
            raise CommandError(f"{token_env} must hold a token of at least 20 characters")
        candidate = Tenant(slug=tenant)
        try:
            candidate.full_clean(validate_unique=False)
        except ValidationError as exc:
            raise CommandError(f"invalid tenant: {exc.message_dict}") from exc
        with transaction.atomic():
            owner, _ = Tenant.objects.get_or_create(slug=tenant)
            ApiToken.objects.update_or_create(
                tenant=owner, name=name, defaults={"key_hash": hash_token(raw), "revoked_at": None}
            )
        self.stdout.write(f"token {tenant}/{name} registered")
